package app

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput bounds what NormalizePhone looks at: nothing longer is a
// phone number, and the library's own limit is about the same.
const maxPhoneInput = 100

// Phone errors. They never carry the number itself, so they are safe to log
// and to store as an event's PhoneProblem.
var (
	ErrPhoneEmpty     = errors.New("app: phone number is empty")
	ErrPhoneNoCountry = errors.New("app: phone number has no country code and no country was given to read it")
	ErrPhoneInvalid   = errors.New("app: phone number is not valid")
)

// NormalizePhone turns a free-text phone number into E.164 ("+919876543210").
// A number written with "+" or the "00" international prefix is read as is;
// any other is read as a national number of each of countries in turn (ISO
// 3166 alpha-2: the address's country first, then the merchant's), and the
// first reading that is a valid number wins. Spaces, dashes, dots,
// parentheses and an extension ("ext. 12", dropped) are accepted.
//
// Errors wrap ErrPhoneEmpty, ErrPhoneNoCountry or ErrPhoneInvalid and say
// why without echoing the number.
func NormalizePhone(raw string, countries ...string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrPhoneEmpty
	}
	if len(s) > maxPhoneInput {
		return "", fmt.Errorf("%w: longer than %d characters", ErrPhoneInvalid, maxPhoneInput)
	}
	digits := phoneDigitCount(s)
	if digits == 0 {
		return "", fmt.Errorf("%w: no digits", ErrPhoneInvalid)
	}

	// "00" is the international prefix in most of the world (India, Europe,
	// the Gulf) but not in North America, where the library would not
	// recognise it: rewrite it to "+" so it works whatever the country.
	if t := strings.TrimLeft(s, " ("); strings.HasPrefix(t, "00") {
		s = "+" + t[2:]
	}
	if strings.HasPrefix(strings.TrimLeft(s, " ("), "+") {
		n, err := phonenumbers.Parse(s, "")
		if err != nil {
			return "", fmt.Errorf("%w: %s", ErrPhoneInvalid, phoneParseReason(err))
		}
		if !phonenumbers.IsValidNumber(n) {
			return "", fmt.Errorf("%w: %s", ErrPhoneInvalid, phoneInvalidReason(n, digits))
		}
		return phonenumbers.Format(n, phonenumbers.E164), nil
	}

	tried := make([]string, 0, len(countries))
	reason := ""
	for _, c := range countries {
		c = strings.ToUpper(strings.TrimSpace(c))
		if len(c) != 2 || slices.Contains(tried, c) {
			continue
		}
		tried = append(tried, c)
		n, err := phonenumbers.Parse(s, c)
		if err != nil {
			if reason == "" {
				reason = phoneParseReason(err)
			}
			continue
		}
		if phonenumbers.IsValidNumber(n) {
			return phonenumbers.Format(n, phonenumbers.E164), nil
		}
		if reason == "" {
			reason = phoneInvalidReason(n, digits)
		}
	}
	if len(tried) == 0 {
		return "", ErrPhoneNoCountry
	}
	return "", fmt.Errorf("%w for %s: %s", ErrPhoneInvalid, strings.Join(tried, ", "), reason)
}

// MaskPhone hides all but the country calling code and the last four digits
// of an E.164 number: "+919876543210" → "+91******3210". Something that does
// not parse keeps only its last four digits.
func MaskPhone(e164 string) string {
	var digits []byte
	for i := 0; i < len(e164); i++ {
		if e164[i] >= '0' && e164[i] <= '9' {
			digits = append(digits, e164[i])
		}
	}
	if len(digits) <= 4 {
		return strings.Repeat("*", len(digits))
	}
	cc := ""
	if n, err := phonenumbers.Parse(e164, ""); err == nil && n.GetCountryCode() != 0 {
		cc = strconv.Itoa(int(n.GetCountryCode()))
		if !strings.HasPrefix(string(digits), cc) || len(digits) <= len(cc)+4 {
			cc = ""
		}
	}
	hidden := len(digits) - len(cc) - 4
	return "+" + cc + strings.Repeat("*", hidden) + string(digits[len(digits)-4:])
}

func phoneDigitCount(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

// phoneParseReason turns the library's parse errors, which never include the
// number, into short reasons.
func phoneParseReason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "unknown country calling code"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "not a phone number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	}
	return "unreadable"
}

func phoneInvalidReason(n *phonenumbers.PhoneNumber, digits int) string {
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.TOO_SHORT:
		return fmt.Sprintf("too short (%d digits)", digits)
	case phonenumbers.TOO_LONG:
		return fmt.Sprintf("too long (%d digits)", digits)
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "unknown country calling code"
	case phonenumbers.INVALID_LENGTH:
		return fmt.Sprintf("wrong length (%d digits)", digits)
	}
	return "no such number range"
}

// PhoneSource is one place a payload may hold the customer's phone, with
// the countries to read a national number with, best first.
type PhoneSource struct {
	Field     string
	Raw       string
	Countries []string
}

// PickPhone returns the first source that is a valid number, in E.164, or
// an empty phone and the reasons none was. A bad number in a preferred
// field does not hide a good one further down: reaching the customer
// matters more than the order of the fields.
func PickPhone(sources []PhoneSource, fallbackCountry string) (phone, problem string) {
	var problems []string
	seen := map[string]bool{}
	for _, s := range sources {
		raw := strings.TrimSpace(s.Raw)
		if raw == "" {
			continue
		}
		countries := append(append([]string{}, s.Countries...), fallbackCountry)
		key := raw + "|" + strings.Join(countries, ",")
		if seen[key] {
			continue
		}
		seen[key] = true
		e164, err := NormalizePhone(raw, countries...)
		if err == nil {
			return e164, ""
		}
		problems = append(problems, s.Field+": "+strings.TrimPrefix(err.Error(), "app: "))
	}
	if len(problems) == 0 {
		return "", "no phone number in the payload"
	}
	return "", "no usable phone number (" + strings.Join(problems, "; ") + ")"
}
