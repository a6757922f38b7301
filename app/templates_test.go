package app_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

func TestTemplatePlaceholders(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"Hi {{1}}, your order {{2}} of {{3}} is confirmed.", []string{"1", "2", "3"}},
		{"Order {{2}} for {{1}}; again {{1}}", []string{"1", "2"}},
		{"{{10}} then {{2}} then {{1}}", []string{"1", "2", "10"}},
		{"Hey {{ user_name }}, {{amount}} coins! Thanks {{user_name}}", []string{"user_name", "amount"}},
		{"No variables here {not} {{ }} {{a-b}}", []string{}},
		{"", []string{}},
	}
	for _, tt := range tests {
		if got := app.TemplatePlaceholders(tt.text); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("TemplatePlaceholders(%q) = %q; want %q", tt.text, got, tt.want)
		}
	}
}

func TestTemplateMismatch(t *testing.T) {
	positional := app.ProviderTemplate{Name: "order_placed", Language: "en", Variables: []string{"1", "2", "3"}}
	named := app.ProviderTemplate{Name: "wallet_coins_rewarded", Language: "hi", Variables: []string{"user_name", "amount"}}
	one := app.ProviderTemplate{Name: "order_shipped", Variables: []string{"1"}}
	none := app.ProviderTemplate{Name: "thanks", Language: "en_US", Variables: []string{}}
	tests := []struct {
		t    app.ProviderTemplate
		vars []string
		want string
	}{
		{positional, []string{"customer.first_name", "order.number", "order.total"}, ""},
		{positional, []string{"customer.first_name", "order.number"}, "the template order_placed (en) takes 3 variables; this rule gives 2"},
		{named, []string{"customer.first_name"}, "the template wallet_coins_rewarded (hi) takes 2 variables (user_name, amount); this rule gives 1"},
		{one, nil, "the template order_shipped takes 1 variable; this rule gives none"},
		{none, []string{"order.number"}, "the template thanks (en_US) takes 0 variables; this rule gives 1"},
		{none, nil, ""},
	}
	for _, tt := range tests {
		if got := app.TemplateMismatch(tt.t, tt.vars); got != tt.want {
			t.Errorf("TemplateMismatch(%s, %q) = %q; want %q", tt.t.Name, tt.vars, got, tt.want)
		}
	}
}

func TestRuleTemplateWarnings(t *testing.T) {
	templates := []app.ProviderTemplate{
		{Name: "order_placed", Language: "en_US", Variables: []string{"1", "2"}},
		{Name: "order_placed", Language: "en", Variables: []string{"1", "2", "3"}},
		{Name: "order_shipped", Language: "hi", Variables: []string{"1"}},
	}
	rules := []app.Rule{
		{Event: "order.placed", Mode: "template", Template: "order_placed", Language: "en", Variables: []string{"a", "b"}},
		{Event: "order.paid", Mode: "template", Template: "order_placed", Language: "en_US", Variables: []string{"a", "b"}},
		{Event: "order.shipped", Mode: "template", Template: "order_shipped", Language: "en", Variables: []string{"a", "b"}},
		{Event: "cart.abandoned", Mode: "template", Template: "not_listed", Language: "en", Variables: []string{"a"}},
		{Event: "loyalty.points_earned", Mode: "event", Template: "order_placed"},
	}
	got := app.RuleTemplateWarnings(templates, rules)
	want := map[string]string{
		"order.placed":  "the template order_placed (en) takes 3 variables; this rule gives 2",
		"order.shipped": "the template order_shipped (hi) takes 1 variable; this rule gives 2",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RuleTemplateWarnings = %q; want %q", got, want)
	}
}

// listingProvider is a provider client that can list templates.
type listingProvider struct {
	scriptedProvider
	calls     atomic.Int32
	templates []app.ProviderTemplate
	err       error
}

func (p *listingProvider) Templates(context.Context) ([]app.ProviderTemplate, error) {
	p.calls.Add(1)
	return p.templates, p.err
}

type templatesEnv struct {
	svc      *app.Service
	clock    *clock
	merchant app.Merchant
}

// newTemplatesEnv is a merchant connected to provider "lister" (whose
// client is p) over the embedded store, with "plain" (no listing) and the
// sandbox also available.
func newTemplatesEnv(t *testing.T, p *listingProvider) templatesEnv {
	t.Helper()
	clk := &clock{}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "t.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clk.Now, Providers: map[string]app.ProviderKit{
		"lister":            {New: func(map[string]string) (app.Provider, error) { return p, nil }},
		"plain":             {New: func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil }},
		app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil }},
	}})
	m, _, err := svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	return templatesEnv{svc: svc, clock: clk, merchant: m}
}

func (e templatesEnv) connect(t *testing.T, provider string) {
	t.Helper()
	if _, err := e.svc.SetProvider(context.Background(), e.merchant.ID, app.ProviderInput{Provider: provider, Credentials: map[string]string{"token": "t0k3n"}}); err != nil {
		t.Fatal(err)
	}
}

