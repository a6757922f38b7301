package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// lockedBuilder is a log sink the service may write from any goroutine.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestShopifyVersionLabel(t *testing.T) {
	for in, want := range map[string]string{
		"2026-01": "2026-01", "2025-07": "2025-07", "2027-12": "2027-12", "unstable": "unstable",
		"": "other", "2025-13": "other", "2025-7": "other", "v2025-07": "other", "2025-07\n": "other",
		strings.Repeat("x", 300): "other", "UNSTABLE": "other",
	} {
		if got := app.ShopifyVersionLabel(in); got != want {
			t.Errorf("ShopifyVersionLabel(%q) = %q; want %q", in, got, want)
		}
	}
	if app.ShopifyVersionDrift(app.ShopifyAPIVersion) || app.ShopifyVersionDrift("") || !app.ShopifyVersionDrift("2025-07") {
		t.Errorf("ShopifyVersionDrift: the pinned version and an absent header are no drift; another version is")
	}
}

// TestShopifyVersionDriftLoggedOnceADayPerShop: a verified webhook at
// another API version is logged, once a day per shop and version; the
// pinned version, unsigned webhooks and other shops' quiet days log nothing.
func TestShopifyVersionDriftLoggedOnceADayPerShop(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "v.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keyring, _ := app.NewKeyring(keyA)
	const secret = "shpss_version_secret"
	var mu sync.Mutex
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var logs lockedBuilder
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, ShopifyAPISecret: secret, Now: clock,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, shop := range []string{"chai-house.myshopify.com", "kurta-house.myshopify.com"} {
		if _, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: shop}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	receive := func(shop, version string, signed bool) {
		t.Helper()
		n++
		body := []byte(fmt.Sprintf(`{"id":%d}`, n))
		hmac := shopifySign(secret, body)
		if !signed {
			hmac = shopifySign("not-the-secret", body)
		}
		_, err := svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{
			Domain: shop, Topic: "orders/updated", HMAC: hmac, EventID: fmt.Sprint("ev-", n), APIVersion: version, Body: body,
		})
		if signed && err != nil {
			t.Fatalf("ReceiveShopifyWebhook(%s, %s) = %v", shop, version, err)
		}
	}
	drifts := func() int { return strings.Count(logs.String(), "API version other than the pinned one") }

	receive("chai-house.myshopify.com", app.ShopifyAPIVersion, true)
	receive("chai-house.myshopify.com", "", true)
	receive("chai-house.myshopify.com", "2025-07", false)
	if got := drifts(); got != 0 {
		t.Fatalf("drift logged %d times for the pinned version, no header and an unsigned webhook; want none:\n%s", got, logs.String())
	}
	for range 5 {
		receive("chai-house.myshopify.com", "2025-07", true)
	}
	if got := drifts(); got != 1 || !strings.Contains(logs.String(), "version=2025-07") || !strings.Contains(logs.String(), "pinned="+app.ShopifyAPIVersion) {
		t.Fatalf("five webhooks at 2025-07 logged %d lines; want one naming the version and the pinned one:\n%s", got, logs.String())
	}
	receive("kurta-house.myshopify.com", "2025-07", true)
	receive("chai-house.myshopify.com", "unstable", true)
	receive("chai-house.myshopify.com", "2025-07; drop table", true)
	if got := drifts(); got != 4 || strings.Contains(logs.String(), "drop table") {
		t.Fatalf("another shop, another version and a malformed one logged %d lines in all; want 4, the malformed one as other:\n%s", got, logs.String())
	}
	advance(23 * time.Hour)
	receive("chai-house.myshopify.com", "2025-07", true)
	if got := drifts(); got != 4 {
		t.Fatalf("23 hours later: %d lines; want still 4", got)
	}
	advance(time.Hour)
	receive("chai-house.myshopify.com", "2025-07", true)
	if got := drifts(); got != 5 {
		t.Fatalf("a day later: %d lines; want a fifth", got)
	}
}
