package app

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A cart sequence has at most maxCartSteps steps; a step whose delay is
// not given takes its place's default (defaultCartDelays: CartFlows'
// seeded 30 minutes, 1 day, 3 days).
const maxCartSteps = 3

var defaultCartDelays = [maxCartSteps]time.Duration{30 * time.Minute, 24 * time.Hour, 72 * time.Hour}

// Discount kinds a cart step may offer.
const (
	CartDiscountPercent = "percent"
	CartDiscountFixed   = "fixed"
)

const (
	// defaultDiscountExpiry is how long a step's code lasts when the step
	// does not say.
	defaultDiscountExpiry = 48 * time.Hour
	// defaultAttributionWindow is how long after a sent step an order
	// counts as the cart recovered, and the bounds a merchant may set.
	defaultAttributionWindow = 7 * 24 * time.Hour
	minAttributionWindow     = time.Hour
	maxAttributionWindow     = 90 * 24 * time.Hour
)

// CartStep is one message of a cart.abandoned sequence.
type CartStep struct {
	// Delay is counted from the checkout's last change.
	Delay     time.Duration `json:"delay"`
	Template  string        `json:"template,omitempty"`
	Language  string        `json:"language,omitempty"`
	Variables []string      `json:"variables"`
	Discount  *CartDiscount `json:"discount,omitempty"`
}

// CartDiscount is the single-use code a step offers the cart's customer.
type CartDiscount struct {
	Type      string        `json:"type"`  // CartDiscountPercent or CartDiscountFixed
	Value     string        `json:"value"` // a percentage, or an amount in the cart's currency
	ExpiresIn time.Duration `json:"expires_in"`
}

// CartStepInput is a step as the admin API receives it.
type CartStepInput struct {
	Delay     string
	Template  string
	Language  string
	Variables []string
	Discount  *CartDiscountInput
}

// CartDiscountInput is a step's discount as the admin API receives it.
type CartDiscountInput struct {
	Type      string
	Value     string
	ExpiresIn string
}

// CartSteps is the rule's sequence: its steps, or the rule itself as the
// one step when it has none.
func (r Rule) CartSteps() []CartStep {
	if len(r.Steps) > 0 {
		return r.Steps
	}
	return []CartStep{{Delay: r.Delay, Template: r.Template, Language: r.Language, Variables: r.Variables}}
}

// forStep is the rule as step n (1-based) of its sequence sends it.
func (r Rule) forStep(n int) Rule {
	steps := r.CartSteps()
	if n < 1 || n > len(steps) {
		return r
	}
	st := steps[n-1]
	r.Template, r.Variables = st.Template, st.Variables
	if st.Language != "" {
		r.Language = st.Language
	}
	return r
}

// attributionWindow is the rule's window, or the default.
func (r Rule) attributionWindow() time.Duration {
	if r.AttributionWindow > 0 {
		return r.AttributionWindow
	}
	return defaultAttributionWindow
}

func validateCartSteps(r Rule, in []CartStepInput, fields map[string]string) []CartStep {
	if len(in) > maxCartSteps {
		fields["steps"] = fmt.Sprintf("must be 1 to %d steps", maxCartSteps)
		return nil
	}
	steps := make([]CartStep, 0, len(in))
	var previous time.Duration
	for i, s := range in {
		field := func(name string) string { return fmt.Sprintf("steps[%d].%s", i, name) }
		st := CartStep{
			Delay:    defaultCartDelays[i],
			Template: strings.TrimSpace(s.Template),
			Language: strings.TrimSpace(s.Language),
		}
		if st.Language == "" {
			st.Language = r.Language
		}
		if d := strings.TrimSpace(s.Delay); d != "" {
			parsed, err := time.ParseDuration(d)
			switch {
			case err != nil:
				fields[field("delay")] = "must be a duration like 30m, 24h or 72h"
			case parsed <= 0 || parsed > maxRuleDelay:
				fields[field("delay")] = "must be more than 0s and at most 720h"
			default:
				st.Delay = parsed
			}
		}
		if _, bad := fields[field("delay")]; !bad && i > 0 && st.Delay <= previous {
			fields[field("delay")] = "must be later than the step before (each delay counts from the checkout's last change)"
		}
		previous = st.Delay
		if problem := templateProblem(r.Mode, st.Template); problem != "" {
			fields[field("template")] = problem
		}
		if problem := languageProblem(st.Language); problem != "" {
			fields[field("language")] = problem
		}
		st.Variables = validateVariables(s.Variables, fmt.Sprintf("steps[%d].variables", i), fields)
		if s.Discount != nil {
			st.Discount = validateCartDiscount(*s.Discount, fmt.Sprintf("steps[%d].discount", i), fields)
		}
		steps = append(steps, st)
	}
	return steps
}

func validateCartDiscount(in CartDiscountInput, field string, fields map[string]string) *CartDiscount {
	d := &CartDiscount{Type: strings.TrimSpace(in.Type), Value: strings.TrimSpace(in.Value), ExpiresIn: defaultDiscountExpiry}
	if d.Type != CartDiscountPercent && d.Type != CartDiscountFixed {
		fields[field+".type"] = "must be percent or fixed"
	}
	v, err := strconv.ParseFloat(d.Value, 64)
	_, frac, _ := strings.Cut(d.Value, ".")
	switch {
	case err != nil || !moneyDigits(strings.Replace(d.Value, ".", "", 1)) || len(frac) > 2:
		fields[field+".value"] = "must be a number like 10 or 49.50"
	case v <= 0:
		fields[field+".value"] = "must be more than 0"
	case d.Type == CartDiscountPercent && v > 100:
		fields[field+".value"] = "must be at most 100 percent"
	}
	if e := strings.TrimSpace(in.ExpiresIn); e != "" {
		parsed, err := time.ParseDuration(e)
		switch {
		case err != nil:
			fields[field+".expires_in"] = "must be a duration like 48h"
		case parsed < time.Hour || parsed > maxRuleDelay:
			fields[field+".expires_in"] = "must be between 1h and 720h"
		default:
			d.ExpiresIn = parsed
		}
	}
	return d
}

func validateAttributionWindow(in string, fields map[string]string) time.Duration {
	in = strings.TrimSpace(in)
	if in == "" {
		return 0
	}
	d, err := time.ParseDuration(in)
	switch {
	case err != nil:
		fields["attribution_window"] = "must be a duration like 168h"
	case d < minAttributionWindow || d > maxAttributionWindow:
		fields["attribution_window"] = "must be between 1h and 2160h (90 days)"
	default:
		return d
	}
	return 0
}
