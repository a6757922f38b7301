package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Rule modes.
const (
	ModeTemplate = "template" // a WhatsApp template with ordered variables
	ModeEvent    = "event"    // an event for the provider's own journeys
)

// Rule categories. Marketing messages honour opt-outs and quiet hours;
// transactional ones (order updates, COD) are never held.
const (
	CategoryTransactional = "transactional"
	CategoryMarketing     = "marketing"
)

// maxRuleDelay bounds a rule's delay: a week covers review requests after
// delivery and cart reminders, and keeps typos like "720h0m" honest.
const maxRuleDelay = 30 * 24 * time.Hour

// Rule says what to send for one event type of one merchant.
type Rule struct {
	Event     string        `json:"event"`
	Enabled   bool          `json:"enabled"`
	Mode      string        `json:"mode"`
	Category  string        `json:"category"`
	Template  string        `json:"template,omitempty"`
	Language  string        `json:"language,omitempty"`
	Variables []string      `json:"variables"`
	Delay     time.Duration `json:"delay"`
	// Steps are a cart.abandoned rule's sequence (CartSteps); empty, the
	// rule's own template, variables and delay are its one step.
	Steps []CartStep `json:"steps,omitempty"`
	// AttributionWindow is how long after a sent step an order counts as
	// the cart recovered; 0 means the default, 7 days.
	AttributionWindow time.Duration `json:"attribution_window,omitempty"`
	UpdatedAt         time.Time     `json:"updated_at"`
}

// knownVariable reports whether path is a property path events carry
// (CONTRACT.md lists the core; the rest are what the normalisers add):
// the paths of the variable catalog.
func knownVariable(path string) bool { return variableIndex[path] }

// customVariable admits properties pushed through the events API under
// their own namespace ("properties.tier").
var customVariable = regexp.MustCompile(`^properties\.[a-z0-9_]+(\.[a-z0-9_]+)*$`)

// nectorVariable admits the fields of a Nector event as it sent them
// ("nector.business_coin_name"): the docs do not give them all, so a
// merchant can name what their Nector account really sends.
var nectorVariable = regexp.MustCompile(`^nector\.[A-Za-z0-9_]+$`)

var eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$`)

// What a rule may name, as the providers take it. In template mode the
// template is a WhatsApp template: lower-case letters, digits and
// underscores, at most 512 (Meta's rule, which every provider here passes
// through). In event mode it is the provider's own event name (CleverTap,
// Interakt: "Order Placed"): letters of either case, digits, spaces and
// _ . : -, starting with a letter or digit, at most 120 (CleverTap's key
// limit). A language is a BCP-47-like code as WhatsApp names them (en,
// en_US, pt_BR, zh-Hant), at most 15.
var (
	templateNamePattern  = regexp.MustCompile(`^[a-z0-9_]+$`)
	providerEventPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 _.:-]*$`)
	languagePattern      = regexp.MustCompile(`^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$`)
)

const (
	maxTemplateLen      = 512
	maxProviderEventLen = 120
	maxLanguageLen      = 15
	// maxRuleVariables bounds a rule's variables: no template takes more.
	maxRuleVariables = 20
	maxVariableLen   = 100
)

// CanonicalVariable resolves the names Nector's merchants already use to
// their property paths.
func CanonicalVariable(path string) string {
	switch path {
	case "user_name":
		return "customer.first_name"
	case "amount":
		return "points.amount"
	}
	return path
}

// DefaultCategory is an event type's category when a rule does not say:
// what answers the customer's own order or account (orders, COD, points
// the order earned or lost, a coupon they redeemed) is transactional; what
// invites them to buy (carts, points about to expire, reviews, referrals,
// milestones, anything pushed under another name) is marketing, which
// needs their consent.
func DefaultCategory(eventType string) string {
	switch {
	case strings.HasPrefix(eventType, "order."), strings.HasPrefix(eventType, "cod."),
		eventType == EventPointsEarned, eventType == EventPointsReversed, eventType == EventCouponCreated:
		return CategoryTransactional
	}
	return CategoryMarketing
}

