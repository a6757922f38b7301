package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

func TestPurgeOldDeliveriesKeepsRecentOnes(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "r.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clk.Now})

	var merchants []app.Merchant
	for _, domain := range []string{"asha-naturals.myshopify.com", "kavya-crafts.myshopify.com"} {
		m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: domain, Name: domain, Country: "IN", Timezone: "Asia/Kolkata"})
		if err != nil {
			t.Fatal(err)
		}
		merchants = append(merchants, m)
	}

	const retention = 90 * 24 * time.Hour
	now := time.Now()
	clk.Set(now)
	// The first merchant has more old deliveries than one purge batch.
	oldCount := map[string]int{merchants[0].ID: 520, merchants[1].ID: 3}
	var wg sync.WaitGroup
	create := func(m app.Merchant, id string, age time.Duration) {
		wg.Go(func() {
			at := now.Add(-age)
			d := app.Delivery{
				ID: id, Merchant: m.ID, EventID: "evt-" + id, Event: app.EventOrderPlaced,
				Subject: "order:" + id, Phone: "+919876543210", Provider: "sandbox", Template: "order_placed",
				Status: app.DeliverySent, ProviderMessageID: "wamid." + id, CreatedAt: at, UpdatedAt: at,
			}
			if err := st.CreateDelivery(ctx, d); err != nil {
				t.Errorf("CreateDelivery(%s) = %v", id, err)
			}
		})
	}
	for _, m := range merchants {
		for i := range oldCount[m.ID] {
			create(m, fmt.Sprintf("old-%04d", i), retention+time.Hour+time.Duration(i)*time.Minute)
		}
		create(m, "recent", time.Hour)
		create(m, "almost-expired", retention-time.Hour)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	n, err := svc.PurgeOldDeliveries(ctx, retention)
	if want := oldCount[merchants[0].ID] + oldCount[merchants[1].ID]; err != nil || n != want {
		t.Fatalf("PurgeOldDeliveries() = %d, %v; want %d", n, err, want)
	}
	for _, m := range merchants {
		list, _, err := st.ListDeliveries(ctx, m.ID, app.DeliveryFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range list {
			ids = append(ids, d.ID)
		}
		if fmt.Sprint(ids) != "[recent almost-expired]" {
			t.Errorf("deliveries of %s after purge = %v; want [recent almost-expired]", m.Domain, ids)
		}
		if _, err := st.DeliveryByProviderMessageID(ctx, m.ID, "wamid.old-0000"); err == nil {
			t.Errorf("DeliveryByProviderMessageID(old) of %s found a purged delivery", m.Domain)
		}
	}
	if n, err := svc.PurgeOldDeliveries(ctx, retention); err != nil || n != 0 {
		t.Errorf("second PurgeOldDeliveries() = %d, %v; want 0", n, err)
	}
	if _, err := svc.PurgeOldDeliveries(ctx, 0); err == nil {
		t.Errorf("PurgeOldDeliveries(0) = nil error; want a refusal to purge everything")
	}
}
