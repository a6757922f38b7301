package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

const (
	installKey    = "3d9a0c1b2e4f56789abc"
	installSecret = "shpss_install_test_secret_0001"
	installShop   = "asha-naturals.myshopify.com"
	installAppURL = "https://sb.example.in"
)

// installClock is a settable clock shared by the service and the store.
type installClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *installClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *installClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeShopifyAdmin plays Shopify behind app.ShopifyAdmin: codes are single
// use, refresh tokens rotate (the old one is refused), and Admin calls
// need the current access token.
type fakeShopifyAdmin struct {
	mu            sync.Mutex
	codes         map[string]bool
	scope         string
	access        string
	refresh       string
	generation    int
	exchangeErr   error
	refreshErr    error
	exchanges     int
	sessionErr    error    // fails token exchanges of session tokens
	sessionTokens []string // the session tokens exchanged
	refreshes     int
	subs          []app.ShopifyWebhookSubscription
	created       []string
	orders        []app.ShopifyOrder
	ordersSince   []time.Time
	adminFailures int // Admin calls to fail (retryable) before answering
}

func newFakeShopifyAdmin() *fakeShopifyAdmin {
	return &fakeShopifyAdmin{codes: map[string]bool{"code-1": true, "code-2": true}, scope: "write_orders,read_customers"}
}

func (f *fakeShopifyAdmin) issue() app.ShopifyToken {
	f.generation++
	f.access = fmt.Sprintf("shpat_gen%d", f.generation)
	f.refresh = fmt.Sprintf("shprt_gen%d", f.generation)
	return app.ShopifyToken{AccessToken: f.access, Scope: f.scope, ExpiresIn: time.Hour, RefreshToken: f.refresh, RefreshExpiresIn: 90 * 24 * time.Hour}
}

func (f *fakeShopifyAdmin) ExchangeCode(_ context.Context, shop, code string) (app.ShopifyToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exchanges++
	if f.exchangeErr != nil {
		return app.ShopifyToken{}, f.exchangeErr
	}
	if shop != installShop || !f.codes[code] {
		return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400, Code: "invalid_request"}
	}
	delete(f.codes, code)
	return f.issue(), nil
}

// ExchangeSessionToken checks the session token as Shopify does (our app's
// secret and client id, issued for this shop) and issues a new token pair.
// Its clock is not the test's, so expiry is left to the code under test.
func (f *fakeShopifyAdmin) ExchangeSessionToken(_ context.Context, shop, idToken string) (app.ShopifyToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessionTokens = append(f.sessionTokens, idToken)
	if f.sessionErr != nil {
		return app.ShopifyToken{}, f.sessionErr
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(idToken, claims, func(*jwt.Token) (any, error) { return []byte(installSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
	if err != nil || claims["aud"] != installKey || claims["dest"] != "https://"+shop {
		return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400, Code: "invalid_subject_token"}
	}
	return f.issue(), nil
}

func (f *fakeShopifyAdmin) RefreshToken(_ context.Context, shop, refreshToken string) (app.ShopifyToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshes++
	if f.refreshErr != nil {
		return app.ShopifyToken{}, f.refreshErr
	}
	if refreshToken != f.refresh {
		return app.ShopifyToken{}, &app.ProviderError{Provider: "shopify", Status: 400, Code: "invalid_grant"}
	}
	return f.issue(), nil
}

func (f *fakeShopifyAdmin) admin(token string) error {
	if f.adminFailures > 0 {
		f.adminFailures--
		return &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}
	}
	if token != f.access {
		return &app.ProviderError{Provider: "shopify", Status: 401}
	}
	return nil
}

func (f *fakeShopifyAdmin) WebhookSubscriptions(_ context.Context, shop, token string) ([]app.ShopifyWebhookSubscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admin(token); err != nil {
		return nil, err
	}
	return slices.Clone(f.subs), nil
}

func (f *fakeShopifyAdmin) CreateWebhookSubscription(_ context.Context, shop, token string, sub app.ShopifyWebhookSubscription) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admin(token); err != nil {
		return err
	}
	f.subs = append(f.subs, sub)
	f.created = append(f.created, sub.Topic)
	return nil
}

func (f *fakeShopifyAdmin) Shop(_ context.Context, shop, token string) (app.ShopifyShop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admin(token); err != nil {
		return app.ShopifyShop{}, err
	}
	return app.ShopifyShop{Name: "Kesar Kitchen", Country: "IN", Timezone: "Asia/Kolkata", Currency: "AED"}, nil
}

func (f *fakeShopifyAdmin) OrdersUpdatedSince(_ context.Context, shop, token string, since time.Time, limit int) ([]app.ShopifyOrder, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.admin(token); err != nil {
		return nil, err
	}
	f.ordersSince = append(f.ordersSince, since)
	var out []app.ShopifyOrder
	for _, o := range f.orders {
		if !o.UpdatedAt.Before(since) && len(out) < limit {
			out = append(out, o)
		}
	}
	return out, nil
}

type installEnv struct {
	svc   *app.Service
	inst  *app.ShopifyInstaller
	store app.Store
	admin *fakeShopifyAdmin
	clock *installClock
}

func newInstallEnv(t *testing.T) *installEnv {
	t.Helper()
	clk := &installClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, err := app.NewKeyring(keyA)
	if err != nil {
		t.Fatal(err)
	}
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clk.Now, ShopifyAPIKey: installKey, ShopifyAPISecret: installSecret})
	admin := newFakeShopifyAdmin()
	inst := app.NewShopifyInstaller(svc, app.ShopifyInstallOptions{
		APIKey: installKey, APISecret: installSecret, Scopes: []string{"read_orders", "write_orders", "read_customers"},
		AppURL: installAppURL + "/", Admin: admin,
	})
	return &installEnv{svc: svc, inst: inst, store: st, admin: admin, clock: clk}
}

