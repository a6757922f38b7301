package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

const (
	wooConnectAppURL     = "https://bridge.example.com"
	wooConnectAdminToken = "operator-token-for-the-woocommerce-connect-tests"
	wooConnectCK         = "ck_0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	wooConnectCS         = "cs_89abcdef0123456789abcdef0123456789abcdef"
)

type wooConnectEnv struct {
	e     *echo.Echo
	store app.Store
	svc   *app.Service
	shops *wooShops
	mu    sync.Mutex
	now   time.Time
}

// wooShops is every WooCommerce store of these tests behind one TLS
// server, told apart by host: each checks Basic auth with the keys it
// issued and the key's permission for the method, as
// WC_REST_Authentication does over HTTPS (woocommerce.md §2.1), and serves
// the two routes of the key check.
type wooShops struct {
	srv    *httptest.Server
	client *http.Client
	mu     sync.Mutex
	keys   map[string]map[string][2]string // host → ck → secret, permissions
	down   map[string]bool                 // host → answers 503
}

func newWooShops(t *testing.T) *wooShops {
	t.Helper()
	w := &wooShops{keys: map[string]map[string][2]string{}, down: map[string]bool{}}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	// The REST client keeps the production URL rule (https, public
	// names); only its dialer is pointed at the test server, whatever the
	// host, and TLS checks the test certificate's name.
	transport := w.srv.Client().Transport.(*http.Transport).Clone()
	transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, w.srv.Listener.Addr().String())
	}
	transport.TLSClientConfig.ServerName = "example.com"
	w.client = &http.Client{Transport: transport, Timeout: 5 * time.Second}
	return w
}

// issue gives host a key, as a wc-auth approval there would.
func (w *wooShops) issue(host, ck, cs, perms string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys[host] == nil {
		w.keys[host] = map[string][2]string{}
	}
	w.keys[host][ck] = [2]string{cs, perms}
}

func (w *wooShops) serve(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down[r.Host] {
		rw.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ck, cs, _ := r.BasicAuth()
	key, ok := w.keys[r.Host][ck]
	need := "write"
	if r.Method == http.MethodGet {
		need = "read"
	}
	if !ok || key[0] != cs || key[1] != need && key[1] != "read_write" {
		rw.WriteHeader(http.StatusUnauthorized)
		io.WriteString(rw, `{"code":"woocommerce_rest_authentication_error","message":"The API key provided does not have `+need+` permissions.","data":{"status":401}}`)
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /wp-json/wc/v3/webhooks":
		io.WriteString(rw, `[]`)
	case "POST /wp-json/wc/v3/webhooks/batch":
		io.WriteString(rw, `[]`)
	default:
		rw.WriteHeader(http.StatusNotFound)
		io.WriteString(rw, `{"code":"rest_no_route","message":"No route was found matching the URL and request method.","data":{"status":404}}`)
	}
}

func (w *wooConnectEnv) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *wooConnectEnv) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

// newWooConnectEnv wires the routes as main does, with the production URL
// rule (ALLOW_INSECURE_OUTBOUND off).
func newWooConnectEnv(t *testing.T) *wooConnectEnv {
	t.Helper()
	return newWooConnectEnvAt(t, wooConnectAppURL, slog.New(slog.DiscardHandler))
}

