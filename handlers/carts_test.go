package handlers

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// testClock is a clock the test sets.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// cartServer is the real router with the pages and the cart capture API,
// over the embedded store, on a clock the test sets, logging to logs.
func cartServer(t *testing.T) (*echo.Echo, *app.Service, *testClock, *strings.Builder) {
	t.Helper()
	clk := &testClock{now: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)}
	// The store's clock is the test's too: the rate limits count in it.
	st, err := embedded.Open(filepath.Join(t.TempDir(), "c.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(testSecretKey)
	logs := &strings.Builder{}
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log, Now: clk.Now, CheckURL: strictURLs,
		Providers: map[string]app.ProviderKit{app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return sandboxProvider{}, nil }}},
	})
	pages, err := LoadPages()
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	New(Options{
		Service: svc, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in",
		Pages: pages,
		CartPlugin: func(w io.Writer) error {
			_, err := io.WriteString(w, "PK\x03\x04 plugin")
			return err
		},
	}).Register(e)
	return e, svc, clk, logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func cartBody(id string, version int64) string {
	return fmt.Sprintf(`{"id":%q,"version":%d,"customer":{"first_name":"Riya","phone":"098765 43210","email":"riya@example.in","country":"IN"},"consent":true,"currency":"INR","total":"1499.00","items":[{"name":"Kurta","quantity":2,"price":"599.00","product_id":41}],"recovery_url":"https://asha.example.in/?storebridge_restore=%s&sig=0f"}`, id, version, id)
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("answer %s is not the error shape", rec.Body)
	}
	return body
}

// TestCartCaptureAPI: the store token lets the plugin in until it expires
// or is replaced, never forged; each refusal is a 401 that tells the fix;
// versions are idempotent; the token never reaches the logs.
func TestCartCaptureAPI(t *testing.T) {
	e, svc, clk, logs := cartServer(t)
	woo := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals", Country: "IN"})
	shop := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Secrets: map[string]string{"access_token": "shpat_x"}})

	rec := call(e, "POST", "/api/admin/merchants/"+woo.ID+"/cart-token", operatorToken, "")
	var tok app.CartToken
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &tok) != nil || tok.Token == "" || tok.Scope != "cart:write" {
		t.Fatalf("POST cart-token = %d %s; want 201 with the token", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("the token's answer may be cached")
	}
	if rec := call(e, "POST", "/api/admin/merchants/"+shop.ID+"/cart-token", operatorToken, ""); rec.Code != 422 {
		t.Errorf("POST cart-token for a Shopify store = %d; want 422", rec.Code)
	}
	session, _, _ := svc.NewSession(woo.ID)
	if rec := call(e, "POST", "/api/admin/merchants/"+shop.ID+"/cart-token", session, ""); rec.Code != 403 {
		t.Errorf("POST cart-token for another merchant with a session = %d; want 403", rec.Code)
	}

	capture := func(token, body string) *httptest.ResponseRecorder {
		return call(e, "POST", "/api/v1/carts", token, body)
	}
	for _, tc := range []struct {
		version int64
		status  int
		outcome string
	}{{1000, 202, "accepted"}, {1000, 200, "stale"}, {900, 200, "stale"}, {1001, 200, "unchanged"}} {
		rec := capture(tok.Token, cartBody("c9f1", tc.version))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), `"outcome":"`+tc.outcome+`"`) {
			t.Errorf("capture v%d = %d %s; want %d %s", tc.version, rec.Code, rec.Body, tc.status, tc.outcome)
		}
	}
	if rec := capture(tok.Token, `{"id":"c9f1","version":1002,"customer":{},"items":[]}`); rec.Code != 422 || errorOf(t, rec).Fields["customer"] == "" {
		t.Errorf("capture without contact = %d %s; want 422 with fields", rec.Code, rec.Body)
	}

	refused := func(name, token, reason string) {
		t.Helper()
		rec := capture(token, cartBody("c9f1", 5000))
		body := errorOf(t, rec)
		if rec.Code != 401 || body.Fields["token"] != reason || !strings.Contains(body.Error, "generate a new token in storebridge → Cart capture") {
			t.Errorf("capture with %s = %d %s; want 401 %s with the fix", name, rec.Code, rec.Body, reason)
		}
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("capture with %s: no WWW-Authenticate", name)
		}
	}
	refused("no token", "", app.CartTokenMissing)
	refused("a forged token", tok.Token[:len(tok.Token)-4]+"AAAA", app.CartTokenInvalid)
	refused("the operator's token", operatorToken, app.CartTokenInvalid)
	refused("a session", session, app.CartTokenInvalid)

	rec = call(e, "POST", "/api/admin/merchants/"+woo.ID+"/cart-token", session, "")
	var fresh app.CartToken
	if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &fresh) != nil {
		t.Fatalf("regenerate with the merchant's session = %d %s", rec.Code, rec.Body)
	}
	refused("the regenerated-away token", tok.Token, app.CartTokenReplaced)
	if rec := capture(fresh.Token, cartBody("c9f2", 5000)); rec.Code != 202 {
		t.Errorf("capture with the new token = %d %s; want 202", rec.Code, rec.Body)
	}
	clk.Set(fresh.ExpiresAt.Add(time.Second))
	refused("the expired token", fresh.Token, app.CartTokenExpired)
	if body := errorOf(t, capture(fresh.Token, cartBody("c9f1", 6000))); !strings.Contains(body.Error, "expired on "+fresh.ExpiresAt.Format("2 Jan 2006")) {
		t.Errorf("expired error %q does not say when", body.Error)
	}

	for _, secret := range []string{tok.Token, fresh.Token, strings.Split(tok.Token, ".")[2]} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the logs hold a token:\n%s", logs)
		}
	}
}

