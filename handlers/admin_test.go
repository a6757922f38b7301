package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

const (
	operatorToken = "operator-token-0123456789"
	shopifyAppKey = "3f1c2a9b7e6d5c3b2a19"
)

// adminServer is the real router with the operator API on, over the
// embedded store, with the sandbox provider and both platform flows.
func adminServer(t *testing.T) (*echo.Echo, app.Store, *app.Service) {
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
	engine := loyalty.NewEngine(loyalty.Options{Ledger: st.(*embedded.Store).Ledger(), Data: st, Queue: st, Merchants: svc, Sender: svc})
	New(Options{
		Service: svc, Loyalty: engine, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in",
		ShopifyInstall: app.NewShopifyInstaller(svc, app.ShopifyInstallOptions{}),
		WooConnect:     app.NewWooConnector(svc, app.WooConnectOptions{AppURL: "https://bridge.example.in"}),
	}).Register(e)
	return e, st, svc
}

type sandboxProvider struct{}

func (sandboxProvider) Name() string                 { return app.ProviderSandbox }
func (sandboxProvider) Verify(context.Context) error { return nil }
func (sandboxProvider) Send(_ context.Context, m app.Message) (app.SendResult, error) {
	return app.SendResult{ProviderMessageID: "sandbox." + m.DeliveryID}, nil
}