// newWooConnectEnvAt is newWooConnectEnv at appURL (a plain-http one is
// development: ALLOW_INSECURE_OUTBOUND for the callback only), logging to
// log, with the admin pages and the Shopify app configured.
func newWooConnectEnvAt(t *testing.T, appURL string, log *slog.Logger) *wooConnectEnv {
	t.Helper()
	env := &wooConnectEnv{now: time.Now().UTC().Truncate(time.Second)}
	// The store keeps time by the env's clock, so expiries can be tested.
	st, err := embedded.Open(filepath.Join(t.TempDir(), "h.db"), embedded.Options{Now: env.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env.store = st
	keyring, err := app.NewKeyring(testSecretKey)
	if err != nil {
		t.Fatal(err)
	}
	env.svc = app.NewService(app.ServiceOptions{
		Store: env.store, Keyring: keyring, Logger: log, Now: env.clock,
		CheckURL: func(raw string) (*url.URL, error) { return adapters.CheckURL(raw, false) },
	})
	env.shops = newWooShops(t)
	woo := app.NewWooConnector(env.svc, app.WooConnectOptions{
		AppURL: appURL, AllowInsecure: strings.HasPrefix(appURL, "http://"),
		REST: woocommerce.NewREST(adapters.Options{Client: env.shops.client}),
	})
	shopify := app.NewShopifyInstaller(env.svc, app.ShopifyInstallOptions{
		APIKey: shopifyAppKey, APISecret: shopifyAppSecret, AppURL: appURL, Admin: &installAdmin{},
	})
	pages, err := LoadPages()
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics(env.store, log)
	env.e = NewEcho(log, metrics)
	New(Options{
		Service: env.svc, WooConnect: woo, ShopifyInstall: shopify, AppURL: appURL, AdminToken: wooConnectAdminToken,
		Store: env.store, Metrics: metrics, Logger: log, Pages: pages, ShopifyAPIKey: shopifyAppKey,
	}).Register(env.e)
	return env
}

// connectToken follows GET /woocommerce/connect, without a session, and
// returns the user_id WooCommerce would echo.
func (w *wooConnectEnv) connectToken(t *testing.T, storeURL string) string {
	t.Helper()
	return w.connectTokenWith(t, storeURL, func(*http.Request) {})
}

// connectTokenWith is connectToken with auth's credentials on the request.
func (w *wooConnectEnv) connectTokenWith(t *testing.T, storeURL string, auth func(*http.Request)) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/woocommerce/connect?store_url="+url.QueryEscape(storeURL), nil)
	auth(req)
	rec := serve(w.e, req)
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /woocommerce/connect = %d %s; want 302", rec.Code, rec.Body)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc.Query().Get("user_id")
}

func TestWooConnectRedirect(t *testing.T) {
	env := newWooConnectEnv(t)
	cases := []struct {
		name, storeURL string
		wantStatus     int
		wantLocation   string
		wantField      string
	}{
		{"https store", "https://shop.chai-point.in", 302, "https://shop.chai-point.in/wc-auth/v1/authorize?", ""},
		{"no scheme", "shop.chai-point.in/", 302, "https://shop.chai-point.in/wc-auth/v1/authorize?", ""},
		{"plain http", "http://shop.chai-point.in", 422, "", "store_url"},
		{"loopback", "https://127.0.0.1", 422, "", "store_url"},
		{"private network", "https://10.0.0.8:8443", 422, "", "store_url"},
		{"localhost", "https://localhost", 422, "", "store_url"},
		{"missing", "", 422, "", "store_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(env.e, httptest.NewRequest(http.MethodGet, "/woocommerce/connect?store_url="+url.QueryEscape(tc.storeURL), nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("GET /woocommerce/connect?store_url=%s = %d %s; want %d", tc.storeURL, rec.Code, rec.Body, tc.wantStatus)
			}
			if tc.wantStatus == 302 {
				loc := rec.Header().Get("Location")
				u, _ := url.Parse(loc)
				q := u.Query()
				if !strings.HasPrefix(loc, tc.wantLocation) || q.Get("callback_url") != wooConnectAppURL+"/woocommerce/callback" ||
					q.Get("scope") != "read_write" || q.Get("app_name") != "storebridge" || strings.Count(q.Get("user_id"), ".") != 2 {
					t.Errorf("Location = %s; want %s… with the callback, read_write and a JWT user_id", loc, tc.wantLocation)
				}
				return
			}
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Fields[tc.wantField] == "" {
				t.Errorf("body = %s; want a reason for %s", rec.Body, tc.wantField)
			}
		})
	}
}

