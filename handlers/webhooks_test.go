package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// strictURLs is main's outbound URL check as production runs it.
func strictURLs(raw string) (*url.URL, error) { return adapters.CheckURL(raw, false) }

const (
	testSecretKey     = "handlers-test-secret-key-0123456789abcdef"
	shopifyAppSecret  = "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"
	wooWebhookSecret  = "Wc9xK2mQ7vL4pR8tZ3nB6yH1"
	customShopSecret  = "custom-app-secret-ज्योति-0042"
	ashaShop          = "asha-naturals.myshopify.com"
	customShop        = "kurta-house.myshopify.com"
	sampleOrderCreate = `{"id":5923817263541,"name":"#1042","email":"riya.sharma@example.in","phone":"+91 98765 43210","currency":"INR","total_price":"1499.00","financial_status":"pending","payment_gateway_names":["Cash on Delivery (COD)"],"customer":{"id":7712398123,"first_name":"Riya","last_name":"Sharma"},"line_items":[{"title":"Kurta","quantity":2,"price":"599.00"},{"title":"Dupatta — हाथ से बुना","quantity":1,"price":"301.00"}],"updated_at":"2026-11-22T10:15:00+05:30"}`
)

type webhookEnv struct {
	e      *echo.Echo
	store  app.Store
	svc    *app.Service
	shop   app.Merchant
	custom app.Merchant
	woo    app.Merchant
}

func newWebhookEnv(t *testing.T, st app.Store) *webhookEnv {
	t.Helper()
	keyring, err := app.NewKeyring(testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, ShopifyAPISecret: shopifyAppSecret, Logger: log, CheckURL: strictURLs})
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	h := New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log})
	h.Register(e)
	h.RegisterMetrics(e, "")
	ctx := context.Background()
	env := &webhookEnv{e: e, store: st, svc: svc}
	if env.shop, _, err = svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: ashaShop, Name: "Asha Naturals", Country: "IN"}); err != nil {
		t.Fatal(err)
	}
	if env.custom, _, err = svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: customShop, Secrets: map[string]string{"webhook_secret": customShopSecret}}); err != nil {
		t.Fatal(err)
	}
	if env.woo, _, err = svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://shop.chai-point.in", Country: "IN", Secrets: map[string]string{"webhook_secret": wooWebhookSecret, "consumer_key": "ck_x", "consumer_secret": "cs_x"}}); err != nil {
		t.Fatal(err)
	}
	return env
}

func newEmbeddedStore(t *testing.T) app.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "h.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// sign computes the signature the way Shopify and WooCommerce both do:
// base64 of the HMAC-SHA256 of the raw body.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func shopifyRequest(shop, topic, eventID, secret string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/shopify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Shop-Domain", shop)
	req.Header.Set("X-Shopify-Event-Id", eventID)
	req.Header.Set("X-Shopify-Webhook-Id", "wh-"+eventID)
	req.Header.Set("X-Shopify-Triggered-At", "2026-11-22T04:45:00.000Z")
	req.Header.Set("X-Shopify-API-Version", "2026-01")
	if secret != "" {
		req.Header.Set("X-Shopify-Hmac-Sha256", sign(secret, body))
	}
	return req
}

