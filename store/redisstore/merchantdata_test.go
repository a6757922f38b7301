package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// Versions are compared as int64, exactly: nanosecond times one apart,
// beyond a double's 53 bits, and negative ones.
func TestAdvanceStateExactVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const base = int64(1735689600_000000000)
	steps := []struct {
		version      int64
		value        string
		wantPrev     string
		wantAdvanced bool
	}{
		{base + 1, "processing", "", true},
		{base, "pending", "processing", false},
		{base + 1, "pending", "processing", false},
		{base + 2, "completed", "processing", true},
		{-5, "x", "completed", false},
	}
	for _, st := range steps {
		prev, advanced, err := s.AdvanceState(ctx, "m1", "order:1", st.version, st.value, time.Hour)
		if err != nil || prev != st.wantPrev || advanced != st.wantAdvanced {
			t.Fatalf("AdvanceState(%d, %s) = %q, %v, %v; want %q, %v", st.version, st.value, prev, advanced, err, st.wantPrev, st.wantAdvanced)
		}
	}
	for _, st := range []struct {
		version int64
		want    bool
	}{{-5, true}, {-6, false}, {-5, false}, {-4, true}, {-10, false}, {0, true}, {-1, false}, {9, true}, {10, true}, {99, true}, {100, true}} {
		if _, advanced, err := s.AdvanceState(ctx, "m1", "order:2", st.version, "v", time.Hour); err != nil || advanced != st.want {
			t.Fatalf("AdvanceState(%d) advanced = %v, %v; want %v", st.version, advanced, err, st.want)
		}
	}
	key := s.keys.state("m1", "order:1")
	if ttl := s.rdb.PTTL(ctx, key).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL of the state = %s; want about an hour", ttl)
	}
	if _, _, err := s.AdvanceState(ctx, "m1", "order:1", base+3, "refunded", 0); !isInvalid(err) {
		t.Errorf("AdvanceState(ttl 0) = %v; want a ValidationError", err)
	}
}

