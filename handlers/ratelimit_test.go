package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// limitClock is the one clock of a limit test: the store's throttle and
// the service read it, and the test moves it. It stands still on the
// embedded store; on Redis it runs with real time (plus what the test
// added), because the throttle reads the server's clock (plus Offset) and
// Redis expires its keys in real time.
type limitClock struct {
	mu     sync.Mutex
	start  time.Time
	real   bool
	offset time.Duration
}

func (c *limitClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.real {
		return time.Now().Add(c.offset)
	}
	return c.start.Add(c.offset)
}

// Offset is how far the test moved the clock, which the Redis store adds
// to the server's clock.
func (c *limitClock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

func (c *limitClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// downThrottle is a store whose throttle can be made to fail, as a store
// that stopped answering would.
type downThrottle struct {
	app.Store
	down atomic.Bool
}

func (s *downThrottle) Throttle(ctx context.Context, merchant, key string, limit int, window, maxWait time.Duration) (time.Duration, error) {
	if s.down.Load() {
		return 0, fmt.Errorf("test store: %w", app.ErrUnavailable)
	}
	return s.Store.Throttle(ctx, merchant, key, limit, window, maxWait)
}

type limitEnv struct {
	e        *echo.Echo
	store    *downThrottle
	svc      *app.Service
	clock    *limitClock
	apiKey   string
	merchant string
	session  string
}

// limitBackends are both stores the shared throttle runs on.
var limitBackends = []string{"embedded", "redis"}

func newLimitEnv(t *testing.T, backend, clientIPHeader string) *limitEnv {
	t.Helper()
	clock := &limitClock{start: time.Now(), real: backend == "redis"}
	var st app.Store
	switch backend {
	case "embedded":
		s, err := embedded.Open(t.TempDir()+"/l.db", embedded.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		st = s
	case "redis":
		srv := redistest.Start(t, redistest.Options{})
		st = redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr()}), redisstore.Options{Prefix: "l:", Now: clock.Now, ServerClockOffset: clock.Offset})
	}
	t.Cleanup(func() { st.Close() })
	wrapped := &downThrottle{Store: st}
	keyring, _ := app.NewKeyring(testSecretKey)
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{
		Store: wrapped, Keyring: keyring, Logger: log, Now: clock.Now, ShopifyAPISecret: shopifyAppSecret, CheckURL: strictURLs,
	})
	metrics := NewMetrics(wrapped, log)
	e := NewEcho(log, metrics)
	New(Options{
		Service: svc, Store: wrapped, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in",
		ShopifyInstall: app.NewShopifyInstaller(svc, app.ShopifyInstallOptions{}),
		WooConnect:     app.NewWooConnector(svc, app.WooConnectOptions{AppURL: "https://bridge.example.in"}),
		ClientIPHeader: clientIPHeader,
	}).Register(e)
	m, apiKey, err := svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformShopify, Domain: ashaShop, Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := svc.NewSession(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &limitEnv{e: e, store: wrapped, svc: svc, clock: clock, apiKey: apiKey, merchant: m.ID, session: session}
}

// from serves req as if it came from addr.
func (env *limitEnv) from(addr string, req *http.Request) *httptest.ResponseRecorder {
	req.RemoteAddr = addr + ":52000"
	return serve(env.e, req)
}

var eventSeq atomic.Int64