// RuleInput is a rule as the admin API receives it.
type RuleInput struct {
	Enabled   *bool
	Mode      string
	Category  string
	Template  string
	Language  string
	Variables []string
	Delay     string
	// Steps and AttributionWindow are for cart.abandoned rules only.
	Steps             []CartStepInput
	AttributionWindow string
}

func validateRule(event string, in RuleInput) (Rule, error) {
	fields := map[string]string{}
	r := Rule{
		Event:    event,
		Enabled:  in.Enabled == nil || *in.Enabled,
		Mode:     strings.TrimSpace(in.Mode),
		Category: strings.TrimSpace(in.Category),
		Template: strings.TrimSpace(in.Template),
		Language: strings.TrimSpace(in.Language),
	}
	if !validEventType(event) {
		fields["event"] = fmt.Sprintf("must be a dotted event name like order.placed, at most %d characters", maxEventTypeLen)
	}
	if r.Mode == "" {
		r.Mode = ModeTemplate
	}
	if r.Template == "" && len(in.Steps) > 0 {
		// A sequence's first step stands for the rule where one is asked.
		r.Template = strings.TrimSpace(in.Steps[0].Template)
	}
	switch r.Mode {
	case ModeTemplate, ModeEvent:
		if problem := templateProblem(r.Mode, r.Template); problem != "" {
			fields["template"] = problem
		}
		if r.Language == "" && r.Mode == ModeTemplate {
			r.Language = "en"
		}
	default:
		fields["mode"] = "must be template or event"
	}
	if problem := languageProblem(r.Language); problem != "" {
		fields["language"] = problem
	}
	if r.Category == "" {
		r.Category = DefaultCategory(event)
	}
	if r.Category != CategoryTransactional && r.Category != CategoryMarketing {
		fields["category"] = "must be transactional or marketing"
	}
	r.Variables = validateVariables(in.Variables, "variables", fields)
	if in.Delay != "" {
		d, err := time.ParseDuration(strings.TrimSpace(in.Delay))
		switch {
		case err != nil:
			fields["delay"] = "must be a duration like 0s, 30m or 24h"
		case d < 0 || d > maxRuleDelay:
			fields["delay"] = "must be between 0s and 720h"
		default:
			r.Delay = d
		}
	}
	if len(in.Steps) > 0 || in.AttributionWindow != "" {
		if event != EventCartAbandoned {
			fields["steps"] = "only a " + EventCartAbandoned + " rule has steps and an attribution window"
		} else {
			r.Steps = validateCartSteps(r, in.Steps, fields)
			r.AttributionWindow = validateAttributionWindow(in.AttributionWindow, fields)
		}
	}
	if len(fields) > 0 {
		return Rule{}, &ValidationError{Fields: fields}
	}
	return r, nil
}

// templateProblem says what is wrong with a rule's or a step's template
// name in the rule's mode, or "".
func templateProblem(mode, template string) string {
	switch mode {
	case ModeTemplate:
		switch {
		case template == "":
			return "is required in template mode"
		case len(template) > maxTemplateLen || !templateNamePattern.MatchString(template):
			return fmt.Sprintf("must be a WhatsApp template name: lower-case letters, digits and underscores, at most %d", maxTemplateLen)
		}
	case ModeEvent:
		if template != "" && (len(template) > maxProviderEventLen || !providerEventPattern.MatchString(template)) {
			return fmt.Sprintf("must be the provider's event name: letters, digits, spaces and _ . : -, at most %d", maxProviderEventLen)
		}
	}
	return ""
}

func languageProblem(language string) string {
	if language != "" && (len(language) > maxLanguageLen || !languagePattern.MatchString(language)) {
		return fmt.Sprintf("must be a language code like en, en_US or pt_BR, at most %d characters", maxLanguageLen)
	}
	return ""
}