// Throttle runs on the server's clock: an instance whose own clock is an
// hour off takes the same slots.
func TestThrottleServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	exact, prefix := newTestStore(t, Options{})
	ahead := New(newClient(sharedAddr), Options{Prefix: prefix, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	t.Cleanup(func() { ahead.Close() })
	for i, s := range []*Store{exact, ahead} {
		if wait, err := s.Throttle(ctx, "m1", "k", 2, time.Minute, 0); err != nil || wait != 0 {
			t.Fatalf("slot %d of 2/min = %s, %v; want free", i, wait, err)
		}
	}
	// Refused on either instance: turns from when a slot frees, half a
	// minute apart.
	for i, s := range []*Store{ahead, exact} {
		turn := time.Minute + time.Duration(i)*30*time.Second
		wait, err := s.Throttle(ctx, "m1", "k", 2, time.Minute, 0)
		if err != nil || wait <= turn-time.Second || wait > turn {
			t.Errorf("refused caller %d of 2/min = %s, %v; want just under %s", i+1, wait, err, turn)
		}
	}
	if ttl := exact.rdb.PTTL(ctx, exact.keys.throttle("m1", "k")).Val(); ttl <= time.Minute || ttl > 90*time.Second {
		t.Errorf("PTTL of the throttle = %s; want until the last turn given", ttl)
	}
	// A value the GCRA before kept (one number) is read as no slots.
	exact.rdb.Set(ctx, exact.keys.throttle("m1", "old"), "1764763200123", time.Minute)
	if wait, err := exact.Throttle(ctx, "m1", "old", 1, time.Minute, 0); err != nil || wait != 0 {
		t.Errorf("Throttle() over a GCRA value = %s, %v; want a free slot", wait, err)
	}
	for _, bad := range []struct {
		limit  int
		window time.Duration
	}{{0, time.Second}, {5, 0}, {-1, time.Second}} {
		if _, err := exact.Throttle(ctx, "m1", "k", bad.limit, bad.window, 0); !isInvalid(err) {
			t.Errorf("Throttle(%d, %s) = %v; want a ValidationError", bad.limit, bad.window, err)
		}
	}
}

// Two stores (two instances) on one prefix share the limit.
func TestThrottleSharedByInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, prefix := newTestStore(t, Options{})
	b := New(newClient(sharedAddr), Options{Prefix: prefix})
	t.Cleanup(func() { b.Close() })
	var taken atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			wait, err := s.Throttle(ctx, "m1", "meta:phone-1", 10, time.Minute, 0)
			if err != nil {
				t.Errorf("Throttle() = %v", err)
			}
			if wait == 0 {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	if taken.Load() != 10 {
		t.Errorf("slots taken by 40 callers over two instances at 10/min = %d; want 10", taken.Load())
	}
}

// DropJobs removes more than one batch, keeps leased and dead jobs and
// their keys, and the queue index settles at the next claim.
func TestDropJobsBatchesKeepsHeldAndDead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	held, dead := newJob("m1", "held-key", time.Time{}), newJob("m1", "dead-key", time.Time{})
	mustEnqueue(t, s, held, dead)
	jobs, err := s.ClaimJobs(ctx, time.Minute, 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ClaimJobs = %d, %v; want 2", len(jobs), err)
	}
	for _, j := range jobs {
		if j.ID == dead.ID {
			if err := s.Bury(ctx, j, "permanent"); err != nil {
				t.Fatal(err)
			}
		}
	}
	const waiting = dropJobsBatch + 7
	for i := range waiting {
		due := time.Time{}
		key := ""
		if i%2 == 0 {
			due, key = clock.Now().Add(time.Hour), fmt.Sprint("cart:", i)
		}
		mustEnqueue(t, s, newJob("m1", key, due))
	}
	mustEnqueue(t, s, newJob("m2", "cart:0", time.Time{}))

	n, err := s.DropJobs(ctx, "m1")
	if err != nil || n != waiting {
		t.Fatalf("DropJobs() = %d, %v; want %d", n, err, waiting)
	}
	q := s.keys.queue("m1")
	if n := s.rdb.ZCard(ctx, q.due).Val(); n != 0 {
		t.Errorf("ZCARD q:due = %d; want 0", n)
	}
	if n := s.rdb.HLen(ctx, q.jobs).Val(); n != 2 {
		t.Errorf("HLEN q:jobs = %d; want 2 (the held and the dead job)", n)
	}
	if keys := s.rdb.HKeys(ctx, q.keys).Val(); len(keys) != 1 || keys[0] != "held-key" {
		t.Errorf("HKEYS q:keys = %v; want [held-key]", keys)
	}
	if n, err := s.DropJobs(ctx, "m1"); err != nil || n != 0 {
		t.Errorf("DropJobs() again = %d, %v; want 0", n, err)
	}

	// m1 is still in the index with its old score; a claim finds only m2's
	// job and settles m1 at its lease expiry.
	jobs, err = s.ClaimJobs(ctx, time.Minute, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Merchant != "m2" {
		t.Fatalf("ClaimJobs after DropJobs = %v, %v; want m2's job", jobs, err)
	}
	score, err := s.rdb.ZScore(ctx, s.keys.queueIndex(), "m1").Result()
	if err != nil || int64(score) <= msOf(clock.Now()) {
		t.Errorf("index score of m1 = %v, %v; want its lease expiry, in the future", score, err)
	}
	if err := s.SweepIndex(ctx); err != nil {
		t.Fatalf("SweepIndex() = %v", err)
	}
	d, err := s.Depth(ctx)
	if err != nil || d.Ready != 0 || d.Scheduled != 0 || d.Running != 2 || d.Dead != 1 {
		t.Errorf("Depth() = %+v, %v; want 2 running (m1's held, m2's), 1 dead", d, err)
	}
}

func redactionDelivery(id, phone, customer, subject string, status app.DeliveryStatus, event string) app.Delivery {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return app.Delivery{
		ID: id, Merchant: "m1", EventID: "evt-" + id, Event: event, Subject: subject, CustomerID: customer,
		Phone: phone, Provider: "meta", Template: "order_placed", Status: status,
		ProviderMessageID: "wamid." + id, CreatedAt: now, UpdatedAt: now,
	}
}

// A redaction leaves no trace of the deleted deliveries in any index, and
// the customer SETs follow updates.
func TestDeleteCustomerDeliveriesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const phoneA, phoneB = "+919876543210", "+14155550100"
	for _, d := range []app.Delivery{
		redactionDelivery("d1", phoneA, "c1", "order:1", app.DeliverySent, app.EventOrderPlaced),
		redactionDelivery("d2", phoneA, "", "cart:tok", app.DeliveryFailed, app.EventCartAbandoned),
		redactionDelivery("d3", phoneA, "", "order:3", app.DeliveryQueued, app.EventOrderPlaced),
		redactionDelivery("d4", phoneB, "c2", "order:4", app.DeliverySent, app.EventOrderPlaced),
	} {
		if err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// d3 moves to phone B and a new subject; its old SETs must forget it.
	if _, err := s.UpdateDelivery(ctx, "m1", "d3", func(d *app.Delivery) error {
		d.Phone, d.Subject, d.Status = phoneB, "order:33", app.DeliverySent
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ids := s.rdb.SMembers(ctx, s.keys.deliveryPhone("m1", phoneA)).Val(); len(ids) != 2 {
		t.Errorf("SET of phone A = %v; want d1, d2", ids)
	}
	if n := s.rdb.Exists(ctx, s.keys.deliverySubject("m1", "order:3")).Val(); n != 0 {
		t.Errorf("SET of the old subject still exists")
	}

	n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: phoneA, Subjects: []string{"", "order:nope"}})
	if err != nil || n != 2 {
		t.Fatalf("DeleteCustomerDeliveries(phone A) = %d, %v; want 2", n, err)
	}
	for _, id := range []string{"d1", "d2"} {
		d := redactionDelivery(id, phoneA, "", "", "", "")
		checkGone(t, s, d, string(app.DeliverySent), string(app.DeliveryFailed), app.EventOrderPlaced, app.EventCartAbandoned)
	}
	for _, key := range []string{
		s.keys.deliveryPhone("m1", phoneA), s.keys.deliveryCustomer("m1", "c1"),
		s.keys.deliverySubject("m1", "order:1"), s.keys.deliverySubject("m1", "cart:tok"),
	} {
		if n := s.rdb.Exists(ctx, key).Val(); n != 0 {
			t.Errorf("%s exists after the redaction; want it gone", key)
		}
	}
	list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{Status: app.DeliverySent})
	if err != nil || len(list) != 2 {
		t.Errorf("sent deliveries left = %v, %v; want d3, d4", ids2(list), err)
	}

	// The script deletes only a record still as read: d4 read, then
	// updated, is left for the next round.
	before, err := s.rdb.Get(ctx, s.keys.delivery("m1", "d4")).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateDelivery(ctx, "m1", "d4", func(d *app.Delivery) error { d.Attempts++; return nil }); err != nil {
		t.Fatal(err)
	}
	keys := []string{
		s.keys.deliveryIndex("m1"), s.keys.deliveryMessageIDs("m1"),
		s.keys.delivery("m1", "d4"), s.keys.deliveryStatus("m1", string(app.DeliverySent)),
		s.keys.deliveryEvent("m1", app.EventOrderPlaced), s.keys.deliveryPhone("m1", phoneB),
		s.keys.deliveryCustomer("m1", "c2"), s.keys.deliverySubject("m1", "order:4"),
	}
	if n, err := s.scripts.deleteDeliveries.Run(ctx, s.rdb, keys, "d4", before, "wamid.d4").Int(); err != nil || n != 0 {
		t.Fatalf("deleteDeliveries(record changed since read) = %d, %v; want 0", n, err)
	}
	if _, err := s.GetDelivery(ctx, "m1", "d4"); err != nil {
		t.Fatalf("GetDelivery(d4) = %v; want it kept", err)
	}

	// A stale id in a SET (no record) is dropped, not counted, and does not
	// keep the redaction going round.
	s.rdb.SAdd(ctx, s.keys.deliveryPhone("m1", phoneB), "ghost")
	n, err = s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: phoneB})
	if err != nil || n != 2 {
		t.Fatalf("DeleteCustomerDeliveries(phone B) = %d, %v; want 2", n, err)
	}
	checkGone(t, s, redactionDelivery("d3", phoneB, "", "order:33", "", ""), string(app.DeliverySent), app.EventOrderPlaced)
	checkGone(t, s, redactionDelivery("d4", phoneB, "c2", "order:4", "", ""), string(app.DeliverySent), app.EventOrderPlaced)
	if keys := scanKeys(t, s.rdb, s.keys.merchant("m1")); len(keys) != 0 {
		t.Errorf("keys left after every delivery was redacted: %v; want none", keys)
	}
}