// signed returns q with timestamp and hmac as Shopify adds them.
func (e *installEnv) signed(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	if !out.Has("timestamp") {
		out.Set("timestamp", strconv.FormatInt(e.clock.Now().Unix(), 10))
	}
	out.Set("hmac", app.SignShopifyQuery(installSecret, out))
	return out
}

// install runs a whole install with code and answers its result.
func (e *installEnv) install(t *testing.T, code string) app.ShopifyInstallResult {
	t.Helper()
	ctx := context.Background()
	start, err := e.inst.BeginInstall(ctx, e.signed(url.Values{"shop": {installShop}, "host": {"YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYQ"}}))
	if err != nil {
		t.Fatalf("BeginInstall() = %v", err)
	}
	redirect, _ := url.Parse(start.RedirectURL)
	res, err := e.inst.CompleteInstall(ctx, e.signed(url.Values{"shop": {installShop}, "code": {code}, "state": {redirect.Query().Get("state")}}), start.State)
	if err != nil {
		t.Fatalf("CompleteInstall() = %v", err)
	}
	return res
}

func TestVerifyShopifyQuery(t *testing.T) {
	// Shopify's documented example (secret "hush"), as go-shopify tests it.
	const doc = "code=0907a61c0c8d55e99db179b68161bc00&hmac=4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173"
	const docState = "code=0907a61c0c8d55e99db179b68161bc00&hmac=7db6973c2aff68295ebcf354c2ce528a6b09aef1146baafccc2e0b369fff5f6d&shop=some-shop.myshopify.com&signature=11813d1e7bbf4629edcda0628a3f7a20&timestamp=1337178173&state=abcd"
	parse := func(raw string) url.Values {
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	spaced := url.Values{"shop": {"x.myshopify.com"}, "note": {"a b"}, "timestamp": {"1"}}
	spaced.Set("hmac", hmacHex("hush", "note=a b&shop=x.myshopify.com&timestamp=1"))
	jsSigned := url.Values{"shop": {"x.myshopify.com"}, "note": {"a b&c"}, "timestamp": {"1"}}
	// The JS library signs the escaped string, spaces as %20.
	jsSigned.Set("hmac", hmacHex("hush", "note=a%20b%26c&shop=x.myshopify.com&timestamp=1"))
	// Unescaped, {note: "a b&c"} reads like {note: "a b", c: ""}: that
	// form is not trusted when a value holds "&".
	ampersand := url.Values{"shop": {"x.myshopify.com"}, "note": {"a b&c"}, "timestamp": {"1"}}
	ampersand.Set("hmac", hmacHex("hush", "note=a b&c&shop=x.myshopify.com&timestamp=1"))
	// The hmac of shop and timestamp must not verify one parameter that
	// holds both.
	merged := url.Values{"shop": {"x.myshopify.com&timestamp=1"}}
	merged.Set("hmac", hmacHex("hush", "shop=x.myshopify.com&timestamp=1"))
	ownAmpersand := url.Values{"shop": {"x.myshopify.com"}, "note": {"a b&c"}, "timestamp": {"1"}}
	ownAmpersand.Set("hmac", app.SignShopifyQuery("hush", ownAmpersand))

	tests := []struct {
		name   string
		secret string
		query  url.Values
		want   bool
	}{
		{"shopify's example", "hush", parse(doc), true},
		{"shopify's example with state", "hush", parse(docState), true},
		{"timestamp changed", "hush", parse(strings.Replace(doc, "1337178173", "133717817", 1)), false},
		{"wrong secret", "shush", parse(doc), false},
		{"unescaped form", "hush", spaced, true},
		{"escaped form", "hush", jsSigned, true},
		{"unescaped form with & in a value", "hush", ampersand, false},
		{"separators inside a value", "hush", merged, false},
		{"own signature with & in a value", "hush", ownAmpersand, true},
		{"key without values", "hush", withEmptyKey(parse(doc)), true},
		{"no hmac", "hush", parse("shop=some-shop.myshopify.com&timestamp=1337178173"), false},
		{"hmac not hex", "hush", parse("shop=some-shop.myshopify.com&hmac=zz"), false},
		{"empty secret", "", parse(doc), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := app.VerifyShopifyQuery(tc.secret, tc.query); got != tc.want {
				t.Errorf("VerifyShopifyQuery(%q, %v) = %v; want %v", tc.secret, tc.query, got, tc.want)
			}
		})
	}
}

