package app

import (
	"math/big"
	"strings"
	"testing"
)

// groupBy writes digits with a comma every size digits from the right,
// the first group (Indian grouping) after three.
func groupBy(digits string, first, size int) string {
	var out []byte
	n := 0
	group := first
	for i := len(digits) - 1; i >= 0; i-- {
		if n == group {
			out = append(out, ',')
			n, group = 0, size
		}
		out = append(out, digits[i])
		n++
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

// FuzzFormatMoney: an amount that does not parse comes back as written,
// with the code; one that parses is exactly the decimal value rounded half
// away from zero to the currency's minor unit (checked with math/big),
// grouped Indian style for INR and by three otherwise, with a sign only
// when the rounded amount is not zero. Amounts are platform or API input,
// and the text lands in a customer's message.
func FuzzFormatMoney(f *testing.F) {
	for _, s := range []string{"1499.00", "0.5", "-9.995", "1e3", "", ".", "999999999999999999999.999", "-0.004", "+12", "5.", ".5", " 1499 ", "00012.3450", "1,499.00", "٣", "-"} {
		f.Add(s, "INR")
		f.Add(s, "JPY")
	}
	f.Add("12.3456", "KWD")
	f.Add("1499", " usd ")
	f.Add("1499", "")
	f.Add("99.995", "EUR")
	f.Fuzz(func(t *testing.T, amount, currency string) {
		got := FormatMoney(amount, currency)
		code := strings.ToUpper(strings.TrimSpace(currency))
		neg, whole, frac, ok := moneyParse(strings.TrimSpace(amount))
		if !ok {
			if want := strings.TrimSpace(strings.TrimSpace(amount) + " " + code); got != want {
				t.Fatalf("FormatMoney(%q, %q) = %q; want the input back, %q", amount, currency, got, want)
			}
			return
		}
		value, ok := new(big.Rat).SetString(whole + "." + frac + "0")
		if !ok {
			t.Fatalf("moneyParse(%q) gave %q.%q, not a decimal", amount, whole, frac)
		}
		scale := moneyMinorUnits(code)
		rounded := value.FloatString(scale) // halves away from zero
		intPart, fracPart, _ := strings.Cut(rounded, ".")
		var want strings.Builder
		if neg && strings.Trim(rounded, "0.") != "" {
			want.WriteByte('-')
		}
		switch sym := moneySymbol(code); {
		case sym != "":
			want.WriteString(sym)
		case code != "":
			want.WriteString(code + " ")
		}
		if code == "INR" {
			want.WriteString(groupBy(intPart, 3, 2))
		} else {
			want.WriteString(groupBy(intPart, 3, 3))
		}
		if scale > 0 {
			want.WriteString("." + fracPart)
		}
		if got != want.String() {
			t.Fatalf("FormatMoney(%q, %q) = %q; want %q", amount, currency, got, want.String())
		}
	})
}