func call(e *echo.Echo, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestAdminAPI(t *testing.T) {
	e, st, _ := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com","access_token":"shpat_secret_value","country":"IN","timezone":"Asia/Kolkata","name":"Kesar Kitchen"}`)
	if created.Code != 201 {
		t.Fatalf("create = %d %s", created.Code, created.Body)
	}
	var m map[string]any
	_ = json.Unmarshal(created.Body.Bytes(), &m)
	id := m["id"].(string)

	cases := []struct {
		name, method, path, token, body string
		want                            int
		contains                        []string
		absent                          []string
	}{
		{"no token", "GET", "/api/admin/merchants/" + id, "", "", 401, []string{"bearer token"}, nil},
		{"no provider: the merchant is told nothing is sent", "GET", "/api/admin/merchants/" + id, operatorToken, "", 200,
			[]string{`"name":""`, `"warnings":["No messaging provider is connected: nothing is sent`}, nil},
		{"test event without a provider", "POST", "/api/admin/merchants/" + id + "/test-events", operatorToken, `{"event":"order.placed","phone":"+919876543210"}`, 422, []string{`"provider"`}, nil},
		{"choose the sandbox", "PUT", "/api/admin/merchants/" + id + "/provider", operatorToken, `{"provider":"sandbox"}`, 200, []string{`"name":"sandbox"`, `"warnings":[]`}, nil},
		{"wrong token", "GET", "/api/admin/merchants/" + id, "guess", "", 401, nil, nil},
		{"get merchant masks secrets", "GET", "/api/admin/merchants/" + id, operatorToken, "", 200,
			[]string{`"access_token":"••••••••"`, `"shopify":"https://bridge.example.in/webhooks/shopify"`, `"name":"sandbox"`}, []string{"shpat_secret_value", "api_key"}},
		{"unknown merchant", "GET", "/api/admin/merchants/m_nobody", operatorToken, "", 404, nil, nil},
		{"create: bad platform", "POST", "/api/admin/merchants", operatorToken, `{"platform":"magento"}`, 422, []string{`"platform":"must be shopify or woocommerce"`}, nil},
		{"create: not json", "POST", "/api/admin/merchants", operatorToken, `{"platform":`, 400, nil, nil},
		{"create: duplicate shop", "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com"}`, 409, nil, nil},
		{"create: sync without token", "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"other.myshopify.com","sync":true}`, 422, []string{"access_token"}, nil},
		{"rule", "PUT", "/api/admin/merchants/" + id + "/rules/order.placed", operatorToken, `{"template":"order_placed","variables":["user_name","order.number"],"delay":"0s"}`, 200,
			[]string{`"variables":["customer.first_name","order.number"]`, `"category":"transactional"`}, nil},
		{"rule: a Nector field", "PUT", "/api/admin/merchants/" + id + "/rules/loyalty.points_earned", operatorToken, `{"template":"coins","variables":["user_name","amount","nector.business_coin_name"]}`, 200,
			[]string{`"variables":["customer.first_name","points.amount","nector.business_coin_name"]`}, nil},
		{"rule: tier and referral code", "PUT", "/api/admin/merchants/" + id + "/rules/loyalty.milestone_reached", operatorToken, `{"template":"tier","variables":["tier.name","referral.code"]}`, 200, []string{`"variables":["tier.name","referral.code"]`}, nil},
		{"rule: a nested Nector field", "PUT", "/api/admin/merchants/" + id + "/rules/loyalty.points_earned", operatorToken, `{"template":"coins","variables":["nector.data.amount"]}`, 422, []string{`variables[0]`}, nil},
		{"rule: unknown variable", "PUT", "/api/admin/merchants/" + id + "/rules/order.placed", operatorToken, `{"template":"t","variables":["order.secret_margin"]}`, 422, []string{`variables[0]`}, nil},
		{"rule: bad delay", "PUT", "/api/admin/merchants/" + id + "/rules/cart.abandoned", operatorToken, `{"template":"t","delay":"soon"}`, 422, []string{`"delay"`}, nil},
		{"rule: a cart sequence", "PUT", "/api/admin/merchants/" + id + "/rules/cart.abandoned", operatorToken,
			`{"attribution_window":"120h","steps":[{"template":"cart_1","variables":["cart.recovery_url"]},{"delay":"24h","template":"cart_2","language":"hi","variables":["cart.recovery_url"]},{"template":"cart_3","variables":["coupon.code","coupon.value"],"discount":{"type":"percent","value":10,"expires_in":"48h"}}]}`, 200,
			[]string{`"template":"cart_1","language":"en"`, `"steps":[{"delay":"30m0s","template":"cart_1","language":"en","variables":["cart.recovery_url"]},{"delay":"24h0m0s","template":"cart_2","language":"hi"`,
				`{"delay":"72h0m0s","template":"cart_3","language":"en","variables":["coupon.code","coupon.value"],"discount":{"type":"percent","value":10,"expires_in":"48h0m0s"}}]`, `"attribution_window":"120h0m0s"`}, nil},
		{"rule: bad steps", "PUT", "/api/admin/merchants/" + id + "/rules/cart.abandoned", operatorToken,
			`{"attribution_window":"5m","steps":[{"delay":"2h","template":"Cart One"},{"delay":"1h","template":"cart_2","variables":["cart.nope"]},{"template":"cart_3","discount":{"type":"bogo","value":0,"expires_in":"1m"}}]}`, 422,
			[]string{`"steps[0].template"`, `"steps[1].delay"`, `"steps[1].variables[0]"`, `"steps[2].discount.type"`, `"steps[2].discount.value"`, `"steps[2].discount.expires_in"`, `"attribution_window"`}, nil},
		{"rule: four steps", "PUT", "/api/admin/merchants/" + id + "/rules/cart.abandoned", operatorToken,
			`{"steps":[{"template":"a"},{"template":"b"},{"template":"c"},{"delay":"96h","template":"d"}]}`, 422, []string{`"steps":"must be 1 to 3 steps"`}, nil},
		{"rule: a percent over 100", "PUT", "/api/admin/merchants/" + id + "/rules/cart.abandoned", operatorToken,
			`{"steps":[{"template":"a","discount":{"type":"percent","value":150}}]}`, 422, []string{`"steps[0].discount.value"`}, nil},
		{"rule: steps on another event", "PUT", "/api/admin/merchants/" + id + "/rules/order.placed", operatorToken,
			`{"template":"t","steps":[{"template":"a"}]}`, 422, []string{`"steps"`}, nil},
		{"rules", "GET", "/api/admin/merchants/" + id + "/rules", operatorToken, "", 200, []string{`"event":"order.placed"`}, nil},
		{"status map", "PUT", "/api/admin/merchants/" + id + "/status-map", operatorToken, `{"wc-shipped-custom":"order.shipped","failed":""}`, 200, []string{`"shipped-custom":"order.shipped"`, `"unmapped":[]`}, nil},
		{"status map: bad event", "PUT", "/api/admin/merchants/" + id + "/status-map", operatorToken, `{"completed":"Delivered!"}`, 422, nil, nil},
		{"settings", "PUT", "/api/admin/merchants/" + id + "/settings", operatorToken, `{"quiet_hours":"22:00-08:00","cod_gateways":"Pay on delivery","timezone":"Asia/Kolkata"}`, 200,
			[]string{`"quiet_hours":"22:00-08:00"`, `"cod_gateways":"Pay on delivery"`, `"timezone":"Asia/Kolkata"`}, nil},
		{"settings: bad values", "PUT", "/api/admin/merchants/" + id + "/settings", operatorToken, `{"quiet_hours":"late","country":"India","timezone":"Mars/Olympus"}`, 422,
			[]string{`"quiet_hours"`, `"country"`, `"timezone"`}, nil},
		{"settings: control characters, made-up country, reminders a nanosecond apart", "PUT", "/api/admin/merchants/" + id + "/settings", operatorToken,
			`{"name":"Kesar\u0000Kitchen\r\nX-Injected: 1","country":"XX","cod_reminders":"1ns,1ns,1ns"}`, 422,
			[]string{`"name"`, `"country"`, `"cod_reminders"`}, nil},
		{"settings: a name too long", "PUT", "/api/admin/merchants/" + id + "/settings", operatorToken, `{"name":"` + strings.Repeat("k", 101) + `"}`, 422, []string{`"name"`}, nil},
		{"create: a store url on the metadata address", "POST", "/api/admin/merchants", operatorToken,
			`{"platform":"woocommerce","store_url":"http://169.254.169.254/latest/meta-data","consumer_key":"ck_1","consumer_secret":"cs_1"}`, 422, []string{`"store_url"`}, nil},
		{"create: a store url on loopback", "POST", "/api/admin/merchants", operatorToken,
			`{"platform":"woocommerce","store_url":"https://127.0.0.1:8443"}`, 422, []string{`"store_url"`}, nil},
		{"provider: unknown", "PUT", "/api/admin/merchants/" + id + "/provider", operatorToken, `{"provider":"carrier-pigeon"}`, 422, []string{"sandbox"}, nil},
		{"test event", "POST", "/api/admin/merchants/" + id + "/test-events", operatorToken, `{"event":"order.placed","phone":"+919876543210","properties":{"order":{"number":"#1"}}}`, 200,
			[]string{`"status":"sent"`, `"phone":"+91******3210"`, `"values":["Test","#1"]`}, []string{"9876543210\""}},
		{"deliveries", "GET", "/api/admin/merchants/" + id + "/deliveries?status=sent&limit=10", operatorToken, "", 200, []string{`"deliveries":[{`, `"next":""`}, nil},
		{"deliveries: bad status", "GET", "/api/admin/merchants/" + id + "/deliveries?status=lost", operatorToken, "", 422, nil, nil},
		{"retry a sent delivery", "POST", "/api/admin/deliveries/" + id + "-nope/retry", operatorToken, "", 404, nil, nil},
		{"bulk retry needs a status", "POST", "/api/admin/merchants/" + id + "/deliveries/retry", operatorToken, `{"status":"sent"}`, 422, nil, nil},
		{"stats", "GET", "/api/admin/merchants/" + id + "/stats?from=2026-11-01&to=2026-11-30", operatorToken, "", 200, []string{`"inputs":{"accepted":0`, `"from":"2026-11-01"`}, nil},
		{"stats: bad range", "GET", "/api/admin/merchants/" + id + "/stats?from=2026-12-01&to=2026-11-01", operatorToken, "", 422, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(e, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, want := range tc.contains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("%s %s body = %s; want it to contain %s", tc.method, tc.path, rec.Body, want)
				}
			}
			for _, not := range tc.absent {
				if strings.Contains(rec.Body.String(), not) {
					t.Errorf("%s %s body = %s; must not contain %s", tc.method, tc.path, rec.Body, not)
				}
			}
		})
	}

	// A hand-made store asking to be kept in sync gets its periodic jobs.
	synced := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"woocommerce","store_url":"https://diya-and-co.example.in","consumer_key":"ck_1","consumer_secret":"cs_1","webhook_secret":"s3cr3tS3cr3tS3cr3t","sync":true}`)
	if synced.Code != 201 {
		t.Fatalf("create with sync = %d %s", synced.Code, synced.Body)
	}
	jobs, err := st.ClaimJobs(context.Background(), time.Minute, 50)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, j := range jobs {
		kinds[j.Kind] = true
	}
	if !kinds[app.JobWooWebhooks] {
		t.Errorf("jobs after create with sync = %v; want the webhooks job", kinds)
	}
}

// appBridgeToken signs a session token as Shopify's App Bridge does.
func appBridgeToken(t *testing.T, secret, aud, shop string, exp time.Time) string {
	t.Helper()
	claims := jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": aud, "sub": "42",
		"exp": exp.Unix(), "nbf": time.Now().Add(-5 * time.Second).Unix(), "iat": time.Now().Unix(), "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087", "sid": "aaea182f",
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestMerchantSessions(t *testing.T) {
	e, _, svc := adminServer(t)
	create := func(domain string) string {
		rec := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"`+domain+`"}`)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return m["id"].(string)
	}
	own, other := create("kesar-kitchen.myshopify.com"), create("chai-house.myshopify.com")
	session, _, err := svc.NewSession(own)
	if err != nil {
		t.Fatal(err)
	}
	shopify := appBridgeToken(t, shopifyAppSecret, shopifyAppKey, "kesar-kitchen.myshopify.com", time.Now().Add(time.Minute))
	cases := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"own merchant", "GET", "/api/admin/merchants/" + own, session, "", 200},
		{"own rules", "PUT", "/api/admin/merchants/" + own + "/rules/order.placed", session, `{"template":"t","variables":[]}`, 200},
		{"another merchant", "GET", "/api/admin/merchants/" + other, session, "", 403},
		{"another merchant's deliveries", "GET", "/api/admin/merchants/" + other + "/deliveries", session, "", 403},
		{"create merchants is the operator's", "POST", "/api/admin/merchants", session, `{"platform":"shopify","shop_domain":"x.myshopify.com"}`, 403},
		{"own delivery", "POST", "/api/admin/deliveries/" + own + "-0123/retry", session, "", 404},
		{"another's delivery", "POST", "/api/admin/deliveries/" + other + "-0123/retry", session, "", 403},
		{"tampered session", "GET", "/api/admin/merchants/" + own, session[:len(session)-2] + "xx", "", 401},
		{"shopify session token", "GET", "/api/admin/merchants/" + own, shopify, "", 200},
		{"shopify token for another shop", "GET", "/api/admin/merchants/" + own, appBridgeToken(t, shopifyAppSecret, shopifyAppKey, "chai-house.myshopify.com", time.Now().Add(time.Minute)), "", 403},
		{"shopify token, wrong audience", "GET", "/api/admin/merchants/" + own, appBridgeToken(t, shopifyAppSecret, "another-app", "kesar-kitchen.myshopify.com", time.Now().Add(time.Minute)), "", 401},
		{"shopify token, wrong secret", "GET", "/api/admin/merchants/" + own, appBridgeToken(t, "not-the-secret", shopifyAppKey, "kesar-kitchen.myshopify.com", time.Now().Add(time.Minute)), "", 401},
		{"shopify token, expired", "GET", "/api/admin/merchants/" + own, appBridgeToken(t, shopifyAppSecret, shopifyAppKey, "kesar-kitchen.myshopify.com", time.Now().Add(-time.Minute)), "", 401},
		{"shopify token, unknown shop", "GET", "/api/admin/merchants/" + own, appBridgeToken(t, shopifyAppSecret, shopifyAppKey, "stranger.myshopify.com", time.Now().Add(time.Minute)), "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(e, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.want {
				t.Errorf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			if rec.Code == 401 && rec.Header().Get("X-Shopify-Retry-Invalid-Session-Request") != "1" {
				t.Errorf("401 without X-Shopify-Retry-Invalid-Session-Request: App Bridge would not retry")
			}
		})
	}

	// In the browser the session is a cookie; changes must come as JSON.
	cookieCall := func(method, path, contentType, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := cookieCall("GET", "/api/admin/merchants/"+own, "", ""); got != 200 {
		t.Errorf("GET with the session cookie = %d; want 200", got)
	}
	if got := cookieCall("PUT", "/api/admin/merchants/"+own+"/settings", "application/x-www-form-urlencoded", "quiet_hours=off"); got != 415 {
		t.Errorf("form PUT with the session cookie = %d; want 415 (a cross-site form must not change settings)", got)
	}
	if got := cookieCall("PUT", "/api/admin/merchants/"+own+"/settings", "application/json", `{"quiet_hours":"off"}`); got != 200 {
		t.Errorf("JSON PUT with the session cookie = %d; want 200", got)
	}
}

// The operator token is a bearer token only: as a cookie it would ride
// along on a cross-site request, and the JSON-only guard is for sessions.
func TestOperatorTokenIsNotACookie(t *testing.T) {
	e, _, _ := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com"}`)
	var m map[string]any
	_ = json.Unmarshal(created.Body.Bytes(), &m)
	id, _ := m["id"].(string)
	cookieCall := func(method, path, contentType, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: operatorToken})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	if rec := cookieCall("GET", "/api/admin/merchants/"+id, "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET with the operator token as cookie = %d %s; want 401", rec.Code, rec.Body)
	}
	if rec := cookieCall("PUT", "/api/admin/merchants/"+id+"/settings", "application/x-www-form-urlencoded", "quiet_hours=off"); rec.Code != http.StatusUnauthorized {
		t.Errorf("form PUT with the operator token as cookie = %d %s; want 401", rec.Code, rec.Body)
	}
	after := call(e, "GET", "/api/admin/merchants/"+id, operatorToken, "")
	if strings.Contains(after.Body.String(), `"quiet_hours":"off"`) {
		t.Errorf("the cross-site form changed the settings: %s", after.Body)
	}
}
