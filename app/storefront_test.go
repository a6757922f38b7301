package app_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// Shopify's own App Proxy example (shopify.dev, "Authenticate app
// proxies"): shared secret hush, the forwarded query below, and the
// signature Shopify computed for it.
func TestAppProxySignatureShopifyVector(t *testing.T) {
	q, err := url.ParseQuery("extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555")
	if err != nil {
		t.Fatal(err)
	}
	const want = "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
	if got := app.SignAppProxy("hush", q); got != want {
		t.Fatalf("SignAppProxy(hush) = %s; want %s", got, want)
	}
	q.Set("signature", want)
	if !app.VerifyAppProxySignature("hush", q) {
		t.Fatal("VerifyAppProxySignature(Shopify's example) = false; want true")
	}
	for name, change := range map[string]func(url.Values){
		"another customer":    func(q url.Values) { q.Set("logged_in_customer_id", "2") },
		"an extra value":      func(q url.Values) { q.Add("extra", "3") },
		"values reordered":    func(q url.Values) { q["extra"] = []string{"2", "1"} },
		"a parameter added":   func(q url.Values) { q.Set("points", "100") },
		"a parameter dropped": func(q url.Values) { q.Del("path_prefix") },
		"no signature":        func(q url.Values) { q.Del("signature") },
		"a short signature":   func(q url.Values) { q.Set("signature", want[:32]) },
	} {
		changed := url.Values{}
		for k, v := range q {
			changed[k] = append([]string(nil), v...)
		}
		change(changed)
		if app.VerifyAppProxySignature("hush", changed) {
			t.Errorf("%s: VerifyAppProxySignature = true; want false", name)
		}
	}
	if app.VerifyAppProxySignature("", q) {
		t.Error("VerifyAppProxySignature with no secret = true; want false")
	}
}

func storefrontService(t *testing.T, secret string) (*app.Service, *embedded.Store, func(time.Duration)) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, err := app.NewKeyring(keyA)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clock, ShopifyAPIKey: "key", ShopifyAPISecret: secret,
		CheckURL: func(raw string) (*url.URL, error) { return url.Parse(raw) }})
	return svc, st, advance
}

// Customer tokens: one merchant, one customer, the scopes asked for, 15
// minutes; a token of another keyring, audience or algorithm, an expired
// one and one of an uninstalled merchant sign no one in.
func TestCustomerTokens(t *testing.T) {
	svc, st, advance := storefrontService(t, "secret")
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://shop.chai-point.in", Name: "Chai Point", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := app.NewStorefront(svc).IssueCustomerToken(m, "+91 98765 43210", "")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Customer != "+919876543210" || tok.Scope != "loyalty:read loyalty:redeem" || tok.ExpiresAt.Sub(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)) != app.CustomerTokenTTL {
		t.Errorf("IssueCustomerToken = %+v; want the phone in E.164, both scopes, 15 minutes", tok)
	}
	c, err := app.NewStorefront(svc).CustomerByToken(ctx, tok.Token)
	if err != nil || c.Merchant.ID != m.ID || c.ID != "+919876543210" || !c.Can(app.ScopeLoyaltyRedeem) {
		t.Fatalf("CustomerByToken = %+v, %v; want the customer of %s, able to redeem", c, err, m.ID)
	}
	read, err := app.NewStorefront(svc).IssueCustomerToken(m, "42", "loyalty:read")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := app.NewStorefront(svc).CustomerByToken(ctx, read.Token); err != nil || c.Can(app.ScopeLoyaltyRedeem) || !c.Can(app.ScopeLoyaltyRead) {
		t.Errorf("a read token = %+v, %v; want read only", c, err)
	}
	for name, in := range map[string][2]string{"no customer": {"", ""}, "bad phone": {"+12", ""}, "bad scope": {"42", "admin"}} {
		var ve *app.ValidationError
		if _, err := app.NewStorefront(svc).IssueCustomerToken(m, in[0], in[1]); !errors.As(err, &ve) {
			t.Errorf("%s: IssueCustomerToken = %v; want a validation error", name, err)
		}
	}

	other, _ := app.NewKeyring(keyB)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"merchant": m.ID, "customer": "42", "scope": "loyalty:read", "aud": "storebridge-customer", "exp": time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC).Unix(),
	}).SignedString(other.SigningKey())
	session, _, _ := svc.NewSession(m.ID)
	for name, token := range map[string]string{
		"another keyring's": forged, "an admin session": session, "not a token": "abc",
		"tampered": tok.Token[:len(tok.Token)-2] + "xx",
	} {
		if _, err := app.NewStorefront(svc).CustomerByToken(ctx, token); !errors.Is(err, app.ErrUnauthenticated) {
			t.Errorf("%s: CustomerByToken = %v; want ErrUnauthenticated", name, err)
		}
	}
	advance(app.CustomerTokenTTL + time.Second)
	if _, err := app.NewStorefront(svc).CustomerByToken(ctx, tok.Token); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("expired: CustomerByToken = %v; want ErrUnauthenticated", err)
	}
	fresh, _ := app.NewStorefront(svc).IssueCustomerToken(m, "42", "")
	if _, err := st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil }); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute) // past the merchant cache
	if _, err := app.NewStorefront(svc).CustomerByToken(ctx, fresh.Token); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("uninstalled merchant: CustomerByToken = %v; want ErrUnauthenticated", err)
	}
}

// App Proxy requests: signed, recent, of an installed shop, with a
// logged-in customer.
func TestCustomerByAppProxy(t *testing.T) {
	const secret = "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"
	svc, _, _ := storefrontService(t, secret)
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	signed := func(change func(url.Values)) url.Values {
		q := url.Values{"shop": {"kesar-kitchen.myshopify.com"}, "logged_in_customer_id": {"7712398123"}, "path_prefix": {"/apps/loyalty"},
			"timestamp": {strconv.FormatInt(now.Unix(), 10)}}
		if change != nil {
			change(q)
		}
		q.Set("signature", app.SignAppProxy(secret, q))
		return q
	}
	c, err := app.NewStorefront(svc).CustomerByAppProxy(ctx, signed(nil))
	if err != nil || c.Merchant.ID != m.ID || c.ID != "7712398123" || !c.Can(app.ScopeLoyaltyRedeem) {
		t.Fatalf("CustomerByAppProxy = %+v, %v; want customer 7712398123 of %s", c, err, m.ID)
	}
	if _, err := app.NewStorefront(svc).CustomerByAppProxy(ctx, signed(func(q url.Values) { q.Set("logged_in_customer_id", "") })); !errors.Is(err, app.ErrNoCustomer) {
		t.Errorf("no customer: %v; want ErrNoCustomer", err)
	}
	tampered := signed(nil)
	tampered.Set("logged_in_customer_id", "1")
	for name, q := range map[string]url.Values{
		"tampered":     tampered,
		"old":          signed(func(q url.Values) { q.Set("timestamp", strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)) }),
		"unknown shop": signed(func(q url.Values) { q.Set("shop", "other-shop.myshopify.com") }),
		"not a shop":   signed(func(q url.Values) { q.Set("shop", "evil.example.com") }),
	} {
		if _, err := app.NewStorefront(svc).CustomerByAppProxy(ctx, q); !errors.Is(err, app.ErrUnauthenticated) || errors.Is(err, app.ErrNoCustomer) {
			t.Errorf("%s: CustomerByAppProxy = %v; want ErrUnauthenticated", name, err)
		}
	}
}
