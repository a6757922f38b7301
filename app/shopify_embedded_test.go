package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
)

// sessionToken signs an App Bridge session token for installShop as
// Shopify does, valid for a minute from the test clock; change edits the
// claims first.
func (e *installEnv) sessionToken(t *testing.T, change func(jwt.MapClaims)) string {
	t.Helper()
	now := e.clock.Now()
	claims := jwt.MapClaims{
		"iss": "https://" + installShop + "/admin", "dest": "https://" + installShop, "aud": installKey, "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Add(-time.Second).Unix(),
		"jti": "f8912129-1af6-4cad-9ca3-76b0f7621087", "sid": "aaea182f-6c4b-4b3b-8d9e-1c2b3a4d5e6f",
	}
	if change != nil {
		change(claims)
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(installSecret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// merchants lists the store's merchants of installShop.
func (e *installEnv) shopMerchants(t *testing.T) []app.Merchant {
	t.Helper()
	all, err := e.store.ListMerchants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []app.Merchant
	for _, m := range all {
		if m.Domain == installShop {
			out = append(out, m)
		}
	}
	return out
}

func TestSignInEmbeddedInstallsNewShop(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	idToken := e.sessionToken(t, nil)
	res, err := e.inst.SignInEmbedded(ctx, idToken, installShop)
	if err != nil {
		t.Fatalf("SignInEmbedded() = %v", err)
	}
	if !res.Installed || res.Reinstalled || res.Shop != installShop || !strings.HasPrefix(res.MerchantID, "m_") {
		t.Fatalf("SignInEmbedded() = %+v; want a new merchant installed", res)
	}
	if len(e.admin.sessionTokens) != 1 || e.admin.sessionTokens[0] != idToken || e.admin.exchanges != 0 {
		t.Fatalf("Shopify got %d session token exchanges (%d code exchanges); want the one id token exchanged", len(e.admin.sessionTokens), e.admin.exchanges)
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

	// The subscription job is due now, and runs with the exchanged token.
	jobs, err := e.store.ClaimJobs(ctx, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != app.JobShopifySubscriptions || jobs[0].Merchant != m.ID {
		t.Fatalf("due jobs = %+v, %v; want the subscription job", jobs, err)
	}
	var again *app.RetryAtError
	if err := e.inst.HandleSubscriptionsJob(ctx, jobs[0]); !errors.As(err, &again) || !again.At.Equal(e.clock.Now().Add(app.ShopifySubscriptionsEvery)) {
		t.Fatalf("HandleSubscriptionsJob() = %v; want done, next turn in 6 h", err)
	}
	// shopify.app.toml subscribes the public app's shops: nothing is
	// made through the Admin API, and the shop's details are synced.
	if stored, _ := e.store.GetMerchant(ctx, m.ID); len(e.admin.created) != 0 || stored.Name != "Kesar Kitchen" {
		t.Errorf("subscriptions created = %v, merchant name %q; want none, and the shop's name", e.admin.created, stored.Name)
	}
}

// An installed shop signs in without Shopify being asked for anything, and
// keeps its one merchant, whichever way it was installed.
func TestSignInEmbeddedInstalledShop(t *testing.T) {
	for _, via := range []string{"oauth", "token exchange"} {
		t.Run(via, func(t *testing.T) {
			e := newInstallEnv(t)
			ctx := context.Background()
			var first app.ShopifyInstallResult
			if via == "oauth" {
				first = e.install(t, "code-1")
			} else {
				var err error
				if first, err = e.inst.SignInEmbedded(ctx, e.sessionToken(t, nil), installShop); err != nil {
					t.Fatal(err)
				}
			}
			exchanged, queued := len(e.admin.sessionTokens), claimAll(t, e)
			if queued == 0 {
				t.Fatal("the install queued no jobs")
			}
			before, _ := e.store.GetMerchant(ctx, first.MerchantID)

			// The last request names no shop: the token's is taken.
			for n, pageShop := range []string{installShop, installShop, ""} {
				e.clock.Add(30 * time.Second)
				res, err := e.inst.SignInEmbedded(ctx, e.sessionToken(t, nil), pageShop)
				if err != nil || res.MerchantID != first.MerchantID || res.Shop != installShop || res.Installed || res.Reinstalled {
					t.Fatalf("sign-in #%d = %+v, %v; want merchant %s, not installed again", n, res, err, first.MerchantID)
				}
			}
			if len(e.admin.sessionTokens) != exchanged || e.admin.generation != 1 {
				t.Errorf("Shopify got %d more exchanges, issued %d tokens; want none more", len(e.admin.sessionTokens)-exchanged, e.admin.generation)
			}
			if got := e.shopMerchants(t); len(got) != 1 || got[0].ID != first.MerchantID || got[0].Version != before.Version {
				t.Errorf("merchants of the shop = %+v; want only %s, untouched", got, first.MerchantID)
			}
			if n := claimAll(t, e); n != 0 {
				t.Errorf("sign-ins queued %d jobs; want none", n)
			}
		})
	}
}

// claimAll claims and acks every due job and answers how many there were.
func claimAll(t *testing.T, e *installEnv) int {
	t.Helper()
	ctx := context.Background()
	jobs, err := e.store.ClaimJobs(ctx, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := e.store.Ack(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	return len(jobs)
}

// A shop that uninstalled, lost its token, or must reinstall because
// Shopify refused its refresh, gets a new token by exchange on the same
// merchant.
func TestSignInEmbeddedRevives(t *testing.T) {
	cases := map[string]func(m *app.Merchant){
		"uninstalled": func(m *app.Merchant) { m.Status, m.Secrets = app.MerchantUninstalled, nil },
		"marked for reinstall": func(m *app.Merchant) {
			m.Settings[app.SettingShopifyReinstall] = "2026-11-22T10:00:00Z invalid_grant"
		},
		"no token": func(m *app.Merchant) { delete(m.Secrets, "access_token"); delete(m.Secrets, "refresh_token") },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := newInstallEnv(t)
			ctx := context.Background()
			first := e.install(t, "code-1")
			if _, err := e.store.UpdateMerchant(ctx, first.MerchantID, func(m *app.Merchant) error { change(m); return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.DropJobs(ctx, first.MerchantID); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(time.Hour)

			res, err := e.inst.SignInEmbedded(ctx, e.sessionToken(t, nil), installShop)
			if err != nil || res.MerchantID != first.MerchantID || !res.Installed || !res.Reinstalled {
				t.Fatalf("SignInEmbedded() = %+v, %v; want merchant %s revived", res, err, first.MerchantID)
			}
			if len(e.admin.sessionTokens) != 1 {
				t.Errorf("session token exchanges = %d; want 1", len(e.admin.sessionTokens))
			}
			m, _ := e.store.GetMerchant(ctx, first.MerchantID)
			token, err := e.svc.MerchantSecret(m, "access_token")
			wantExpiry := e.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			if m.Status != app.MerchantActive || token != "shpat_gen2" || err != nil || m.Settings[app.SettingShopifyReinstall] != "" || m.Settings[app.SettingShopifyTokenExpiresAt] != wantExpiry {
				t.Errorf("after sign-in: status %s, token %q (%v), settings %v; want active with the exchanged token expiring %s and no reinstall note", m.Status, token, err, m.Settings, wantExpiry)
			}
			if got := e.shopMerchants(t); len(got) != 1 {
				t.Errorf("merchants of the shop = %d; want 1", len(got))
			}
			jobs, _ := e.store.ClaimJobs(ctx, time.Minute, 10)
			if len(jobs) != 1 || jobs[0].Kind != app.JobShopifySubscriptions {
				t.Errorf("due jobs = %+v; want the subscription job again", jobs)
			}
		})
	}
}

// Tokens Shopify did not sign for this app and shop, or outside their
// time, sign no one in, install nothing and never reach Shopify.
func TestSignInEmbeddedRefusesForgedTokens(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	valid := jwt.MapClaims{
		"iss": "https://" + installShop + "/admin", "dest": "https://" + installShop, "aud": installKey, "sub": "42",
		"exp": now.Add(time.Minute).Unix(), "nbf": now.Add(-time.Second).Unix(),
	}
	sign := func(method jwt.SigningMethod, key any, change func(jwt.MapClaims)) string {
		claims := jwt.MapClaims{}
		for k, v := range valid {
			claims[k] = v
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
	secret := []byte(installSecret)
	good := sign(jwt.SigningMethodHS256, secret, nil)
	parts := strings.Split(good, ".")
	tests := []struct {
		name  string
		token string
		ended bool // Shopify's signature verified: ErrSessionEnded
	}{
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte("shpss_someone_elses_secret"), nil), false},
		{"our session key", sign(jwt.SigningMethodHS256, []byte(keyA), nil), false},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), false},
		{"alg none, signature kept", strings.Split(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil), ".")[0] + "." + parts[1] + "." + parts[2], false},
		{"HS512 with the secret", sign(jwt.SigningMethodHS512, secret, nil), false},
		{"claims swapped under a good signature", parts[0] + "." + strings.Split(sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["dest"] = "https://other-shop.myshopify.com" }), ".")[1] + "." + parts[2], false},
		{"garbage", "not-a-token", false},
		{"empty", "", false},
		{"wrong aud", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["aud"] = "another-app" }), true},
		{"no aud", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "aud") }), true},
		{"expired past the leeway", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["exp"] = now.Add(-11 * time.Second).Unix() }), true},
		{"no exp", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "exp") }), true},
		{"nbf in the future past the leeway", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["nbf"] = now.Add(11 * time.Second).Unix() }), true},
		{"no nbf", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "nbf") }), true},
		{"iss on another shop", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { c["iss"] = "https://other-shop.myshopify.com/admin" }), true},
		{"no iss", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "iss") }), true},
		{"dest not a shop", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://attacker.example", "https://attacker.example/admin"
		}), true},
		{"dest with a path trick", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
			c["dest"], c["iss"] = "https://attacker.example/"+installShop, "https://attacker.example/"+installShop+"/admin"
		}), true},
		{"no dest", sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) { delete(c, "dest") }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.inst.SignInEmbedded(ctx, tc.token, installShop)
			var refused *app.ShopifyInstallError
			if !errors.Is(err, app.ErrUnauthenticated) || !errors.As(err, &refused) || refused.Reason == "" {
				t.Fatalf("SignInEmbedded() = %v; want a refusal wrapping ErrUnauthenticated", err)
			}
			if errors.Is(err, app.ErrSessionEnded) != tc.ended {
				t.Errorf("SignInEmbedded() = %v; ErrSessionEnded %v, want %v", err, !tc.ended, tc.ended)
			}
			if shop, err := e.svc.ShopifySessionShop(tc.token); !errors.Is(err, app.ErrUnauthenticated) || shop != "" {
				t.Errorf("ShopifySessionShop() = %q, %v; want ErrUnauthenticated", shop, err)
			}
		})
	}
	// Shopify's own token, for another shop than the page's: a page of
	// one shop never installs or opens another.
	if _, err := e.inst.SignInEmbedded(ctx, good, "other-shop.myshopify.com"); !errors.Is(err, app.ErrSessionEnded) {
		t.Errorf("SignInEmbedded(a token of %s on another shop's page) = %v; want ErrSessionEnded", installShop, err)
	}
	if len(e.admin.sessionTokens) != 0 {
		t.Fatalf("Shopify got %d exchanges of refused tokens; want none", len(e.admin.sessionTokens))
	}
	if got := e.shopMerchants(t); len(got) != 0 {
		t.Fatalf("refused tokens stored merchants: %+v", got)
	}
	if n := claimAll(t, e); n != 0 {
		t.Fatalf("refused tokens queued %d jobs", n)
	}

	// The leeway holds both ways, and a shop in capitals is the same shop.
	inside := sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
		c["exp"], c["nbf"] = now.Add(-9*time.Second).Unix(), now.Add(9*time.Second).Unix()
		c["dest"], c["iss"] = "https://ASHA-Naturals.myshopify.com", "https://asha-naturals.MYSHOPIFY.com/admin"
	})
	if shop, err := e.svc.ShopifySessionShop(inside); err != nil || shop != installShop {
		t.Fatalf("ShopifySessionShop(inside the leeway) = %q, %v; want %s", shop, err, installShop)
	}
	if shop, err := e.svc.ShopifySessionShop(good); err != nil || shop != installShop {
		t.Fatalf("ShopifySessionShop(good) = %q, %v; want %s", shop, err, installShop)
	}
	// No merchant yet: the shop is known, a session is not.
	if _, err := e.svc.SessionMerchant(ctx, good); !errors.Is(err, app.ErrSessionEnded) {
		t.Errorf("SessionMerchant(good, before install) = %v; want ErrSessionEnded", err)
	}
	// The page's shop compares as a domain does, and a request that names
	// none takes the token's.
	if res, err := e.inst.SignInEmbedded(ctx, good, "ASHA-Naturals.myshopify.com"); err != nil || !res.Installed {
		t.Fatalf("SignInEmbedded(good) = %+v, %v; want installed", res, err)
	}
	if id, err := e.svc.SessionMerchant(ctx, good); err != nil || id == "" {
		t.Errorf("SessionMerchant(good, after install) = %q, %v; want the new merchant", id, err)
	}
}