func serve(e *echo.Echo, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func queuedJobs(t *testing.T, st app.Store) []app.Job {
	t.Helper()
	jobs, err := st.ClaimJobs(context.Background(), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestShopifyWebhook(t *testing.T) {
	body := []byte(sampleOrderCreate)
	cases := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantBody   string
		wantJobs   int
	}{
		{"signed with the app secret", func() *http.Request {
			return shopifyRequest(ashaShop, "orders/create", "ev-1", shopifyAppSecret, body)
		}, 200, `"outcome":"accepted"`, 1},
		{"signed with a custom app's own secret", func() *http.Request {
			return shopifyRequest(customShop, "orders/create", "ev-1", customShopSecret, body)
		}, 200, `"outcome":"accepted"`, 1},
		{"another shop's secret", func() *http.Request {
			return shopifyRequest(ashaShop, "orders/create", "ev-1", customShopSecret, body)
		}, 401, `"error":"unauthorized"`, 0},
		{"wrong signature", func() *http.Request {
			return shopifyRequest(ashaShop, "orders/create", "ev-1", "not-the-secret", body)
		}, 401, "unauthorized", 0},
		{"missing signature", func() *http.Request {
			return shopifyRequest(ashaShop, "orders/create", "ev-1", "", body)
		}, 401, "unauthorized", 0},
		{"garbage signature", func() *http.Request {
			req := shopifyRequest(ashaShop, "orders/create", "ev-1", "", body)
			req.Header.Set("X-Shopify-Hmac-Sha256", "!!not base64!!")
			return req
		}, 401, "unauthorized", 0},
		{"body changed after signing", func() *http.Request {
			req := shopifyRequest(ashaShop, "orders/create", "ev-1", shopifyAppSecret, body)
			req.Body = httptestBody(bytes.Replace(body, []byte("1499.00"), []byte("1.00"), 1))
			return req
		}, 401, "unauthorized", 0},
		{"unknown shop", func() *http.Request {
			return shopifyRequest("someone-else.myshopify.com", "orders/create", "ev-1", shopifyAppSecret, body)
		}, 401, "unauthorized", 0},
		{"shop domain that is not a shop", func() *http.Request {
			return shopifyRequest("attacker.com/?", "orders/create", "ev-1", shopifyAppSecret, body)
		}, 401, "unauthorized", 0},
		{"unknown topic", func() *http.Request {
			return shopifyRequest(ashaShop, "products/create", "ev-2", shopifyAppSecret, []byte(`{"id":1}`))
		}, 200, `"outcome":"unknown_topic"`, 0},
		{"valid signature, unparsable body", func() *http.Request {
			return shopifyRequest(ashaShop, "orders/create", "ev-3", shopifyAppSecret, []byte(`{"id": 12, "name": `))
		}, 200, `"outcome":"accepted"`, 1},
		{"compliance topic", func() *http.Request {
			return shopifyRequest(ashaShop, "customers/redact", "ev-4", shopifyAppSecret, []byte(`{"shop_domain":"asha-naturals.myshopify.com","customer":{"id":7712398123,"phone":"+919876543210"},"orders_to_redact":[5923817263541]}`))
		}, 200, `"outcome":"accepted"`, 1},
		{"compliance topic, wrong signature", func() *http.Request {
			return shopifyRequest(ashaShop, "customers/redact", "ev-4", "wrong", []byte(`{"shop_domain":"asha-naturals.myshopify.com"}`))
		}, 401, "unauthorized", 0},
		{"body over the limit", func() *http.Request {
			big := bytes.Repeat([]byte("x"), 1<<20+1)
			return shopifyRequest(ashaShop, "orders/create", "ev-5", shopifyAppSecret, big)
		}, 413, "Request Entity Too Large", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newWebhookEnv(t, newEmbeddedStore(t))
			rec := serve(env.e, tc.req())
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("POST /webhooks/shopify = %d %s; want %d with %s", rec.Code, rec.Body, tc.wantStatus, tc.wantBody)
			}
			if got := len(queuedJobs(t, env.store)); got != tc.wantJobs {
				t.Errorf("jobs queued = %d; want %d", got, tc.wantJobs)
			}
		})
	}
}

func httptestBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// TestShopifyDuplicateStorm sends the same webhook 20 times, 10 at once, as
// Shopify's retries and a double subscription can: one job comes of it.
func TestShopifyDuplicateStorm(t *testing.T) {
	env := newWebhookEnv(t, newEmbeddedStore(t))
	body := []byte(sampleOrderCreate)
	var wg sync.WaitGroup
	outcomes := make(chan string, 20)
	for round := range 2 {
		for range 10 {
			wg.Go(func() {
				rec := serve(env.e, shopifyRequest(ashaShop, "orders/create", "ev-storm", shopifyAppSecret, body))
				if rec.Code != 200 {
					t.Errorf("round %d: status %d %s; want 200", round, rec.Code, rec.Body)
				}
				outcomes <- rec.Body.String()
			})
		}
		wg.Wait()
	}
	close(outcomes)
	accepted := 0
	for o := range outcomes {
		if strings.Contains(o, "accepted") {
			accepted++
		}
	}
	if accepted != 1 {
		t.Errorf("accepted deliveries = %d; want 1 (the rest duplicates)", accepted)
	}
	jobs := queuedJobs(t, env.store)
	if len(jobs) != 1 {
		t.Fatalf("jobs queued = %d; want 1", len(jobs))
	}
	envelope, err := app.DecodeWebhookEnvelope(jobs[0].Payload)
	if err != nil || envelope.Topic != "orders/create" || envelope.EventID != "ev-storm" || !bytes.Equal(envelope.Body, body) {
		t.Errorf("queued envelope = %+v, %v; want the topic, event id and the raw body byte for byte", envelope, err)
	}
	// The same event for another topic is another delivery.
	rec := serve(env.e, shopifyRequest(ashaShop, "orders/paid", "ev-storm", shopifyAppSecret, body))
	if !strings.Contains(rec.Body.String(), "accepted") {
		t.Errorf("same event id, other topic = %s; want accepted", rec.Body)
	}
	if err := env.svc.FlushCounters(context.Background()); err != nil {
		t.Fatal(err)
	}
	day := app.DayOf(timeNow())
	counts, err := env.store.DailyCounts(context.Background(), env.shop.ID, day, day)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts[day]["inputs"]; got["accepted"] != 2 || got["duplicate"] != 19 {
		t.Errorf("input counts = %v; want 2 accepted, 19 duplicate", got)
	}
}

func wooRequest(merchantID, topic, secret string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/woocommerce/"+merchantID, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "WooCommerce/10.9.0 Hookshot (WordPress/6.9)")
	req.Header.Set("X-WC-Webhook-Source", "https://shop.chai-point.in/")
	req.Header.Set("X-WC-Webhook-Topic", topic)
	req.Header.Set("X-WC-Webhook-Resource", strings.Split(topic, ".")[0])
	req.Header.Set("X-WC-Webhook-Event", strings.Split(topic, ".")[1])
	req.Header.Set("X-WC-Webhook-ID", "31")
	req.Header.Set("X-WC-Webhook-Delivery-ID", "8c3e6f0a2b1d4e5f")
	if secret != "" {
		req.Header.Set("X-WC-Webhook-Signature", sign(secret, body))
	}
	return req
}

func wooOrder(status, modified string) []byte {
	return []byte(fmt.Sprintf(`{"id":727,"number":"727","status":%q,"currency":"INR","total":"849.00","payment_method":"cod","payment_method_title":"Cash on delivery","date_modified_gmt":%q,"billing":{"first_name":"Anaïs","last_name":"D'Souza","phone":"098765 43210","country":"IN","email":"anais@example.in"},"line_items":[{"name":"Masala Chai 250g","quantity":3,"total":"849.00"}]}`, status, modified))
}

func TestWooCommerceWebhook(t *testing.T) {
	env := newWebhookEnv(t, newEmbeddedStore(t))
	ping := httptest.NewRequest(http.MethodPost, "/webhooks/woocommerce/"+env.woo.ID, strings.NewReader("webhook_id=31"))
	ping.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if rec := serve(env.e, ping); rec.Code != 200 || !strings.Contains(rec.Body.String(), "ping") {
		t.Fatalf("ping = %d %s; want exactly 200", rec.Code, rec.Body)
	}

	steps := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string
	}{
		{"order created", wooRequest(env.woo.ID, "order.created", wooWebhookSecret, wooOrder("processing", "2026-11-22T05:00:00")), 200, "accepted"},
		{"same state again", wooRequest(env.woo.ID, "order.created", wooWebhookSecret, wooOrder("processing", "2026-11-22T05:00:00")), 200, "duplicate"},
		{"status changed", wooRequest(env.woo.ID, "order.updated", wooWebhookSecret, wooOrder("completed", "2026-11-22T09:30:00")), 200, "accepted"},
		{"wrong signature", wooRequest(env.woo.ID, "order.updated", "guess", wooOrder("cancelled", "2026-11-22T10:00:00")), 401, "unauthorized"},
		{"unsigned body that is not a ping", wooRequest(env.woo.ID, "order.updated", "", wooOrder("cancelled", "2026-11-22T10:00:00")), 401, "unauthorized"},
		{"unknown merchant", wooRequest("m_nobody", "order.updated", wooWebhookSecret, wooOrder("cancelled", "2026-11-22T10:00:00")), 404, "not found"},
		{"a Shopify merchant's id", wooRequest(env.shop.ID, "order.updated", wooWebhookSecret, wooOrder("cancelled", "2026-11-22T10:00:00")), 404, "not found"},
		{"signed but not JSON", wooRequest(env.woo.ID, "order.updated", wooWebhookSecret, []byte("<html>oops</html>")), 200, "accepted"},
	}
	for _, step := range steps {
		rec := serve(env.e, step.req)
		if rec.Code != step.wantStatus || !strings.Contains(rec.Body.String(), step.wantBody) {
			t.Errorf("%s: POST = %d %s; want %d with %s", step.name, rec.Code, rec.Body, step.wantStatus, step.wantBody)
		}
	}
	if got := len(queuedJobs(t, env.store)); got != 3 {
		t.Errorf("jobs queued = %d; want 3", got)
	}
}

