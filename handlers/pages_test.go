package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
)

// pagesServer is the real router with the admin pages, over the embedded
// store, with the sandbox provider.
func pagesServer(t *testing.T) (*echo.Echo, *app.Service) {
	t.Helper()
	e, svc, _ := pagesServerOn(t)
	return e, svc
}

// pagesServerOn is pagesServer with its store, to seed.
func pagesServerOn(t *testing.T) (*echo.Echo, *app.Service, app.Store) {
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
		t.Fatalf("LoadPages: %v", err)
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	New(Options{
		Service: svc, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in",
		ShopifyInstall: app.NewShopifyInstaller(svc, app.ShopifyInstallOptions{}),
		WooConnect:     app.NewWooConnector(svc, app.WooConnectOptions{AppURL: "https://bridge.example.in"}),
		Pages:          pages, ShopifyAPIKey: shopifyAppKey,
	}).Register(e)
	return e, svc, st
}

// browserSession is a merchant signed in by cookie, as a browser is.
type browserSession struct {
	t      *testing.T
	e      *echo.Echo
	cookie string
	// name is the session cookie's name: sessionCookie unless set.
	name string
}

func signedIn(t *testing.T, e *echo.Echo, svc *app.Service, merchantID string) *browserSession {
	t.Helper()
	token, _, err := svc.NewSession(merchantID)
	if err != nil {
		t.Fatal(err)
	}
	return &browserSession{t: t, e: e, cookie: token}
}

// operatorSignedIn is the operator signed in by cookie, no store picked.
func operatorSignedIn(t *testing.T, e *echo.Echo, svc *app.Service) *browserSession {
	t.Helper()
	token, _, err := svc.NewOperatorSession("")
	if err != nil {
		t.Fatal(err)
	}
	return &browserSession{t: t, e: e, cookie: token, name: operatorCookie}
}

func (b *browserSession) cookieName() string {
	if b.name != "" {
		return b.name
	}
	return sessionCookie
}

func (b *browserSession) get(path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: b.cookieName(), Value: b.cookie})
	}
	rec := httptest.NewRecorder()
	b.e.ServeHTTP(rec, req)
	return rec
}

func (b *browserSession) post(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: b.cookieName(), Value: b.cookie})
	}
	rec := httptest.NewRecorder()
	b.e.ServeHTTP(rec, req)
	return rec
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token a page's forms carry.
func (b *browserSession) csrf(path string) string {
	b.t.Helper()
	rec := b.get(path)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || m == nil {
		b.t.Fatalf("GET %s = %d, no csrf field:\n%s", path, rec.Code, rec.Body)
	}
	return m[1]
}

