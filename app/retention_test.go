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

func TestPurgeOldKeepsRecentDeliveries(t *testing.T) {
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

	n, err := svc.PurgeOld(ctx, app.Retention{Deliveries: retention, DeadJobs: retention})
	if want := oldCount[merchants[0].ID] + oldCount[merchants[1].ID]; err != nil || n.Deliveries != want {
		t.Fatalf("PurgeOld() = %+v, %v; want %d deliveries", n, err, want)
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
	if n, err := svc.PurgeOld(ctx, app.Retention{Deliveries: retention, DeadJobs: retention}); err != nil || n != (app.Purged{}) {
		t.Errorf("second PurgeOld() = %+v, %v; want nothing", n, err)
	}
	if _, err := svc.PurgeOld(ctx, app.Retention{Deliveries: 0, DeadJobs: retention}); err == nil {
		t.Errorf("PurgeOld(0) = nil error; want a refusal to purge everything")
	}
}

// TestPurgeOldDeletesDeadJobsPastTheirRetention: a dead webhook's payload
// names its customer, so it is kept only as long as a redaction may take.
func TestPurgeOldDeletesDeadJobsPastTheirRetention(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "d.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Now: clk.Now})
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "dead-letters.myshopify.com", Name: "Dead Letters", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	bury := func(id string) {
		t.Helper()
		if err := st.Enqueue(ctx, app.Job{ID: id, Merchant: m.ID, Kind: "shopify.webhook", Payload: []byte(`{"customer":{"phone":"+919876543210"}}`)}); err != nil {
			t.Fatal(err)
		}
		jobs, err := st.ClaimJobs(ctx, time.Minute, 1)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("ClaimJobs() = %v, %v", jobs, err)
		}
		if err := st.Bury(ctx, jobs[0], "unusable"); err != nil {
			t.Fatal(err)
		}
	}
	const keep = 30 * 24 * time.Hour
	start := time.Now()
	clk.Set(start)
	bury("old")
	clk.Set(start.Add(keep - time.Hour))
	bury("recent")
	clk.Set(start.Add(keep + time.Minute))
	n, err := svc.PurgeOld(ctx, app.Retention{Deliveries: 90 * 24 * time.Hour, DeadJobs: keep})
	if err != nil || n.DeadJobs != 1 {
		t.Fatalf("PurgeOld() = %+v, %v; want the one dead job past 30 days", n, err)
	}
	dead, err := st.DeadJobs(ctx, m.ID, 10)
	if err != nil || len(dead) != 1 || dead[0].ID != "recent" {
		t.Fatalf("dead jobs after the purge = %+v, %v; want only the recent one", dead, err)
	}
}
