package app_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// TestSetProviderBlankCredentialKeepsTheStoredOne: the provider page never
// shows a stored secret, so a field left blank must keep it, for the same
// provider only.
func TestSetProviderBlankCredentialKeepsTheStoredOne(t *testing.T) {
	st, err := embedded.Open(filepath.Join(t.TempDir(), "p.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	var mu sync.Mutex
	var built []map[string]string
	kit := func(name string) app.ProviderKit {
		return app.ProviderKit{New: func(creds map[string]string) (app.Provider, error) {
			mu.Lock()
			built = append(built, maps.Clone(creds))
			mu.Unlock()
			return &scriptedProvider{}, nil
		}}
	}
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Providers: map[string]app.ProviderKit{"clevertap": kit("clevertap"), "wati": kit("wati")}})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "chai-point.myshopify.com", Name: "Chai Point", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	last := func() map[string]string { mu.Lock(); defer mu.Unlock(); return built[len(built)-1] }

	if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "clevertap", Credentials: map[string]string{"account_id": "ACC-1", "passcode": "secret-1", "region": "in1"}}); err != nil {
		t.Fatal(err)
	}
	// The merchant changes the region only: the passcode field came back blank.
	if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "clevertap", Credentials: map[string]string{"account_id": "ACC-1", "passcode": " ", "region": "sg1"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := last(), map[string]string{"account_id": "ACC-1", "passcode": "secret-1", "region": "sg1"}; !maps.Equal(got, want) {
		t.Fatalf("credentials checked = %v, want %v", got, want)
	}
	// Another provider never inherits the first one's secrets.
	if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "wati", Credentials: map[string]string{"token": "", "server_url": "live-server-1.wati.io"}}); err != nil {
		t.Fatal(err)
	}
	if got := last(); got["passcode"] != "" || got["account_id"] != "" || got["token"] != "" {
		t.Fatalf("a new provider got the old provider's credentials: %v", got)
	}
	// And what was kept is what is stored: a restart builds the same client.
	after, _ := svc.Merchant(ctx, m.ID)
	if after.Provider.Name != "wati" {
		t.Fatalf("provider = %q", after.Provider.Name)
	}
}

// TestSendTestEventWithoutPropertiesUsesTheSampleEvent: "Send test" on the
// Messages page sends what the preview shows.
func TestSendTestEventWithoutPropertiesUsesTheSampleEvent(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	rule, err := env.svc.PutRule(ctx, env.merchant.ID, app.EventOrderPlaced, app.RuleInput{Template: "order_placed", Variables: []string{"customer.first_name", "order.number", "order.total"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := env.svc.SendTestEvent(ctx, env.merchant.ID, app.TestEventInput{Event: app.EventOrderPlaced, Phone: "98765 43210"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != app.DeliverySent {
		t.Fatalf("test delivery = %s (%s)", d.Status, d.Error)
	}
	want := app.PreviewValues(env.merchant, app.EventOrderPlaced, rule.Variables, env.now.Now())
	if slices.Contains(want, "") || !slices.Equal(d.Values, want) {
		t.Fatalf("sent values %q, preview %q: the test must send what the preview shows, every variable filled", d.Values, want)
	}
}

// refailingStore plays workers that fail every retried delivery again at
// once: before each listing, whatever was queued is failed again.
type refailingStore struct {
	app.Store
	mu       sync.Mutex
	retries  map[string]int
	listings int
}

func (s *refailingStore) UpdateDelivery(ctx context.Context, merchant, id string, change func(*app.Delivery) error) (app.Delivery, error) {
	d, err := s.Store.UpdateDelivery(ctx, merchant, id, change)
	if err == nil && d.Status == app.DeliveryQueued {
		s.mu.Lock()
		s.retries[id]++
		s.mu.Unlock()
	}
	return d, err
}

func (s *refailingStore) ListDeliveries(ctx context.Context, merchant string, f app.DeliveryFilter) ([]app.Delivery, string, error) {
	s.mu.Lock()
	s.listings++
	var queued []string
	for id := range s.retries {
		queued = append(queued, id)
	}
	s.mu.Unlock()
	for _, id := range queued {
		if _, err := s.Store.UpdateDelivery(ctx, merchant, id, func(d *app.Delivery) error {
			if d.Status == app.DeliveryQueued {
				d.Status, d.Error = app.DeliveryFailed, "still refused"
			}
			return nil
		}); err != nil {
			return nil, "", err
		}
	}
	return s.Store.ListDeliveries(ctx, merchant, f)
}

// TestRetryAllMatchingRetriesEachDeliveryOnce: "Retry all matching" on a
// provider that keeps refusing must not go round again on deliveries it
// just retried (it used to re-read the first page until it had retried
// 1,000 times).
func TestRetryAllMatchingRetriesEachDeliveryOnce(t *testing.T) {
	inner, err := embedded.Open(filepath.Join(t.TempDir(), "r.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inner.Close() })
	st := &refailingStore{Store: inner, retries: map[string]int{}}
	keyring, _ := app.NewKeyring(keyA)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Providers: map[string]app.ProviderKit{
		"scripted": {New: func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil }},
	}})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "retry-shop.myshopify.com", Name: "Retry Shop", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	const failed = 250 // more than one page of the retry's listing
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range failed {
		d := app.Delivery{ID: fmt.Sprintf("d_%04d", i), Merchant: m.ID, Event: app.EventOrderPlaced, Phone: "+919876543210",
			Provider: "scripted", Template: "order_placed", Status: app.DeliveryFailed, Attempts: 1, Error: "refused",
			CreatedAt: start.Add(time.Duration(i) * time.Second), UpdatedAt: start.Add(time.Duration(i) * time.Second)}
		if err := inner.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	n, err := svc.RetryDeliveries(ctx, m.ID, app.DeliveryFilter{Status: app.DeliveryFailed})
	if err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if n != failed || len(st.retries) != failed {
		t.Fatalf("retried %d (%d distinct) of %d failed deliveries; want each once", n, len(st.retries), failed)
	}
	for id, times := range st.retries {
		if times != 1 {
			t.Fatalf("%s retried %d times in one call; want once", id, times)
		}
	}
}