func TestBeginInstall(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	now := e.clock.Now().Unix()

	start, err := e.inst.BeginInstall(ctx, e.signed(url.Values{"shop": {installShop}}))
	if err != nil {
		t.Fatalf("BeginInstall() = %v", err)
	}
	u, err := url.Parse(start.RedirectURL)
	if err != nil || u.Scheme != "https" || u.Host != installShop || u.Path != "/admin/oauth/authorize" {
		t.Fatalf("redirect = %s; want https://%s/admin/oauth/authorize", start.RedirectURL, installShop)
	}
	q := u.Query()
	if q.Get("client_id") != installKey || q.Get("scope") != "read_orders,write_orders,read_customers" ||
		q.Get("redirect_uri") != installAppURL+"/shopify/callback" || len(q.Get("state")) != 64 || q.Has("grant_options[]") {
		t.Errorf("authorize query = %v; want client id, scopes, our callback, a 32-byte hex state, offline access", q)
	}
	if start.State == "" || strings.Contains(start.State, q.Get("state")) || !start.Expires.Equal(e.clock.Now().Add(app.ShopifyStateTTL)) {
		t.Errorf("state cookie = %q expiring %s; want a signed token, not the bare nonce, for 5 minutes", start.State, start.Expires)
	}
	again, _ := e.inst.BeginInstall(ctx, url.Values{"shop": {installShop}})
	if again.RedirectURL == start.RedirectURL {
		t.Error("two installs got the same state")
	}

	badHMAC := e.signed(url.Values{"shop": {installShop}})
	badHMAC.Set("hmac", strings.Repeat("0", 64))
	tests := []struct {
		name  string
		query url.Values
		want  error
	}{
		{"shop with a path", url.Values{"shop": {"attacker.com/?"}}, app.ErrInvalidShop},
		{"shop under another domain", url.Values{"shop": {"x.myshopify.com.evil.com"}}, app.ErrInvalidShop},
		{"shop with userinfo", url.Values{"shop": {"evil.com@x.myshopify.com"}}, app.ErrInvalidShop},
		{"no shop", url.Values{}, app.ErrInvalidShop},
		{"bad hmac", badHMAC, app.ErrUnauthenticated},
		{"stale timestamp", e.signed(url.Values{"shop": {installShop}, "timestamp": {strconv.FormatInt(now-91, 10)}}), app.ErrUnauthenticated},
		{"future timestamp", e.signed(url.Values{"shop": {installShop}, "timestamp": {strconv.FormatInt(now+91, 10)}}), app.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.inst.BeginInstall(ctx, tc.query)
			var refused *app.ShopifyInstallError
			if !errors.Is(err, tc.want) || !errors.As(err, &refused) || refused.Reason == "" {
				t.Fatalf("BeginInstall(%v) = %v; want a refusal wrapping %v", tc.query, err, tc.want)
			}
		})
	}
	if _, err := e.inst.BeginInstall(ctx, e.signed(url.Values{"shop": {installShop}, "timestamp": {strconv.FormatInt(now-89, 10)}})); err != nil {
		t.Errorf("BeginInstall(89 s old) = %v; want accepted inside the 90 s window", err)
	}

	off := app.NewShopifyInstaller(e.svc, app.ShopifyInstallOptions{AppURL: installAppURL})
	if _, err := off.BeginInstall(ctx, url.Values{"shop": {installShop}}); !errors.Is(err, app.ErrShopifyAppOff) || off.Enabled() {
		t.Errorf("BeginInstall() without credentials = %v; want ErrShopifyAppOff", err)
	}
}

