package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
)

// loyaltyPagesServer is pagesServer with the loyalty engine.
// discounts, when not nil, makes the engine's codes.
func loyaltyPagesServer(t *testing.T, discounts loyalty.Discounts) (*echo.Echo, *app.Service, *loyalty.Engine) {
	t.Helper()
	st := newEmbeddedStore(t)
	keyring, _ := app.NewKeyring(testSecretKey)
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log, ShopifyAPIKey: shopifyAppKey, ShopifyAPISecret: shopifyAppSecret,
		Providers: map[string]app.ProviderKit{app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return sandboxProvider{}, nil }}},
		Decoders:  map[app.Platform]app.WebhookDecoder{app.PlatformShopify: shopify.Decode},
		CheckURL:  strictURLs,
	})
	pages, err := LoadPages()
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	engine := loyalty.NewEngine(loyalty.Options{Ledger: st.(*embedded.Store).Ledger(), Data: st, Queue: st, Merchants: svc, Sender: svc, Discounts: discounts})
	New(Options{Service: svc, Loyalty: engine, Store: st, Metrics: metrics, Logger: log, AppURL: "https://bridge.example.in", Pages: pages, ShopifyAPIKey: shopifyAppKey}).Register(e)
	return e, svc, engine
}

var adjustKeyField = regexp.MustCompile(`name="key" value="([^"]+)"`)