// TestWebhookStoreDown: with Redis gone, a verified webhook gets 503 so
// Shopify retries it later, and nothing is half-stored.
func TestWebhookStoreDown(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	st := redisstore.New(rdb, redisstore.Options{Prefix: "h:"})
	t.Cleanup(func() { st.Close() })
	env := newWebhookEnv(t, st)
	body := []byte(sampleOrderCreate)
	// Warm the merchant cache, as a live instance would have it.
	if rec := serve(env.e, shopifyRequest(ashaShop, "orders/create", "ev-warm", shopifyAppSecret, body)); rec.Code != 200 {
		t.Fatalf("warm-up = %d %s", rec.Code, rec.Body)
	}
	srv.Kill()
	rec := serve(env.e, shopifyRequest(ashaShop, "orders/create", "ev-down", shopifyAppSecret, body))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("POST with Redis down = %d %s; want 503", rec.Code, rec.Body)
	}
	srv.Restart(t)
	rec = serve(env.e, shopifyRequest(ashaShop, "orders/create", "ev-down", shopifyAppSecret, body))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "accepted") {
		t.Fatalf("Shopify's retry after Redis is back = %d %s; want accepted", rec.Code, rec.Body)
	}
}

func timeNow() time.Time { return time.Now() }

// TestShopifyVersionDriftMetric: verified webhooks at an API version other
// than the pinned one are counted per version in /metrics, malformed
// versions as "other"; the pinned version and refused webhooks are not.
func TestShopifyVersionDriftMetric(t *testing.T) {
	env := newWebhookEnv(t, newEmbeddedStore(t))
	n := 0
	send := func(version, secret string, want int) {
		t.Helper()
		n++
		req := shopifyRequest(ashaShop, "orders/updated", fmt.Sprint("ev-v", n), secret, []byte(sampleOrderCreate))
		req.Header.Set("X-Shopify-API-Version", version)
		if rec := serve(env.e, req); rec.Code != want {
			t.Fatalf("POST at version %q = %d %s; want %d", version, rec.Code, rec.Body, want)
		}
	}
	send(app.ShopifyAPIVersion, shopifyAppSecret, 200)
	send("2025-07", shopifyAppSecret, 200)
	send("2025-07", shopifyAppSecret, 200)
	send("unstable", shopifyAppSecret, 200)
	send("2025-07<script>", shopifyAppSecret, 200)
	send("2024-01", "not-the-secret", 401)
	rec := serve(env.e, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`storebridge_shopify_webhook_version_drift_total{version="2025-07"} 2`,
		`storebridge_shopify_webhook_version_drift_total{version="unstable"} 1`,
		`storebridge_shopify_webhook_version_drift_total{version="other"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, unwanted := range []string{`version="` + app.ShopifyAPIVersion + `"`, `version="2024-01"`, "<script>"} {
		if strings.Contains(body, unwanted) {
			t.Errorf("/metrics has %s; want only verified webhooks at other versions, bounded", unwanted)
		}
	}
}
