package app

import (
	"strings"
)

// FormatMoney formats a platform's decimal amount string ("1499.00", "1499",
// "0.5", "-20") in an ISO 4217 currency for a customer message:
//
//	FormatMoney("149999", "INR") = "₹1,49,999.00"
//	FormatMoney("1499.5", "USD") = "$1,499.50"
//	FormatMoney("1499.5", "JPY") = "¥1,500"
//	FormatMoney("1499", "AED")   = "AED 1,499.00"
//
// The string is parsed digit by digit, so no float rounding ever shows:
// amounts are rounded half away from zero to the currency's minor unit (0
// for JPY and the like, 3 for the Gulf dinars, else 2). INR uses Indian
// grouping (lakh and crore: 1,49,999 and 1,23,45,678), which is what Indian
// customers read on every invoice; every other currency groups by three.
// Only unambiguous symbols are used (₹ $ € £ ¥); "$" means US dollars, so
// other dollars and every other currency are written as the code and a
// space. An amount that does not parse is returned as is with the code.
func FormatMoney(amount, currency string) string {
	currency = strings.ToUpper(strings.TrimSpace(currency))
	neg, whole, frac, ok := moneyParse(strings.TrimSpace(amount))
	if !ok {
		return strings.TrimSpace(strings.TrimSpace(amount) + " " + currency)
	}
	scale := moneyMinorUnits(currency)
	whole, frac = moneyRound(whole, frac, scale)

	var b strings.Builder
	if neg && (strings.Trim(whole, "0") != "" || strings.Trim(frac, "0") != "") {
		b.WriteByte('-')
	}
	switch sym := moneySymbol(currency); {
	case sym != "":
		b.WriteString(sym)
	case currency != "":
		b.WriteString(currency)
		b.WriteByte(' ')
	}
	if currency == "INR" {
		b.WriteString(moneyGroupIndian(whole))
	} else {
		b.WriteString(groupDigits(whole, 3))
	}
	if scale > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// moneyParse splits "-1,499.50" style input into sign, whole digits
// (without leading zeros, "0" at least) and fraction digits. Commas are
// not accepted: platforms send plain decimals, and a comma could be either
// a group or a decimal separator.
func moneyParse(s string) (neg bool, whole, frac string, ok bool) {
	if s == "" {
		return false, "", "", false
	}
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	whole, frac, _ = strings.Cut(s, ".")
	if whole == "" && frac == "" || !moneyDigits(whole) || !moneyDigits(frac) {
		return false, "", "", false
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	return neg, whole, frac, true
}

func moneyDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// moneyRound rounds whole.frac half away from zero to scale fraction
// digits, padding with zeros when frac is shorter.
func moneyRound(whole, frac string, scale int) (string, string) {
	if len(frac) <= scale {
		return whole, frac + strings.Repeat("0", scale-len(frac))
	}
	up := frac[scale] >= '5'
	frac = frac[:scale]
	if !up {
		return whole, frac
	}
	// Add one unit in the last kept place, carrying through frac and whole.
	digits := []byte(whole + frac)
	i := len(digits) - 1
	for ; i >= 0; i-- {
		if digits[i] == '9' {
			digits[i] = '0'
			continue
		}
		digits[i]++
		break
	}
	if i < 0 {
		digits = append([]byte{'1'}, digits...)
	}
	cut := len(digits) - scale
	return string(digits[:cut]), string(digits[cut:])
}

// moneyGroupIndian groups the last three digits, then pairs: 12,34,56,789.
func moneyGroupIndian(whole string) string {
	if len(whole) <= 3 {
		return whole
	}
	return groupDigits(whole[:len(whole)-3], 2) + "," + whole[len(whole)-3:]
}

// groupDigits puts a comma between groups of size digits, counted from the
// right.
func groupDigits(digits string, size int) string {
	if len(digits) <= size {
		return digits
	}
	var b strings.Builder
	head := len(digits) % size
	b.WriteString(digits[:head])
	for i := head; i < len(digits); i += size {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+size])
	}
	return b.String()
}

// CurrencyMinorUnits is the number of fraction digits of an ISO 4217
// currency's amounts: 0 for JPY and the like, 3 for the Gulf dinars, else
// 2 (also for an empty or unknown code).
func CurrencyMinorUnits(currency string) int {
	return moneyMinorUnits(strings.ToUpper(strings.TrimSpace(currency)))
}

// moneyMinorUnits is the number of fraction digits shown (ISO 4217).
func moneyMinorUnits(currency string) int {
	switch currency {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XOF", "XAF", "PYG", "RWF", "KMF", "GNF", "DJF", "VUV", "XPF", "BIF":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD":
		return 3
	}
	return 2
}

func moneySymbol(currency string) string {
	switch currency {
	case "INR":
		return "₹"
	case "USD":
		return "$"
	case "EUR":
		return "€"
	case "GBP":
		return "£"
	case "JPY":
		return "¥"
	}
	return ""
}
