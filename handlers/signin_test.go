package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// browser is a merchant's browser at base: it keeps the cookies our
// answers set and sends them back by their path, expiry and Secure flag.
type browser struct {
	t    *testing.T
	e    *echo.Echo
	base *url.URL
	jar  *cookiejar.Jar
}

func newBrowser(t *testing.T, e *echo.Echo, base string) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, e: e, base: u, jar: jar}
}

// get opens target (a path, or an address on base) as a top-level
// navigation.
func (b *browser) get(target string) *httptest.ResponseRecorder {
	b.t.Helper()
	u, err := b.base.Parse(target)
	if err != nil {
		b.t.Fatal(err)
	}
	if u.Host != b.base.Host {
		b.t.Fatalf("%s is not on %s", target, b.base)
	}
	req := httptest.NewRequest(http.MethodGet, u.RequestURI(), nil)
	req.Host = u.Host
	for _, c := range b.jar.Cookies(u) {
		req.AddCookie(c)
	}
	rec := serve(b.e, req)
	b.jar.SetCookies(u, rec.Result().Cookies())
	return rec
}

// setCookie plants a cookie, as a copy kept from earlier or a forgery.
func (b *browser) setCookie(c *http.Cookie) {
	u, _ := b.base.Parse(c.Path)
	b.jar.SetCookies(u, []*http.Cookie{c})
}

