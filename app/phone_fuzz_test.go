package app

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// e164 is the shape every normalised phone has: "+", a country calling
// code (never 0) and at most 15 digits in all. The shortest real numbers
// have 7 (Niue's +683 4002, Saint Helena's 5 digits after +290).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// FuzzNormalizePhone: NormalizePhone never panics; it returns a number of
// E.164's shape that normalises to itself under any country, or an
// error wrapping one of its three sentinels that does not echo the input.
// A number written with "+" or "00" reads the same whatever the
// countries.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"098765 43210", "+91 98765-43210", "(555) 555-5555", "0044 20 7946 0958", "ext 12", "+", "00",
		"+1 (201) 555-0123 x42", "٩٨٧٦٥٤٣٢١٠", "+6834002", "+290 22158", "  ( 00 91 98765 43210", "+91 98765 43210 ext. 7",
		"+1-800-FLOWERS", "tel:+919876543210", "+919876543210;ext=1", "+0 123 4567", "+999 1234567",
	} {
		f.Add(s, "IN")
	}
	f.Add("9876543210", "in ")
	f.Add("2015550123", "")
	f.Add("07911 123456", "GB")
	f.Add(strings.Repeat("9", maxPhoneInput), "IN")
	f.Fuzz(func(t *testing.T, raw, country string) {
		got, err := NormalizePhone(raw, country, "US")
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizePhone(%q) = %q with error %v", raw, got, err)
			}
			if !errors.Is(err, ErrPhoneEmpty) && !errors.Is(err, ErrPhoneNoCountry) && !errors.Is(err, ErrPhoneInvalid) {
				t.Fatalf("NormalizePhone(%q) error %v wraps none of the phone errors", raw, err)
			}
			if s := strings.TrimSpace(raw); phoneDigitCount(s) >= 5 && strings.Contains(err.Error(), s) {
				t.Fatalf("NormalizePhone(%q) error %q echoes the number", raw, err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q) = %q; not E.164", raw, got)
		}
		for _, countries := range [][]string{nil, {"IN"}, {"US"}, {country}} {
			if again, err := NormalizePhone(got, countries...); err != nil || again != got {
				t.Fatalf("NormalizePhone(%q, %q) = %q, %v; want it unchanged", got, countries, again, err)
			}
		}
		if intl := strings.TrimLeft(strings.TrimSpace(raw), " ("); strings.HasPrefix(intl, "+") || strings.HasPrefix(intl, "00") {
			if alone, err := NormalizePhone(raw); err != nil || alone != got {
				t.Fatalf("NormalizePhone(%q) without countries = %q, %v; want %q as with them", raw, alone, err, got)
			}
		}
		if m := MaskPhone(got); !strings.HasSuffix(m, got[len(got)-4:]) || strings.Contains(m, got[1:len(got)-4]) {
			t.Fatalf("MaskPhone(%q) = %q", got, m)
		}
	})
}
