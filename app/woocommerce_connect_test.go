package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

const (
	wooTestKey = "woocommerce-connect-test-secret-key-0001"
	wooAppURL  = "https://bridge.example.com"
	wooCK      = "ck_7f3a9c1e5b2d8f4a6c0e9b1d3f5a7c9e1b3d5f7a"
	wooCS      = "cs_2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d"
)

// fakeWooStore is a WooCommerce store's REST API as far as the connector
// uses it. It checks what WooCommerce checks (Basic auth with a key pair
// it issued, the key's permission for the method, routes, required
// fields, valid topics and statuses) and keeps webhooks and orders in
// memory.
type fakeWooStore struct {
	t   *testing.T
	srv *httptest.Server

	// batchGate, when set, holds each key check's batch until its
	// number of batches arrived.
	batchGate atomic.Pointer[fakeWooGate]

	mu       sync.Mutex
	sites    map[string]*fakeWooStore // other WordPress sites on this host, by base path
	keys     map[string]fakeWooKey    // consumer key → its secret and permissions
	down     int                      // answer every request with this status
	calls    []string                 // "METHOD path?query by ck_…"
	nextID   int64
	webhooks []fakeWooWebhook
	orders   []fakeWooOrder
	creates  int
	updates  []string // "id:field=value,..."
	queries  []url.Values
	requests int
}

// fakeWooGate lets n requests through together.
type fakeWooGate struct {
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func (g *fakeWooGate) wait() {
	g.mu.Lock()
	if g.n--; g.n == 0 {
		close(g.release)
	}
	g.mu.Unlock()
	<-g.release
}

// fakeWooKey is an API key as wc-auth issued it.
type fakeWooKey struct{ secret, perms string }

type fakeWooWebhook struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Topic       string `json:"topic"`
	DeliveryURL string `json:"delivery_url"`
	secret      string
}

type fakeWooOrder struct {
	id       int64
	modified string
	body     string
}

var wooValidTopic = regexp.MustCompile(`^(order|coupon|customer|product)\.(created|updated|deleted|restored)$`)

