package woocommerce

import (
	"strings"

	"github.com/storebridge/storebridge/app"
)

// phoneSource is one place a payload may hold the customer's phone, with
// the countries to read a national number with, best first.
type phoneSource struct {
	field     string
	raw       string
	countries []string
}

// pickPhone returns the first source that is a valid number, in E.164, or
// an empty phone and the reasons none was. A bad number in a preferred
// field does not hide a good one further down: reaching the customer
// matters more than the order of the fields.
func pickPhone(sources []phoneSource, fallbackCountry string) (phone, problem string) {
	var problems []string
	seen := map[string]bool{}
	for _, s := range sources {
		raw := strings.TrimSpace(s.raw)
		if raw == "" {
			continue
		}
		countries := append(append([]string{}, s.countries...), fallbackCountry)
		key := raw + "|" + strings.Join(countries, ",")
		if seen[key] {
			continue
		}
		seen[key] = true
		e164, err := app.NormalizePhone(raw, countries...)
		if err == nil {
			return e164, ""
		}
		problems = append(problems, s.field+": "+strings.TrimPrefix(err.Error(), "app: "))
	}
	if len(problems) == 0 {
		return "", "no phone number in the payload"
	}
	return "", "no usable phone number (" + strings.Join(problems, "; ") + ")"
}