func eventRequest(key string) *http.Request {
	body := fmt.Sprintf(`{"id":"ev-%d","event":"loyalty.points_earned","customer":{"phone":"+919876543210"}}`, eventSeq.Add(1))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func adminRequest(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/api/admin/merchants/m_nobody", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// wantLimited checks a 429 in the one error shape with a Retry-After of
// want seconds.
func wantLimited(t *testing.T, what string, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("%s = %d %s; want 429", what, rec.Code, rec.Body)
	}
	if got, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || got != want {
		t.Errorf("%s: Retry-After = %q; want %d", what, rec.Header().Get("Retry-After"), want)
	}
	if !strings.Contains(rec.Body.String(), `"error":`) || !strings.Contains(rec.Body.String(), `"request_id":`) {
		t.Errorf("%s: body = %s; want the JSON error shape", what, rec.Body)
	}
}

// burst sends requests until one is refused, and checks that size went
// through at once and no more (none frees before a window after the
// first), and that the refusal is a 429 saying to wait the rest of the
// window, in whole seconds.
func burst(t *testing.T, env *limitEnv, what string, size int, window time.Duration, send func() *httptest.ResponseRecorder) {
	t.Helper()
	start := env.clock.Now()
	passed := 0
	for {
		rec := send()
		if rec.Code == http.StatusTooManyRequests {
			rest := window - env.clock.Now().Sub(start)
			wantLimited(t, what+" after the burst", rec, int((rest+time.Second-1)/time.Second))
			break
		}
		if rec.Code >= 500 || passed > 10*size {
			t.Fatalf("%s: request %d = %d %s; want it through, or 429 after %d", what, passed+1, rec.Code, rec.Body, size)
		}
		passed++
	}
	if passed != size {
		t.Errorf("%s: %d went through before a 429; want %d", what, passed, size)
	}
}

func TestEventsAPIRateLimit(t *testing.T) {
	for _, backend := range limitBackends {
		t.Run(backend, func(t *testing.T) {
			env := newLimitEnv(t, backend, "")
			// 100 per 2 s per API key.
			burst(t, env, "events of one key", 100, 2*time.Second, func() *httptest.ResponseRecorder {
				return env.from("203.0.113.7", eventRequest(env.apiKey))
			})
			// Another key from the same address has its own budget.
			if rec := env.from("203.0.113.7", eventRequest("sbk_not_a_key")); rec.Code != http.StatusUnauthorized {
				t.Errorf("another key while the first is limited = %d %s; want 401", rec.Code, rec.Body)
			}
			env.clock.Add(2 * time.Second) // a window after the burst began
			if rec := env.from("203.0.113.7", eventRequest(env.apiKey)); rec.Code != http.StatusAccepted {
				t.Errorf("event a window later = %d %s; want 202", rec.Code, rec.Body)
			}

			// Per address, whatever the keys: 400 per 2 s.
			var guesses atomic.Int64
			burst(t, env, "guessed keys from one address", 400, 2*time.Second, func() *httptest.ResponseRecorder {
				return env.from("198.51.100.9", eventRequest(fmt.Sprintf("sbk_guess_%d", guesses.Add(1))))
			})
		})
	}
}

func TestConnectRoutesRateLimit(t *testing.T) {
	for _, backend := range limitBackends {
		t.Run(backend, func(t *testing.T) {
			env := newLimitEnv(t, backend, "")
			connect := func() *http.Request {
				return httptest.NewRequest(http.MethodGet, "/woocommerce/connect?store_url=https%3A%2F%2Fshop.chai-point.in", nil)
			}
			// 20 per 2 minutes per address (an install is two requests; a
			// merchant retrying a few times fits).
			for i := range 20 {
				if rec := env.from("203.0.113.7", connect()); rec.Code != http.StatusFound {
					t.Fatalf("connect %d = %d %s; want 302", i+1, rec.Code, rec.Body)
				}
			}
			wantLimited(t, "connect 21", env.from("203.0.113.7", connect()), 120)
			// One budget for every connect and install route.
			callback := httptest.NewRequest(http.MethodPost, "/woocommerce/callback", strings.NewReader(`{}`))
			callback.Header.Set("Content-Type", "application/json")
			wantLimited(t, "callback from the limited address", env.from("203.0.113.7", callback), 120)
			wantLimited(t, "shopify install from the limited address", env.from("203.0.113.7", httptest.NewRequest(http.MethodGet, "/shopify/install?shop="+ashaShop, nil)), 120)
			wantLimited(t, "shopify callback from the limited address", env.from("203.0.113.7", httptest.NewRequest(http.MethodGet, "/shopify/callback?shop="+ashaShop, nil)), 120)
			if rec := env.from("198.51.100.9", connect()); rec.Code != http.StatusFound {
				t.Errorf("connect from another address = %d %s; want 302", rec.Code, rec.Body)
			}
			env.clock.Add(time.Minute)
			wantLimited(t, "connect a minute later", env.from("203.0.113.7", connect()), 60)
			env.clock.Add(time.Minute)
			if rec := env.from("203.0.113.7", connect()); rec.Code != http.StatusFound {
				t.Errorf("connect a window after the first = %d %s; want 302", rec.Code, rec.Body)
			}
		})
	}
}

// Platforms must never get 429 from us for legitimate traffic: webhooks
// have no rate limit, far past every limit's burst.
func TestWebhooksAreNotRateLimited(t *testing.T) {
	env := newLimitEnv(t, "embedded", "")
	body := []byte(sampleOrderCreate)
	for i := range 450 {
		rec := env.from("203.0.113.7", shopifyRequest(ashaShop, "orders/create", "ev-flood", "wrong-secret", body))
		if rec.Code == http.StatusTooManyRequests {
			t.Fatalf("shopify webhook %d = 429; webhooks must not be limited", i+1)
		}
	}
	if rec := env.from("203.0.113.7", shopifyRequest(ashaShop, "orders/create", "ev-real", shopifyAppSecret, body)); rec.Code != http.StatusOK {
		t.Errorf("a signed webhook after the flood = %d %s; want 200", rec.Code, rec.Body)
	}
	for i := range 30 {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/woocommerce/m_unknown", strings.NewReader(`{}`))
		if rec := env.from("203.0.113.7", req); rec.Code == http.StatusTooManyRequests {
			t.Fatalf("woocommerce webhook %d = 429; webhooks must not be limited", i+1)
		}
		req = httptest.NewRequest(http.MethodPost, "/webhooks/providers/meta/m_unknown", strings.NewReader(`{}`))
		if rec := env.from("203.0.113.7", req); rec.Code == http.StatusTooManyRequests {
			t.Fatalf("provider webhook %d = 429; webhooks must not be limited", i+1)
		}
	}
}

// With the store's throttle failing, the events API and the connect
// routes go on (fail open: they need the store anyway and fail there if
// it is really down), and no request waits for the store for long.
func TestRateLimitsFailOpen(t *testing.T) {
	env := newLimitEnv(t, "embedded", "")
	env.store.down.Store(true)
	for i := range 150 {
		if rec := env.from("203.0.113.7", eventRequest(env.apiKey)); rec.Code != http.StatusAccepted {
			t.Fatalf("event %d with the throttle down = %d %s; want 202", i+1, rec.Code, rec.Body)
		}
	}
	for i := range 30 {
		req := httptest.NewRequest(http.MethodGet, "/woocommerce/connect?store_url=https%3A%2F%2Fshop.chai-point.in", nil)
		if rec := env.from("203.0.113.7", req); rec.Code != http.StatusFound {
			t.Fatalf("connect %d with the throttle down = %d %s; want 302", i+1, rec.Code, rec.Body)
		}
	}
}

func TestFailedSignInsRateLimit(t *testing.T) {
	for _, backend := range limitBackends {
		t.Run(backend, func(t *testing.T) {
			env := newLimitEnv(t, backend, "")
			// Asking without a token is no guess: not counted.
			for range 20 {
				if rec := env.from("203.0.113.7", adminRequest("")); rec.Code != http.StatusUnauthorized {
					t.Fatalf("no token = %d; want 401", rec.Code)
				}
			}
			// Signed-in calls are not counted either.
			for range 30 {
				if rec := env.from("203.0.113.7", adminRequest(operatorToken)); rec.Code != http.StatusNotFound {
					t.Fatalf("operator call = %d %s; want 404 (signed in, no such merchant)", rec.Code, rec.Body)
				}
			}
			// A session we signed that ran out is no guess: not counted,
			// so a merchant's open tabs cannot lock the address.
			expired, _, err := env.svc.NewSession("m_gone")
			if err != nil {
				t.Fatal(err)
			}
			env.clock.Add(app.SessionTTL + time.Minute)
			for range 20 {
				if rec := env.from("203.0.113.7", adminRequest(expired)); rec.Code != http.StatusUnauthorized {
					t.Fatalf("expired session = %d %s; want 401", rec.Code, rec.Body)
				}
			}
			if rec := env.from("203.0.113.7", adminRequest(env.session)); rec.Code != http.StatusUnauthorized {
				t.Fatalf("the merchant's session, now expired = %d; want 401", rec.Code)
			}
			session, _, err := env.svc.NewSession(env.merchant)
			if err != nil {
				t.Fatal(err)
			}
			env.session = session
			// 10 failed sign-ins a minute per address.
			for i := range 10 {
				if rec := env.from("203.0.113.7", adminRequest(fmt.Sprintf("guess-%d", i))); rec.Code != http.StatusUnauthorized {
					t.Fatalf("failed sign-in %d = %d %s; want 401", i+1, rec.Code, rec.Body)
				}
			}
			wantLimited(t, "failed sign-in 11", env.from("203.0.113.7", adminRequest("guess-10")), 60)
			// While refused, no token is tried from that address, even a
			// right one: a guess that happens to be right must not pass.
			wantLimited(t, "operator token from the refused address", env.from("203.0.113.7", adminRequest(operatorToken)), 60)
			wantLimited(t, "merchant session from the refused address", env.from("203.0.113.7", adminRequest(env.session)), 60)
			if rec := env.from("198.51.100.9", adminRequest(operatorToken)); rec.Code != http.StatusNotFound {
				t.Errorf("operator token from another address = %d %s; want 404 (signed in)", rec.Code, rec.Body)
			}
			env.clock.Add(time.Minute)
			if rec := env.from("203.0.113.7", adminRequest(operatorToken)); rec.Code != http.StatusNotFound {
				t.Errorf("operator token after the wait = %d %s; want 404 (signed in)", rec.Code, rec.Body)
			}
			for i := range 10 {
				if rec := env.from("203.0.113.7", adminRequest(fmt.Sprintf("guess-%d", 11+i))); rec.Code != http.StatusUnauthorized {
					t.Errorf("failed sign-in %d of the next minute = %d; want 401", i+1, rec.Code)
				}
			}
			wantLimited(t, "the failed sign-in after those", env.from("203.0.113.7", adminRequest("guess-21")), 60)
		})
	}
}

// A failed sign-in the store could not count is refused for a while (fail
// closed): guessing must not speed up while the store is away. Those who
// sign in right from another address are not affected.
func TestFailedSignInsFailClosed(t *testing.T) {
	env := newLimitEnv(t, "embedded", "")
	env.store.down.Store(true)
	wantLimited(t, "failed sign-in with the throttle down", env.from("203.0.113.7", adminRequest("guess")), 6)
	wantLimited(t, "operator token from that address", env.from("203.0.113.7", adminRequest(operatorToken)), 6)
	if rec := env.from("198.51.100.9", adminRequest(operatorToken)); rec.Code != http.StatusNotFound {
		t.Errorf("operator token from another address = %d %s; want 404 (signed in)", rec.Code, rec.Body)
	}
	env.clock.Add(6 * time.Second)
	if rec := env.from("203.0.113.7", adminRequest(operatorToken)); rec.Code != http.StatusNotFound {
		t.Errorf("operator token after the wait = %d %s; want 404 (signed in)", rec.Code, rec.Body)
	}
}

// By default the client is the socket's peer: headers a client sets do
// not move it into a fresh budget. Behind a proxy named by
// CLIENT_IP_HEADER (Fly.io's Fly-Client-IP), that header is the client.
func TestClientAddress(t *testing.T) {
	t.Run("socket address by default", func(t *testing.T) {
		env := newLimitEnv(t, "embedded", "")
		for i := range 10 {
			req := adminRequest("guess")
			spoof := fmt.Sprintf("192.0.2.%d", i+1)
			req.Header.Set("X-Forwarded-For", spoof)
			req.Header.Set("X-Real-IP", spoof)
			req.Header.Set("Fly-Client-IP", spoof)
			if rec := env.from("203.0.113.7", req); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failed sign-in %d = %d; want 401", i+1, rec.Code)
			}
		}
		req := adminRequest("guess")
		req.Header.Set("X-Forwarded-For", "192.0.2.200")
		req.Header.Set("Fly-Client-IP", "192.0.2.200")
		wantLimited(t, "failed sign-in 11 with made-up forwarding headers", env.from("203.0.113.7", req), 60)
	})
	t.Run("behind Fly.io", func(t *testing.T) {
		env := newLimitEnv(t, "embedded", "Fly-Client-IP")
		viaProxy := func(client string) *http.Request {
			req := adminRequest("guess")
			req.Header.Set("Fly-Client-IP", client)
			return req
		}
		for i := range 10 {
			if rec := env.from("172.16.7.2", viaProxy("203.0.113.7")); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failed sign-in %d = %d; want 401", i+1, rec.Code)
			}
		}
		wantLimited(t, "failed sign-in 11 of one client", env.from("172.16.7.2", viaProxy("203.0.113.7")), 60)
		if rec := env.from("172.16.7.2", viaProxy("198.51.100.9")); rec.Code != http.StatusUnauthorized {
			t.Errorf("another client through the same proxy = %d; want 401 (its own budget)", rec.Code)
		}
		if rec := env.from("172.16.7.2", viaProxy("2001:db8::1")); rec.Code != http.StatusUnauthorized {
			t.Errorf("an IPv6 client through the proxy = %d; want 401 (its own budget)", rec.Code)
		}
	})
}