// validateVariables resolves variable names to property paths, recording
// what is wrong under field ("variables[2]").
func validateVariables(in []string, field string, fields map[string]string) []string {
	out := []string{}
	if len(in) > maxRuleVariables {
		fields[field] = fmt.Sprintf("must be at most %d", maxRuleVariables)
		return out // one reason, not one per variable
	}
	for i, v := range in {
		path := CanonicalVariable(strings.TrimSpace(v))
		if len(path) > maxVariableLen {
			fields[fmt.Sprintf("%s[%d]", field, i)] = fmt.Sprintf("must be at most %d characters", maxVariableLen)
			continue
		}
		if !knownVariable(path) && !customVariable.MatchString(path) && !nectorVariable.MatchString(path) {
			fields[fmt.Sprintf("%s[%d]", field, i)] = fmt.Sprintf("unknown variable %q", v)
			continue
		}
		out = append(out, path)
	}
	return out
}

// mapRules names the merchant map that holds rules, by event type.
const mapRules = "rules"

// PutRule validates and saves a merchant's rule for an event type.
func (s *Service) PutRule(ctx context.Context, merchantID, event string, in RuleInput) (Rule, error) {
	if _, err := s.store.GetMerchant(ctx, merchantID); err != nil {
		return Rule{}, err
	}
	r, err := validateRule(event, in)
	if err != nil {
		return Rule{}, err
	}
	r.UpdatedAt = s.now().UTC()
	raw, err := json.Marshal(r)
	if err != nil {
		return Rule{}, err
	}
	err = s.store.MapSet(ctx, merchantID, mapRules, map[string]string{event: string(raw)})
	s.rules.forget(merchantID) // even on an error: the write may have been made
	if err != nil {
		return Rule{}, fmt.Errorf("save rule: %w", err)
	}
	return r, nil
}

// Rules lists a merchant's rules by event type.
func (s *Service) Rules(ctx context.Context, merchantID string) ([]Rule, error) {
	if _, err := s.store.GetMerchant(ctx, merchantID); err != nil {
		return nil, err
	}
	raw, err := s.store.MapAll(ctx, merchantID, mapRules)
	if err != nil {
		return nil, err
	}
	rules := make([]Rule, 0, len(raw))
	for _, v := range raw {
		var r Rule
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("stored rule: %w", err)
		}
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Event < rules[j].Event })
	return rules, nil
}

// rule returns the merchant's rule for an event type; ErrNotFound if none.
func (s *Service) rule(ctx context.Context, merchantID, event string) (Rule, error) {
	now := s.now()
	if cached, ok := s.rules.get(merchantID, event, now); ok {
		if cached.missing {
			return Rule{}, ErrNotFound
		}
		return cached.rule, nil
	}
	raw, err := s.store.MapGet(ctx, merchantID, mapRules, event)
	if errors.Is(err, ErrNotFound) {
		s.rules.put(merchantID, event, ruleCacheEntry{missing: true, expires: now.Add(ruleCacheTTL)})
	}
	if err != nil {
		return Rule{}, err
	}
	var r Rule
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Rule{}, fmt.Errorf("stored rule for %s: %w", event, err)
	}
	s.rules.put(merchantID, event, ruleCacheEntry{rule: r, expires: now.Add(ruleCacheTTL)})
	return r, nil
}

// errMissingValue is why a message cannot be built: a variable has no
// value in the event.
var errMissingValue = errors.New("missing value")

// resolveVariables returns the rule's values in template order.
func resolveVariables(e Event, paths []string) ([]string, error) {
	values := make([]string, len(paths))
	for i, path := range paths {
		v, ok := e.Lookup(path)
		if !ok || v == nil {
			return nil, fmt.Errorf("%w for %s", errMissingValue, path)
		}
		values[i] = formatValue(v)
		if values[i] == "" {
			return nil, fmt.Errorf("%w for %s", errMissingValue, path)
		}
	}
	return values, nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}
