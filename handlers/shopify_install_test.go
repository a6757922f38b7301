package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

const installAPIKey = "3d9a0c1b2e4f56789abc"

// installAdmin is Shopify's token endpoint as the handlers need it: one
// good code, the scope granted configurable.
type installAdmin struct {
	mu        sync.Mutex
	scope     string
	down      bool
	exchanges int
}

func (a *installAdmin) ExchangeCode(_ context.Context, shop, code string) (app.ShopifyToken, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exchanges++
	if a.down {
		return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}
	}
	if code != "good-code" {
		return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400}
	}
	return app.ShopifyToken{AccessToken: "shpat_h", Scope: a.scope, ExpiresIn: time.Hour, RefreshToken: "shprt_h", RefreshExpiresIn: 90 * 24 * time.Hour}, nil
}

func (a *installAdmin) ExchangeSessionToken(context.Context, string, string) (app.ShopifyToken, error) {
	return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400}
}

func (a *installAdmin) RefreshToken(context.Context, string, string) (app.ShopifyToken, error) {
	return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400}
}

func (a *installAdmin) WebhookSubscriptions(context.Context, string, string) ([]app.ShopifyWebhookSubscription, error) {
	return nil, nil
}

func (a *installAdmin) CreateWebhookSubscription(context.Context, string, string, app.ShopifyWebhookSubscription) error {
	return nil
}

func (a *installAdmin) OrdersUpdatedSince(context.Context, string, string, time.Time, int) ([]app.ShopifyOrder, error) {
	return nil, nil
}

func (a *installAdmin) Shop(context.Context, string, string) (app.ShopifyShop, error) {
	return app.ShopifyShop{Name: "Asha Naturals", Country: "IN", Timezone: "Asia/Kolkata"}, nil
}

func newInstallServer(t *testing.T, appURL string, admin app.ShopifyAdmin) (*echo.Echo, app.Store) {
	t.Helper()
	st := newEmbeddedStore(t)
	keyring, err := app.NewKeyring(testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, ShopifyAPISecret: shopifyAppSecret, Logger: log})
	opts := app.ShopifyInstallOptions{AppURL: appURL, Scopes: []string{"read_orders", "read_customers"}, Admin: admin}
	if admin != nil {
		opts.APIKey, opts.APISecret = installAPIKey, shopifyAppSecret
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	New(Options{Service: svc, ShopifyInstall: app.NewShopifyInstaller(svc, opts), AppURL: appURL, Store: st, Metrics: metrics, Logger: log}).Register(e)
	return e, st
}

// signedQuery adds a current timestamp and Shopify's hmac to q.
func signedQuery(q url.Values, age time.Duration) string {
	q.Set("timestamp", strconv.FormatInt(time.Now().Add(-age).Unix(), 10))
	q.Set("hmac", app.SignShopifyQuery(shopifyAppSecret, q))
	return q.Encode()
}

func stateCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.Name == shopifyStateCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", shopifyStateCookie, rec.Header().Values("Set-Cookie"))
	return nil
}

func get(e *echo.Echo, target string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return serve(e, req)
}

func TestShopifyInstallOff(t *testing.T) {
	e, _ := newInstallServer(t, "https://sb.example.in", nil)
	for _, target := range []string{"/shopify/install?shop=" + ashaShop, "/shopify/callback?shop=" + ashaShop} {
		rec := get(e, target, nil)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "SHOPIFY_API_KEY") {
			t.Errorf("GET %s with the app off = %d %s; want 404 naming SHOPIFY_API_KEY", target, rec.Code, rec.Body)
		}
	}
	// Handlers built without an installer at all answer the same.
	log := slog.New(slog.DiscardHandler)
	st := newEmbeddedStore(t)
	keyring, _ := app.NewKeyring(testSecretKey)
	bare := NewEcho(log, NewMetrics(nil, log))
	New(Options{Service: app.NewService(app.ServiceOptions{Store: st, Keyring: keyring}), Metrics: NewMetrics(nil, log), Logger: log}).Register(bare)
	if rec := get(bare, "/shopify/install?shop="+ashaShop, nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET /shopify/install without an installer = %d; want 404", rec.Code)
	}
}