// wantSession checks the merchant's session cookie as every top-level
// sign-in sets it.
func wantSession(t *testing.T, rec *httptest.ResponseRecorder, secure bool) *http.Cookie {
	t.Helper()
	c := cookieNamed(rec, sessionCookie)
	if c == nil || c.Value == "" {
		t.Fatalf("no %s cookie in %q", sessionCookie, rec.Header().Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.Secure != secure || c.SameSite != http.SameSiteLaxMode || c.Partitioned || c.Path != "/" || c.MaxAge != int(app.SessionTTL.Seconds()) {
		t.Errorf("session cookie = %+v; want HttpOnly, Secure %v, SameSite=Lax, not partitioned, path /, %s", c, secure, app.SessionTTL)
	}
	return c
}

func wantNoSession(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if c := cookieNamed(rec, sessionCookie); c != nil && c.Value != "" {
		t.Errorf("%s set a session cookie; want none", what)
	}
}

// wooApprove plays a connect from b to WooCommerce's approval: the
// connect redirect, then the keys posted to the callback. It answers the
// address WooCommerce then sends the browser to (return_url with success
// and user_id added) and the merchant connected.
func wooApprove(t *testing.T, env *wooConnectEnv, b *browser, storeURL string) (returnURL, merchantID string) {
	t.Helper()
	returnURL, token := wooStart(t, b, storeURL)
	rec := serve(env.e, keyCallbackRequest(token, wooConnectCK, wooConnectCS, "read_write"))
	if rec.Code != http.StatusOK {
		t.Fatalf("callback = %d %s; want 200", rec.Code, rec.Body)
	}
	var answer struct {
		MerchantID string `json:"merchant_id"`
	}
	json.Unmarshal(rec.Body.Bytes(), &answer)
	return returnURL, answer.MerchantID
}

// wooStart is the connect redirect alone: the return address as
// WooCommerce completes it, and the connect token.
func wooStart(t *testing.T, b *browser, storeURL string) (returnURL, token string) {
	t.Helper()
	rec := b.get("/woocommerce/connect?store_url=" + url.QueryEscape(storeURL))
	if rec.Code != http.StatusFound {
		t.Fatalf("GET /woocommerce/connect = %d %s; want 302", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	q := loc.Query()
	token = q.Get("user_id")
	return q.Get("return_url") + "&success=1&user_id=" + url.QueryEscape(token), token
}

// TestWooReturnSignsInTheBrowserThatConnected: the browser that started
// the connect comes back from WooCommerce signed in, on /admin, once; the
// same return address opened in another browser, or with a forged
// cookie, or a second time, signs nobody in.
func TestWooReturnSignsInTheBrowserThatConnected(t *testing.T) {
	env := newWooConnectEnv(t)
	env.shops.issue("shop.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	merchant := newBrowser(t, env.e, wooConnectAppURL)

	rec := merchant.get("/woocommerce/connect?store_url=" + url.QueryEscape("https://shop.chai-point.in"))
	binding := cookieNamed(rec, wooBrowserCookie)
	if binding == nil || binding.Value == "" || !binding.HttpOnly || !binding.Secure || binding.SameSite != http.SameSiteLaxMode ||
		binding.Path != "/woocommerce/" || binding.MaxAge != int(app.WooConnectTokenTTL.Seconds()) {
		t.Fatalf("connect's browser cookie = %+v; want HttpOnly, Secure, SameSite=Lax, under /woocommerce/, for %s", binding, app.WooConnectTokenTTL)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	token := loc.Query().Get("user_id")
	returnURL := loc.Query().Get("return_url") + "&success=1&user_id=" + url.QueryEscape(token)
	if rec := serve(env.e, keyCallbackRequest(token, wooConnectCK, wooConnectCS, "read_write")); rec.Code != http.StatusOK {
		t.Fatalf("callback = %d %s; want 200", rec.Code, rec.Body)
	}

	// The return address reaches someone else: no session for them, and
	// nothing used up for the merchant.
	stranger := newBrowser(t, env.e, wooConnectAppURL)
	rec = stranger.get(returnURL)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "did not start the connection") {
		t.Errorf("return in another browser = %d\n%s; want 401 saying this browser did not start it", rec.Code, rec.Body)
	}
	wantNoSession(t, "the return in another browser", rec)
	stranger.setCookie(&http.Cookie{Name: wooBrowserCookie, Value: "Q2XLMVJ5QWTJ4UQOSFDYZ6C5FA", Path: "/woocommerce/", Secure: true})
	rec = stranger.get(returnURL)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "still connecting") {
		t.Errorf("return with a forged cookie = %d; want 401 and the still-connecting page", rec.Code)
	}
	wantNoSession(t, "the return with a forged cookie", rec)

	rec = merchant.get(returnURL)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin" {
		t.Fatalf("return in the connect's browser = %d %q %s; want 303 to /admin", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	wantSession(t, rec, true)
	if c := cookieNamed(rec, wooBrowserCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("the connect's browser cookie is kept after the sign-in: %+v", c)
	}
	m, err := env.store.MerchantByDomain(context.Background(), app.PlatformWooCommerce, "shop.chai-point.in")
	if err != nil {
		t.Fatal(err)
	}
	home := merchant.get("/admin")
	if home.Code != http.StatusOK || !strings.Contains(home.Body.String(), m.Name) || !strings.Contains(home.Body.String(), "Sign out") {
		t.Fatalf("GET /admin after the return = %d, want the home of %q signed in:\n%s", home.Code, m.Name, home.Body)
	}

	// Replayed, even with the cookie kept: refused.
	replay := newBrowser(t, env.e, wooConnectAppURL)
	replay.setCookie(binding)
	rec = replay.get(returnURL)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("replayed return = %d; want 401", rec.Code)
	}
	wantNoSession(t, "the replayed return", rec)
}

// TestWooReturnBeforeItsCallbackOrDenied: a return before the keys
// arrived signs nobody in and says to try again, which works once they
// did; a denied approval says so.
func TestWooReturnBeforeItsCallbackOrDenied(t *testing.T) {
	env := newWooConnectEnv(t)
	env.shops.issue("shop.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	b := newBrowser(t, env.e, wooConnectAppURL)
	returnURL, token := wooStart(t, b, "https://shop.chai-point.in")

	denied := strings.Replace(returnURL, "success=1", "success=0", 1)
	if rec := b.get(denied); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "not approved") {
		t.Errorf("return of a denied approval = %d; want 403 saying it was not approved", rec.Code)
	} else {
		wantNoSession(t, "a denied return", rec)
	}
	rec := b.get(returnURL)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "still connecting") || !strings.Contains(rec.Body.String(), "Try again") {
		t.Fatalf("return before the callback = %d\n%s; want 401 and a page to try again", rec.Code, rec.Body)
	}
	wantNoSession(t, "the return before the callback", rec)
	if rec := serve(env.e, keyCallbackRequest(token, wooConnectCK, wooConnectCS, "read_write")); rec.Code != http.StatusOK {
		t.Fatalf("callback = %d %s; want 200", rec.Code, rec.Body)
	}
	rec = b.get(returnURL)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("return tried again after the callback = %d %s; want 303", rec.Code, rec.Body)
	}
	wantSession(t, rec, true)
}

// TestWooReturnOnAPlainHTTPAppURL: in development (http APP_URL) the
// cookies are not Secure, or the browser would drop them.
func TestWooReturnOnAPlainHTTPAppURL(t *testing.T) {
	const dev = "http://localhost:8080"
	env := newWooConnectEnvAt(t, dev, slog.New(slog.DiscardHandler))
	env.shops.issue("shop.chai-point.in", wooConnectCK, wooConnectCS, "read_write")
	b := newBrowser(t, env.e, dev)
	returnURL, _ := wooApprove(t, env, b, "https://shop.chai-point.in")
	if !strings.HasPrefix(returnURL, dev+"/woocommerce/return?") {
		t.Fatalf("return_url = %s; want it on %s", returnURL, dev)
	}
	rec := b.get(returnURL)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("return = %d %s; want 303", rec.Code, rec.Body)
	}
	wantSession(t, rec, false)
}

// TestEverySignInSetsTheSessionCookie: the API key, a sign-in link and
// the wc-auth return set the same Lax cookie; Shopify's embedded sign-in,
// a third-party frame, a partitioned SameSite=None one.
func TestEverySignInSetsTheSessionCookie(t *testing.T) {
	env := newWooConnectEnv(t)
	ctx := context.Background()
	m, apiKey, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{"secret": {apiKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := serve(env.e, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("API key sign-in = %d %s", rec.Code, rec.Body)
	}
	wantSession(t, rec, true)

	link, err := env.svc.NewSignInLink(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	rec = newBrowser(t, env.e, wooConnectAppURL).get("/admin/sign-in?token=" + url.QueryEscape(link.Token))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in link = %d %s", rec.Code, rec.Body)
	}
	wantSession(t, rec, true)

	const shop = "asha-naturals.myshopify.com"
	if _, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: shop, Name: "Asha Shopify", Secrets: map[string]string{"access_token": "shpat_embedded"}}); err != nil {
		t.Fatal(err)
	}
	idToken := appBridgeToken(t, shopifyAppSecret, shopifyAppKey, shop, time.Now().Add(time.Minute))
	rec = serve(env.e, httptest.NewRequest(http.MethodGet, "/admin?embedded=1&host=YWRtaW4&shop="+shop+"&id_token="+idToken, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("embedded sign-in = %d %s", rec.Code, rec.Body)
	}
	c := cookieNamed(rec, sessionCookie)
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode || !c.Partitioned {
		t.Errorf("embedded session cookie = %+v; want HttpOnly, Secure, SameSite=None, Partitioned", c)
	}
}

// signInLinkFor asks POST /api/v1/sign-in-links with apiKey.
func signInLinkFor(t *testing.T, e *echo.Echo, apiKey string) (status int, link signInLinkView, raw string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/sign-in-links", nil)
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	rec := serve(e, req)
	if rec.Code == http.StatusCreated {
		if err := json.Unmarshal(rec.Body.Bytes(), &link); err != nil {
			t.Fatalf("answer %s: %v", rec.Body, err)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("sign-in link answer may be cached: %q", rec.Header().Get("Cache-Control"))
		}
	}
	return rec.Code, link, rec.Body.String()
}

// TestSignInLinks: the WooCommerce side asks with the merchant's API key;
// the link signs that merchant's browser in once, within five minutes,
// and never another merchant; the logs never show a token.
func TestSignInLinks(t *testing.T) {
	var logs syncLog
	env := newWooConnectEnvAt(t, wooConnectAppURL, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx := context.Background()
	a, keyA, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals"})
	if err != nil {
		t.Fatal(err)
	}
	b, keyB, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://chai.example.in", Name: "Chai Point"})
	if err != nil {
		t.Fatal(err)
	}

	for name, key := range map[string]string{"no key": "", "a wrong key": "sbk_not-a-key-of-anyone", "the operator's token": wooConnectAdminToken} {
		if status, _, raw := signInLinkFor(t, env.e, key); status != http.StatusUnauthorized {
			t.Errorf("POST /api/v1/sign-in-links with %s = %d %s; want 401", name, status, raw)
		}
	}

	status, linkA, raw := signInLinkFor(t, env.e, keyA)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/sign-in-links = %d %s; want 201", status, raw)
	}
	if !strings.HasPrefix(linkA.URL, wooConnectAppURL+"/admin/sign-in?token=sbl_") || !linkA.ExpiresAt.Equal(env.clock().Add(app.SignInLinkTTL)) {
		t.Errorf("link = %+v; want %s/admin/sign-in?token=… expiring in %s", linkA, wooConnectAppURL, app.SignInLinkTTL)
	}
	var shape map[string]any
	json.Unmarshal([]byte(raw), &shape)
	if len(shape) != 2 || shape["url"] == nil || shape["expires_at"] == nil {
		t.Errorf("answer %s; want exactly url and expires_at", raw)
	}

	browserA := newBrowser(t, env.e, wooConnectAppURL)
	rec := browserA.get(linkA.URL)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin" {
		t.Fatalf("GET the link = %d %q %s; want 303 to /admin", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	wantSession(t, rec, true)
	home := browserA.get("/admin")
	if home.Code != http.StatusOK || !strings.Contains(home.Body.String(), a.Name) || strings.Contains(home.Body.String(), b.Name) {
		t.Fatalf("GET /admin after A's link = %d; want A's home, never B's:\n%s", home.Code, home.Body)
	}

	// Used twice: the second browser gets the sign-in page, with the
	// reason, and no session.
	rec = newBrowser(t, env.e, wooConnectAppURL).get(linkA.URL)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "expired or was used already") || !strings.Contains(rec.Body.String(), `action="/admin/login"`) {
		t.Errorf("GET the link again = %d\n%s; want 401 and the sign-in page with the reason", rec.Code, rec.Body)
	}
	wantNoSession(t, "a used link", rec)

	// B's link signs in B, and nothing of A's.
	_, linkB, _ := signInLinkFor(t, env.e, keyB)
	browserB := newBrowser(t, env.e, wooConnectAppURL)
	if rec := browserB.get(linkB.URL); rec.Code != http.StatusSeeOther {
		t.Fatalf("GET B's link = %d", rec.Code)
	}
	if home := browserB.get("/admin"); !strings.Contains(home.Body.String(), b.Name) || strings.Contains(home.Body.String(), a.Name) {
		t.Errorf("B's link signed in someone else than B:\n%s", home.Body)
	}

	// Expired.
	_, late, _ := signInLinkFor(t, env.e, keyA)
	env.advance(app.SignInLinkTTL + time.Second)
	rec = newBrowser(t, env.e, wooConnectAppURL).get(late.URL)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("GET an expired link = %d; want 401", rec.Code)
	}
	wantNoSession(t, "an expired link", rec)
	for _, bad := range []string{"/admin/sign-in", "/admin/sign-in?token=sbl_forged", "/admin/sign-in?token=" + url.QueryEscape(keyA)} {
		rec := newBrowser(t, env.e, wooConnectAppURL).get(bad)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s = %d; want 401", bad, rec.Code)
		}
		wantNoSession(t, bad, rec)
	}

	for _, link := range []signInLinkView{linkA, linkB, late} {
		token := strings.TrimPrefix(link.URL, wooConnectAppURL+"/admin/sign-in?token=")
		if strings.Contains(logs.String(), token) {
			t.Errorf("the logs show a sign-in token:\n%s", logs.String())
		}
	}
}

