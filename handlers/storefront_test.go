package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
)

type storefrontEnv struct {
	e              *echo.Echo
	svc            *app.Service
	engine         *loyalty.Engine
	discounts      *pageDiscounts // the stores' discount codes
	shop, woo      app.Merchant
	shopKey, wooKy string
}

func storefrontServer(t *testing.T) *storefrontEnv {
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
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	discounts := &pageDiscounts{}
	engine := loyalty.NewEngine(loyalty.Options{Ledger: st.(*embedded.Store).Ledger(), Data: st, Queue: st, Merchants: svc, Sender: svc, Discounts: discounts})
	New(Options{Service: svc, Loyalty: engine, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in"}).Register(e)
	ctx := context.Background()
	shop, shopKey, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	woo, wooKey, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://shop.chai-point.in", Name: "Chai Point", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	// Both stores redeem 100 points for one unit of their currency.
	program := loyalty.DefaultProgram()
	program.Enabled = true
	program.Redeem = loyalty.RedeemSettings{Enabled: true, PointsPerUnit: 100, MinPoints: 1, ExpiresIn: "30d"}
	for _, m := range []app.Merchant{shop, woo} {
		if _, err := engine.PutProgram(ctx, m.ID, program); err != nil {
			t.Fatal(err)
		}
	}
	for _, seed := range []struct {
		m        app.Merchant
		customer string
		points   int64
	}{{shop, "7712398123", 500}, {woo, "41", 300}, {woo, "+919876543210", 80}} {
		if _, err := engine.Adjust(ctx, seed.m.ID, seed.customer, loyalty.Adjustment{Points: seed.points, Reason: "welcome", Key: "seed-" + seed.customer}); err != nil {
			t.Fatal(err)
		}
	}
	return &storefrontEnv{e: e, svc: svc, engine: engine, discounts: discounts, shop: shop, woo: woo, shopKey: shopKey, wooKy: wooKey}
}

// proxyQuery is what Shopify's App Proxy appends to a forwarded request,
// signed as Shopify signs it: every parameter but signature as key=value
// (repeated values joined by commas), sorted, concatenated, HMAC-SHA256
// with the app secret, in hex.
func proxyQuery(customer string, at time.Time, extra url.Values) url.Values {
	q := url.Values{"shop": {"kesar-kitchen.myshopify.com"}, "path_prefix": {"/apps/loyalty"}, "timestamp": {strconv.FormatInt(at.Unix(), 10)}, "logged_in_customer_id": {customer}}
	for k, v := range extra {
		q[k] = v
	}
	q.Set("signature", app.SignAppProxy(shopifyAppSecret, q))
	return q
}

func (env *storefrontEnv) do(method, target string, headers map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

func (env *storefrontEnv) token(t *testing.T, apiKey, body string) string {
	t.Helper()
	rec := env.do("POST", "/api/v1/customer-tokens", map[string]string{"Authorization": "Bearer " + apiKey, "Content-Type": "application/json"}, body)
	if rec.Code != 201 {
		t.Fatalf("POST /api/v1/customer-tokens %s = %d %s; want 201", body, rec.Code, rec.Body)
	}
	var out struct{ Token, Customer, Scope, ExpiresAt string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Token
}

// The App Proxy path: Shopify's signature and the logged-in customer
// through the real router.
func TestStorefrontAppProxy(t *testing.T) {
	env := storefrontServer(t)
	now := time.Now()
	signed := proxyQuery("7712398123", now, url.Values{"extra": {"1", "2"}})
	tampered := proxyQuery("7712398123", now, nil)
	tampered.Set("logged_in_customer_id", "41")
	json := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		name, method, path string
		headers            map[string]string
		body               string
		want               int
		contains           []string
	}{
		{"balance", "GET", "/proxy/loyalty/points?" + signed.Encode(), nil, "", 200,
			[]string{`"customer":"7712398123"`, `"balance":500`, `"pending":0`, `"tier":""`, `"next_expiry":null`}},
		{"a tampered customer", "GET", "/proxy/loyalty/points?" + tampered.Encode(), nil, "", 401, []string{`"error":"unauthorized"`}},
		{"no signature", "GET", "/proxy/loyalty/points?shop=kesar-kitchen.myshopify.com&logged_in_customer_id=7712398123&timestamp=" + strconv.FormatInt(now.Unix(), 10), nil, "", 401, nil},
		{"a replayed old request", "GET", "/proxy/loyalty/points?" + proxyQuery("7712398123", now.Add(-10*time.Minute), nil).Encode(), nil, "", 401, nil},
		{"nobody logged in", "GET", "/proxy/loyalty/points?" + proxyQuery("", now, nil).Encode(), nil, "", 401, []string{`"error":"no customer is logged in"`}},
		{"redeem", "POST", "/proxy/loyalty/points/redeem?" + signed.Encode(), json, `{"points":200,"key":"r1"}`, 200,
			[]string{`"kind":"redeem"`, `"points":-200`, `"code":"SB-`, `"value":"2.00"`}},
		{"redeem again, same key", "POST", "/proxy/loyalty/points/redeem?" + signed.Encode(), json, `{"points":200,"key":"r1"}`, 200, []string{`"points":-200`}},
		{"balance after", "GET", "/proxy/loyalty/points?" + signed.Encode(), nil, "", 200, []string{`"balance":300`}},
		{"redeem as a plain form", "POST", "/proxy/loyalty/points/redeem?" + signed.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, `points=200&key=r2`, 415, nil},
		{"redeem, nobody logged in", "POST", "/proxy/loyalty/points/redeem?" + proxyQuery("", now, nil).Encode(), json, `{"points":1,"key":"r3"}`, 401, []string{"no customer is logged in"}},
		{"redeem too much", "POST", "/proxy/loyalty/points/redeem?" + signed.Encode(), json, `{"points":5000,"key":"r4"}`, 422, []string{`"points"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.method, tc.path, tc.headers, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body %s lacks %s", rec.Body, s)
				}
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", cc)
			}
		})
	}
	// The retry made no second code; the refused one asked the store for
	// none.
	if held, creates := env.discounts.state(); held != 1 || creates != 1 {
		t.Errorf("the store holds %d codes after %d creates; want one", held, creates)
	}
	entries, err := env.engine.Points(context.Background(), env.shop.ID, "7712398123", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if e := entries.Entries[0]; e.Kind != loyalty.KindRedeem || e.Reason != "redeemed on the storefront" {
		t.Errorf("newest entry = %+v; want the storefront's redemption", e)
	}
}

// The customer-token path: a store's server gets a token with its API key;
// the store's page reads and redeems with it, from its own origin only.
func TestStorefrontCustomerTokens(t *testing.T) {
	env := storefrontServer(t)
	const origin = "https://shop.chai-point.in"
	token := env.token(t, env.wooKy, `{"customer":"41"}`)
	phoneToken := env.token(t, env.wooKy, `{"customer":"+91 98765 43210"}`)
	readOnly := env.token(t, env.wooKy, `{"customer":"41","scope":"loyalty:read"}`)
	shopToken := env.token(t, env.shopKey, `{"customer":"7712398123"}`)
	keyring, _ := app.NewKeyring(testSecretKey)
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"merchant": env.woo.ID, "customer": "41", "scope": "loyalty:read loyalty:redeem", "aud": "storebridge-customer",
		"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-time.Minute).Unix(),
	}).SignedString(keyring.SigningKey())
	otherKeyring, _ := app.NewKeyring("another-deployment-secret-key-0123456789")
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"merchant": env.woo.ID, "customer": "41", "scope": "loyalty:read loyalty:redeem", "aud": "storebridge-customer", "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString(otherKeyring.SigningKey())
	session, _, _ := env.svc.NewSession(env.woo.ID)
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Origin": origin, "Content-Type": "application/json"}
	}
	cases := []struct {
		name, method, path string
		headers            map[string]string
		body               string
		want               int
		contains           []string
		allowOrigin        string
	}{
		{"token without an API key", "POST", "/api/v1/customer-tokens", map[string]string{"Content-Type": "application/json"}, `{"customer":"41"}`, 401, nil, ""},
		{"token with a wrong API key", "POST", "/api/v1/customer-tokens", map[string]string{"Authorization": "Bearer sb_live_nope", "Content-Type": "application/json"}, `{"customer":"41"}`, 401, nil, ""},
		{"token for nobody", "POST", "/api/v1/customer-tokens", map[string]string{"Authorization": "Bearer " + env.wooKy}, `{"customer":""}`, 422, []string{`"customer"`}, ""},
		{"token with a bad scope", "POST", "/api/v1/customer-tokens", map[string]string{"Authorization": "Bearer " + env.wooKy}, `{"customer":"41","scope":"admin"}`, 422, []string{`"scope"`}, ""},
		{"points", "GET", "/api/v1/customer/points", bearer(token), "", 200, []string{`"customer":"41"`, `"balance":300`}, origin},
		{"points of a phone customer", "GET", "/api/v1/customer/points", bearer(phoneToken), "", 200, []string{`"customer":"+919876543210"`, `"balance":80`}, origin},
		{"points from the store's server (no Origin)", "GET", "/api/v1/customer/points", map[string]string{"Authorization": "Bearer " + token}, "", 200, []string{`"balance":300`}, ""},
		{"no token", "GET", "/api/v1/customer/points", map[string]string{"Origin": origin}, "", 401, nil, origin},
		{"expired token", "GET", "/api/v1/customer/points", bearer(expired), "", 401, nil, origin},
		{"forged token", "GET", "/api/v1/customer/points", bearer(forged), "", 401, nil, origin},
		{"tampered token", "GET", "/api/v1/customer/points", bearer(token[:len(token)-3] + "abc"), "", 401, nil, origin},
		{"an admin session is no customer token", "GET", "/api/v1/customer/points", bearer(session), "", 401, nil, origin},
		{"the API key is no customer token", "GET", "/api/v1/customer/points", bearer(env.wooKy), "", 401, nil, origin},
		{"another merchant's token on this store's page", "GET", "/api/v1/customer/points", bearer(shopToken), "", 401, []string{"not for this store"}, origin},
		{"a token used from another site", "GET", "/api/v1/customer/points", map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example.com"}, "", 401, nil, ""},
		{"redeem", "POST", "/api/v1/customer/points/redeem", bearer(token), `{"points":100,"key":"w1"}`, 200, []string{`"points":-100`, `"code":"SB-`, `"value":"1.00"`}, origin},
		{"redeem with a read-only token", "POST", "/api/v1/customer/points/redeem", bearer(readOnly), `{"points":100,"key":"w2"}`, 403, []string{"scope"}, origin},
		{"redeem with an expired token", "POST", "/api/v1/customer/points/redeem", bearer(expired), `{"points":100,"key":"w3"}`, 401, nil, origin},
		{"points after", "GET", "/api/v1/customer/points", bearer(readOnly), "", 200, []string{`"balance":200`}, origin},
		{"preflight from the store", "OPTIONS", "/api/v1/customer/points/redeem", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}, "", 204, nil, origin},
		{"preflight from a Shopify store", "OPTIONS", "/api/v1/customer/points", map[string]string{"Origin": "https://kesar-kitchen.myshopify.com", "Access-Control-Request-Method": "GET"}, "", 204, nil, "https://kesar-kitchen.myshopify.com"},
		{"preflight from another site", "OPTIONS", "/api/v1/customer/points", map[string]string{"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"}, "", 204, nil, ""},
		{"preflight from the store over http", "OPTIONS", "/api/v1/customer/points", map[string]string{"Origin": "http://shop.chai-point.in", "Access-Control-Request-Method": "GET"}, "", 204, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.do(tc.method, tc.path, tc.headers, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body %s lacks %s", rec.Body, s)
				}
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, tc.allowOrigin)
			}
			if tc.method != "OPTIONS" && tc.allowOrigin != "" && !strings.Contains(rec.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("Access-Control-Expose-Headers = %q; want Retry-After exposed", rec.Header().Get("Access-Control-Expose-Headers"))
			}
			if tc.method == "OPTIONS" && tc.allowOrigin != "" {
				if m, h := rec.Header().Get("Access-Control-Allow-Methods"), rec.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(m, tc.headers["Access-Control-Request-Method"]) || !strings.Contains(h, "Authorization") {
					t.Errorf("preflight grants methods %q, headers %q; want the method asked and Authorization", m, h)
				}
			}
			if tc.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

// A customer's storefront calls are limited per customer, whichever token
// they bear; another customer of the store is not held back.
func TestStorefrontRateLimitPerCustomer(t *testing.T) {
	env := storefrontServer(t)
	first, second := env.token(t, env.wooKy, `{"customer":"41"}`), env.token(t, env.wooKy, `{"customer":"41"}`)
	other := env.token(t, env.wooKy, `{"customer":"+919876543210"}`)
	get := func(tok string) *httptest.ResponseRecorder {
		return env.do("GET", "/api/v1/customer/points", map[string]string{"Authorization": "Bearer " + tok}, "")
	}
	for n := range storefrontCustomerLimit {
		tok := first
		if n%2 == 1 {
			tok = second
		}
		if rec := get(tok); rec.Code != 200 {
			t.Fatalf("call %d = %d %s; want 200", n+1, rec.Code, rec.Body)
		}
	}
	rec := get(second)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("call past the limit = %d (Retry-After %q); want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := get(other); rec.Code != 200 {
		t.Errorf("another customer's call = %d; want 200", rec.Code)
	}
}

// The storefront's points answer carries the customer's referral code
// while the merchant runs referrals (the same code the admin shows), on
// both ways in; none while referrals are off.
func TestStorefrontReferralCode(t *testing.T) {
	env := storefrontServer(t)
	ctx := context.Background()
	proxy := func() string {
		return "/proxy/loyalty/points?" + proxyQuery("7712398123", time.Now(), nil).Encode()
	}
	token := env.token(t, env.wooKy, `{"customer":"41"}`)
	bearer := map[string]string{"Authorization": "Bearer " + token, "Origin": "https://shop.chai-point.in"}
	for _, path := range []struct {
		path    string
		headers map[string]string
	}{{proxy(), nil}, {"/api/v1/customer/points", bearer}} {
		if rec := env.do("GET", path.path, path.headers, ""); rec.Code != 200 || strings.Contains(rec.Body.String(), "referral_code") {
			t.Errorf("GET %s with referrals off = %d %s; want no referral_code", path.path, rec.Code, rec.Body)
		}
	}
	for _, m := range []app.Merchant{env.shop, env.woo} {
		p := loyalty.DefaultProgram()
		p.Enabled, p.Referral.Enabled = true, true
		if _, err := env.engine.PutProgram(ctx, m.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		m        app.Merchant
		customer string
		path     string
		headers  map[string]string
	}{{env.shop, "7712398123", proxy(), nil}, {env.woo, "41", "/api/v1/customer/points", bearer}} {
		rec := env.do("GET", tc.path, tc.headers, "")
		var got struct {
			Balance      int64  `json:"balance"`
			ReferralCode string `json:"referral_code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", tc.path, rec.Code, rec.Body)
		}
		admin, err := env.engine.Points(ctx, tc.m.ID, tc.customer, "", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.ReferralCode, "REF-") || got.ReferralCode != admin.ReferralCode || got.Balance == 0 {
			t.Errorf("GET %s = %s; want the admin's referral code %q", tc.path, rec.Body, admin.ReferralCode)
		}
	}
}

// A storefront redemption the store did not answer is 503 with
// Retry-After and the same advice as the admin API's; one the store
// refused is 502 with its reason.
func TestStorefrontRedeemStoreErrors(t *testing.T) {
	env := storefrontServer(t)
	token := env.token(t, env.wooKy, `{"customer":"41"}`)
	headers := map[string]string{"Authorization": "Bearer " + token, "Origin": "https://shop.chai-point.in", "Content-Type": "application/json"}
	env.discounts.failNext(&app.ProviderError{Provider: "woocommerce", Status: 503, Retryable: true, Message: "unavailable"})
	rec := env.do("POST", "/api/v1/customer/points/redeem", headers, `{"points":100,"key":"p1"}`)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "retry with the same key") {
		t.Errorf("redeem with the store down = %d %s (Retry-After %q); want 503 saying to retry with the same key", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	env.discounts.failNext(app.Permanent(&app.ProviderError{Provider: "woocommerce", Status: 400, Message: "Invalid coupon amount."}))
	rec = env.do("POST", "/api/v1/customer/points/redeem", headers, `{"points":100,"key":"p2"}`)
	if rec.Code != 502 || !strings.Contains(rec.Body.String(), "given back") {
		t.Errorf("a refused redemption = %d %s; want 502 with the reason", rec.Code, rec.Body)
	}
}