func TestShopifyInstallRedirect(t *testing.T) {
	for _, tc := range []struct {
		appURL     string
		wantSecure bool
	}{{"https://sb.example.in", true}, {"http://localhost:8080", false}} {
		e, _ := newInstallServer(t, tc.appURL, &installAdmin{scope: "read_orders,read_customers"})
		rec := get(e, "/shopify/install?"+signedQuery(url.Values{"shop": {ashaShop}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYQ"}}, 0), nil)
		if rec.Code != http.StatusFound {
			t.Fatalf("GET /shopify/install = %d %s; want 302", rec.Code, rec.Body)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if loc.Host != ashaShop || loc.Path != "/admin/oauth/authorize" || loc.Query().Get("redirect_uri") != tc.appURL+"/shopify/callback" {
			t.Errorf("Location = %s; want the shop's authorize page with our callback", loc)
		}
		c := stateCookie(t, rec)
		if !c.HttpOnly || c.Secure != tc.wantSecure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 300 || c.Path != "/shopify/" || c.Value == "" {
			t.Errorf("APP_URL %s: cookie = %+v; want HttpOnly, Secure %v, SameSite=Lax, 5 minutes, under /shopify/", tc.appURL, c, tc.wantSecure)
		}
	}
}

func TestShopifyInstallRoutes(t *testing.T) {
	admin := &installAdmin{scope: "read_orders,read_customers"}
	e, st := newInstallServer(t, "https://sb.example.in", admin)
	begin := func(shop string) (*http.Cookie, string) {
		rec := get(e, "/shopify/install?shop="+shop, nil)
		if rec.Code != http.StatusFound {
			t.Fatalf("GET /shopify/install = %d %s", rec.Code, rec.Body)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		return stateCookie(t, rec), loc.Query().Get("state")
	}
	cookie, nonce := begin(ashaShop)
	otherCookie, _ := begin("other-shop.myshopify.com")
	callback := func(q url.Values) url.Values {
		base := url.Values{"shop": {ashaShop}, "code": {"good-code"}, "state": {nonce}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYQ"}}
		for k, v := range q {
			base[k] = v
		}
		return base
	}
	tampered, _ := url.ParseQuery(signedQuery(callback(nil), 0))
	tampered.Set("code", "other-code")

	cases := []struct {
		name       string
		target     string
		cookie     *http.Cookie
		wantStatus int
		wantBody   string
	}{
		{"install: foreign shop", "/shopify/install?shop=" + url.QueryEscape("attacker.com/?"), nil, 400, "myshopify.com"},
		{"install: bad hmac", "/shopify/install?shop=" + ashaShop + "&timestamp=" + strconv.FormatInt(time.Now().Unix(), 10) + "&hmac=" + strings.Repeat("ab", 32), nil, 401, "hmac"},
		{"install: stale", "/shopify/install?" + signedQuery(url.Values{"shop": {ashaShop}}, 5*time.Minute), nil, 401, "timestamp"},
		{"callback: foreign shop", "/shopify/callback?" + signedQuery(callback(url.Values{"shop": {"attacker.com/?"}}), 0), cookie, 400, "myshopify.com"},
		{"callback: bad hmac", "/shopify/callback?" + tampered.Encode(), cookie, 401, "hmac"},
		{"callback: stale", "/shopify/callback?" + signedQuery(callback(nil), 2*time.Minute), cookie, 401, "timestamp"},
		{"callback: wrong state", "/shopify/callback?" + signedQuery(callback(url.Values{"state": {strings.Repeat("0", 64)}}), 0), cookie, 401, "state"},
		{"callback: cookie of another shop", "/shopify/callback?" + signedQuery(callback(nil), 0), otherCookie, 401, "state"},
		{"callback: no cookie", "/shopify/callback?" + signedQuery(callback(nil), 0), nil, 401, "cookie"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(e, tc.target, tc.cookie)
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tc.wantStatus || !strings.Contains(body.Error, tc.wantBody) {
				t.Fatalf("GET %s = %d %s; want %d mentioning %q", tc.target, rec.Code, rec.Body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	if admin.exchanges != 0 {
		t.Fatalf("refused callbacks reached Shopify %d times; want none", admin.exchanges)
	}

	admin.scope = "read_orders"
	rec := get(e, "/shopify/callback?"+signedQuery(callback(nil), 0), cookie)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "read_customers") {
		t.Fatalf("callback with a scope missing = %d %s; want 403 naming read_customers", rec.Code, rec.Body)
	}
	admin.scope, admin.down = "read_orders,read_customers", true
	if rec := get(e, "/shopify/callback?"+signedQuery(callback(nil), 0), cookie); rec.Code != http.StatusBadGateway {
		t.Fatalf("callback with Shopify down = %d %s; want 502", rec.Code, rec.Body)
	}
	admin.down = false

	rec = get(e, "/shopify/callback?"+signedQuery(callback(nil), 0), cookie)
	if rec.Code != http.StatusFound {
		t.Fatalf("callback = %d %s; want 302", rec.Code, rec.Body)
	}
	m, err := st.MerchantByDomain(context.Background(), app.PlatformShopify, ashaShop)
	if err != nil || rec.Header().Get("Location") != "/admin/?merchant="+m.ID {
		t.Fatalf("Location = %s (merchant %v); want /admin/?merchant=%s", rec.Header().Get("Location"), err, m.ID)
	}
	if c := stateCookie(t, rec); c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("state cookie after the callback = %+v; want it cleared", c)
	}
	// The merchant who installed is signed in to their own admin API.
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.Value == "" {
		t.Fatalf("session cookie after the callback = %+v; want an HttpOnly session", session)
	}
	req := httptest.NewRequest("GET", "/api/admin/merchants/"+m.ID, nil)
	req.AddCookie(session)
	own := httptest.NewRecorder()
	e.ServeHTTP(own, req)
	if own.Code != http.StatusOK {
		t.Errorf("GET own merchant with the install's session = %d %s; want 200", own.Code, own.Body)
	}
}

// A callback replayed with the same cookie and query (a browser's back
// button, a copied URL, an attacker holding both) is refused, even while
// Shopify's signature and timestamp still verify: the state's nonce is
// used once, on every instance.
func TestShopifyCallbackReplayRefused(t *testing.T) {
	admin := &installAdmin{scope: "read_orders,read_customers"}
	e, _ := newInstallServer(t, "https://sb.example.in", admin)
	rec := get(e, "/shopify/install?shop="+ashaShop, nil)
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /shopify/install = %d %s", rec.Code, rec.Body)
	}
	cookie := stateCookie(t, rec)
	loc, _ := url.Parse(rec.Header().Get("Location"))
	target := "/shopify/callback?" + signedQuery(url.Values{"shop": {ashaShop}, "code": {"good-code"}, "state": {loc.Query().Get("state")}}, 0)

	if first := get(e, target, cookie); first.Code != http.StatusFound {
		t.Fatalf("first callback = %d %s; want 302", first.Code, first.Body)
	}
	replay := get(e, target, cookie)
	if replay.Code != http.StatusUnauthorized || !strings.Contains(replay.Body.String(), "state") {
		t.Errorf("replayed callback = %d %s; want 401 about the state", replay.Code, replay.Body)
	}
	if admin.exchanges != 1 {
		t.Errorf("codes exchanged = %d; want 1 (the replay must not reach Shopify)", admin.exchanges)
	}
}