// TestSignInLinkUsedTwiceAtOnce: two browsers opening one link at the
// same moment: one session.
func TestSignInLinkUsedTwiceAtOnce(t *testing.T) {
	env := newWooConnectEnv(t)
	_, key, err := env.svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in"})
	if err != nil {
		t.Fatal(err)
	}
	_, link, _ := signInLinkFor(t, env.e, key)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sessions, refused := 0, 0
	for range 8 {
		wg.Go(func() {
			rec := newBrowser(t, env.e, wooConnectAppURL).get(link.URL)
			mu.Lock()
			defer mu.Unlock()
			if c := cookieNamed(rec, sessionCookie); rec.Code == http.StatusSeeOther && c != nil && c.Value != "" {
				sessions++
			} else if rec.Code == http.StatusUnauthorized {
				refused++
			}
		})
	}
	wg.Wait()
	if sessions != 1 || refused != 7 {
		t.Errorf("8 uses of one link at once: %d sessions, %d refused; want 1 and 7", sessions, refused)
	}
}

// TestSignInLinksAreRateLimited: per API key, like the events API.
func TestSignInLinksAreRateLimited(t *testing.T) {
	env := newWooConnectEnv(t)
	_, key, err := env.svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range signInLinksKeyLimit {
		if status, _, raw := signInLinkFor(t, env.e, key); status != http.StatusCreated {
			t.Fatalf("link %d = %d %s; want 201", i+1, status, raw)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/sign-in-links", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := serve(env.e, req)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("link %d = %d (Retry-After %q); want 429 with Retry-After", signInLinksKeyLimit+1, rec.Code, rec.Header().Get("Retry-After"))
	}
}

// syncLog is a log buffer safe for the server's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var apiKeyShown = regexp.MustCompile(`<code class="secret">(sbk_[A-Za-z0-9_-]+)</code>`)

// TestNewAPIKeyPage: a signed-in merchant makes a new API key (CSRF
// checked), sees it once, and it signs in while the old one no longer
// does; another merchant's key is untouched.
func TestNewAPIKeyPage(t *testing.T) {
	e, svc := pagesServer(t)
	ctx := context.Background()
	m, oldKey, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://asha.example.in", Name: "Asha Naturals"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://chai.example.in", Name: "Chai Point"})
	if err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, e, svc, m.ID)
	page := b.get("/admin/api-key")
	if page.Code != http.StatusOK || apiKeyShown.MatchString(page.Body.String()) || !strings.Contains(page.Body.String(), "Make a new API key") {
		t.Fatalf("GET /admin/api-key = %d; want the page with the button and no key:\n%s", page.Code, page.Body)
	}
	if rec := b.post("/admin/api-key", url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("POST /admin/api-key without the CSRF token = %d; want 403", rec.Code)
	}
	if _, err := svc.SignInWithAPIKey(ctx, oldKey); err != nil {
		t.Fatalf("the refused POST changed the key: %v", err)
	}
	rec := b.post("/admin/api-key", url.Values{"csrf": {b.csrf("/admin/api-key")}})
	shown := apiKeyShown.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || shown == nil || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /admin/api-key = %d (Cache-Control %q); want the new key shown, not cached:\n%s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	}
	login := func(secret string) int {
		req := httptest.NewRequest(http.MethodPost, "/admin/login", strings.NewReader(url.Values{"secret": {secret}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return serve(e, req).Code
	}
	if code := login(shown[1]); code != http.StatusSeeOther {
		t.Errorf("sign-in with the new key = %d; want 303", code)
	}
	if code := login(oldKey); code != http.StatusUnauthorized {
		t.Errorf("sign-in with the old key = %d; want 401", code)
	}
	if code := login(otherKey); code != http.StatusSeeOther {
		t.Errorf("sign-in with another store's key = %d; want 303 (untouched)", code)
	}
	if status, _, raw := signInLinkFor(t, e, shown[1]); status != http.StatusCreated {
		t.Errorf("a sign-in link with the new key = %d %s; want 201", status, raw)
	}
}