func newMerchant(t *testing.T, svc *app.Service, in app.NewMerchant) app.Merchant {
	t.Helper()
	m, _, err := svc.CreateMerchant(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEveryPageRendersForASignedInMerchant(t *testing.T) {
	e, svc := pagesServer(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals", Country: "IN"})
	b := signedIn(t, e, svc, m.ID)
	for _, path := range []string{"/admin", "/admin/provider", "/admin/provider?provider=wati", "/admin/messages", "/admin/messages/order.placed",
		"/admin/statuses", "/admin/cod", "/admin/deliveries", "/admin/stats"} {
		rec := b.get(path)
		if rec.Code != 200 {
			t.Errorf("GET %s = %d\n%s", path, rec.Code, rec.Body)
			continue
		}
		for _, want := range []string{"<!doctype html>", "Asha Naturals", `href="/admin/static/admin.css?v=`} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("GET %s lacks %q", path, want)
			}
		}
		if got := rec.Header().Get("Content-Security-Policy"); got != "frame-ancestors 'none'" {
			t.Errorf("GET %s: CSP %q, want frame-ancestors 'none' for a WooCommerce store", path, got)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: a page of merchant data may be cached: %q", path, rec.Header().Get("Cache-Control"))
		}
	}
}

func TestPagesWithoutSessionGoToSignIn(t *testing.T) {
	e, _ := pagesServer(t)
	b := &browserSession{t: t, e: e}
	rec := b.get("/admin/deliveries?status=failed")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/login?next=%2Fadmin%2Fdeliveries%3Fstatus%3Dfailed" {
		t.Fatalf("GET without session = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := b.post("/admin/provider", url.Values{"provider": {"sandbox"}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("POST without session = %d", rec.Code)
	}
	// Inside Shopify admin without a token: a page that asks App Bridge.
	rec = b.get("/admin?embedded=1&shop=kesar.myshopify.com&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUva2VzYXI")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "data-bounce-marker") || !strings.Contains(rec.Body.String(), `<meta name="shopify-api-key" content="`+shopifyAppKey+`">`) {
		t.Fatalf("embedded GET without token = %d\n%s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Security-Policy"); got != "frame-ancestors https://kesar.myshopify.com https://admin.shopify.com" {
		t.Fatalf("bounce CSP = %q", got)
	}
}

func TestPageChangesNeedTheSessionsCSRFToken(t *testing.T) {
	e, svc := pagesServer(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha", Country: "IN"})
	other := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://other.example.in", Name: "Other", Country: "IN"})
	b := signedIn(t, e, svc, m.ID)
	theirs := signedIn(t, e, svc, other.ID)
	theirToken := theirs.csrf("/admin/provider")
	for name, form := range map[string]url.Values{
		"no token":                {"provider": {"sandbox"}},
		"a made-up token":         {"provider": {"sandbox"}, "csrf": {"AAAAAAAAAAAAAAAAAAAAAA"}},
		"another session's token": {"provider": {"sandbox"}, "csrf": {theirToken}},
	} {
		rec := b.post("/admin/provider", form)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "reload the page") {
			t.Errorf("%s: POST = %d\n%s", name, rec.Code, rec.Body)
		}
	}
	got, _ := svc.Merchant(context.Background(), m.ID)
	if got.Provider.Name != "" {
		t.Fatalf("a refused form changed the provider to %q", got.Provider.Name)
	}
	rec := b.post("/admin/provider", url.Values{"provider": {"sandbox"}, "csrf": {b.csrf("/admin/provider")}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST with the token = %d\n%s", rec.Code, rec.Body)
	}
	if got, _ := svc.Merchant(context.Background(), m.ID); got.Provider.Name != app.ProviderSandbox {
		t.Fatalf("provider = %q after a good form", got.Provider.Name)
	}
}

func TestPagesNeverReachAnotherMerchant(t *testing.T) {
	e, svc := pagesServer(t)
	ctx := context.Background()
	mine := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://mine.example.in", Name: "Mine", Country: "IN"})
	theirs := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://theirs.example.in", Name: "Theirs", Country: "IN"})
	for _, id := range []string{mine.ID, theirs.ID} {
		if _, err := svc.SetProvider(ctx, id, app.ProviderInput{Provider: app.ProviderSandbox}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutRule(ctx, id, "order.placed", app.RuleInput{Template: "order_placed", Variables: []string{"order.number"}}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := svc.SendTestEvent(ctx, theirs.ID, app.TestEventInput{Event: "order.placed", Phone: "+919876543210"})
	if err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, e, svc, mine.ID)
	token := b.csrf("/admin/provider")
	// A hidden field naming another merchant is not read: the session decides.
	rec := b.post("/admin/provider", url.Values{"provider": {"sandbox"}, "csrf": {token}, "merchant": {theirs.ID}, "id": {theirs.ID}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST provider = %d", rec.Code)
	}
	rec = b.post("/admin/deliveries/"+d.ID+"/retry", url.Values{"csrf": {token}})
	if rec.Code != http.StatusNotFound {
		t.Fatalf("retrying another merchant's delivery = %d, want 404\n%s", rec.Code, rec.Body)
	}
	rec = b.post("/admin/merchants", url.Values{"csrf": {token}, "merchant": {theirs.ID}})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("a merchant picking another store = %d, want 403", rec.Code)
	}
	page := b.get("/admin/deliveries").Body.String()
	if strings.Contains(page, d.ID) || strings.Contains(page, "Theirs") {
		t.Fatal("the deliveries page shows another merchant's delivery")
	}
	after, _ := svc.Merchant(ctx, theirs.ID)
	if after.UpdatedAt != theirs.UpdatedAt && after.Provider.Name != app.ProviderSandbox {
		t.Fatal("the other merchant changed")
	}
	got, _, _ := svc.Deliveries(ctx, theirs.ID, app.DeliveryFilter{})
	if len(got) != 1 || got[0].Attempts != d.Attempts || got[0].Status != d.Status {
		t.Fatalf("the other merchant's delivery changed: %+v", got)
	}
}

func TestPagesEscapeMerchantAndCustomerText(t *testing.T) {
	e, svc := pagesServer(t)
	ctx := context.Background()
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://x.example.in", Name: `<script>alert("shop")</script>`, Country: "IN"})
	if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: app.ProviderSandbox}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutRule(ctx, m.ID, "order.placed", app.RuleInput{Template: "order_placed", Variables: []string{"customer.first_name"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendTestEvent(ctx, m.ID, app.TestEventInput{Event: "order.placed", Phone: "+919876543210",
		Properties: map[string]any{"customer.first_name": `<script>alert("customer")</script>`}}); err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, e, svc, m.ID)
	for _, path := range []string{"/admin", "/admin/deliveries"} {
		body := b.get(path).Body.String()
		if strings.Contains(body, "<script>alert") {
			t.Fatalf("%s renders a name as markup:\n%s", path, body)
		}
	}
	if body := b.get("/admin/deliveries").Body.String(); !strings.Contains(body, "&lt;script&gt;alert(&#34;customer&#34;)&lt;/script&gt;") {
		t.Fatalf("the customer's name is not shown as text:\n%s", body)
	}
}