func TestCompleteInstallCreatesMerchant(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	res := e.install(t, "code-1")
	if res.Reinstalled || res.Shop != installShop || !strings.HasPrefix(res.MerchantID, "m_") {
		t.Fatalf("CompleteInstall() = %+v; want a new merchant", res)
	}
	m, err := e.store.GetMerchant(ctx, res.MerchantID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Platform != app.PlatformShopify || m.Domain != installShop || m.Status != app.MerchantActive {
		t.Errorf("merchant = %+v; want an active Shopify merchant of %s", m, installShop)
	}
	for name, want := range map[string]string{"access_token": "shpat_gen1", "refresh_token": "shprt_gen1"} {
		if strings.Contains(string(m.Secrets[name]), want) {
			t.Errorf("secret %s is stored in plain text", name)
		}
		if got, err := e.svc.MerchantSecret(m, name); err != nil || got != want {
			t.Errorf("MerchantSecret(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	wantExpiry := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if m.Settings[app.SettingShopifyTokenExpiresAt] != wantExpiry || m.Settings[app.SettingShopifyRefreshExpiresAt] == "" || m.Settings[app.SettingShopifyScopes] != "write_orders,read_customers" {
		t.Errorf("settings = %v; want the token expiry %s, the refresh expiry and the scopes", m.Settings, wantExpiry)
	}

	// The subscription job is due now; reconciliation in 15 minutes.
	jobs, err := e.store.ClaimJobs(ctx, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != app.JobShopifySubscriptions || jobs[0].Merchant != m.ID {
		t.Fatalf("due jobs = %+v, %v; want the subscription job", jobs, err)
	}
	if err := e.store.Ack(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(app.ShopifyReconcileEvery)
	jobs, _ = e.store.ClaimJobs(ctx, time.Minute, 10)
	if len(jobs) != 1 || jobs[0].Kind != app.JobShopifyReconcile {
		t.Fatalf("due jobs after 15 min = %+v; want the reconcile job", jobs)
	}
}

func TestCompleteInstallRefusals(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	begin := func(shop string) (state, nonce string) {
		start, err := e.inst.BeginInstall(ctx, url.Values{"shop": {shop}})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(start.RedirectURL)
		return start.State, u.Query().Get("state")
	}
	cookie, nonce := begin(installShop)
	otherCookie, otherNonce := begin("other-shop.myshopify.com")
	foreignKeyring, _ := app.NewKeyring(keyB)
	foreign := app.NewShopifyInstaller(app.NewService(app.ServiceOptions{Store: e.store, Keyring: foreignKeyring, Now: e.clock.Now}), app.ShopifyInstallOptions{APIKey: installKey, APISecret: installSecret, AppURL: installAppURL, Admin: e.admin})
	forged, err := foreign.BeginInstall(ctx, url.Values{"shop": {installShop}})
	if err != nil {
		t.Fatal(err)
	}
	forgedURL, _ := url.Parse(forged.RedirectURL)
	badHMAC := e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}})
	badHMAC.Set("code", "code-2") // changed after signing

	tests := []struct {
		name   string
		query  url.Values
		cookie string
		want   error
	}{
		{"foreign shop", e.signed(url.Values{"shop": {"attacker.com/?"}, "code": {"code-1"}, "state": {nonce}}), cookie, app.ErrInvalidShop},
		{"no hmac", url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}, "timestamp": {strconv.FormatInt(e.clock.Now().Unix(), 10)}}, cookie, app.ErrUnauthenticated},
		{"bad hmac", badHMAC, cookie, app.ErrUnauthenticated},
		{"stale timestamp", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}, "timestamp": {strconv.FormatInt(e.clock.Now().Unix()-600, 10)}}), cookie, app.ErrUnauthenticated},
		{"wrong state", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {otherNonce}}), cookie, app.ErrUnauthenticated},
		{"cookie of another shop", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {otherNonce}}), otherCookie, app.ErrUnauthenticated},
		{"no cookie", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}}), "", app.ErrUnauthenticated},
		{"cookie signed with another key", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {forgedURL.Query().Get("state")}}), forged.State, app.ErrUnauthenticated},
		{"tampered cookie", e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}}), cookie[:len(cookie)-3] + "abc", app.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.inst.CompleteInstall(ctx, tc.query, tc.cookie)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CompleteInstall() = %v; want %v", err, tc.want)
			}
		})
	}
	if e.admin.exchanges != 0 {
		t.Fatalf("Shopify got %d code exchanges for refused callbacks; want none", e.admin.exchanges)
	}

	e.clock.Add(app.ShopifyStateTTL + time.Second)
	if _, err := e.inst.CompleteInstall(ctx, e.signed(url.Values{"shop": {installShop}, "code": {"code-1"}, "state": {nonce}}), cookie); !errors.Is(err, app.ErrUnauthenticated) {
		t.Fatalf("CompleteInstall(expired state) = %v; want ErrUnauthenticated", err)
	}

	// Past the state: Shopify's answers.
	shopifyCases := []struct {
		name     string
		code     string
		scope    string
		exchange error
		want     error
		reason   string
	}{
		{"code refused", "code-unknown", "write_orders,read_customers", nil, app.ErrUnauthenticated, "authorization code"},
		{"shopify down", "code-1", "write_orders,read_customers", &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}, app.ErrShopifyUnavailable, "try the install again"},
		{"scopes missing", "code-1", "read_orders", nil, app.ErrScopesNotGranted, "write_orders, read_customers"},
	}
	for _, tc := range shopifyCases {
		t.Run(tc.name, func(t *testing.T) {
			e.admin.mu.Lock()
			e.admin.scope, e.admin.exchangeErr = tc.scope, tc.exchange
			e.admin.mu.Unlock()
			cookie, nonce := begin(installShop)
			_, err := e.inst.CompleteInstall(ctx, e.signed(url.Values{"shop": {installShop}, "code": {tc.code}, "state": {nonce}}), cookie)
			var refused *app.ShopifyInstallError
			if !errors.Is(err, tc.want) || !errors.As(err, &refused) || !strings.Contains(refused.Reason, tc.reason) {
				t.Fatalf("CompleteInstall() = %v; want %v saying %q", err, tc.want, tc.reason)
			}
		})
	}
	if _, err := e.store.MerchantByDomain(ctx, app.PlatformShopify, installShop); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("a refused install stored a merchant: %v", err)
	}
}