// The loyalty page through the router: the program saves, a refused one
// comes back as typed with each reason next to its field (a tier's at its
// row), a customer is found by id or by a local phone, an adjustment
// posts once however often its form is sent, and the ledger pages.
func TestLoyaltyPage(t *testing.T) {
	e, svc, engine := loyaltyPagesServer(t, nil)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN"})
	b := signedIn(t, e, svc, m.ID)
	ctx := context.Background()

	home := b.get("/admin")
	if !strings.Contains(home.Body.String(), `href="/admin/loyalty"`) {
		t.Errorf("the nav has no Loyalty entry")
	}
	page := b.get("/admin/loyalty")
	if page.Code != 200 || !strings.Contains(page.Body.String(), `id="points_per_unit" name="points_per_unit" value="1"`) {
		t.Fatalf("GET /admin/loyalty = %d, want the default program:\n%s", page.Code, page.Body)
	}
	csrf := b.csrf("/admin/loyalty")

	form := url.Values{
		"csrf": {csrf}, "enabled": {"on"}, "points_per_unit": {"0.1"}, "earn_on": {"fulfilled"}, "exclude_shipping": {"on"},
		"approve_after": {"7d"}, "expiry": {"365d"}, "expiry_reminders": {"30d, 3d"},
		"tier_name": {"", "Gold", ""}, "tier_threshold": {"", "5000", ""}, "tier_basis": {"points", "points", "points"},
		"tier_period": {"lifetime", "rolling_year", "lifetime"}, "tier_multiplier": {"1", "lots", "1"},
	}
	refused := b.post("/admin/loyalty", form)
	body := refused.Body.String()
	if refused.Code != 422 {
		t.Fatalf("a bad multiplier: POST = %d; want 422", refused.Code)
	}
	for _, want := range []string{
		`id="tier-multiplier-1" name="tier_multiplier" value="lots" aria-invalid="true">`, "must be between 1 and 10",
		`id="tier-name-1" name="tier_name" value="Gold"`, `value="0.1"`, `value="30d, 3d"`, `<option value="fulfilled" selected>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q", want)
		}
	}
	if strings.Contains(body, `id="tier-multiplier-0" name="tier_multiplier" value="1" aria-invalid`) {
		t.Errorf("the reason is on row 0; want it on the Gold row (1)")
	}
	if p, _ := engine.Program(ctx, m.ID); p.Enabled {
		t.Errorf("a refused program was saved: %+v", p)
	}
	added := b.post("/admin/loyalty", withValues(form, "action", "add-tier"))
	if added.Code != 200 || strings.Count(added.Body.String(), `name="tier_name"`) != 4 {
		t.Errorf("Add a tier row = %d with %d rows; want 200 with 4", added.Code, strings.Count(added.Body.String(), `name="tier_name"`))
	}
	form.Set("tier_multiplier", "1")
	form["tier_multiplier"] = []string{"1", "1.5", "1"}
	saved := b.post("/admin/loyalty", form)
	if saved.Code != 303 || saved.Header().Get("Location") != "/admin/loyalty?done=saved" {
		t.Fatalf("save = %d %s; want 303 to the page", saved.Code, saved.Header().Get("Location"))
	}
	p, err := engine.Program(ctx, m.ID)
	if err != nil || !p.Enabled || p.Earn.PointsPerUnit != 0.1 || p.Earn.On != "fulfilled" || !p.Earn.ExcludeShipping || p.Earn.ExcludeTax ||
		p.ApproveAfter != "7d" || p.Expiry != "365d" || fmt.Sprint(p.ExpiryReminders) != "[30d 3d]" || len(p.Tiers) != 1 || p.Tiers[0].Multiplier != 1.5 {
		t.Fatalf("saved program = %+v, %v", p, err)
	}
	// Removing the tier.
	if rec := b.post("/admin/loyalty", withValues(form, "tier_remove", "1")); rec.Code != 303 {
		t.Fatalf("remove a tier = %d", rec.Code)
	}
	if p, _ := engine.Program(ctx, m.ID); len(p.Tiers) != 0 {
		t.Errorf("tiers after removing = %+v; want none", p.Tiers)
	}

	// A guest found by the phone as typed locally.
	if _, err := engine.Adjust(ctx, m.ID, "+919876543210", loyalty.Adjustment{Points: 40, Reason: "guest order", Key: "g1"}); err != nil {
		t.Fatal(err)
	}
	guest := b.get("/admin/loyalty?by=phone&customer=" + url.QueryEscape("098765 43210"))
	if guest.Code != 200 || !strings.Contains(guest.Body.String(), `<span class="n" id="balance">40</span>`) || strings.Contains(guest.Body.String(), ">+919876543210<") {
		t.Errorf("phone lookup = %d, want balance 40 with the phone masked:\n%s", guest.Code, guest.Body)
	}
	if rec := b.get("/admin/loyalty?by=phone&customer=12"); rec.Code != 422 || !strings.Contains(rec.Body.String(), "is not a phone number") {
		t.Errorf("a bad phone = %d; want 422 with the reason", rec.Code)
	}

	// Adjusting, twice with the same form: one entry.
	found := b.get("/admin/loyalty?by=id&customer=7712398123")
	key := adjustKeyField.FindStringSubmatch(found.Body.String())
	if found.Code != 200 || key == nil || !strings.Contains(found.Body.String(), "No points yet") {
		t.Fatalf("lookup = %d, want the customer with no points and an adjust form:\n%s", found.Code, found.Body)
	}
	adjust := url.Values{"csrf": {csrf}, "customer": {"7712398123"}, "points": {"+120"}, "reason": {"apology"}, "key": {key[1]}}
	for range 2 {
		rec := b.post("/admin/loyalty/adjust", adjust)
		if rec.Code != 303 || !strings.Contains(rec.Header().Get("Location"), "customer=7712398123") {
			t.Fatalf("adjust = %d %s", rec.Code, rec.Header().Get("Location"))
		}
	}
	pts, _ := engine.Points(ctx, m.ID, "7712398123", "", 10)
	if pts.Balance != 120 || len(pts.Entries) != 1 {
		t.Errorf("after a double submit: balance %d in %d entries; want 120 in 1", pts.Balance, len(pts.Entries))
	}
	if rec := b.post("/admin/loyalty/adjust", url.Values{"csrf": {csrf}, "customer": {"7712398123"}, "points": {"-500"}, "reason": {"oops"}, "key": {"k2"}}); rec.Code != 422 ||
		!strings.Contains(rec.Body.String(), "the balance is 120") || !strings.Contains(rec.Body.String(), `value="-500"`) || !strings.Contains(rec.Body.String(), `value="k2"`) {
		t.Errorf("adjust below zero = %d; want 422 with the reason, the values and the same key", rec.Code)
	}
	if rec := b.post("/admin/loyalty/adjust", url.Values{"customer": {"7712398123"}, "points": {"5"}, "reason": {"x"}, "key": {"k3"}}); rec.Code != 403 {
		t.Errorf("adjust without CSRF = %d; want 403", rec.Code)
	}

	// Paging: 25 entries, 20 a page, newest first.
	for n := range 24 {
		if _, err := engine.Adjust(ctx, m.ID, "7712398123", loyalty.Adjustment{Points: 1, Reason: fmt.Sprintf("bonus %02d", n), Key: fmt.Sprintf("b%02d", n)}); err != nil {
			t.Fatal(err)
		}
	}
	first := b.get("/admin/loyalty?by=id&customer=7712398123").Body.String()
	if strings.Count(first, "<tr>") != loyaltyLedgerPage+1 || !strings.Contains(first, "bonus 23") || strings.Contains(first, "apology") {
		t.Errorf("the first page holds %d rows; want %d, newest first", strings.Count(first, "<tr>")-1, loyaltyLedgerPage)
	}
	older := regexp.MustCompile(`id="older" href="([^"]+)"`).FindStringSubmatch(first)
	if older == nil {
		t.Fatal("no Older link")
	}
	second := b.get(strings.ReplaceAll(older[1], "&amp;", "&")).Body.String()
	if strings.Count(second, "<tr>") != 5+1 || !strings.Contains(second, "apology") || !strings.Contains(second, `id="newest"`) {
		t.Errorf("the second page holds %d rows; want 5 ending with the apology", strings.Count(second, "<tr>")-1)
	}
}

func withValues(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