// TestCartCaptureRateLimitPerMerchant: a store that floods gets 429 with
// Retry-After once its burst is spent (the clock stands still, so no slot
// frees meanwhile); another store, from the same address, does not.
func TestCartCaptureRateLimitPerMerchant(t *testing.T) {
	e, svc, _, _ := cartServer(t)
	token := func(storeURL string) string {
		m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: storeURL, Country: "IN"})
		rec := call(e, "POST", "/api/admin/merchants/"+m.ID+"/cart-token", operatorToken, "")
		var tok app.CartToken
		if rec.Code != 201 || json.Unmarshal(rec.Body.Bytes(), &tok) != nil {
			t.Fatalf("cart-token = %d %s", rec.Code, rec.Body)
		}
		return tok.Token
	}
	busy, quiet := token("https://asha.example.in"), token("https://chai.example.in")
	limited, accepted := 0, 0
	for i := range cartsMerchantLimit + 50 {
		rec := call(e, "POST", "/api/v1/carts", busy, cartBody(fmt.Sprintf("c%d", i), 1))
		switch rec.Code {
		case 429:
			limited++
			if rec.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		case 202:
			accepted++
		default:
			t.Fatalf("capture %d = %d %s", i, rec.Code, rec.Body)
		}
	}
	if limited != 50 || accepted != cartsMerchantLimit {
		t.Errorf("%d accepted, %d limited of %d; want the burst of %d through, then 429s", accepted, limited, cartsMerchantLimit+50, cartsMerchantLimit)
	}
	body := strings.Replace(cartBody("q1", 1), "asha.example.in", "chai.example.in", 1)
	if rec := call(e, "POST", "/api/v1/carts", quiet, body); rec.Code != 202 {
		t.Errorf("another store's capture = %d %s; want 202", rec.Code, rec.Body)
	}
}

// TestCartCapturePage: only WooCommerce stores have the page and its menu
// entry; the token is made by a form with its CSRF token, shown once, and
// works; the plugin downloads as a zip.
func TestCartCapturePage(t *testing.T) {
	e, svc, _, _ := cartServer(t)
	woo := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals", Country: "IN"})
	shop := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Name: "Kesar", Secrets: map[string]string{"access_token": "shpat_x"}})

	sb := signedIn(t, e, svc, shop.ID)
	if rec := sb.get("/admin"); strings.Contains(rec.Body.String(), "/admin/cart-capture") {
		t.Error("a Shopify store's menu offers cart capture")
	}
	if rec := sb.get("/admin/cart-capture"); rec.Code != 404 {
		t.Errorf("GET /admin/cart-capture for Shopify = %d; want 404", rec.Code)
	}

	b := signedIn(t, e, svc, woo.ID)
	home := b.get("/admin")
	if !strings.Contains(home.Body.String(), `href="/admin/cart-capture"`) {
		t.Error("a WooCommerce store's menu lacks cart capture")
	}
	page := b.get("/admin/cart-capture")
	if page.Code != 200 || !strings.Contains(page.Body.String(), "https://bridge.example.in") || !strings.Contains(page.Body.String(), "Generate a token") || strings.Contains(page.Body.String(), "data-cart-token") {
		t.Fatalf("GET /admin/cart-capture = %d; want the page with the URL, a button and no token:\n%s", page.Code, page.Body)
	}
	if rec := b.post("/admin/cart-capture/token", url.Values{}); rec.Code != 403 {
		t.Fatalf("POST token without CSRF = %d; want 403", rec.Code)
	}
	rec := b.post("/admin/cart-capture/token", url.Values{"csrf": {b.csrf("/admin/cart-capture")}})
	m := regexpToken.FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || m == nil || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("POST token = %d; want the token shown, not cached:\n%s", rec.Code, rec.Body)
	}
	if rec := call(e, "POST", "/api/v1/carts", m[1], cartBody("p1", 1)); rec.Code != 202 {
		t.Errorf("capture with the page's token = %d %s", rec.Code, rec.Body)
	}
	again := b.get("/admin/cart-capture")
	if strings.Contains(again.Body.String(), m[1]) || !strings.Contains(again.Body.String(), "Generate a new token") || !strings.Contains(again.Body.String(), "works until") {
		t.Errorf("the page shows the token again, or not its dates:\n%s", again.Body)
	}
	zip := b.get("/admin/cart-capture/plugin.zip")
	if zip.Code != 200 || zip.Header().Get("Content-Type") != "application/zip" || !strings.HasPrefix(zip.Body.String(), "PK") ||
		!strings.Contains(zip.Header().Get("Content-Disposition"), "storebridge-cart-capture.zip") {
		t.Errorf("GET plugin.zip = %d %q %q", zip.Code, zip.Header().Get("Content-Type"), zip.Header().Get("Content-Disposition"))
	}
}

var regexpToken = regexp.MustCompile(`data-cart-token>([^<]+)<`)