// Shopify's refusals of the exchange, or of the scopes, install nothing.
func TestSignInEmbeddedShopifyRefuses(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		scope  string
		want   error
		reason string
	}{
		{"session token refused", &app.ProviderError{Provider: "shopify", Status: 400, Code: "invalid_subject_token"}, "write_orders,read_customers", app.ErrUnauthenticated, "Shopify refused the session token"},
		{"shopify down", &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}, "write_orders,read_customers", app.ErrShopifyUnavailable, "did not answer"},
		{"scopes missing", nil, "read_orders", app.ErrScopesNotGranted, "write_orders, read_customers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newInstallEnv(t)
			e.admin.sessionErr, e.admin.scope = tc.err, tc.scope
			_, err := e.inst.SignInEmbedded(context.Background(), e.sessionToken(t, nil), installShop)
			var refused *app.ShopifyInstallError
			if !errors.Is(err, tc.want) || !errors.As(err, &refused) || !strings.Contains(refused.Reason, tc.reason) {
				t.Fatalf("SignInEmbedded() = %v; want %v saying %q", err, tc.want, tc.reason)
			}
			// A token signed with our secret is no guess, whatever Shopify
			// thinks of it.
			if ended := errors.Is(tc.want, app.ErrUnauthenticated); errors.Is(err, app.ErrSessionEnded) != ended {
				t.Errorf("SignInEmbedded() = %v; ErrSessionEnded %v, want %v", err, !ended, ended)
			}
			if len(e.admin.sessionTokens) != 1 {
				t.Errorf("exchanges = %d; want 1", len(e.admin.sessionTokens))
			}
			if got := e.shopMerchants(t); len(got) != 0 {
				t.Errorf("a refused sign-in stored merchants: %+v", got)
			}
			if n := claimAll(t, e); n != 0 {
				t.Errorf("a refused sign-in queued %d jobs", n)
			}
		})
	}

	e := newInstallEnv(t)
	off := app.NewShopifyInstaller(e.svc, app.ShopifyInstallOptions{AppURL: installAppURL})
	if _, err := off.SignInEmbedded(context.Background(), e.sessionToken(t, nil), installShop); !errors.Is(err, app.ErrShopifyAppOff) {
		t.Errorf("SignInEmbedded() without credentials = %v; want ErrShopifyAppOff", err)
	}
}

// The embedded app's first load can come twice at once (two tabs, a
// retry): one merchant, whoever wins.
func TestSignInEmbeddedConcurrentFirstLoads(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	const n = 4
	results := make([]app.ShopifyInstallResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		token := e.sessionToken(t, func(c jwt.MapClaims) { c["jti"] = string(rune('a' + k)) })
		wg.Go(func() { results[k], errs[k] = e.inst.SignInEmbedded(ctx, token, installShop) })
	}
	wg.Wait()
	for k := range n {
		if errs[k] != nil || results[k].MerchantID != results[0].MerchantID {
			t.Fatalf("sign-in #%d = %+v, %v; want merchant %s", k, results[k], errs[k], results[0].MerchantID)
		}
	}
	got := e.shopMerchants(t)
	if len(got) != 1 || got[0].Status != app.MerchantActive {
		t.Fatalf("merchants of the shop = %+v; want one, active", got)
	}
	// Whichever exchange wrote last, the stored token is one Shopify issued.
	token, err := e.svc.MerchantSecret(got[0], "access_token")
	if err != nil || !strings.HasPrefix(token, "shpat_gen") {
		t.Errorf("stored token = %q, %v; want an issued one", token, err)
	}
}
