package app_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// domainReads counts the store's merchant-by-domain reads.
type domainReads struct {
	app.Store
	n atomic.Int64
}

func (s *domainReads) MerchantByDomain(ctx context.Context, platform app.Platform, domain string) (app.Merchant, error) {
	s.n.Add(1)
	return s.Store.MerchantByDomain(ctx, platform, domain)
}

// TestUnknownShopsCostOneStoreRead: a flood of unsigned webhooks naming
// shops we do not serve costs one store read per shop per 30 s, not one
// per webhook; a domain that is not a myshopify.com one costs none; and a
// shop installed meanwhile is served at once.
func TestUnknownShopsCostOneStoreRead(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "c.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	counted := &domainReads{Store: st}
	keyring, _ := app.NewKeyring(keyA)
	var mu sync.Mutex
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const secret = "shpss_negative_cache_secret"
	svc := app.NewService(app.ServiceOptions{Store: counted, Keyring: keyring, Now: clock, ShopifyAPISecret: secret})
	body := []byte(`{"id":1}`)
	webhook := func(domain, hmac string) error {
		_, err := svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{Domain: domain, Topic: "orders/create", HMAC: hmac, EventID: "ev-1", Body: body})
		return err
	}

	for range 50 {
		if err := webhook("stranger.myshopify.com", "Zm9yZ2Vk"); !errors.Is(err, app.ErrUnauthenticated) {
			t.Fatalf("webhook of an unknown shop = %v; want ErrUnauthenticated", err)
		}
	}
	if got := counted.n.Load(); got != 1 {
		t.Errorf("store reads for 50 webhooks of one unknown shop = %d; want 1", got)
	}
	for i := range 20 {
		_ = webhook(fmt.Sprintf("random-%d.myshopify.com", i), "Zm9yZ2Vk")
		_ = webhook(fmt.Sprintf("random-%d.myshopify.com", i), "Zm9yZ2Vk")
	}
	if got := counted.n.Load(); got != 21 {
		t.Errorf("store reads after 20 random shops, twice each = %d; want 21", got)
	}
	for _, domain := range []string{"attacker.example.com", "x.myshopify.com/../admin", ""} {
		if err := webhook(domain, "Zm9yZ2Vk"); !errors.Is(err, app.ErrUnauthenticated) {
			t.Errorf("webhook for %q = %v; want ErrUnauthenticated", domain, err)
		}
	}
	if got := counted.n.Load(); got != 21 {
		t.Errorf("store reads after domains no shop can have = %d; want still 21", got)
	}

	// Unknown only for a while: past 30 s the store is asked again.
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	_ = webhook("stranger.myshopify.com", "Zm9yZ2Vk")
	if got := counted.n.Load(); got != 22 {
		t.Errorf("store reads after the negative entry expired = %d; want 22", got)
	}

	// A shop created here is served at once, not after 30 s.
	if _, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "stranger.myshopify.com"}); err != nil {
		t.Fatal(err)
	}
	if err := webhook("stranger.myshopify.com", shopifySign(secret, body)); err != nil {
		t.Errorf("signed webhook right after the shop was created = %v; want accepted", err)
	}
}

// TestInstallForgetsUnknownShop: an App Bridge session or webhook that
// found no merchant for a shop does not keep the shop unknown once the
// shop installs the app on this instance.
func TestInstallForgetsUnknownShop(t *testing.T) {
	e := newInstallEnv(t)
	ctx := context.Background()
	body := []byte(`{"id":2}`)
	webhook := func() error {
		_, err := e.svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{Domain: installShop, Topic: "orders/create", HMAC: shopifySign(installSecret, body), EventID: "ev-2", Body: body})
		return err
	}
	if err := webhook(); !errors.Is(err, app.ErrUnauthenticated) {
		t.Fatalf("webhook before the install = %v; want ErrUnauthenticated", err)
	}
	e.install(t, "code-1")
	if err := webhook(); err != nil {
		t.Errorf("webhook right after the install = %v; want accepted", err)
	}
}