func TestReinstallRevivesMerchant(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	first := e.install(t, "code-1")
	m, err := e.store.UpdateMerchant(ctx, first.MerchantID, func(m *app.Merchant) error {
		m.Status, m.Secrets = app.MerchantUninstalled, nil
		m.Settings[app.SettingShopifyReinstall] = "2026-11-22T10:00:00Z refused"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DropJobs(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	second := e.install(t, "code-2")
	if second.MerchantID != first.MerchantID || !second.Reinstalled {
		t.Fatalf("reinstall = %+v; want the same merchant %s, revived", second, first.MerchantID)
	}
	m, _ = e.store.GetMerchant(ctx, first.MerchantID)
	token, err := e.svc.MerchantSecret(m, "access_token")
	if m.Status != app.MerchantActive || token != "shpat_gen2" || err != nil || m.Settings[app.SettingShopifyReinstall] != "" {
		t.Errorf("after reinstall: status %s, token %q (%v), settings %v; want active with the new token and no reinstall note", m.Status, token, err, m.Settings)
	}
}

func TestAdminTokenRefresh(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	id := e.install(t, "code-1").MerchantID

	e.clock.Add(54 * time.Minute) // six minutes left: still good
	if token, err := e.inst.AdminToken(ctx, id); err != nil || token != "shpat_gen1" || e.admin.refreshes != 0 {
		t.Fatalf("AdminToken() with 6 min left = %q, %v (%d refreshes); want the current token", token, err, e.admin.refreshes)
	}
	e.clock.Add(2 * time.Minute) // four minutes left: refresh first

	// Two workers at once: one refresh, since the refresh token rotates.
	var wg sync.WaitGroup
	tokens := make([]string, 2)
	errs := make([]error, 2)
	for n := range 2 {
		wg.Go(func() { tokens[n], errs[n] = e.inst.AdminToken(ctx, id) })
	}
	wg.Wait()
	for n := range 2 {
		if errs[n] != nil || tokens[n] != "shpat_gen2" {
			t.Fatalf("AdminToken() #%d = %q, %v; want the refreshed token", n, tokens[n], errs[n])
		}
	}
	if e.admin.refreshes != 1 {
		t.Fatalf("refreshes = %d; want exactly 1", e.admin.refreshes)
	}
	m, _ := e.store.GetMerchant(ctx, id)
	if rt, _ := e.svc.MerchantSecret(m, "refresh_token"); rt != "shprt_gen2" {
		t.Errorf("stored refresh token = %q; want the rotated one", rt)
	}
	if want := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339); m.Settings[app.SettingShopifyTokenExpiresAt] != want {
		t.Errorf("token expiry = %s; want %s", m.Settings[app.SettingShopifyTokenExpiresAt], want)
	}

	// A passing failure is retried, the merchant untouched.
	e.clock.Add(58 * time.Minute)
	e.admin.refreshErr = &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}
	if _, err := e.inst.AdminToken(ctx, id); err == nil || !app.IsRetryable(err) {
		t.Fatalf("AdminToken() with Shopify down = %v; want a retryable error", err)
	}
	// A refusal marks the merchant for reinstall, once.
	e.admin.refreshErr = &app.ProviderError{Provider: "shopify", Status: 400, Code: "invalid_grant"}
	for range 3 {
		if _, err := e.inst.AdminToken(ctx, id); !errors.Is(err, app.ErrShopifyReinstallRequired) || !isPermanent(err) {
			t.Fatalf("AdminToken() after a refused refresh = %v; want ErrShopifyReinstallRequired, permanent", err)
		}
	}
	if e.admin.refreshes != 3 {
		t.Errorf("refreshes = %d; want 3 (no more once marked)", e.admin.refreshes)
	}
	m, _ = e.store.GetMerchant(ctx, id)
	if !strings.Contains(m.Settings[app.SettingShopifyReinstall], "invalid_grant") || m.Status != app.MerchantActive {
		t.Errorf("settings = %v, status %s; want a reinstall note naming the refusal, the merchant still active", m.Settings, m.Status)
	}
	// Its periodic jobs stop instead of failing every turn.
	for _, handle := range []app.JobHandler{e.inst.HandleSubscriptionsJob, e.inst.HandleReconcileJob} {
		if err := handle(ctx, app.Job{Merchant: id}); err != nil {
			t.Errorf("periodic job of a merchant to reinstall = %v; want nil (stopped)", err)
		}
	}
}

func isPermanent(err error) bool {
	var p *app.PermanentError
	return errors.As(err, &p)
}

// TestEnsureWebhooks: a shop set up by hand with a custom app's token gets
// its missing subscriptions through the Admin API, every 6 hours, since
// Shopify deletes them after 8 failed deliveries. A custom app has no
// shopify.app.toml to subscribe it.
func TestEnsureWebhooks(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	custom, _, err := e.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: installShop, Secrets: map[string]string{"access_token": "shpat_custom_app"}})
	if err != nil {
		t.Fatal(err)
	}
	id := custom.ID
	e.admin.access = "shpat_custom_app"
	e.admin.subs = []app.ShopifyWebhookSubscription{
		{Topic: "orders/create", URI: installAppURL + "/webhooks/shopify"},
		{Topic: "orders/paid", URI: "https://old.example/webhooks/shopify"}, // another address: not ours
	}
	m, _ := e.store.GetMerchant(ctx, id)
	created, err := e.inst.EnsureWebhooks(ctx, m)
	want := app.ShopifySubscriptionTopics()
	if err != nil || created != len(want)-1 {
		t.Fatalf("EnsureWebhooks() = %d, %v; want %d created", created, err, len(want)-1)
	}
	for _, topic := range want {
		n := 0
		for _, s := range e.admin.subs {
			if s.Topic == topic && s.URI == installAppURL+"/webhooks/shopify" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("topic %s has %d subscriptions to us; want 1", topic, n)
		}
	}
	for _, compliance := range []string{"customers/data_request", "customers/redact", "shop/redact"} {
		if slices.Contains(e.admin.created, compliance) {
			t.Errorf("subscribed to %s; compliance topics belong in the app configuration", compliance)
		}
	}
	if !slices.Contains(want, "app/uninstalled") || !slices.Contains(want, "orders/create") {
		t.Errorf("ShopifySubscriptionTopics() = %v; want app/uninstalled and the order topics", want)
	}
	if created, err := e.inst.EnsureWebhooks(ctx, m); err != nil || created != 0 {
		t.Fatalf("second EnsureWebhooks() = %d, %v; want nothing to create", created, err)
	}
	// The shop's own name, country and time zone replace the install's
	// guesses: quiet hours follow the shop's clock.
	if m, _ = e.store.GetMerchant(ctx, id); m.Name != "Kesar Kitchen" || m.Country != "IN" || m.Timezone != "Asia/Kolkata" || m.Synced.Currency != "AED" {
		t.Errorf("merchant after the subscriptions run = %q %q %q %q; want the shop's name, country, time zone and currency", m.Name, m.Country, m.Timezone, m.Synced.Currency)
	}
	// Previews show amounts in the shop's own currency.
	if total := app.SampleProperties(m, app.EventOrderPlaced, e.clock.Now())["order"].(map[string]any)["total"]; !strings.HasPrefix(fmt.Sprint(total), "AED ") {
		t.Errorf("sample order.total = %v; want it in the shop's AED", total)
	}

	// The periodic job runs itself again: in 6 h, or soon after a passing
	// failure.
	err = e.inst.HandleSubscriptionsJob(ctx, app.Job{Merchant: id, Kind: app.JobShopifySubscriptions})
	var again *app.RetryAtError
	if !errors.As(err, &again) || !again.At.Equal(e.clock.Now().Add(app.ShopifySubscriptionsEvery)) {
		t.Fatalf("HandleSubscriptionsJob() = %v; want to run again in 6 h", err)
	}
	e.admin.adminFailures = 1
	err = e.inst.HandleSubscriptionsJob(ctx, app.Job{Merchant: id, Kind: app.JobShopifySubscriptions})
	if !errors.As(err, &again) || !again.At.Before(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("HandleSubscriptionsJob() with Shopify down = %v; want to run again within minutes", err)
	}
}

