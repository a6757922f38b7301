package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

func TestMapKeepsEmptyValues(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), newClock().Now)
	if err := s.MapSet(ctx, "m1", "cursors", map[string]string{"orders": "", "carts": "c1"}); err != nil {
		t.Fatalf("MapSet() = %v", err)
	}
	if v, err := s.MapGet(ctx, "m1", "cursors", "orders"); err != nil || v != "" {
		t.Errorf("MapGet(empty value) = %q, %v; want \"\", nil", v, err)
	}
	// A map name that is a prefix of another stays apart from it.
	if err := s.MapSet(ctx, "m1", "cursor", map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	if all, err := s.MapAll(ctx, "m1", "cursors"); err != nil || len(all) != 2 {
		t.Errorf("MapAll() = %v, %v; want the 2 fields", all, err)
	}
	var ve *app.ValidationError
	if err := s.MapSet(ctx, "m1", "cursors", map[string]string{"": "x"}); !errors.As(err, &ve) {
		t.Errorf("MapSet(empty field) = %v; want a ValidationError", err)
	}
	if _, err := s.MapGet(ctx, "", "cursors", "orders"); !errors.As(err, &ve) {
		t.Errorf("MapGet(no merchant) = %v; want a ValidationError", err)
	}
}

func TestAdvanceStateExpiresAndPurges(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	if _, ok, err := s.AdvanceState(ctx, "m1", "order:1", 100, "paid", time.Hour); err != nil || !ok {
		t.Fatalf("AdvanceState() = %v, %v", ok, err)
	}
	if _, ok, err := s.AdvanceState(ctx, "m1", "order:2", 100, "paid", 5*time.Hour); err != nil || !ok {
		t.Fatalf("AdvanceState() = %v, %v", ok, err)
	}
	// A stale update does not extend the record's life.
	c.Advance(50 * time.Minute)
	if prev, ok, err := s.AdvanceState(ctx, "m1", "order:1", 90, "pending", time.Hour); err != nil || ok || prev != "paid" {
		t.Errorf("AdvanceState(stale) = %q, %v, %v; want paid, false", prev, ok, err)
	}
	c.Advance(20 * time.Minute)
	// Expired: absent, so even an older version is recorded.
	if prev, ok, err := s.AdvanceState(ctx, "m1", "order:1", 90, "pending", time.Hour); err != nil || !ok || prev != "" {
		t.Errorf("AdvanceState(after expiry) = %q, %v, %v; want \"\", true", prev, ok, err)
	}
	c.Advance(2 * time.Hour)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Errorf("Purge() = %d, %v; want 1 (order:1; order:2 still live)", n, err)
	}
	c.Advance(2 * time.Hour)
	if n, err := s.Purge(ctx); err != nil || n != 1 {
		t.Errorf("second Purge() = %d, %v; want 1", n, err)
	}
	countKeys(t, s, map[string]int{bucketStates: 0, bucketStateExpiry: 0})
}