func ids2(list []app.Delivery) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	return out
}

// checkGone fails unless d has no record and no entry in any index.
func checkGone(t *testing.T, s *Store, d app.Delivery, statusesAndEvents ...string) {
	t.Helper()
	ctx := context.Background()
	if n := s.rdb.Exists(ctx, s.keys.delivery("m1", d.ID)).Val(); n != 0 {
		t.Errorf("record of %s exists", d.ID)
	}
	zsets := []string{s.keys.deliveryIndex("m1")}
	for _, v := range statusesAndEvents {
		zsets = append(zsets, s.keys.deliveryStatus("m1", v), s.keys.deliveryEvent("m1", v))
	}
	for _, z := range zsets {
		if err := s.rdb.ZScore(ctx, z, d.ID).Err(); !errors.Is(err, redis.Nil) {
			t.Errorf("%s still in %s (%v)", d.ID, z, err)
		}
	}
	if err := s.rdb.HGet(ctx, s.keys.deliveryMessageIDs("m1"), "wamid."+d.ID).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("message id of %s still mapped (%v)", d.ID, err)
	}
	for _, set := range []string{s.keys.deliveryPhone("m1", d.Phone), s.keys.deliveryCustomer("m1", d.CustomerID), s.keys.deliverySubject("m1", d.Subject)} {
		if s.rdb.SIsMember(ctx, set, d.ID).Val() {
			t.Errorf("%s still in %s", d.ID, set)
		}
	}
}

