package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProviderTemplate is one approved message template in the merchant's
// provider account, as the Messages page offers it to pick from.
type ProviderTemplate struct {
	Name     string
	Language string // as the provider spells it: "en", "en_US"
	Category string // the provider's own: "UTILITY", "MARKETING", …
	// Variables are the template's placeholder names in the order its
	// values go: "1", "2", … for a positional template, the template's own
	// names ("name", "order_number") for a named one.
	Variables []string
}

// TemplateLister is what a provider client offers when its provider can
// list the merchant's templates. It answers approved templates only, at
// most MaxProviderTemplates (paging stops there), and errors as the
// client's sends do (*ProviderError), or *TemplatesUnsupportedError when
// this account cannot be asked (a credential the listing needs is missing).
type TemplateLister interface {
	Templates(ctx context.Context) ([]ProviderTemplate, error)
}

// MaxProviderTemplates bounds one listing (and so its calls and memory).
// Past it a picker would be unusable anyway, and the merchant types the
// name.
const MaxProviderTemplates = 500

// TemplatesUnsupportedError answers a listing the merchant's provider
// cannot make. Reason says why, in words for the merchant.
type TemplatesUnsupportedError struct {
	Reason string
}

func (e *TemplatesUnsupportedError) Error() string {
	return "templates cannot be listed: " + e.Reason
}

// Provider templates are cached per merchant for templateCacheTTL: the
// Messages page asks on every load, and Meta allows new business accounts
// 200 management calls an hour. A template approved meanwhile shows up
// within the TTL. At most maxCachedTemplateLists merchants are kept
// (500 templates of ~200 bytes each: under 30 MB at worst).
const (
	templateCacheTTL       = 60 * time.Second
	maxCachedTemplateLists = 256
	templateListTimeout    = 20 * time.Second
)

// ProviderTemplates lists the approved templates in the merchant's provider
// account, by name then language. A provider (or account) that cannot list
// them answers *TemplatesUnsupportedError, so the page can say so and let
// the merchant type the name. A provider that refused or failed answers a
// *ValidationError on "provider" carrying its reason, as SetProvider does
// with refused credentials: the page shows it.
func (s *Service) ProviderTemplates(ctx context.Context, merchantID string) ([]ProviderTemplate, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	name := providerName(m)
	if name == "" || name == ProviderSandbox {
		return nil, &TemplatesUnsupportedError{Reason: "no messaging provider is connected"}
	}
	if _, ok := s.providers[name]; !ok {
		return nil, &TemplatesUnsupportedError{Reason: fmt.Sprintf("provider %s is not available in this build", name)}
	}
	version := name + "@" + m.Provider.VerifiedAt.UTC().Format(time.RFC3339Nano)
	if cached, ok := s.templates.get(m.ID, version, s.now()); ok {
		return cached, nil
	}
	client, _, err := s.providerClient(m)
	if err != nil {
		return nil, err
	}
	lister, ok := client.(TemplateLister)
	if !ok {
		return nil, &TemplatesUnsupportedError{Reason: name + " offers no way to list templates"}
	}
	listCtx, cancel := context.WithTimeout(ctx, templateListTimeout)
	defer cancel()
	listed, err := lister.Templates(listCtx)
	if err != nil {
		var pe *ProviderError
		if errors.As(err, &pe) {
			return nil, &ValidationError{Fields: map[string]string{"provider": pe.Error()}}
		}
		return nil, err
	}
	templates := tidyTemplates(listed)
	s.templates.put(m.ID, version, templates, s.now())
	return templates, nil
}

// tidyTemplates drops nameless and repeated (name, language) entries,
// sorts by name then language, and keeps MaxProviderTemplates at most.
func tidyTemplates(in []ProviderTemplate) []ProviderTemplate {
	seen := make(map[[2]string]bool, len(in))
	out := make([]ProviderTemplate, 0, len(in))
	for _, t := range in {
		key := [2]string{t.Name, t.Language}
		if strings.TrimSpace(t.Name) == "" || seen[key] {
			continue
		}
		seen[key] = true
		if t.Variables == nil {
			t.Variables = []string{}
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Language < out[j].Language
	})
	if len(out) > MaxProviderTemplates {
		out = out[:MaxProviderTemplates]
	}
	return out
}