func TestThrottleFreesSlotsWithTheClock(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	take := func(maxWait time.Duration) time.Duration {
		t.Helper()
		wait, err := s.Throttle(ctx, "m1", "phone", 3, time.Minute, maxWait)
		if err != nil {
			t.Fatalf("Throttle() = %v", err)
		}
		return wait
	}
	for i := range 3 {
		if wait := take(0); wait != 0 {
			t.Fatalf("Throttle() #%d = %s; want a slot", i, wait)
		}
	}
	if wait := take(0); wait != time.Minute {
		t.Errorf("Throttle() when full = %s; want 1m (a window after the first slot)", wait)
	}
	c.Advance(59 * time.Second)
	if wait := take(time.Second); wait != time.Second {
		t.Errorf("Throttle(1s wait) 1s early = %s; want the slot in 1s", wait)
	}
	c.Advance(time.Second)
	if wait := take(0); wait != 0 {
		t.Errorf("Throttle() on time = %s; want a slot", wait)
	}
	// The last of the first slots is free again too; then waiters take the
	// next slots, a window after those of now, and at least one slot's
	// share of the window (20s) after the one before.
	for i, want := range []time.Duration{0, 60 * time.Second, 80 * time.Second, 100 * time.Second} {
		if wait := take(time.Hour); wait != want {
			t.Errorf("caller %d: Throttle() = %s; want %s", i, wait, want)
		}
	}
	// Refused callers take nothing and get turns: the first when the next
	// slot frees, the next 20s later.
	if wait := take(10 * time.Second); wait != 120*time.Second {
		t.Errorf("Throttle(10s wait) with slots taken 100s ahead = %s; want its turn at 120s, nothing taken", wait)
	}
	if wait := take(0); wait != 140*time.Second {
		t.Errorf("Throttle() after a refusal = %s; want the next turn, 140s", wait)
	}
	if wait := take(time.Hour); wait != 120*time.Second {
		t.Errorf("Throttle(an hour) after the refusals = %s; want the slot at 120s: refusals take none", wait)
	}
	var ve *app.ValidationError
	if _, err := s.Throttle(ctx, "m1", "phone", 0, time.Minute, 0); !errors.As(err, &ve) {
		t.Errorf("Throttle(limit 0) = %v; want a ValidationError", err)
	}
	// Idle keys are swept once the table grows.
	for i := range 3 * minThrottleSweep {
		if _, err := s.Throttle(ctx, "m1", fmt.Sprint("k", i), 1, time.Second, 0); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	if n := len(s.throttles.slots); n > minThrottleSweep {
		t.Errorf("throttle table holds %d keys; want idle ones swept", n)
	}
}

func TestDropJobsKeepsIndexesConsistent(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	// More than one chunk, due and scheduled, some with keys.
	const n = purgeChunk + 300
	inParallel(n, func(i int) {
		j := testJob("m1", i)
		if i%2 == 0 {
			j.DueAt = c.Now().Add(time.Duration(i) * time.Minute)
		}
		if i%3 == 0 {
			j.Key = fmt.Sprint("key-", i)
		}
		if err := s.Enqueue(ctx, j); err != nil {
			t.Errorf("Enqueue() = %v", err)
		}
	})
	enqueueAll(t, s, testJob("m2", 0), testJob("m2", 1))
	// m1 has three jobs claimed: one keeps its lease, two let it lapse.
	kept := claimFrom(t, s, "m1", 1, 3*testLease)[0]
	claimFrom(t, s, "m1", 2, testLease)
	c.Advance(testLease + time.Second)
	got, err := s.DropJobs(ctx, "m1")
	if err != nil || got != n-1 {
		t.Fatalf("DropJobs() = %d, %v; want %d", got, err, n-1)
	}
	d, err := s.Depth(ctx)
	if err != nil || d != (app.QueueDepth{Ready: 2, Running: 1}) {
		t.Errorf("Depth() after DropJobs = %+v, %v; want m2's 2 ready and the held one", d, err)
	}
	countKeys(t, s, map[string]int{
		bucketJobs: 3, bucketDue: 2, bucketLeases: 1, bucketHeads: 1, bucketHeadOf: 1,
		bucketJobKeys: map[bool]int{true: 1, false: 0}[kept.Key != ""],
	})
	if err := s.Ack(ctx, kept); err != nil {
		t.Errorf("Ack(held job) after DropJobs = %v; want nil", err)
	}
	for i := 0; i < n; i += 3 {
		j := testJob("m1", i+n)
		j.Key = fmt.Sprint("key-", i)
		if err := s.Enqueue(ctx, j); err != nil {
			t.Fatalf("Enqueue(key %s) after DropJobs = %v; want the key free", j.Key, err)
		}
	}
	if got, err := s.DropJobs(ctx, "nobody"); err != nil || got != 0 {
		t.Errorf("DropJobs(no jobs) = %d, %v; want 0", got, err)
	}
}

// claimFrom claims until it holds want jobs of merchant for lease, putting
// the others back.
func claimFrom(t *testing.T, s *Store, merchant string, want int, lease time.Duration) []app.Job {
	t.Helper()
	var held []app.Job
	for len(held) < want {
		got, err := s.ClaimJobs(context.Background(), lease, 1)
		if err != nil || len(got) == 0 {
			t.Fatalf("ClaimJobs() = %v, %v; want a job of %s", got, err, merchant)
		}
		if got[0].Merchant == merchant {
			held = append(held, got[0])
		} else if err := s.Retry(context.Background(), got[0], time.Time{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	return held
}

func TestDeleteCustomerDeliveriesFollowsUpdates(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	mk := func(merchant, id, phone, subject string) {
		t.Helper()
		d := app.Delivery{ID: id, Merchant: merchant, Event: app.EventOrderPlaced, Status: app.DeliveryQueued,
			Phone: phone, Subject: subject}
		if err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
	}
	mk("m1", "d1", "+911", "order:1")
	mk("m1", "d2", "+912", "order:2")
	mk("m2", "d1", "+911", "order:1")
	_, err := s.UpdateDelivery(ctx, "m1", "d1", func(d *app.Delivery) error {
		d.Phone, d.CustomerID, d.Status, d.ProviderMessageID = "+913", "c9", app.DeliverySent, "wamid.1"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: "+911"}); err != nil || n != 0 {
		t.Errorf("DeleteCustomerDeliveries(old phone) = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{CustomerID: "c9", Subjects: []string{"", "order:1"}}); err != nil || n != 1 {
		t.Errorf("DeleteCustomerDeliveries(c9, order:1) = %d, %v; want 1", n, err)
	}
	if list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{Status: app.DeliverySent}); err != nil || len(list) != 0 {
		t.Errorf("ListDeliveries(sent) = %d, %v; want none", len(list), err)
	}
	if list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{Event: app.EventOrderPlaced}); err != nil || len(list) != 1 || list[0].ID != "d2" {
		t.Errorf("ListDeliveries(event) = %v, %v; want d2", list, err)
	}
	if _, err := s.GetDelivery(ctx, "m2", "d1"); err != nil {
		t.Errorf("other merchant's delivery: %v; want it kept", err)
	}
	if n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Subjects: []string{"order:2"}}); err != nil || n != 1 {
		t.Errorf("DeleteCustomerDeliveries(order:2) = %d, %v; want 1", n, err)
	}
	// Only m2's record is left, with its index entries.
	countKeys(t, s, map[string]int{
		bucketDeliveries: 1, bucketDeliveryByTime: 1, bucketDeliveryStatus: 1, bucketDeliveryEvent: 1,
		bucketDeliveryMessage: 0, bucketDeliveryPhone: 1, bucketDeliveryCustomer: 0, bucketDeliverySubject: 1,
	})
}

// countKeys checks how many keys some buckets hold.
func countKeys(t *testing.T, s *Store, want map[string]int) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		for name, n := range want {
			got := 0
			var keys [][]byte
			err := bucket(tx, name).ForEach(func(k, _ []byte) error {
				got++
				keys = append(keys, bytes.Clone(k))
				return nil
			})
			if err != nil {
				return err
			}
			if got != n {
				t.Errorf("bucket %s holds %d keys (%q); want %d", name, got, keys, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
