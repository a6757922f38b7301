package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/storetest"
)

const testLease = time.Minute

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) app.Store {
		return openTest(t, filepath.Join(t.TempDir(), "store.db"), clock.Now)
	})
}

// openTest opens a store at path and closes it when the test ends.
func openTest(t *testing.T, path string, now func() time.Time) *Store {
	t.Helper()
	s, err := Open(path, Options{Now: now})
	if err != nil {
		t.Fatalf("Open(%s) = %v; want a store", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	})
	return s
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testJob(merchant string, i int) app.Job {
	return app.Job{
		ID:       fmt.Sprintf("job-%05d", i),
		Merchant: merchant,
		Kind:     "test.kind",
		Payload:  []byte(fmt.Sprintf(`{"n":%d}`, i)),
	}
}

func enqueueAll(t *testing.T, s *Store, jobs ...app.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := s.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("Enqueue(%s/%s) = %v; want nil", j.Merchant, j.ID, err)
		}
	}
}

// inParallel runs do(0..n-1) from 16 goroutines: writes share commits, so
// setting up thousands of records stays fast.
func inParallel(n int, do func(i int)) {
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				do(i)
			}
		})
	}
	wg.Wait()
}

func claim(t *testing.T, s *Store, max int) []app.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), testLease, max)
	if err != nil {
		t.Fatalf("ClaimJobs(%d) = %v; want nil", max, err)
	}
	return jobs
}

// TestReopenKeepsEverythingAcknowledged closes the store mid-work and
// checks the reopened file holds exactly what was acknowledged.
func TestReopenKeepsEverythingAcknowledged(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	c := newClock()
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	for i := range 20 {
		enqueueAll(t, s, testJob("m1", i))
	}
	held := claim(t, s, 10)
	if len(held) != 10 {
		t.Fatalf("ClaimJobs(10) = %d jobs; want 10", len(held))
	}
	acked := map[string]bool{}
	for _, j := range held[:5] {
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack(%s) = %v", j.ID, err)
		}
		acked[j.ID] = true
	}
	m := app.Merchant{ID: "m1", Platform: app.PlatformShopify, Domain: "a.myshopify.com", APIKeyHash: "h1",
		Secrets: map[string]app.Sealed{"access_token": "v1.abcd.sealed"}}
	if err := s.CreateMerchant(ctx, m); err != nil {
		t.Fatalf("CreateMerchant() = %v", err)
	}
	if err := s.CreateDelivery(ctx, app.Delivery{ID: "d1", Merchant: "m1", Event: app.EventOrderPlaced, Status: app.DeliverySent, ProviderMessageID: "wamid.1"}); err != nil {
		t.Fatalf("CreateDelivery() = %v", err)
	}
	if err := s.Incr(ctx, 3, app.Counter{Merchant: "m1", Day: "2025-03-01", Subject: app.EventOrderPlaced, Outcome: "sent"}); err != nil {
		t.Fatalf("Incr() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping() after Close = nil; want an error")
	}

	s = openTest(t, path, c.Now)
	d, err := s.Depth(ctx)
	if err != nil {
		t.Fatalf("Depth() = %v", err)
	}
	if want := (app.QueueDepth{Ready: 10, Running: 5}); d != want {
		t.Errorf("Depth() after reopen = %+v; want %+v", d, want)
	}
	ready := claim(t, s, 100)
	if len(ready) != 10 {
		t.Errorf("ClaimJobs() after reopen = %d jobs; want the 10 never claimed", len(ready))
	}
	// The five held but not acked come back once their lease runs out.
	c.Advance(testLease + time.Second)
	back := claim(t, s, 100)
	if len(back) != 15 {
		t.Errorf("ClaimJobs() after the lease = %d jobs; want 15 (5 unacked + 10 expired again)", len(back))
	}
	for _, j := range back {
		if acked[j.ID] {
			t.Errorf("ClaimJobs() after reopen returned acked job %s", j.ID)
		}
	}
	got, err := s.MerchantByAPIKeyHash(ctx, "h1")
	if err != nil || got.Secrets["access_token"] != "v1.abcd.sealed" {
		t.Errorf("MerchantByAPIKeyHash(h1) after reopen = %+v, %v; want m1 with its sealed secret", got, err)
	}
	if del, err := s.DeliveryByProviderMessageID(ctx, "m1", "wamid.1"); err != nil || del.ID != "d1" {
		t.Errorf("DeliveryByProviderMessageID(wamid.1) after reopen = %q, %v; want d1", del.ID, err)
	}
	counts, err := s.DailyCounts(ctx, "m1", "2025-03-01", "2025-03-01")
	if err != nil || counts["2025-03-01"][app.EventOrderPlaced]["sent"] != 3 {
		t.Errorf("DailyCounts() after reopen = %v, %v; want sent 3", counts, err)
	}
}

