package app_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// TestSessionsEndWithTheMerchant signs a merchant in both ways (our own
// session and an App Bridge token) and checks that both stop working once
// the store is uninstalled, within the merchant cache's lifetime.
func TestSessionsEndWithTheMerchant(t *testing.T) {
	const (
		shop      = "kesar-kitchen.myshopify.com"
		appKey    = "3b8f0e0a2c4d6e8f1a3b5c7d9e0f1a2b"
		appSecret = "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"
	)
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
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clock, ShopifyAPIKey: appKey, ShopifyAPISecret: appSecret})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: shop, Name: "Kesar Kitchen", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	session, _, err := svc.NewSession(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	appBridge, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": appKey, "sub": "42",
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-5 * time.Second).Unix(), "iat": now.Unix(),
	}).SignedString([]byte(appSecret))
	if err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"session": session, "app bridge": appBridge} {
		if got, err := svc.SessionMerchant(ctx, token); err != nil || got != m.ID {
			t.Fatalf("%s while installed: SessionMerchant() = %q, %v; want %q", name, got, err, m.ID)
		}
	}

	if _, err := st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute) // past the merchant cache, as on another instance
	mu.Unlock()
	for name, token := range map[string]string{"session": session, "app bridge": appBridge} {
		if got, err := svc.SessionMerchant(ctx, token); !errors.Is(err, app.ErrUnauthenticated) {
			t.Errorf("%s after uninstall: SessionMerchant() = %q, %v; want ErrUnauthenticated", name, got, err)
		}
	}
	if _, err := svc.SessionMerchant(ctx, "not-a-token"); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("garbage token: %v; want ErrUnauthenticated", err)
	}
}