// TemplateMismatch says, in plain words, why a rule's variables do not fit
// the template: the count differs, the commonest reason a send fails
// (Meta's 132000, Wati's invalid parameters, AiSensy's refusal). Empty
// when the counts agree.
func TemplateMismatch(t ProviderTemplate, variables []string) string {
	want, got := len(t.Variables), len(variables)
	if want == got {
		return ""
	}
	takes := countOf(want, "variable")
	if want > 0 && !numbered(t.Variables) {
		takes += " (" + strings.Join(t.Variables, ", ") + ")"
	}
	gives := strconv.Itoa(got)
	if got == 0 {
		gives = "none"
	}
	label := t.Name
	if t.Language != "" {
		label += " (" + t.Language + ")"
	}
	return fmt.Sprintf("the template %s takes %s; this rule gives %s", label, takes, gives)
}

// RuleTemplateWarnings checks each template-mode rule against the listed
// template it names (same name and language, else the same name in any
// language: Wati sends by name alone, and a template's translations take
// the same variables) and answers TemplateMismatch's warning by event
// type. Rules naming a template not listed are left alone: the list may
// be cut at MaxProviderTemplates.
func RuleTemplateWarnings(templates []ProviderTemplate, rules []Rule) map[string]string {
	warnings := map[string]string{}
	for _, r := range rules {
		if r.Mode != "template" || r.Template == "" {
			continue
		}
		var match *ProviderTemplate
		for i := range templates {
			t := &templates[i]
			if t.Name != r.Template {
				continue
			}
			if t.Language == r.Language {
				match = t
				break
			}
			if match == nil {
				match = t
			}
		}
		if match == nil {
			continue
		}
		if w := TemplateMismatch(*match, r.Variables); w != "" {
			warnings[r.Event] = w
		}
	}
	return warnings
}

func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// placeholder is one {{…}} in a template's text. WhatsApp names are
// lower-case letters, digits and underscores; positions are digits.
var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// TemplatePlaceholders lists the placeholders in a template's text, each
// once: positions ("1", "2") in numeric order, since that is the order
// their values are sent in whatever order the text uses them; names in the
// order they first appear.
func TemplatePlaceholders(text string) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	if numbered(names) {
		// By value without parsing, so no length overflows: fewer digits
		// first, then digit by digit.
		sort.SliceStable(names, func(i, j int) bool {
			a, b := strings.TrimLeft(names[i], "0"), strings.TrimLeft(names[j], "0")
			if len(a) != len(b) {
				return len(a) < len(b)
			}
			return a < b
		})
	}
	if names == nil {
		names = []string{}
	}
	return names
}

// numbered reports whether every name is a position ("1", "2"), which an
// empty list trivially is.
func numbered(names []string) bool {
	for _, n := range names {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return false
		}
	}
	return true
}

// templateCache keeps each merchant's last listing for templateCacheTTL,
// under the provider settings it was made with: new credentials miss.
// The zero value is ready to use.
type templateCache struct {
	mu      sync.Mutex
	entries map[string]cachedTemplates
}

type cachedTemplates struct {
	version   string
	templates []ProviderTemplate
	expires   time.Time
}

func (c *templateCache) get(merchantID, version string, now time.Time) ([]ProviderTemplate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[merchantID]
	if !ok || e.version != version || !now.Before(e.expires) {
		return nil, false
	}
	return e.templates, true
}

func (c *templateCache) put(merchantID, version string, templates []ProviderTemplate, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedTemplates{}
	}
	if _, ok := c.entries[merchantID]; !ok && len(c.entries) >= maxCachedTemplateLists {
		for id, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, id)
			}
		}
		// Still full of fresh lists: drop any one; it costs its merchant
		// one more call to the provider.
		for id := range c.entries {
			if len(c.entries) < maxCachedTemplateLists {
				break
			}
			delete(c.entries, id)
		}
	}
	c.entries[merchantID] = cachedTemplates{version: version, templates: templates, expires: now.Add(templateCacheTTL)}
}