func TestConcurrentClaimsHandOutEachJobOnce(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), newClock().Now)
	const jobs = 2000
	inParallel(jobs, func(i int) {
		if err := s.Enqueue(ctx, testJob(fmt.Sprintf("m%d", i%10), i)); err != nil {
			t.Errorf("Enqueue(%d) = %v", i, err)
		}
	})

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]int{}
	)
	for range 32 {
		wg.Go(func() {
			for {
				got, err := s.ClaimJobs(ctx, testLease, 7)
				if err != nil {
					t.Errorf("ClaimJobs() = %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, j := range got {
					mu.Lock()
					seen[j.Merchant+"/"+j.ID]++
					mu.Unlock()
					if err := s.Ack(ctx, j); err != nil {
						t.Errorf("Ack(%s) = %v", j.ID, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Errorf("distinct jobs claimed = %d; want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s handed out %d times; want once", id, n)
		}
	}
	if d, err := s.Depth(ctx); err != nil || d != (app.QueueDepth{}) {
		t.Errorf("Depth() after acking all = %+v, %v; want empty", d, err)
	}
}

func TestClaimIsFairAcrossMerchants(t *testing.T) {
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	start := c.Now()
	inParallel(1000, func(i int) {
		j := testJob("flood", i)
		j.DueAt = start.Add(time.Duration(i) * time.Millisecond)
		if err := s.Enqueue(context.Background(), j); err != nil {
			t.Errorf("Enqueue(%s) = %v", j.ID, err)
		}
	})
	c.Advance(time.Hour)
	late := testJob("quiet", 0)
	late.DueAt = c.Now() // due after every one of the flood's jobs
	enqueueAll(t, s, late)

	got := claim(t, s, 4)
	var order []string
	for _, j := range got {
		order = append(order, j.Merchant+"/"+j.ID)
	}
	want := []string{"flood/job-00000", "quiet/job-00000", "flood/job-00001", "flood/job-00002"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("ClaimJobs(4) = %v; want %v", order, want)
	}
}

func TestSecondOpenFailsOnLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	openTest(t, path, nil)
	start := time.Now()
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("second Open(%s) = nil error; want a lock timeout", path)
	}
	if !errors.Is(err, bolterrors.ErrTimeout) || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("second Open() = %v; want a lock error that says so", err)
	}
	if elapsed := time.Since(start); elapsed > lockTimeout+2*time.Second {
		t.Errorf("second Open() took %s; want about %s", elapsed, lockTimeout)
	}
}

func TestPurgeDeletesExpiredKeys(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), c.Now)
	// More than one purge chunk.
	inParallel(2500, func(i int) {
		if _, err := s.Claim(ctx, "m1", fmt.Sprintf("short-%d", i), time.Minute); err != nil {
			t.Errorf("Claim() = %v", err)
		}
	})
	if err := s.Complete(ctx, "m1", "long", 24*time.Hour); err != nil {
		t.Fatalf("Complete() = %v", err)
	}
	c.Advance(2 * time.Minute)
	n, err := s.Purge(ctx)
	if err != nil || n != 2500 {
		t.Errorf("Purge() = %d, %v; want 2500, nil", n, err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Errorf("second Purge() = %d, %v; want 0, nil", n, err)
	}
	if st, err := s.Claim(ctx, "m1", "long", time.Minute); err != nil || st != app.ClaimDone {
		t.Errorf("Claim(long) after Purge = %v, %v; want done", st, err)
	}
	if st, err := s.Claim(ctx, "m1", "short-7", time.Minute); err != nil || st != app.ClaimNew {
		t.Errorf("Claim(short-7) after Purge = %v, %v; want new", st, err)
	}
}

func TestCancelLeavesHeldJob(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), newClock().Now)
	j := testJob("m1", 1)
	j.Key = "cart:1"
	enqueueAll(t, s, j)
	held := claim(t, s, 1)
	if ok, err := s.Cancel(ctx, "m1", "cart:1"); err != nil || ok {
		t.Errorf("Cancel(held job's key) = %v, %v; want false", ok, err)
	}
	dup := testJob("m1", 2)
	dup.Key = "cart:1"
	if err := s.Enqueue(ctx, dup); !errors.Is(err, app.ErrConflict) {
		t.Errorf("Enqueue(key of a held job) = %v; want ErrConflict", err)
	}
	if err := s.Bury(ctx, held[0], "boom"); err != nil {
		t.Fatalf("Bury() = %v", err)
	}
	// Burying frees the key; requeueing the dead job then conflicts.
	enqueueAll(t, s, dup)
	if err := s.RequeueDead(ctx, "m1", held[0].ID); !errors.Is(err, app.ErrConflict) {
		t.Errorf("RequeueDead() while its key is taken = %v; want ErrConflict", err)
	}
	if ok, err := s.Cancel(ctx, "m1", "cart:1"); err != nil || !ok {
		t.Errorf("Cancel(due job's key) = %v, %v; want true", ok, err)
	}
	if err := s.RequeueDead(ctx, "m1", held[0].ID); err != nil {
		t.Errorf("RequeueDead() = %v; want nil", err)
	}
	if got := claim(t, s, 5); len(got) != 1 || got[0].ID != held[0].ID || got[0].Attempt != 1 {
		t.Errorf("ClaimJobs() after RequeueDead = %+v; want %s at attempt 1", got, held[0].ID)
	}
}

func TestOpenRefusesOtherSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "store.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(%s) = %v; want the directory and file created", path, err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return bucket(tx, bucketMeta).Put([]byte(keySchemaVersion), []byte("99"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open(schema 99) = %v; want a schema version error", err)
	}
	// The failed open released the file lock.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("bolt.Open() after a refused Open = %v; want the lock free", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
