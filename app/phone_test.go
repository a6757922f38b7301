package app

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		countries []string
		want      string
		wantErr   error
	}{
		{"indian national with trunk zero", "098765 43210", []string{"IN"}, "+919876543210", nil},
		{"indian international with dash", "+91 98765-43210", nil, "+919876543210", nil},
		{"indian international with a stray trunk zero", "+91 098765 43210", nil, "+919876543210", nil},
		{"indian with dots and spaces", "+91.98765.43210", nil, "+919876543210", nil},
		{"indian ten digits", "9876543210", []string{"in"}, "+919876543210", nil},
		{"indian with country code, no plus", "919876543210", []string{"IN"}, "+919876543210", nil},
		{"double zero prefix", "0091 98765 43210", []string{"US"}, "+919876543210", nil},
		{"double zero prefix, no country", "00 44 20 7946 0958", nil, "+442079460958", nil},
		{"us with parentheses", "(201) 555-0123", []string{"US"}, "+12015550123", nil},
		{"us with extension", "201-555-0123 ext. 42", []string{"US"}, "+12015550123", nil},
		{"us with x extension", "+1 (201) 555-0123 x42", nil, "+12015550123", nil},
		{"french with dots", "06.12.34.56.78", []string{"FR"}, "+33612345678", nil},
		{"uae mobile", "050 123 4567", []string{"AE", "IN"}, "+971501234567", nil},
		{"address country first, merchant country second", "9876543210", []string{"US", "IN"}, "+919876543210", nil},
		{"empty country skipped", "9876543210", []string{"", "IN"}, "+919876543210", nil},
		{"fictional us 555 area code", "(555) 555-5555", []string{"US"}, "", ErrPhoneInvalid},
		{"vanity letters", "555-555-SHIP", []string{"US"}, "", ErrPhoneInvalid},
		{"too short", "12345", []string{"IN"}, "", ErrPhoneInvalid},
		{"too long", "98765432109876543210", []string{"IN"}, "", ErrPhoneInvalid},
		{"no digits", "call me", []string{"IN"}, "", ErrPhoneInvalid},
		{"unknown calling code", "+999 1234 5678", nil, "", ErrPhoneInvalid},
		{"empty", "   ", []string{"IN"}, "", ErrPhoneEmpty},
		{"national without country", "9876543210", nil, "", ErrPhoneNoCountry},
		{"only junk countries", "9876543210", []string{"India", ""}, "", ErrPhoneNoCountry},
		{"huge input", strings.Repeat("9", 500), []string{"IN"}, "", ErrPhoneInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePhone(tt.raw, tt.countries...)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NormalizePhone(%q, %v) error = %v; want %v", tt.raw, tt.countries, err, tt.wantErr)
				}
				if got != "" {
					t.Errorf("NormalizePhone(%q) = %q alongside an error; want empty", tt.raw, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePhone(%q, %v) = %q, %v; want %q", tt.raw, tt.countries, got, err, tt.want)
			}
		})
	}
}

// Errors end up in logs and in PhoneProblem: they must not repeat the
// number, not even its digits run together.
func TestNormalizePhoneErrorsHideTheNumber(t *testing.T) {
	for _, raw := range []string{"(555) 555-5555", "+999 1234 5678", "98765", "555-555-SHIP", "9876543210123456", "+91 0000 000000"} {
		_, err := NormalizePhone(raw, "US", "IN")
		if err == nil {
			t.Fatalf("NormalizePhone(%q) succeeded; want an error", raw)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "app: ") {
			t.Errorf("error %q lacks the package prefix", msg)
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, raw)
		if len(digits) >= 5 && (strings.Contains(msg, digits) || strings.Contains(msg, digits[len(digits)-5:])) {
			t.Errorf("error %q repeats the number's digits", msg)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+919876543210", "+91******3210"},
		{"+12015550123", "+1******0123"},
		{"+971501234567", "+971*****4567"},
		{"+442079460958", "+44******0958"},
		{"not a number 98765", "+*8765"},
		{"123", "***"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