// A redaction racing with updates of the same records deletes them all
// and leaves the indexes consistent.
func TestDeleteCustomerDeliveriesRacingUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const phone = "+447700900123"
	const n = 40
	for i := range n {
		if err := s.CreateDelivery(ctx, redactionDelivery(fmt.Sprint("d", i), phone, "", "", app.DeliveryQueued, app.EventOrderPlaced)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i = (i + 1) % n {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.UpdateDelivery(ctx, "m1", fmt.Sprint("d", i), func(d *app.Delivery) error {
					d.Attempts++
					d.Status = []app.DeliveryStatus{app.DeliverySent, app.DeliveryFailed, app.DeliveryQueued}[d.Attempts%3]
					return nil
				})
				if err != nil && !errors.Is(err, app.ErrNotFound) && !errors.Is(err, app.ErrConflict) {
					t.Errorf("UpdateDelivery() = %v", err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	removed, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: phone})
	close(stop)
	wg.Wait()
	if err != nil || removed != n {
		t.Fatalf("DeleteCustomerDeliveries() = %d, %v; want %d", removed, err, n)
	}
	if keys := scanKeys(t, s.rdb, s.keys.merchant("m1")); len(keys) != 0 {
		t.Errorf("keys left after the redaction: %v; want none", keys)
	}
}

func isInvalid(err error) bool {
	var v *app.ValidationError
	return errors.As(err, &v)
}

// A purge finds its merchant's keys by a SCAN pattern: glob characters in
// the prefix are taken literally, so it finds its own keys and none of
// another deployment's on the same server.
func TestPurgeMerchantDataTakesThePrefixLiterally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := uniquePrefix()
	for _, tc := range []struct{ purged, kept string }{
		{base + "[ab]:", base + "a:"},
		{base + "*:", base + "zz:"},
		{base + "?:", base + "q:"},
		{base + `\:`, base + `\\:`},
	} {
		purged := New(newClient(sharedAddr), Options{Prefix: tc.purged})
		kept := New(newClient(sharedAddr), Options{Prefix: tc.kept})
		t.Cleanup(func() {
			for _, s := range []*Store{purged, kept} {
				if err := deleteKeys(s.rdb, globEscape(s.keys.prefix)); err != nil {
					t.Error(err)
				}
				s.Close()
			}
		})
		for _, s := range []*Store{purged, kept} {
			if err := s.MapSet(ctx, "m1", "replies", map[string]string{"+919876543210": "STOP"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := purged.PurgeMerchantData(ctx, "m1"); err != nil {
			t.Fatalf("PurgeMerchantData(prefix %q) = %v", tc.purged, err)
		}
		if all, _ := purged.MapAll(ctx, "m1", "replies"); len(all) != 0 {
			t.Errorf("prefix %q: replies after the purge = %v; want none", tc.purged, all)
		}
		if all, _ := kept.MapAll(ctx, "m1", "replies"); len(all) != 1 {
			t.Errorf("prefix %q kept %v after a purge under prefix %q; want it untouched", tc.kept, all, tc.purged)
		}
	}
}