func TestProviderTemplatesListsAndCaches(t *testing.T) {
	p := &listingProvider{templates: []app.ProviderTemplate{
		{Name: "order_shipped", Language: "en", Category: "UTILITY", Variables: []string{"1"}},
		{Name: "order_placed", Language: "hi", Category: "UTILITY", Variables: []string{"1", "2"}},
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3"}},
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3"}}, // a repeat across pages
		{Name: "", Language: "en"},
		{Name: "thanks", Language: "en", Category: "MARKETING"},
	}}
	env := newTemplatesEnv(t, p)
	env.connect(t, "lister")
	ctx := context.Background()

	got, err := env.svc.ProviderTemplates(ctx, env.merchant.ID)
	if err != nil {
		t.Fatalf("ProviderTemplates() = %v", err)
	}
	want := []app.ProviderTemplate{
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3"}},
		{Name: "order_placed", Language: "hi", Category: "UTILITY", Variables: []string{"1", "2"}},
		{Name: "order_shipped", Language: "en", Category: "UTILITY", Variables: []string{"1"}},
		{Name: "thanks", Language: "en", Category: "MARKETING", Variables: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ProviderTemplates() = %+v;\nwant %+v", got, want)
	}

	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); err != nil || p.calls.Load() != 1 {
		t.Errorf("second listing: %v after %d provider calls; want the cached one", err, p.calls.Load())
	}
	env.clock.Set(time.Now().Add(61 * time.Second))
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); err != nil || p.calls.Load() != 2 {
		t.Errorf("after the TTL: %v after %d provider calls; want a fresh one", err, p.calls.Load())
	}
	env.clock.Set(time.Now().Add(62 * time.Second))
	env.connect(t, "lister") // new credentials: the cached list is not theirs
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); err != nil || p.calls.Load() != 3 {
		t.Errorf("after new credentials: %v after %d provider calls; want a fresh one", err, p.calls.Load())
	}
}

func TestProviderTemplatesBound(t *testing.T) {
	p := &listingProvider{}
	for i := range app.MaxProviderTemplates + 20 {
		p.templates = append(p.templates, app.ProviderTemplate{Name: fmt.Sprintf("t_%04d", i), Language: "en"})
	}
	env := newTemplatesEnv(t, p)
	env.connect(t, "lister")
	got, err := env.svc.ProviderTemplates(context.Background(), env.merchant.ID)
	if err != nil || len(got) != app.MaxProviderTemplates {
		t.Fatalf("ProviderTemplates() = %d, %v; want %d", len(got), err, app.MaxProviderTemplates)
	}
}

func TestProviderTemplatesUnsupported(t *testing.T) {
	p := &listingProvider{}
	env := newTemplatesEnv(t, p)
	ctx := context.Background()
	var unsupported *app.TemplatesUnsupportedError
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "no messaging provider") {
		t.Errorf("no provider: %v; want TemplatesUnsupportedError", err)
	}
	env.connect(t, app.ProviderSandbox)
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); !errors.As(err, &unsupported) {
		t.Errorf("sandbox: %v; want TemplatesUnsupportedError", err)
	}
	env.connect(t, "plain")
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "plain") {
		t.Errorf("a provider without a listing: %v; want TemplatesUnsupportedError naming it", err)
	}
	env.connect(t, "lister")
	p.err = &app.TemplatesUnsupportedError{Reason: "add the business account id"}
	if _, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); !errors.As(err, &unsupported) || unsupported.Reason != "add the business account id" {
		t.Errorf("a client missing a credential: %v; want its TemplatesUnsupportedError", err)
	}
	if _, err := env.svc.ProviderTemplates(ctx, "m_nobody"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("unknown merchant: %v; want ErrNotFound", err)
	}
}

func TestProviderTemplatesProviderErrors(t *testing.T) {
	p := &listingProvider{err: &app.ProviderError{Provider: "lister", Status: 401, Message: "the access token was refused"}}
	env := newTemplatesEnv(t, p)
	env.connect(t, "lister")
	ctx := context.Background()
	_, err := env.svc.ProviderTemplates(ctx, env.merchant.ID)
	var ve *app.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Fields["provider"], "the access token was refused") {
		t.Fatalf("ProviderTemplates() = %v; want a ValidationError on provider with the reason", err)
	}
	// A failure is not cached: the next page load asks again.
	p.err = nil
	p.templates = []app.ProviderTemplate{{Name: "order_placed", Language: "en"}}
	if got, err := env.svc.ProviderTemplates(ctx, env.merchant.ID); err != nil || len(got) != 1 || p.calls.Load() != 2 {
		t.Errorf("after a failure: %v, %v after %d calls; want a fresh listing", got, err, p.calls.Load())
	}
}

// FuzzTemplatePlaceholders feeds template text as providers send it: every
// placeholder found is a plain name, found once, and positions come out in
// numeric order.
func FuzzTemplatePlaceholders(f *testing.F) {
	f.Add("Hi {{1}}, your order {{2}} of {{3}} is confirmed.")
	f.Add("{{10}} {{2}} {{ 1 }} {{first_name}} {{{{x}}}} {{")
	f.Add("नमस्ते {{1}}! {{2}} पॉइंट्स")
	f.Fuzz(func(t *testing.T, text string) {
		got := app.TemplatePlaceholders(text)
		seen := map[string]bool{}
		numbers := true
		for _, name := range got {
			if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
				t.Fatalf("placeholder %q in %q is not a plain name", name, text)
			}
			if seen[name] {
				t.Fatalf("placeholder %q listed twice for %q", name, text)
			}
			seen[name] = true
			numbers = numbers && strings.Trim(name, "0123456789") == ""
		}
		if numbers {
			for i := 1; i < len(got); i++ {
				a, b := strings.TrimLeft(got[i-1], "0"), strings.TrimLeft(got[i], "0")
				if len(a) > len(b) || (len(a) == len(b) && a > b) {
					t.Fatalf("positions %q of %q are not in numeric order", got, text)
				}
			}
		}
	})
}