// TestPublicAppShopSubscribesThroughItsConfiguration: a shop of the public
// app gets its subscriptions from shopify.app.toml (app-specific), so the
// subscriptions job makes none through the Admin API, which would send each
// webhook twice; it still syncs the shop's details.
func TestPublicAppShopSubscribesThroughItsConfiguration(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	id := e.install(t, "code-1").MerchantID
	m, _ := e.store.GetMerchant(ctx, id)
	if created, err := e.inst.EnsureWebhooks(ctx, m); err != nil || created != 0 || len(e.admin.created) != 0 {
		t.Fatalf("EnsureWebhooks() = %d, %v, made %v; want none made for a public app shop", created, err, e.admin.created)
	}
	if m, _ = e.store.GetMerchant(ctx, id); m.Name != "Kesar Kitchen" || m.Timezone != "Asia/Kolkata" {
		t.Errorf("merchant after the subscriptions run = %q %q; want the shop's name and time zone", m.Name, m.Timezone)
	}
}

func TestReconcileQueuesMissedOrders(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	installedAt := e.clock.Now()
	id := e.install(t, "code-1").MerchantID
	if jobs, _ := e.store.ClaimJobs(ctx, time.Minute, 10); len(jobs) != 1 || e.store.Ack(ctx, jobs[0]) != nil { // the subscription job
		t.Fatalf("due jobs = %d; want 1", len(jobs))
	}
	order := func(id int, created, updated time.Time) app.ShopifyOrder {
		body := fmt.Sprintf(`{"id":%d,"created_at":%q,"updated_at":%q}`, id, created.Format(time.RFC3339), updated.Format(time.RFC3339))
		return app.ShopifyOrder{ID: strconv.Itoa(id), CreatedAt: created, UpdatedAt: updated, Body: []byte(body)}
	}
	e.admin.orders = []app.ShopifyOrder{
		order(101, installedAt.Add(-48*time.Hour), installedAt.Add(-time.Hour)),    // before the install: not listed
		order(102, installedAt.Add(-48*time.Hour), installedAt.Add(5*time.Minute)), // old order, updated since
		order(103, installedAt.Add(7*time.Minute), installedAt.Add(8*time.Minute)), // created since: its create was missed
	}
	e.clock.Add(app.ShopifyReconcileEvery)
	m, _ := e.store.GetMerchant(ctx, id)
	queued, err := e.inst.Reconcile(ctx, m)
	if err != nil || queued != 3 {
		t.Fatalf("Reconcile() = %d, %v; want 3 jobs (102 updated, 103 created and updated)", queued, err)
	}
	if since := e.admin.ordersSince[0]; !since.Equal(installedAt.Add(-2 * time.Minute)) {
		t.Errorf("listed orders since %s; want the install time less the overlap", since)
	}
	jobs, err := e.store.ClaimJobs(ctx, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		if j.Kind == app.JobShopifyReconcile {
			continue // its own turn came too
		}
		env, err := app.DecodeWebhookEnvelope(j.Payload)
		if err != nil || j.Kind != app.JobShopifyWebhook || env.Platform != app.PlatformShopify {
			t.Fatalf("job %+v: %v; want a Shopify webhook job", j, err)
		}
		var head struct{ ID int }
		fmt.Sscanf(string(env.Body), `{"id":%d`, &head.ID)
		got = append(got, fmt.Sprintf("%d %s", head.ID, env.Topic))
	}
	slices.Sort(got)
	if want := []string{"102 orders/updated", "103 orders/create", "103 orders/updated"}; !slices.Equal(got, want) {
		t.Errorf("queued = %v; want %v", got, want)
	}

	// The next turn lists from the newest update seen; what it sees again
	// is dropped by the claim keys.
	e.clock.Add(app.ShopifyReconcileEvery)
	if queued, err := e.inst.Reconcile(ctx, m); err != nil || queued != 0 {
		t.Fatalf("second Reconcile() = %d, %v; want 0", queued, err)
	}
	if since := e.admin.ordersSince[1]; !since.Equal(installedAt.Add(8*time.Minute - 2*time.Minute)) {
		t.Errorf("second listing since %s; want the newest update less the overlap", since)
	}
	e.admin.orders = append(e.admin.orders, order(102, installedAt.Add(-48*time.Hour), e.clock.Now().Add(-time.Minute)))
	if queued, err := e.inst.Reconcile(ctx, m); err != nil || queued != 1 {
		t.Fatalf("Reconcile() after 102 changed = %d, %v; want its new state queued once", queued, err)
	}

	// An uninstalled merchant's reconciliation stops.
	if _, err := e.store.UpdateMerchant(ctx, id, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil }); err != nil {
		t.Fatal(err)
	}
	listings := len(e.admin.ordersSince)
	if err := e.inst.HandleReconcileJob(ctx, app.Job{Merchant: id, Kind: app.JobShopifyReconcile}); err != nil || len(e.admin.ordersSince) != listings {
		t.Fatalf("HandleReconcileJob(uninstalled) = %v with %d new listings; want nil and none", err, len(e.admin.ordersSince)-listings)
	}
}