func callbackRequest(token, perms string) *http.Request {
	return keyCallbackRequest(token, wooConnectCK, wooConnectCS, perms)
}

func keyCallbackRequest(token, ck, cs, perms string) *http.Request {
	body := `{"key_id":41,"user_id":"` + token + `","consumer_key":"` + ck + `","consumer_secret":"` + cs + `","key_permissions":"` + perms + `"}`
	req := httptest.NewRequest(http.MethodPost, "/woocommerce/callback", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json;charset=UTF-8") // as WooCommerce sends it
	return req
}

func TestWooCallback(t *testing.T) {
	env := newWooConnectEnv(t)
	ctx := context.Background()
	env.shops.issue("shop.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	env.shops.issue("shop.chai-point.in", "ck_readonly", "cs_readonly", "read")
	env.shops.issue("down.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	env.shops.down["down.chai-point.in"] = true
	expired := env.connectToken(t, "https://old.chai-point.in")
	env.advance(app.WooConnectTokenTTL + time.Minute)
	good := env.connectToken(t, "https://shop.chai-point.in")
	readOnly := env.connectToken(t, "https://shop.chai-point.in")
	notIssued := env.connectToken(t, "https://shop.chai-point.in")
	readOnlyClaimed := env.connectToken(t, "https://shop.chai-point.in")
	down := env.connectToken(t, "https://down.chai-point.in")

	cases := []struct {
		name       string
		req        *http.Request
		wantStatus int
	}{
		{"bad token", callbackRequest("eyJhbGciOiJIUzI1NiJ9.e30.bad", "read_write"), 401},
		{"expired token", callbackRequest(expired, "read_write"), 401},
		{"read only key", callbackRequest(readOnly, "read"), 422},
		// The store decides what a key may do, not the callback.
		{"key the store did not issue", keyCallbackRequest(notIssued, "ck_attacker", "cs_attacker", "read_write"), 422},
		{"read only key sent as read_write", keyCallbackRequest(readOnlyClaimed, "ck_readonly", "cs_readonly", "read_write"), 422},
		{"store down", callbackRequest(down, "read_write"), 502},
		{"not json", httptest.NewRequest(http.MethodPost, "/woocommerce/callback", strings.NewReader("key_id=1")), 400},
		{"good", callbackRequest(good, "read_write"), 200},
		{"replayed", callbackRequest(good, "read_write"), 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(env.e, tc.req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("POST /woocommerce/callback = %d %s; want exactly %d", rec.Code, rec.Body, tc.wantStatus)
			}
		})
	}
	m, err := env.store.MerchantByDomain(ctx, app.PlatformWooCommerce, "shop.chai-point.in")
	if err != nil {
		t.Fatalf("after the callback, MerchantByDomain() = %v", err)
	}
	ck, err := env.svc.MerchantSecret(m, "consumer_key")
	if err != nil || ck != "ck_0a1b2c3d4e5f60718293a4b5c6d7e8f901234567" || strings.Contains(string(m.Secrets["consumer_secret"]), "89abcdef") {
		t.Errorf("stored key = %q, %v; want the posted key, sealed", ck, err)
	}
	for _, domain := range []string{"old.chai-point.in", "down.chai-point.in"} {
		if _, err := env.store.MerchantByDomain(ctx, app.PlatformWooCommerce, domain); err == nil {
			t.Errorf("a refused callback created a merchant for %s", domain)
		}
	}
}

func withCookie(session string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: session}) }
}

func withBearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// TestWooReconnect: a connected store's keys are replaced only by a
// connect started from its merchant's signed-in admin (or by the
// operator). A stranger gets no connect token for it, and a token minted
// before the store was connected is refused at the callback, with a key
// that works at the store; the merchant's own reconnect replaces the keys.
func TestWooReconnect(t *testing.T) {
	env := newWooConnectEnv(t)
	ctx := context.Background()
	const shop = "https://shop.chai-point.in"
	const secondCK, secondCS = "ck_second0000000000000000000000000000000000", "cs_second0000000000000000000000000000000000"
	env.shops.issue("shop.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	env.shops.issue("shop.chai-point.in", secondCK, secondCS, "read_write")
	stale := env.connectToken(t, shop)
	if rec := serve(env.e, callbackRequest(env.connectToken(t, shop), "read_write")); rec.Code != http.StatusOK {
		t.Fatalf("first connect callback = %d %s; want 200", rec.Code, rec.Body)
	}
	m, err := env.store.MerchantByDomain(ctx, app.PlatformWooCommerce, "shop.chai-point.in")
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := env.svc.NewSession(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://other.chai-point.in"})
	if err != nil {
		t.Fatal(err)
	}
	otherSession, _, err := env.svc.NewSession(other.ID)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name       string
		auth       func(*http.Request)
		wantStatus int
	}{
		{"no session", func(*http.Request) {}, 401},
		{"a session that does not verify", withCookie("eyJhbGciOiJIUzI1NiJ9.e30.forged"), 401},
		{"another merchant's session", withCookie(otherSession), 403},
		{"another merchant's bearer", withBearer(otherSession), 403},
		{"the merchant's session", withCookie(session), 302},
		{"the merchant's bearer", withBearer(session), 302},
		{"the operator", withBearer(wooConnectAdminToken), 302},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/woocommerce/connect?store_url="+url.QueryEscape(shop), nil)
			tc.auth(req)
			rec := serve(env.e, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("GET /woocommerce/connect = %d %s; want %d", rec.Code, rec.Body, tc.wantStatus)
			}
			if tc.wantStatus != 302 {
				var body errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" || strings.Contains(rec.Body.String(), m.ID) {
					t.Errorf("body = %s; want a reason, and not the merchant's id", rec.Body)
				}
				return
			}
			// Back to our return afterwards, with nothing secret in the
			// address: the browser's secret is only in its cookie.
			loc, _ := url.Parse(rec.Header().Get("Location"))
			rt := loc.Query().Get("return_url")
			browser := cookieNamed(rec, wooBrowserCookie)
			if !strings.HasPrefix(rt, wooConnectAppURL+"/woocommerce/return?connect=") || browser == nil || strings.Contains(rec.Header().Get("Location"), browser.Value) {
				t.Errorf("return_url = %q, browser cookie %v; want %s/woocommerce/return?connect=… and the secret kept out of the address", rt, browser, wooConnectAppURL)
			}
		})
	}

	// The stranger's token, minted before the store was connected, with a
	// key that works at the store.
	if rec := serve(env.e, keyCallbackRequest(stale, secondCK, secondCS, "read_write")); rec.Code != http.StatusForbidden {
		t.Errorf("callback with a token minted without a session = %d %s; want 403", rec.Code, rec.Body)
	}
	after, _ := env.store.GetMerchant(ctx, m.ID)
	if !maps.Equal(after.Secrets, m.Secrets) || after.Status != m.Status {
		t.Fatalf("after the stranger's callback: secrets unchanged %v, status %s; want both unchanged", maps.Equal(after.Secrets, m.Secrets), after.Status)
	}

	// The merchant, signed in, connects the store again with a new key.
	token := env.connectTokenWith(t, shop, withCookie(session))
	if rec := serve(env.e, keyCallbackRequest(token, secondCK, secondCS, "read_write")); rec.Code != http.StatusOK {
		t.Fatalf("the merchant's reconnect callback = %d %s; want 200", rec.Code, rec.Body)
	}
	after, _ = env.store.GetMerchant(ctx, m.ID)
	if ck, err := env.svc.MerchantSecret(after, "consumer_key"); err != nil || ck != secondCK {
		t.Errorf("consumer key after the merchant's reconnect = %q, %v; want %s", ck, err, secondCK)
	}
}
