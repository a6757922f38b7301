package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// e2eSessionToken signs an App Bridge session token as Shopify does for
// shop, valid for a minute; change edits the claims first.
func e2eSessionToken(t *testing.T, shop string, method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": e2eShopifyKey, "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Add(-time.Second).Unix(),
		"jti": app.NewID(now), "sid": "aaea182f-6c4b-4b3b-8d9e-1c2b3a4d5e6f",
	}
	if change != nil {
		change(claims)
	}
	token, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// embeddedLoad is Shopify admin opening the app in its iframe.
func embeddedLoad(base, idToken string) (int, string, error) {
	q := url.Values{"shop": {e2eShop}, "host": {e2eHost}, "embedded": {"1"}, "id_token": {idToken}}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(base + "/admin?" + q.Encode())
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestEndToEndShopifyTokenExchange installs the embedded app the way a
// Shopify-managed install does, through the real service against a fake
// Shopify token endpoint: forged session tokens never reach Shopify; the
// first valid one for a new shop is exchanged for an expiring offline
// token, creates the merchant and runs the OAuth callback's post-install
// work; later loads, one after another or at once, sign in the same
// merchant without another exchange.
func TestEndToEndShopifyTokenExchange(t *testing.T) {
	shopify, fake := newFakeShopify(t)
	dataDir := t.TempDir()
	base, logs, stop := startRun(t, map[string]string{
		"DATA_DIR":                dataDir,
		"SECRET_KEY":              strings.Repeat("e2e-exchange", 3),
		"ADMIN_TOKEN":             e2eAdminToken,
		"APP_URL":                 e2eAppURL,
		"SHOPIFY_API_KEY":         e2eShopifyKey,
		"SHOPIFY_API_SECRET":      e2eShopifySecret,
		"SHOPIFY_SCOPES":          "read_orders,read_customers",
		"SHOPIFY_ADMIN_BASE_URL":  shopify.URL,
		"ALLOW_INSECURE_OUTBOUND": "true",
	})
	secret := []byte(e2eShopifySecret)

	forged := map[string]string{
		"wrong secret": e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, []byte("shpss_another_apps_secret_0000000"), nil),
		"alg none":     e2eSessionToken(t, e2eShop, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil),
		"wrong aud":    e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["aud"] = "another-app-client-id" }),
		"expired": e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
			c["exp"], c["nbf"] = time.Now().Add(-time.Minute).Unix(), time.Now().Add(-2*time.Minute).Unix()
		}),
		// Signed by Shopify, for a shop that is not the one whose page
		// this is.
		"another shop's token": e2eSessionToken(t, "other-shop.myshopify.com", jwt.SigningMethodHS256, secret, nil),
	}
	for name, token := range forged {
		status, body, err := embeddedLoad(base, token)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized || strings.Contains(body, "Set up storebridge") {
			t.Errorf("%s: GET /admin = %d; want 401 and no merchant page\n%s", name, status, body)
		}
	}
	if requests, _, _, _, fails := fake.snapshot(); requests != 0 {
		t.Fatalf("forged session tokens reached Shopify %d times (%v); want none", requests, fails)
	}

	// The first load of a new shop: exchanged, installed, signed in.
	status, body, err := embeddedLoad(base, e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, secret, nil))
	installedAt := time.Now()
	if err != nil || status != http.StatusOK || !strings.Contains(body, "Set up storebridge") {
		t.Fatalf("first embedded load = %d, %v; want 200 with the home page\n%s\nlogs:\n%s", status, err, body, logs)
	}
	// shopify.app.toml subscribes the public app's shops: the post-install
	// job makes no subscription through the Admin API, and syncs the shop.
	waitFor(t, "the shop's details", func() bool { return fake.shopQueries() > 0 })
	if _, _, creates, _, _ := fake.snapshot(); len(creates) != 0 {
		t.Errorf("subscribed %v through the Admin API; the app's configuration subscribes a public app's shops", creates)
	}

	// The shop's own name arrived with its details.
	waitFor(t, "the shop's name on the home page", func() bool {
		status, body, err := embeddedLoad(base, e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, secret, nil))
		return err == nil && status == http.StatusOK && strings.Contains(body, "WhatsApp messages for Asha Naturals")
	})

	// Later loads, and two at once: the same merchant, no exchange.
	var wg sync.WaitGroup
	loads := make([]error, 2)
	for k := range loads {
		token := e2eSessionToken(t, e2eShop, jwt.SigningMethodHS256, secret, nil)
		wg.Go(func() {
			status, body, err := embeddedLoad(base, token)
			if err == nil && (status != http.StatusOK || !strings.Contains(body, "Asha Naturals")) {
				err = fmt.Errorf("= %d\n%s", status, body)
			}
			loads[k] = err
		})
	}
	wg.Wait()
	for k, err := range loads {
		if err != nil {
			t.Errorf("concurrent load #%d of the installed shop %v", k, err)
		}
	}
	fake.mu.Lock()
	exchanges, fails := fake.exchanges, fake.fails
	fake.mu.Unlock()
	if exchanges != 1 || len(fails) > 0 {
		t.Fatalf("Shopify exchanged %d session tokens and refused %v; want one exchange, no refusal", exchanges, fails)
	}

	// In the store: one merchant of the shop, with the token's expiry.
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	st, err := embedded.Open(filepath.Join(dataDir, "storebridge.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.ListMerchants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var shops []app.Merchant
	for _, m := range all {
		if m.Platform == app.PlatformShopify {
			shops = append(shops, m)
		}
	}
	if len(shops) != 1 || shops[0].Domain != e2eShop || shops[0].Status != app.MerchantActive {
		t.Fatalf("shopify merchants = %+v; want one, active, of %s", shops, e2eShop)
	}
	m := shops[0]
	expires, err := time.Parse(time.RFC3339, m.Settings[app.SettingShopifyTokenExpiresAt])
	if err != nil || expires.Before(installedAt.Add(time.Hour-time.Minute)) || expires.After(installedAt.Add(time.Hour+time.Minute)) {
		t.Errorf("token expiry = %q; want about an hour after the install (%s)", m.Settings[app.SettingShopifyTokenExpiresAt], installedAt.Add(time.Hour).UTC().Format(time.RFC3339))
	}
	if m.Settings[app.SettingShopifyRefreshExpiresAt] == "" || m.Secrets["access_token"] == "" || m.Secrets["refresh_token"] == "" {
		t.Errorf("merchant settings %v, secrets %v; want the refresh token and its expiry kept", m.Settings, len(m.Secrets))
	}
	if strings.Contains(fmt.Sprint(m.Secrets), "shpat_e2e") || strings.Contains(fmt.Sprint(m.Secrets), "shprt_e2e") {
		t.Error("the exchanged tokens are stored in plain text")
	}
	if m.Synced.Name != "Asha Naturals" || m.Synced.Timezone != "Asia/Kolkata" {
		t.Errorf("synced details = %+v; want the shop's name and time zone", m.Synced)
	}
	// Reconciliation is scheduled, as after the OAuth callback.
	if scheduled, err := st.Cancel(context.Background(), m.ID, "shopify:reconcile"); err != nil || !scheduled {
		t.Errorf("Cancel(reconcile) = %v, %v; want the install's scheduled reconciliation", scheduled, err)
	}
}
