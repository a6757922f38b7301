package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// TestOnboardingFirstMessage: the checklist's last step is a real message
// delivered, or, while the store is on the sandbox (which reports no
// deliveries), one the sandbox sent; a test never counts, and a sandbox
// message does not finish a store that has moved to a real provider.
func TestOnboardingFirstMessage(t *testing.T) {
	type sent struct {
		provider string
		status   app.DeliveryStatus
		test     bool
	}
	cases := []struct {
		name                string
		provider            string
		deliveries          []sent
		newerSkipped        int // newer skipped events, enough to push the first message past the recent scan
		wantTest, wantFirst bool
	}{
		{"sandbox, a test only", app.ProviderSandbox, []sent{{app.ProviderSandbox, app.DeliverySent, true}}, 0, true, false},
		{"sandbox, a real message sent", app.ProviderSandbox, []sent{{app.ProviderSandbox, app.DeliverySent, false}}, 0, true, true},
		{"sandbox, a real message failed", app.ProviderSandbox, []sent{{app.ProviderSandbox, app.DeliveryFailed, false}}, 0, false, false},
		{"sandbox, the real message behind many skipped events", app.ProviderSandbox, []sent{{app.ProviderSandbox, app.DeliverySent, false}}, 120, true, true},
		{"a real provider, the sandbox's message before it", "plain", []sent{{app.ProviderSandbox, app.DeliverySent, false}, {"plain", app.DeliverySent, false}}, 0, false, false},
		{"a real provider, a message delivered", "plain", []sent{{"plain", app.DeliveryDelivered, false}}, 0, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := embedded.Open(filepath.Join(t.TempDir(), "o.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			keyring, _ := app.NewKeyring(keyA)
			svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Providers: map[string]app.ProviderKit{
				"plain":             {New: func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil }},
				app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil }},
			}})
			m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN", Timezone: "Asia/Kolkata"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: tc.provider, Credentials: map[string]string{"token": "t0k3n"}}); err != nil {
				t.Fatal(err)
			}
			at := time.Now().Add(-time.Hour)
			create := func(id string, d sent) {
				at = at.Add(time.Second)
				if err := st.CreateDelivery(ctx, app.Delivery{
					ID: id, Merchant: m.ID, EventID: "evt-" + id, Event: app.EventOrderPlaced, Subject: "order:" + id, Phone: "+919876543210",
					Provider: d.provider, Template: "order_placed", Status: d.status, Test: d.test, CreatedAt: at, UpdatedAt: at,
				}); err != nil {
					t.Fatalf("CreateDelivery(%s) = %v", id, err)
				}
			}
			for i, d := range tc.deliveries {
				create(fmt.Sprintf("d-%d", i), d)
			}
			for i := range tc.newerSkipped {
				create(fmt.Sprintf("s-%03d", i), sent{tc.provider, app.DeliverySkipped, false})
			}
			o, err := svc.Onboarding(ctx, m.ID)
			if err != nil {
				t.Fatalf("Onboarding() = %v", err)
			}
			if o.TestSent != tc.wantTest || o.FirstDelivered != tc.wantFirst {
				t.Errorf("Onboarding() test sent %v, first delivered %v; want %v, %v", o.TestSent, o.FirstDelivered, tc.wantTest, tc.wantFirst)
			}
		})
	}
}