// withEmptyKey adds a key without values, which url.Values allows and
// Encode skips.
func withEmptyKey(q url.Values) url.Values {
	q["empty"] = []string{}
	return q
}

func hmacHex(secret, message string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(message))
	return hex.EncodeToString(mac.Sum(nil))
}

// The 6-hourly subscriptions job refreshes the token inside EnsureWebhooks
// and then writes the shop's details: the write must not put back the
// refresh token it read first (Shopify rotates them, so the next refresh
// would be refused and the shop marked for reinstall), nor undo the
// merchant's own name, country and time zone.
func TestSubscriptionsJobKeepsRefreshedTokenAndOwnSettings(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	id := e.install(t, "code-1").MerchantID
	name, tz := "Asha's own name", "Asia/Dubai"
	if _, err := e.svc.UpdateSettings(ctx, id, app.SettingsInput{Name: &name, Timezone: &tz}); err != nil {
		t.Fatal(err)
	}

	for turn := 1; turn <= 3; turn++ {
		e.clock.Add(58 * time.Minute) // the token expires within the refresh margin
		err := e.inst.HandleSubscriptionsJob(ctx, app.Job{Merchant: id, Kind: app.JobShopifySubscriptions})
		var again *app.RetryAtError
		if !errors.As(err, &again) || !again.At.Equal(e.clock.Now().Add(app.ShopifySubscriptionsEvery)) {
			t.Fatalf("turn %d: HandleSubscriptionsJob() = %v; want to run again in 6 h", turn, err)
		}
		m, err := e.store.GetMerchant(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rt, _ := e.svc.MerchantSecret(m, "refresh_token"); rt != e.admin.refresh {
			t.Fatalf("turn %d: stored refresh token = %q; want the rotated %q", turn, rt, e.admin.refresh)
		}
		if m.Settings[app.SettingShopifyReinstall] != "" {
			t.Fatalf("turn %d: merchant marked for reinstall: %s", turn, m.Settings[app.SettingShopifyReinstall])
		}
		if m.Name != name || m.Timezone != tz || m.Country != "IN" {
			t.Fatalf("turn %d: merchant = %q %q %q; want the merchant's own name and time zone kept", turn, m.Name, m.Country, m.Timezone)
		}
	}
	if e.admin.refreshes != 3 {
		t.Errorf("refreshes = %d; want 3, one a turn", e.admin.refreshes)
	}
}