func newFakeWooStore(t *testing.T) *fakeWooStore {
	f := &fakeWooStore{t: t, sites: map[string]*fakeWooStore{}, keys: map[string]fakeWooKey{wooCK: {wooCS, "read_write"}}, nextID: 100}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// site adds another WordPress on the same host under base, as shared
// hosting or a multisite in subdirectories has: its own keys, webhooks and
// orders, at srv.URL+base.
func (f *fakeWooStore) site(base string) *fakeWooStore {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeWooStore{t: f.t, srv: f.srv, sites: map[string]*fakeWooStore{}, keys: map[string]fakeWooKey{}, nextID: 500}
	f.sites[base] = s
	return s
}

func (f *fakeWooStore) serve(w http.ResponseWriter, r *http.Request) {
	if g := f.batchGate.Load(); g != nil && strings.HasSuffix(r.URL.Path, "/webhooks/batch") {
		g.wait()
	}
	f.mu.Lock()
	for base, site := range f.sites {
		if strings.HasPrefix(r.URL.Path, base+"/") {
			f.mu.Unlock()
			http.StripPrefix(base, http.HandlerFunc(site.serve)).ServeHTTP(w, r)
			return
		}
	}
	defer f.mu.Unlock()
	f.requests++
	path := strings.TrimPrefix(r.URL.Path, "/wp-json/wc/v3/")
	ck, cs, _ := r.BasicAuth()
	f.calls = append(f.calls, strings.TrimSuffix(r.Method+" "+path+"?"+r.URL.RawQuery, "?")+" by "+ck)
	if f.down != 0 {
		w.WriteHeader(f.down)
		io.WriteString(w, `<html>Service Unavailable</html>`)
		return
	}
	// WC_REST_Authentication over HTTPS (woocommerce.md §2.1): an unknown
	// key leaves the request anonymous and the route refuses it; a known
	// key needs read for GET and write for POST and PUT. All are 401.
	key, ok := f.keys[ck]
	if !ok || key.secret != cs {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}`)
		return
	}
	need := "write"
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		need = "read"
	}
	if key.perms != need && key.perms != "read_write" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"The API key provided does not have `+need+` permissions.","data":{"status":401}}`)
		return
	}
	switch {
	case r.Method == http.MethodPost && path == "webhooks/batch":
		var batch map[string][]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if len(batch["create"])+len(batch["update"])+len(batch["delete"]) > 0 {
			f.t.Errorf("fake woocommerce: a batch that changes webhooks: %v", batch)
		}
		io.WriteString(w, `[]`) // batch_items() with nothing to do
	case r.Method == http.MethodGet && path == "webhooks":
		list := make([]fakeWooWebhook, len(f.webhooks))
		copy(list, f.webhooks)
		w.Header().Set("X-WP-TotalPages", "1")
		json.NewEncoder(w).Encode(list)
	case r.Method == http.MethodPost && path == "webhooks":
		var in struct{ Name, Topic, Secret, DeliveryURL string }
		var raw map[string]string
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			f.t.Errorf("fake woocommerce: create webhook body: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		in.Name, in.Topic, in.Secret, in.DeliveryURL = raw["name"], raw["topic"], raw["secret"], raw["delivery_url"]
		if !wooValidTopic.MatchString(in.Topic) || in.DeliveryURL == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"rest_invalid_param","message":"Invalid parameter(s): topic","data":{"status":400}}`)
			return
		}
		f.nextID++
		f.creates++
		h := fakeWooWebhook{ID: f.nextID, Name: in.Name, Status: "active", Topic: in.Topic, DeliveryURL: in.DeliveryURL, secret: in.Secret}
		f.webhooks = append(f.webhooks, h)
		w.Header().Set("Location", "/wp-json/wc/v3/webhooks/"+strconv.FormatInt(h.ID, 10))
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(h)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "webhooks/"):
		id, _ := strconv.ParseInt(strings.TrimPrefix(path, "webhooks/"), 10, 64)
		i := slices.IndexFunc(f.webhooks, func(h fakeWooWebhook) bool { return h.ID == id })
		if i < 0 {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"code":"woocommerce_rest_webhook_invalid_id","message":"Invalid ID.","data":{"status":404}}`)
			return
		}
		var raw map[string]string
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var changes []string
		for _, k := range []string{"status", "secret"} {
			if v, ok := raw[k]; ok {
				changes = append(changes, k)
				if k == "status" {
					if v != "active" && v != "paused" && v != "disabled" {
						w.WriteHeader(http.StatusBadRequest)
						return
					}
					f.webhooks[i].Status = v
				} else {
					f.webhooks[i].secret = v
				}
			}
		}
		f.updates = append(f.updates, fmt.Sprintf("%d:%s", id, strings.Join(changes, ",")))
		json.NewEncoder(w).Encode(f.webhooks[i])
	case r.Method == http.MethodGet && path == "orders":
		q := r.URL.Query()
		f.queries = append(f.queries, q)
		after, err := time.Parse("2006-01-02T15:04:05", q.Get("modified_after"))
		perPage, _ := strconv.Atoi(q.Get("per_page"))
		page, _ := strconv.Atoi(q.Get("page"))
		if err != nil || q.Get("dates_are_gmt") != "true" || q.Get("orderby") != "modified" || q.Get("order") != "asc" || perPage < 1 || perPage > 100 || page < 1 {
			f.t.Errorf("fake woocommerce: orders query %s", r.URL.RawQuery)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var match []fakeWooOrder
		for _, o := range f.orders {
			if t, _ := time.Parse("2006-01-02T15:04:05", o.modified); t.After(after) { // modified_after is exclusive
				match = append(match, o)
			}
		}
		sort.SliceStable(match, func(i, j int) bool {
			if match[i].modified != match[j].modified {
				return match[i].modified < match[j].modified
			}
			return match[i].id < match[j].id
		})
		total := (len(match) + perPage - 1) / perPage
		from := min((page-1)*perPage, len(match))
		to := min(from+perPage, len(match))
		w.Header().Set("X-WP-Total", strconv.Itoa(len(match)))
		w.Header().Set("X-WP-TotalPages", strconv.Itoa(total))
		io.WriteString(w, "[")
		for i, o := range match[from:to] {
			if i > 0 {
				io.WriteString(w, ",")
			}
			io.WriteString(w, o.body)
		}
		io.WriteString(w, "]")
	default:
		f.t.Errorf("fake woocommerce: unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method.","data":{"status":404}}`)
	}
}

// putOrder adds or replaces an order, as the store would after a change.
func (f *fakeWooStore) putOrder(id int64, status string, modified time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	mod := modified.UTC().Format("2006-01-02T15:04:05")
	body := fmt.Sprintf(`{"id":%d,"number":"%d","status":%q,"currency":"INR","date_created_gmt":%q,"date_modified_gmt":%q,"total":"849.00","payment_method":"cod","billing":{"first_name":"Anaïs","country":"IN","phone":"098765 43210"},"line_items":[]}`, id, id, status, mod, mod)
	f.orders = slices.DeleteFunc(f.orders, func(o fakeWooOrder) bool { return o.id == id })
	f.orders = append(f.orders, fakeWooOrder{id: id, modified: mod, body: body})
	return body
}

// addKey issues another API key, as a second wc-auth approval would.
func (f *fakeWooStore) addKey(ck, cs, perms string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[ck] = fakeWooKey{cs, perms}
}

// revoke deletes a key, as the merchant would under Settings > Advanced >
// REST API.
func (f *fakeWooStore) revoke(ck string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, ck)
}

func (f *fakeWooStore) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeWooStore) hooks() []fakeWooWebhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.webhooks)
}

func (f *fakeWooStore) setStatus(topic, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.webhooks {
		if f.webhooks[i].Topic == topic {
			f.webhooks[i].Status = status
		}
	}
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type wooEnv struct {
	st      *embedded.Store
	keyring *app.Keyring
	clock   *testClock
	svc     *app.Service
	woo     *fakeWooStore
	conn    *app.WooConnector
}

func newWooEnv(t *testing.T) *wooEnv {
	t.Helper()
	clock := &testClock{now: time.Now().UTC().Truncate(time.Second)}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "w.db"), embedded.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, err := app.NewKeyring(wooTestKey)
	if err != nil {
		t.Fatal(err)
	}
	env := &wooEnv{st: st, keyring: keyring, clock: clock, woo: newFakeWooStore(t)}
	env.svc = env.service(true)
	env.conn = env.connector(true)
	return env
}

// service builds the service over the env's store with main's URL check.
func (e *wooEnv) service(allowInsecure bool) *app.Service {
	return app.NewService(app.ServiceOptions{
		Store: e.st, Keyring: e.keyring, Now: e.clock.Now,
		CheckURL: func(raw string) (*url.URL, error) { return adapters.CheckURL(raw, allowInsecure) },
	})
}

// connector builds the connector as main does, with the real REST client
// and URL check; the fake store is on 127.0.0.1, so the REST client always
// allows insecure addresses, and allowInsecure only changes what the
// connect page accepts.
func (e *wooEnv) connector(allowInsecure bool) *app.WooConnector {
	svc := e.svc
	if !allowInsecure {
		svc = e.service(false)
	}
	return app.NewWooConnector(svc, app.WooConnectOptions{
		AppURL: wooAppURL, AllowInsecure: allowInsecure,
		REST: woocommerce.NewREST(adapters.Options{AllowInsecure: true}),
	})
}

// connect runs the wc-auth round trip of a first connect, started
// without a session: the redirect, then the callback WooCommerce posts
// with the token it was given as user_id.
func (e *wooEnv) connect(t *testing.T, ck, cs string) app.Merchant {
	t.Helper()
	return e.connectBy(t, app.WooConnectStarter{}, ck, cs)
}

// connectBy runs the round trip started by who.
func (e *wooEnv) connectBy(t *testing.T, who app.WooConnectStarter, ck, cs string) app.Merchant {
	t.Helper()
	m, err := e.conn.Callback(context.Background(), app.WooCallback{
		KeyID: 7, UserID: e.tokenBy(t, e.woo.srv.URL, who), ConsumerKey: ck, ConsumerSecret: cs, KeyPermissions: "read_write",
	})
	if err != nil {
		t.Fatalf("Callback() = %v", err)
	}
	return m
}

// token is the connect token of a visitor without a session.
func (e *wooEnv) token(t *testing.T, storeURL string) string {
	t.Helper()
	return e.tokenBy(t, storeURL, app.WooConnectStarter{})
}

func (e *wooEnv) tokenBy(t *testing.T, storeURL string, who app.WooConnectStarter) string {
	t.Helper()
	start, err := e.conn.BeginConnect(context.Background(), storeURL, who)
	if err != nil {
		t.Fatalf("BeginConnect(%s, %+v) = %v", storeURL, who, err)
	}
	u, err := url.Parse(start.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("user_id")
}

// jobs leases the due jobs of a kind (and puts the others back).
func (e *wooEnv) jobs(t *testing.T, kind string) []app.Job {
	t.Helper()
	ctx := context.Background()
	all, err := e.st.ClaimJobs(ctx, time.Minute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []app.Job
	for _, j := range all {
		if j.Kind == kind {
			out = append(out, j)
			continue
		}
		if err := e.st.Retry(ctx, j, time.Time{}, "not this test's"); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestWooBeginConnect(t *testing.T) {
	env := newWooEnv(t)
	cases := []struct{ in, want string }{
		{"shop.chai-point.in", "https://shop.chai-point.in"},
		{"https://Shop.Chai-Point.in/", "https://shop.chai-point.in"},
		{" https://chai-point.in/store/ ", "https://chai-point.in/store"},
		{env.woo.srv.URL, env.woo.srv.URL}, // http and loopback: allowed here (ALLOW_INSECURE_OUTBOUND)
	}
	for _, tc := range cases {
		start, err := env.conn.BeginConnect(context.Background(), tc.in, app.WooConnectStarter{})
		if err != nil {
			t.Fatalf("BeginConnect(%q) = %v", tc.in, err)
		}
		target := start.URL
		u, _ := url.Parse(target)
		q := u.Query()
		if got := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/wc-auth/v1/authorize"); got != tc.want || !strings.HasSuffix(u.Path, "/wc-auth/v1/authorize") {
			t.Errorf("BeginConnect(%q) = %s; want %s/wc-auth/v1/authorize", tc.in, target, tc.want)
		}
		if q.Get("app_name") != "storebridge" || q.Get("scope") != "read_write" || !strings.HasPrefix(q.Get("return_url"), wooAppURL+"/woocommerce/return?connect=") || q.Get("callback_url") != wooAppURL+"/woocommerce/callback" {
			t.Errorf("BeginConnect(%q) query = %v; want app_name, read_write, return_url and the https callback", tc.in, q)
		}
		// The token is an HS256 JWT under the keyring's signing key, bound
		// to the store and short-lived.
		claims := jwt.MapClaims{}
		_, err = jwt.ParseWithClaims(q.Get("user_id"), claims, func(*jwt.Token) (any, error) { return env.keyring.SigningKey(), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(env.clock.Now))
		if err != nil {
			t.Fatalf("user_id %q does not verify: %v", q.Get("user_id"), err)
		}
		exp, _ := claims.GetExpirationTime()
		if claims["store_url"] != tc.want || exp == nil || !exp.Equal(env.clock.Now().Add(app.WooConnectTokenTTL)) {
			t.Errorf("token claims = %v; want store_url %s expiring in %s", claims, tc.want, app.WooConnectTokenTTL)
		}
		// A store nobody connected: a first connect, for no merchant.
		if _, ok := claims["mid"]; ok || claims["by"] != "visitor" {
			t.Errorf("token claims = %v; want by visitor and no merchant", claims)
		}
	}
}

func TestWooConnectURLRefuses(t *testing.T) {
	env := newWooEnv(t)
	strict := env.connector(false)
	for _, in := range []string{"", "http://shop.chai-point.in", "https://127.0.0.1", "https://localhost:8443", "https://192.168.1.20", "https://[::1]/", "ftp://shop.chai-point.in", "https://user:pw@shop.chai-point.in", env.woo.srv.URL} {
		_, err := strict.BeginConnect(context.Background(), in, app.WooConnectStarter{})
		var ve *app.ValidationError
		if !errors.As(err, &ve) || ve.Fields["store_url"] == "" {
			t.Errorf("BeginConnect(%q) = %v; want a validation error on store_url", in, err)
		}
	}
	// WooCommerce posts keys only to an https callback.
	plain := app.NewWooConnector(env.svc, app.WooConnectOptions{AppURL: "http://bridge.example.com"})
	_, err := plain.BeginConnect(context.Background(), "https://shop.chai-point.in", app.WooConnectStarter{})
	var ve *app.ValidationError
	if !errors.As(err, &ve) || ve.Fields["app_url"] == "" {
		t.Errorf("BeginConnect with an http APP_URL = %v; want a validation error on app_url", err)
	}
}

func TestWooCallbackRefusesBadTokens(t *testing.T) {
	env := newWooEnv(t)
	sign := func(key any, claims jwt.Claims, method jwt.SigningMethod) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := env.clock.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"store_url": env.woo.srv.URL, "by": "visitor", "aud": "storebridge:woocommerce-connect", "jti": "x1", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}
	otherKey, _ := app.NewKeyring("another-secret-key-of-another-deploy-99")
	good := env.token(t, env.woo.srv.URL)
	cases := []struct {
		name  string
		token func() string
	}{
		{"empty", func() string { return "" }},
		{"not a jwt", func() string { return "12" }},
		{"tampered", func() string { return good[:len(good)-3] + "AAA" }},
		{"another key", func() string { return sign(otherKey.SigningKey(), base(), jwt.SigningMethodHS256) }},
		{"another audience", func() string {
			c := base()
			c["aud"] = "storebridge:shopify-install"
			return sign(env.keyring.SigningKey(), c, jwt.SigningMethodHS256)
		}},
		{"no expiry", func() string {
			c := base()
			delete(c, "exp")
			return sign(env.keyring.SigningKey(), c, jwt.SigningMethodHS256)
		}},
		{"alg none", func() string { return sign(jwt.UnsafeAllowNoneSignatureType, base(), jwt.SigningMethodNone) }},
		{"no starter", func() string {
			c := base()
			delete(c, "by")
			return sign(env.keyring.SigningKey(), c, jwt.SigningMethodHS256)
		}},
		{"expired", func() string {
			tok := env.token(t, env.woo.srv.URL)
			env.clock.Add(app.WooConnectTokenTTL + time.Second)
			return tok
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.conn.Callback(context.Background(), app.WooCallback{KeyID: 1, UserID: tc.token(), ConsumerKey: wooCK, ConsumerSecret: wooCS, KeyPermissions: "read_write"})
			if !errors.Is(err, app.ErrUnauthenticated) {
				t.Errorf("Callback() = %v; want ErrUnauthenticated", err)
			}
		})
	}
	host := strings.TrimPrefix(env.woo.srv.URL, "http://")
	if _, err := env.st.MerchantByDomain(context.Background(), app.PlatformWooCommerce, host); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("after refused callbacks, MerchantByDomain() = %v; want ErrNotFound", err)
	}
}

func TestWooCallbackRefusesKeysItCannotUse(t *testing.T) {
	env := newWooEnv(t)
	cases := []struct {
		name, perms, ck, cs, field string
	}{
		{"read only", "read", wooCK, wooCS, "key_permissions"},
		{"write only", "write", wooCK, wooCS, "key_permissions"},
		{"no key", "read_write", "", wooCS, "consumer_key"},
		{"not a secret", "read_write", wooCK, "secret", "consumer_secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.conn.Callback(context.Background(), app.WooCallback{KeyID: 1, UserID: env.token(t, env.woo.srv.URL), ConsumerKey: tc.ck, ConsumerSecret: tc.cs, KeyPermissions: tc.perms})
			var ve *app.ValidationError
			if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
				t.Errorf("Callback() = %v; want a validation error on %s", err, tc.field)
			}
		})
	}
}

func TestWooCallbackStoresSealedKeysAndReconnects(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	token := env.token(t, env.woo.srv.URL)
	m, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 7, UserID: token, ConsumerKey: wooCK, ConsumerSecret: wooCS, KeyPermissions: "read_write"})
	if err != nil {
		t.Fatalf("Callback() = %v", err)
	}
	stored, err := env.st.GetMerchant(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Platform != app.PlatformWooCommerce || stored.StoreURL != env.woo.srv.URL || stored.Status != app.MerchantActive {
		t.Errorf("merchant = %+v; want an active WooCommerce merchant of %s", stored, env.woo.srv.URL)
	}
	for name, want := range map[string]string{"consumer_key": wooCK, "consumer_secret": wooCS} {
		if strings.Contains(string(stored.Secrets[name]), want[3:12]) {
			t.Errorf("%s is stored in plain text", name)
		}
		if got, err := env.svc.MerchantSecret(stored, name); err != nil || got != want {
			t.Errorf("MerchantSecret(%s) = %q, %v; want the key WooCommerce posted", name, got, err)
		}
	}
	secret, err := env.svc.MerchantSecret(stored, "webhook_secret")
	if err != nil || !regexp.MustCompile(`^[A-Za-z0-9]{32,}$`).MatchString(secret) {
		t.Errorf("webhook secret = %q, %v; want at least 32 letters and digits", secret, err)
	}
	cursor, err := env.st.MapGet(ctx, m.ID, "sync", "woocommerce_orders_modified_after")
	if err != nil || cursor != env.clock.Now().UTC().Format("2006-01-02T15:04:05") {
		t.Errorf("sync cursor = %q, %v; want the connect time", cursor, err)
	}
	if jobs := env.jobs(t, app.JobWooWebhooks); len(jobs) != 1 || jobs[0].Merchant != m.ID {
		t.Errorf("webhooks jobs due = %v; want one for %s", jobs, m.ID)
	}
	depth, _ := env.st.Depth(ctx)
	if depth.Scheduled != 1 {
		t.Errorf("scheduled jobs = %d; want the reconciliation, in %s", depth.Scheduled, app.WooReconcileEvery)
	}

	// The same token again is refused: a replayed callback cannot swap keys.
	if _, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 8, UserID: token, ConsumerKey: "ck_evil", ConsumerSecret: "cs_evil", KeyPermissions: "read_write"}); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("replayed Callback() = %v; want ErrUnauthenticated", err)
	}

	// A reconnect from the merchant's own admin session updates the same
	// merchant, keeps its webhook secret and its cursor.
	env.clock.Add(time.Hour)
	env.woo.addKey("ck_second", "cs_second", "read_write")
	again := env.connectBy(t, app.WooConnectStarter{Merchant: m.ID}, "ck_second", "cs_second")
	if again.ID != m.ID {
		t.Fatalf("reconnect made merchant %s; want %s updated", again.ID, m.ID)
	}
	stored, _ = env.st.GetMerchant(ctx, m.ID)
	ck, _ := env.svc.MerchantSecret(stored, "consumer_key")
	secret2, _ := env.svc.MerchantSecret(stored, "webhook_secret")
	cursor2, _ := env.st.MapGet(ctx, m.ID, "sync", "woocommerce_orders_modified_after")
	if ck != "ck_second" || secret2 != secret || cursor2 != cursor {
		t.Errorf("after reconnect: key %q, secret kept %v, cursor %q; want ck_second, the same secret, cursor %q", ck, secret2 == secret, cursor2, cursor)
	}
}

// TestWooFirstConnectChecksTheKey: a store nobody connected yet needs no
// session; the key is kept once it read and wrote the store's REST API
// (changing nothing), and the store's webhooks are created as before.
func TestWooFirstConnectChecksTheKey(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	want := []string{"GET webhooks?per_page=1 by " + wooCK, "POST webhooks/batch by " + wooCK}
	if got := env.woo.callLog(); !slices.Equal(got, want) {
		t.Fatalf("before the callback answered, the store saw %q; want the key checked: %q", got, want)
	}
	if err := env.conn.HandleWebhooksJob(ctx, env.jobs(t, app.JobWooWebhooks)[0]); err != nil {
		t.Fatalf("HandleWebhooksJob() = %v", err)
	}
	var topics []string
	for _, h := range env.woo.hooks() {
		if h.DeliveryURL == env.conn.WebhookURL(m.ID) {
			topics = append(topics, h.Topic)
		}
	}
	if sort.Strings(topics); fmt.Sprint(topics) != "[coupon.created customer.created order.created order.deleted order.updated]" {
		t.Errorf("webhooks to %s = %v; want one per topic", env.conn.WebhookURL(m.ID), topics)
	}
}

// TestWooCallbackRefusesKeysTheStoreRefuses: a key is kept only once the
// store took it for a read and a write. Whatever the callback claims, a
// key the store did not issue, a wrong secret, or a key without read or
// without write permission is refused, and nothing is stored.
func TestWooCallbackRefusesKeysTheStoreRefuses(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	env.woo.addKey("ck_readonly0000000000000000000000000000000", "cs_readonly0000000000000000000000000000000", "read")
	env.woo.addKey("ck_writeonly000000000000000000000000000000", "cs_writeonly000000000000000000000000000000", "write")
	cases := []struct{ name, ck, cs string }{
		{"a key of another store", "ck_attacker000000000000000000000000000000", "cs_attacker000000000000000000000000000000"},
		{"a wrong secret", wooCK, "cs_guessed00000000000000000000000000000000"},
		{"a read-only key sent as read_write", "ck_readonly0000000000000000000000000000000", "cs_readonly0000000000000000000000000000000"},
		{"a write-only key sent as read_write", "ck_writeonly000000000000000000000000000000", "cs_writeonly000000000000000000000000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 9, UserID: env.token(t, env.woo.srv.URL), ConsumerKey: tc.ck, ConsumerSecret: tc.cs, KeyPermissions: "read_write"})
			var ve *app.ValidationError
			if !errors.As(err, &ve) || ve.Fields["consumer_key"] == "" {
				t.Errorf("Callback() = %v; want a validation error on consumer_key", err)
			}
		})
	}
	host := strings.TrimPrefix(env.woo.srv.URL, "http://")
	if m, err := env.st.MerchantByDomain(ctx, app.PlatformWooCommerce, host); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("after refused keys, MerchantByDomain() = %s, %v; want ErrNotFound", m.ID, err)
	}
	if jobs := env.jobs(t, app.JobWooWebhooks); len(jobs) != 0 || env.woo.creates != 0 {
		t.Errorf("%d webhooks jobs queued, %d webhooks created; want none", len(jobs), env.woo.creates)
	}
}

// TestWooCallbackRefusesWhenTheStoreDoesNotAnswer: a key that could not
// be checked is refused too (WooCommerce deletes it); the merchant
// approves again, with the same connect token, once the store answers.
func TestWooCallbackRefusesWhenTheStoreDoesNotAnswer(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	token := env.token(t, env.woo.srv.URL)
	env.woo.mu.Lock()
	env.woo.down = http.StatusServiceUnavailable
	env.woo.mu.Unlock()
	_, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 9, UserID: token, ConsumerKey: wooCK, ConsumerSecret: wooCS, KeyPermissions: "read_write"})
	var ve *app.ValidationError
	if !errors.Is(err, app.ErrWooStoreUnavailable) || errors.As(err, &ve) {
		t.Fatalf("Callback(store down) = %v; want ErrWooStoreUnavailable", err)
	}
	host := strings.TrimPrefix(env.woo.srv.URL, "http://")
	if _, err := env.st.MerchantByDomain(ctx, app.PlatformWooCommerce, host); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("after a key that could not be checked, MerchantByDomain() = %v; want ErrNotFound", err)
	}

	env.woo.mu.Lock()
	env.woo.down = 0
	env.woo.mu.Unlock()
	env.woo.addKey("ck_again00000000000000000000000000000000", "cs_again00000000000000000000000000000000", "read_write")
	if _, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 10, UserID: token, ConsumerKey: "ck_again00000000000000000000000000000000", ConsumerSecret: "cs_again00000000000000000000000000000000", KeyPermissions: "read_write"}); err != nil {
		t.Errorf("Callback(store back, same token) = %v; want the store connected", err)
	}
}

// TestWooConnectURLOfAConnectedStore: a store that is a merchant's is
// connected again only from that merchant's signed-in admin, or by the
// operator; the token then names the merchant and who started it.
func TestWooConnectURLOfAConnectedStore(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	cases := []struct {
		name     string
		storeURL string
		who      app.WooConnectStarter
		wantErr  error
		wantBy   string
	}{
		{"no session", env.woo.srv.URL, app.WooConnectStarter{}, app.ErrWooSessionRequired, ""},
		// Same host, so the same merchant's store (a WordPress in another
		// directory, on shared hosting).
		{"no session, another path of its host", env.woo.srv.URL + "/evil", app.WooConnectStarter{}, app.ErrWooSessionRequired, ""},
		{"another merchant's session", env.woo.srv.URL, app.WooConnectStarter{Merchant: "m_someone_else"}, app.ErrWooNotStoreOwner, ""},
		// A merchant's session reconnects the store it has, not another
		// WordPress on the same host.
		{"its session, another path of its host", env.woo.srv.URL + "/evil", app.WooConnectStarter{Merchant: m.ID}, app.ErrWooNotStoreOwner, ""},
		{"its session", env.woo.srv.URL, app.WooConnectStarter{Merchant: m.ID}, nil, "merchant"},
		{"the operator", env.woo.srv.URL, app.WooConnectStarter{Operator: true}, nil, "operator"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start, err := env.conn.BeginConnect(ctx, tc.storeURL, tc.who)
			if tc.wantErr != nil {
				var refused *app.WooConnectError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &refused) || refused.Reason == "" {
					t.Fatalf("BeginConnect() = %q, %v; want %v with a reason", start.URL, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("BeginConnect() = %v", err)
			}
			u, _ := url.Parse(start.URL)
			claims := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(u.Query().Get("user_id"), claims, func(*jwt.Token) (any, error) { return env.keyring.SigningKey(), nil }, jwt.WithTimeFunc(env.clock.Now)); err != nil {
				t.Fatal(err)
			}
			if claims["mid"] != m.ID || claims["by"] != tc.wantBy || claims["store_url"] != env.woo.srv.URL {
				t.Errorf("token claims = %v; want mid %s, by %s", claims, m.ID, tc.wantBy)
			}
		})
	}
}

// TestWooStrangerCannotReplaceAConnectedStoresKeys: connect tokens minted
// without a session before the store was connected (the only ones a
// stranger can still get for it) are refused at the callback, with keys
// that work: the stranger's own WordPress on the same host, or a second
// key of the store itself. The merchant keeps its keys, its address and
// its status, and nothing is scheduled.
func TestWooStrangerCannotReplaceAConnectedStoresKeys(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	evil := env.woo.site("/evil")
	evil.addKey("ck_evil00000000000000000000000000000000000", "cs_evil00000000000000000000000000000000000", "read_write")
	env.woo.addKey("ck_second0000000000000000000000000000000000", "cs_second0000000000000000000000000000000000", "read_write")
	staleOwn := env.token(t, env.woo.srv.URL+"/evil")
	staleStore := env.token(t, env.woo.srv.URL)
	m := env.connect(t, wooCK, wooCS)
	// The merchant disconnected meanwhile: nobody but them or the operator
	// may bring the store back.
	m, err := env.st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil })
	if err != nil {
		t.Fatal(err)
	}
	env.jobs(t, app.JobWooWebhooks) // the connect's own
	before := env.woo.callLog()

	cases := []struct{ name, token, ck, cs string }{
		{"its own WordPress on the store's host", staleOwn, "ck_evil00000000000000000000000000000000000", "cs_evil00000000000000000000000000000000000"},
		{"a working key of the store", staleStore, "ck_second0000000000000000000000000000000000", "cs_second0000000000000000000000000000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.conn.Callback(ctx, app.WooCallback{KeyID: 66, UserID: tc.token, ConsumerKey: tc.ck, ConsumerSecret: tc.cs, KeyPermissions: "read_write"})
			if !errors.Is(err, app.ErrWooNotStoreOwner) {
				t.Errorf("Callback() = %v; want ErrWooNotStoreOwner", err)
			}
		})
	}
	after, err := env.st.GetMerchant(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(after.Secrets, m.Secrets) || after.StoreURL != m.StoreURL || after.Status != app.MerchantUninstalled {
		t.Errorf("after the stranger's callbacks: secrets unchanged %v, store %s, status %s; want the same secrets, %s, uninstalled",
			maps.Equal(after.Secrets, m.Secrets), after.StoreURL, after.Status, m.StoreURL)
	}
	if jobs := env.jobs(t, app.JobWooWebhooks); len(jobs) != 0 {
		t.Errorf("webhooks jobs queued: %v; want none", jobs)
	}
	// Refused before any request with the stranger's key.
	if got := env.woo.callLog(); len(got) != len(before) || len(evil.callLog()) != 0 {
		t.Errorf("the store saw %q, its neighbour %q; want nothing new", got[len(before):], evil.callLog())
	}
	host := strings.TrimPrefix(env.woo.srv.URL, "http://")
	if got, err := env.st.MerchantByDomain(ctx, app.PlatformWooCommerce, host); err != nil || got.ID != m.ID {
		t.Errorf("MerchantByDomain() = %s, %v; want %s alone", got.ID, err, m.ID)
	}
}

// TestWooConcurrentFirstConnects: two visitors' callbacks for a store
// nobody connected, both past the lookup and the key check when the first
// creates the merchant. The second is then a connect of a store that is a
// merchant's, started without its session, and is refused.
func TestWooConcurrentFirstConnects(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	const otherCK, otherCS = "ck_other00000000000000000000000000000000000", "cs_other00000000000000000000000000000000000"
	env.woo.addKey(otherCK, otherCS, "read_write")
	tokens := []string{env.token(t, env.woo.srv.URL), env.token(t, env.woo.srv.URL)}
	keys := [][2]string{{wooCK, wooCS}, {otherCK, otherCS}}
	env.woo.batchGate.Store(&fakeWooGate{n: 2, release: make(chan struct{})})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			_, errs[i] = env.conn.Callback(ctx, app.WooCallback{KeyID: int64(i), UserID: tokens[i], ConsumerKey: keys[i][0], ConsumerSecret: keys[i][1], KeyPermissions: "read_write"})
		})
	}
	wg.Wait()
	won := slices.Index(errs, nil)
	if won < 0 || !errors.Is(errs[1-won], app.ErrWooNotStoreOwner) {
		t.Fatalf("Callback() errors = %v; want one connected and one ErrWooNotStoreOwner", errs)
	}
	host := strings.TrimPrefix(env.woo.srv.URL, "http://")
	m, err := env.st.MerchantByDomain(ctx, app.PlatformWooCommerce, host)
	if err != nil {
		t.Fatal(err)
	}
	if ck, _ := env.svc.MerchantSecret(m, "consumer_key"); ck != keys[won][0] {
		t.Errorf("consumer key = %q; want the winner's, %q", ck, keys[won][0])
	}
}

// TestWooReconnectRotatesAHandSetSecret: a merchant created by hand with a
// secret WooCommerce could mangle gets a generated one, and the store's
// existing webhooks are given it.
func TestWooReconnectRotatesAHandSetSecret(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: env.woo.srv.URL, Secrets: map[string]string{"webhook_secret": "short&amp;symbols"}})
	if err != nil {
		t.Fatal(err)
	}
	env.woo.webhooks = []fakeWooWebhook{{ID: 5, Status: "active", Topic: "order.created", DeliveryURL: env.conn.WebhookURL(m.ID), secret: "short&amp;symbols"}}
	env.connectBy(t, app.WooConnectStarter{Operator: true}, wooCK, wooCS)
	if err := env.conn.HandleWebhooksJob(ctx, env.jobs(t, app.JobWooWebhooks)[0]); err != nil {
		t.Fatalf("HandleWebhooksJob() = %v", err)
	}
	stored, _ := env.st.GetMerchant(ctx, m.ID)
	secret, _ := env.svc.MerchantSecret(stored, "webhook_secret")
	hooks := env.woo.hooks()
	if secret == "short&amp;symbols" || len(hooks) != 5 || env.woo.creates != 4 {
		t.Fatalf("secret rotated %v, %d hooks after %d creates; want a new secret, 5 hooks, 4 created", secret != "short&amp;symbols", len(hooks), env.woo.creates)
	}
	for _, h := range hooks {
		if h.secret != secret {
			t.Errorf("webhook %d (%s) signs with %q; want the new secret", h.ID, h.Topic, h.secret)
		}
	}
	if _, err := env.st.MapGet(ctx, m.ID, "sync", "woocommerce_webhook_secret_pending"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("secret pending flag = %v; want cleared", err)
	}
}

func TestWooWebhooksCreatedOncePerTopic(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	jobs := env.jobs(t, app.JobWooWebhooks)
	if len(jobs) != 1 {
		t.Fatalf("webhooks jobs = %d; want 1", len(jobs))
	}
	if err := env.conn.HandleWebhooksJob(ctx, jobs[0]); err != nil {
		t.Fatalf("HandleWebhooksJob() = %v", err)
	}
	stored, _ := env.st.GetMerchant(ctx, m.ID)
	secret, _ := env.svc.MerchantSecret(stored, "webhook_secret")
	hooks := env.woo.hooks()
	var topics []string
	for _, h := range hooks {
		topics = append(topics, h.Topic)
		if h.DeliveryURL != wooAppURL+"/webhooks/woocommerce/"+m.ID || h.secret != secret || h.Status != "active" {
			t.Errorf("webhook %+v (secret matches %v); want delivery to %s/webhooks/woocommerce/%s with the merchant's secret", h, h.secret == secret, wooAppURL, m.ID)
		}
	}
	sort.Strings(topics)
	if fmt.Sprint(topics) != "[coupon.created customer.created order.created order.deleted order.updated]" {
		t.Errorf("topics = %v; want one webhook per topic", topics)
	}
	// The reconciliation was pulled forward to now.
	if jobs := env.jobs(t, app.JobWooReconcile); len(jobs) != 1 {
		t.Errorf("reconcile jobs due now = %d; want 1", len(jobs))
	}

	// A second run, and a webhook of someone else for the same topic, make
	// no new webhook.
	env.woo.webhooks = append(env.woo.webhooks, fakeWooWebhook{ID: 9, Status: "active", Topic: "order.created", DeliveryURL: "https://zapier.example/hook"})
	created, err := env.conn.EnsureWebhooks(ctx, stored)
	if err != nil || created != 0 || env.woo.creates != 5 {
		t.Errorf("second EnsureWebhooks() = %d, %v after %d creates; want 0 and 5 creates in all", created, err, env.woo.creates)
	}
}

func TestWooDisabledWebhookIsReenabledWithANote(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	if err := env.conn.HandleWebhooksJob(ctx, env.jobs(t, app.JobWooWebhooks)[0]); err != nil {
		t.Fatal(err)
	}
	// WooCommerce disabled one after 7 failures; the merchant deleted
	// another and paused a third.
	env.woo.setStatus("order.updated", "disabled")
	env.woo.setStatus("coupon.created", "paused")
	env.woo.mu.Lock()
	env.woo.webhooks = slices.DeleteFunc(env.woo.webhooks, func(h fakeWooWebhook) bool { return h.Topic == "customer.created" })
	env.woo.mu.Unlock()

	reconcile := env.jobs(t, app.JobWooReconcile)[0]
	err := env.conn.HandleReconcileJob(ctx, reconcile)
	var again *app.RetryAtError
	if !errors.As(err, &again) || !again.At.Equal(env.clock.Now().Add(app.WooReconcileEvery)) {
		t.Fatalf("HandleReconcileJob() = %v; want to run again in %s", err, app.WooReconcileEvery)
	}
	statuses := map[string]string{}
	for _, h := range env.woo.hooks() {
		statuses[h.Topic] = h.Status
	}
	want := map[string]string{"order.created": "active", "order.updated": "active", "order.deleted": "active", "coupon.created": "paused", "customer.created": "active"}
	if fmt.Sprint(statuses) != fmt.Sprint(want) || env.woo.creates != 6 {
		t.Errorf("webhooks = %v after %d creates; want %v after 6 (the deleted one recreated)", statuses, env.woo.creates, want)
	}
	if len(env.woo.updates) != 1 || !strings.HasSuffix(env.woo.updates[0], ":status,secret") {
		t.Errorf("updates = %v; want one PUT of status (and secret) on the disabled webhook", env.woo.updates)
	}
	notes, err := env.st.MapAll(ctx, m.ID, "notes")
	if err != nil || len(notes) != 1 {
		t.Fatalf("notes = %v, %v; want one", notes, err)
	}
	for at, text := range notes {
		if _, err := time.Parse(time.RFC3339Nano, at); err != nil || !strings.Contains(text, "order.updated webhook(s) after repeated failed deliveries; storebridge re-enabled") ||
			!strings.Contains(text, "customer.created webhook(s) had been deleted") || strings.Contains(text, "coupon.created") {
			t.Errorf("note %q = %q; want the time and a text naming order.updated re-enabled and customer.created recreated", at, text)
		}
	}
}

func TestWooReconcileQueuesMissedOrders(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	connectedAt := env.clock.Now()
	env.woo.putOrder(1, "processing", connectedAt.Add(-time.Hour)) // before the connect: not replayed
	bodies := map[int64]string{}
	for i := range int64(230) { // three pages; ten orders share each second
		bodies[1000+i] = env.woo.putOrder(1000+i, "processing", connectedAt.Add(time.Duration(i/10)*time.Second))
	}
	env.clock.Add(5 * time.Minute)

	queued, err := env.conn.Reconcile(ctx, m)
	if err != nil || queued != 230 {
		t.Fatalf("Reconcile() = %d, %v; want 230 queued", queued, err)
	}
	// Keyset paging: each full page moves modified_after to its last
	// order (less a second, for ties), so 230 orders take three calls.
	if len(env.woo.queries) != 3 {
		t.Errorf("orders queried %d times: %v; want 3", len(env.woo.queries), env.woo.queries)
	}
	jobs := env.jobs(t, app.JobWooCommerceWebhook)
	seen := map[int64]bool{}
	for _, j := range jobs {
		envl, err := app.DecodeWebhookEnvelope(j.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ID int64 }
		json.Unmarshal(envl.Body, &head)
		if envl.Platform != app.PlatformWooCommerce || envl.Topic != "order.updated" || envl.WebhookID != "reconcile" || string(envl.Body) != bodies[head.ID] || j.Merchant != m.ID {
			t.Errorf("job %+v envelope %+v; want order.updated from reconcile with the order's body", j, envl)
		}
		seen[head.ID] = true
	}
	if len(jobs) != 230 || len(seen) != 230 || seen[1] {
		t.Errorf("queued %d jobs for %d orders (old order queued: %v); want 230 distinct, not the old one", len(jobs), len(seen), seen[1])
	}
	cursor, _ := env.st.MapGet(ctx, m.ID, "sync", "woocommerce_orders_modified_after")
	if want := connectedAt.Add(22 * time.Second).UTC().Format("2006-01-02T15:04:05"); cursor != want {
		t.Errorf("cursor = %s; want the newest modification %s", cursor, want)
	}

	// Nothing changed: nothing queued. One order moves on: only it is.
	if queued, err := env.conn.Reconcile(ctx, m); err != nil || queued != 0 {
		t.Errorf("second Reconcile() = %d, %v; want 0", queued, err)
	}
	env.clock.Add(time.Minute)
	env.woo.putOrder(1005, "completed", env.clock.Now())
	if queued, err := env.conn.Reconcile(ctx, m); err != nil || queued != 1 {
		t.Errorf("Reconcile() after a change = %d, %v; want 1", queued, err)
	}
	for _, q := range env.woo.queries {
		if q.Get("per_page") != "100" {
			t.Errorf("orders query %v; want 100 per page", q)
		}
	}
}

func TestWooReconcileFailuresAndStops(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m := env.connect(t, wooCK, wooCS)
	job := app.Job{ID: "r1", Merchant: m.ID, Kind: app.JobWooReconcile}

	// The merchant revoked the key: permanent, noted once, tried again at
	// the next turn.
	env.woo.revoke(wooCK)
	for range 2 {
		err := env.conn.HandleReconcileJob(ctx, job)
		var again *app.RetryAtError
		if !errors.As(err, &again) || !again.At.Equal(env.clock.Now().Add(app.WooReconcileEvery)) {
			t.Fatalf("HandleReconcileJob(revoked key) = %v; want to run again in %s", err, app.WooReconcileEvery)
		}
	}
	if notes, _ := env.st.MapAll(ctx, m.ID, "notes"); len(notes) != 1 {
		t.Errorf("notes = %v; want the failure noted once", notes)
	}

	// The store is down: tried again soon.
	env.woo.srv.Close()
	err := env.conn.HandleReconcileJob(ctx, job)
	var again *app.RetryAtError
	if !errors.As(err, &again) || !again.At.Before(env.clock.Now().Add(app.WooReconcileEvery)) {
		t.Errorf("HandleReconcileJob(store down) = %v; want to run again before the next turn", err)
	}

	// An uninstalled merchant's chain stops, without calling the store.
	if _, err := env.st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil }); err != nil {
		t.Fatal(err)
	}
	env.woo.mu.Lock()
	before := env.woo.requests
	env.woo.mu.Unlock()
	if err := env.conn.HandleReconcileJob(ctx, job); err != nil {
		t.Errorf("HandleReconcileJob(uninstalled) = %v; want nil (the chain stops)", err)
	}
	if env.woo.requests != before {
		t.Errorf("the store was called for an uninstalled merchant")
	}
	if err := env.conn.HandleReconcileJob(ctx, app.Job{ID: "r2", Merchant: "m_gone", Kind: app.JobWooReconcile}); err != nil {
		t.Errorf("HandleReconcileJob(unknown merchant) = %v; want nil", err)
	}
}
