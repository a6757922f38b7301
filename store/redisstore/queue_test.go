package redisstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

func newJob(merchant, key string, due time.Time) app.Job {
	id := app.NewID(time.Now())
	return app.Job{
		ID: id, Merchant: merchant, Kind: "shopify.webhook", Key: key,
		Payload: []byte(`{"customer":{"first_name":"Aarav","last_name":"Sharma","phone":"+919876543210"},"gateway":"Cash on Delivery (COD)","note":"जल्दी भेजें"}`),
		DueAt:   due, MaxAttempts: 5,
	}
}

func mustEnqueue(t *testing.T, s *Store, jobs ...app.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := s.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("Enqueue(%s) = %v; want nil", j.ID, err)
		}
	}
}

func claimIDs(t *testing.T, s *Store, lease time.Duration, limit int) ([]string, []app.Job) {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), lease, limit)
	if err != nil {
		t.Fatalf("ClaimJobs(%s, %d) = %v; want nil", lease, limit, err)
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids, jobs
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	now := clock.Now()
	first := newJob("m-asha", "", now.Add(-2*time.Second))
	second := newJob("m-asha", "", now.Add(-time.Second))
	later := newJob("m-asha", "cart:7f3a", now.Add(time.Hour))
	mustEnqueue(t, s, second, later, first)

	depth, err := s.Depth(ctx)
	if err != nil || depth != (app.QueueDepth{Ready: 2, Scheduled: 1}) {
		t.Fatalf("Depth() = %+v, %v; want {Ready:2 Scheduled:1}", depth, err)
	}
	ids, jobs := claimIDs(t, s, time.Minute, 10)
	if want := []string{first.ID, second.ID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("ClaimJobs ids = %v; want %v (oldest due first)", ids, want)
	}
	got := jobs[0]
	if got.Attempt != 1 || got.Lease == "" || got.Kind != first.Kind || got.MaxAttempts != 5 ||
		!bytes.Equal(got.Payload, first.Payload) || !got.DueAt.Equal(first.DueAt) {
		t.Errorf("claimed job = %+v; want attempt 1, a lease, and the enqueued fields of %+v", got, first)
	}
	if jobs[0].Lease == jobs[1].Lease {
		t.Errorf("two claimed jobs share lease %q; want distinct tokens", jobs[0].Lease)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 0 {
		t.Errorf("ClaimJobs while all due jobs are leased = %v; want none", ids)
	}
	depth, _ = s.Depth(ctx)
	if depth != (app.QueueDepth{Running: 2, Scheduled: 1}) {
		t.Errorf("Depth() = %+v; want {Running:2 Scheduled:1}", depth)
	}
	for _, j := range jobs {
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack(%s) = %v; want nil", j.ID, err)
		}
	}
	if err := s.Ack(ctx, jobs[0]); !errors.Is(err, app.ErrLeaseLost) {
		t.Errorf("second Ack = %v; want ErrLeaseLost", err)
	}
	clock.Advance(time.Hour)
	ids, _ = claimIDs(t, s, time.Minute, 10)
	if len(ids) != 1 || ids[0] != later.ID {
		t.Errorf("ClaimJobs an hour later = %v; want [%s]", ids, later.ID)
	}
}

func TestEnqueueConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	j := newJob("m-priya", "cod:1001", time.Time{})
	mustEnqueue(t, s, j)

	sameID := newJob("m-priya", "", time.Time{})
	sameID.ID = j.ID
	sameKey := newJob("m-priya", "cod:1001", time.Time{})
	otherMerchant := newJob("m-ravi", "cod:1001", time.Time{})
	tests := []struct {
		name string
		job  app.Job
		want error
	}{
		{"same id", sameID, app.ErrConflict},
		{"same live key", sameKey, app.ErrConflict},
		{"same key, other merchant", otherMerchant, nil},
	}
	for _, tc := range tests {
		if err := s.Enqueue(ctx, tc.job); !errors.Is(err, tc.want) {
			t.Errorf("Enqueue(%s) = %v; want %v", tc.name, err, tc.want)
		}
	}
	var ve *app.ValidationError
	if err := s.Enqueue(ctx, app.Job{ID: "x"}); !errors.As(err, &ve) {
		t.Errorf("Enqueue(no merchant) = %v; want a ValidationError", err)
	}

	_, jobs := claimIDs(t, s, time.Minute, 10)
	for _, claimed := range jobs {
		if err := s.Ack(ctx, claimed); err != nil {
			t.Fatalf("Ack = %v", err)
		}
	}
	if err := s.Enqueue(ctx, sameKey); err != nil {
		t.Errorf("Enqueue(same key after ack) = %v; want nil", err)
	}
}

func TestClaimAndEnqueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-kavya"
	j := newJob(merchant, "", time.Time{})

	state, err := s.ClaimAndEnqueue(ctx, "shopify:evt-1", time.Hour, j)
	if err != nil || state != app.ClaimNew {
		t.Fatalf("ClaimAndEnqueue(first) = %v, %v; want new", state, err)
	}
	again := newJob(merchant, "", time.Time{})
	state, err = s.ClaimAndEnqueue(ctx, "shopify:evt-1", time.Hour, again)
	if err != nil || state != app.ClaimDone {
		t.Fatalf("ClaimAndEnqueue(repeat) = %v, %v; want done", state, err)
	}
	if st, _ := s.Claim(ctx, merchant, "shopify:evt-2", time.Minute); st != app.ClaimNew {
		t.Fatalf("Claim(evt-2) = %v; want new", st)
	}
	state, err = s.ClaimAndEnqueue(ctx, "shopify:evt-2", time.Hour, again)
	if err != nil || state != app.ClaimInProgress {
		t.Fatalf("ClaimAndEnqueue(held key) = %v, %v; want in_progress", state, err)
	}
	dup := newJob(merchant, "", time.Time{})
	dup.ID = j.ID
	if _, err := s.ClaimAndEnqueue(ctx, "shopify:evt-3", time.Hour, dup); !errors.Is(err, app.ErrConflict) {
		t.Fatalf("ClaimAndEnqueue(taken id) = %v; want ErrConflict", err)
	}
	if st, _ := s.Claim(ctx, merchant, "shopify:evt-3", time.Minute); st != app.ClaimNew {
		t.Errorf("Claim(evt-3) after a conflicting ClaimAndEnqueue = %v; want new (nothing written)", st)
	}
	ids, _ := claimIDs(t, s, time.Minute, 10)
	if len(ids) != 1 || ids[0] != j.ID {
		t.Errorf("ClaimJobs = %v; want only [%s]", ids, j.ID)
	}
}

func TestRetryBuryRequeue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-meera"
	// a is due a millisecond before b so that it is claimed first: jobs due
	// in the same millisecond come in the order of their random ids.
	a, b := newJob(merchant, "order:1", clock.Now().Add(-time.Millisecond)), newJob(merchant, "order:2", time.Time{})
	mustEnqueue(t, s, a, b)
	_, jobs := claimIDs(t, s, time.Minute, 10)
	if len(jobs) != 2 {
		t.Fatalf("ClaimJobs = %d jobs; want 2", len(jobs))
	}
	at := clock.Now().Add(10 * time.Second)
	if err := s.Retry(ctx, jobs[0], at, "interakt: retryable status 503: सेवा अनुपलब्ध"); err != nil {
		t.Fatalf("Retry = %v; want nil", err)
	}
	if err := s.Ack(ctx, jobs[0]); !errors.Is(err, app.ErrLeaseLost) {
		t.Errorf("Ack after Retry = %v; want ErrLeaseLost", err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 0 {
		t.Errorf("ClaimJobs before the retry is due = %v; want none", ids)
	}
	clock.Advance(10 * time.Second)
	_, again := claimIDs(t, s, time.Minute, 10)
	if len(again) != 1 || again[0].Attempt != 2 || again[0].LastError != "interakt: retryable status 503: सेवा अनुपलब्ध" || !again[0].DueAt.Equal(at) {
		t.Fatalf("ClaimJobs after retry = %+v; want the job with attempt 2, its last error and due %v", again, at)
	}

	if err := s.Bury(ctx, again[0], "retries exhausted"); err != nil {
		t.Fatalf("Bury = %v; want nil", err)
	}
	clock.Advance(time.Second)
	if err := s.Bury(ctx, jobs[1], "permanent: bad payload"); err != nil {
		t.Fatalf("Bury = %v; want nil", err)
	}
	dead, err := s.DeadJobs(ctx, merchant, 0)
	if err != nil || len(dead) != 2 || dead[0].ID != jobs[1].ID || dead[1].ID != again[0].ID {
		t.Fatalf("DeadJobs = %+v, %v; want [%s %s] newest first", dead, err, jobs[1].ID, again[0].ID)
	}
	if dead[0].LastError != "permanent: bad payload" {
		t.Errorf("DeadJobs[0].LastError = %q; want %q", dead[0].LastError, "permanent: bad payload")
	}
	if depth, _ := s.Depth(ctx); depth != (app.QueueDepth{Dead: 2}) {
		t.Errorf("Depth() = %+v; want {Dead:2}", depth)
	}
	// A buried job's key is free again.
	if err := s.Enqueue(ctx, newJob(merchant, "order:1", time.Time{})); err != nil {
		t.Errorf("Enqueue(key of a dead job) = %v; want nil", err)
	}
	if err := s.RequeueDead(ctx, merchant, again[0].ID); !errors.Is(err, app.ErrConflict) {
		t.Errorf("RequeueDead(key now live) = %v; want ErrConflict", err)
	}
	if err := s.RequeueDead(ctx, merchant, "no-such-job"); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("RequeueDead(unknown) = %v; want ErrNotFound", err)
	}
	if err := s.RequeueDead(ctx, merchant, jobs[1].ID); err != nil {
		t.Fatalf("RequeueDead = %v; want nil", err)
	}
	_, requeued := claimIDs(t, s, time.Minute, 10)
	var found bool
	for _, j := range requeued {
		if j.ID == jobs[1].ID {
			found = true
			if j.Attempt != 1 {
				t.Errorf("requeued job attempt = %d; want 1", j.Attempt)
			}
		}
	}
	if !found {
		t.Errorf("ClaimJobs after RequeueDead = %+v; want it to hold %s", requeued, jobs[1].ID)
	}
}

func TestLeaseChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	mustEnqueue(t, s, newJob("m-isha", "", time.Time{}))
	_, jobs := claimIDs(t, s, 10*time.Second, 1)
	held := jobs[0]

	forged := held
	forged.Lease = "not-the-lease"
	otherMerchant := held
	otherMerchant.Merchant = "m-other"
	for name, j := range map[string]app.Job{"forged lease": forged, "other merchant": otherMerchant} {
		if err := s.Ack(ctx, j); !errors.Is(err, app.ErrLeaseLost) {
			t.Errorf("Ack(%s) = %v; want ErrLeaseLost", name, err)
		}
		if err := s.Extend(ctx, j, time.Minute); !errors.Is(err, app.ErrLeaseLost) {
			t.Errorf("Extend(%s) = %v; want ErrLeaseLost", name, err)
		}
	}
	clock.Advance(8 * time.Second)
	if err := s.Extend(ctx, held, 10*time.Second); err != nil {
		t.Fatalf("Extend = %v; want nil", err)
	}
	clock.Advance(8 * time.Second) // past the first lease, inside the extended one
	if ids, _ := claimIDs(t, s, time.Minute, 1); len(ids) != 0 {
		t.Errorf("ClaimJobs during an extended lease = %v; want none", ids)
	}
	clock.Advance(3 * time.Second)
	// Run out, with a second job run out beside it. A claim with room for
	// one moves both back to due and takes one: neither old holder's ack
	// counts any more, the one taken or the one waiting for a worker.
	mustEnqueue(t, s, newJob("m-isha", "", time.Time{}))
	_, more := claimIDs(t, s, 10*time.Second, 1)
	clock.Advance(11 * time.Second)
	if ids, _ := claimIDs(t, s, time.Minute, 1); len(ids) != 1 {
		t.Fatalf("ClaimJobs after the leases ran out = %v; want one", ids)
	}
	for _, j := range []app.Job{held, more[0]} {
		if err := s.Ack(ctx, j); !errors.Is(err, app.ErrLeaseLost) {
			t.Errorf("Ack(%s) after its lease ran out and a claim came = %v; want ErrLeaseLost", j.ID, err)
		}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-rohan"
	reminder := newJob(merchant, "cart:abc", clock.Now().Add(time.Hour))
	running := newJob(merchant, "cod:42", time.Time{})
	mustEnqueue(t, s, reminder, running)
	claimIDs(t, s, time.Minute, 10)

	tests := []struct {
		key  string
		want bool
	}{
		{"cart:abc", true},
		{"cart:abc", false}, // already gone
		{"cod:42", false},   // held by a worker
		{"never", false},
	}
	for _, tc := range tests {
		got, err := s.Cancel(ctx, merchant, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("Cancel(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
		}
	}
	clock.Advance(2 * time.Hour)
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 1 || ids[0] != running.ID {
		t.Errorf("ClaimJobs after cancel = %v; want only the expired lease of %s", ids, running.ID)
	}
}

// A worker dies holding a job: once its lease runs out the job is handed
// out again, to exactly one of the workers asking.
func TestDeadWorkerJobReturnsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	mustEnqueue(t, s, newJob("m-neha", "", time.Time{}))
	_, first := claimIDs(t, s, 5*time.Second, 1)
	if len(first) != 1 {
		t.Fatalf("ClaimJobs = %d jobs; want 1", len(first))
	}
	clock.Advance(4 * time.Second)
	if ids, _ := claimIDs(t, s, 5*time.Second, 1); len(ids) != 0 {
		t.Fatalf("ClaimJobs before the lease ran out = %v; want none", ids)
	}
	clock.Advance(2 * time.Second)

	var wg sync.WaitGroup
	results := make(chan app.Job, 16)
	for range 16 {
		wg.Go(func() {
			jobs, err := s.ClaimJobs(ctx, 5*time.Second, 1)
			if err != nil {
				t.Errorf("ClaimJobs = %v", err)
			}
			for _, j := range jobs {
				results <- j
			}
		})
	}
	wg.Wait()
	close(results)
	var got []app.Job
	for j := range results {
		got = append(got, j)
	}
	if len(got) != 1 || got[0].ID != first[0].ID || got[0].Attempt != 2 || got[0].Lease == first[0].Lease {
		t.Fatalf("16 concurrent ClaimJobs after the lease ran out = %+v; want the job once, attempt 2, a new lease", got)
	}
	if err := s.Ack(ctx, first[0]); !errors.Is(err, app.ErrLeaseLost) {
		t.Errorf("Ack by the dead worker = %v; want ErrLeaseLost", err)
	}
	if err := s.Ack(ctx, got[0]); err != nil {
		t.Errorf("Ack by the new holder = %v; want nil", err)
	}
}

// 32 workers claim from several merchants at once: every job is handed out
// exactly once.
func TestConcurrentClaimers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const merchants, perMerchant = 8, 250
	for m := range merchants {
		for range perMerchant {
			mustEnqueue(t, s, newJob(fmt.Sprintf("m-%02d", m), "", time.Time{}))
		}
	}
	total := merchants * perMerchant
	var mu sync.Mutex
	seen := make(map[string]int, total)
	var claimed atomic.Int64
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for claimed.Load() < int64(total) && time.Now().Before(deadline) {
				jobs, err := s.ClaimJobs(ctx, time.Minute, 7)
				if err != nil {
					t.Errorf("ClaimJobs = %v", err)
					return
				}
				for _, j := range jobs {
					mu.Lock()
					seen[j.Merchant+"/"+j.ID]++
					mu.Unlock()
					if err := s.Ack(ctx, j); err != nil {
						t.Errorf("Ack(%s) = %v", j.ID, err)
					}
				}
				claimed.Add(int64(len(jobs)))
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("distinct jobs claimed = %d; want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s claimed %d times; want once", id, n)
		}
	}
	if depth, _ := s.Depth(ctx); depth != (app.QueueDepth{}) {
		t.Errorf("Depth() after all acked = %+v; want zero", depth)
	}
}

// The interleaving the index protocol exists for: the claim script finds
// the merchant idle, an enqueue lands (script and ZADD LT) before the worker
// writes its "idle" verdict, and the worker's re-check must put it back.
func TestIndexRaceInterleaving(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-aditi"
	q := s.keys.queue(merchant)
	res, err := s.scripts.claim.Run(ctx, s.rdb, []string{q.due, q.lease, q.jobs, q.payload}, s.offsetMS(), 60000, 10, "tok").StringSlice()
	if err != nil || len(res) != 2 || res[0] != "" {
		t.Fatalf("claim script on an empty merchant = %q, %v; want [\"\" now]", res, err)
	}
	j := newJob(merchant, "", time.Time{})
	mustEnqueue(t, s, j) // script, then ZADD LT: lands between the claim and its verdict
	if err := s.settleIndex(ctx, merchant, res[0]); err != nil {
		t.Fatalf("settleIndex = %v", err)
	}
	if _, err := s.rdb.ZScore(ctx, s.keys.queueIndex(), merchant).Result(); err != nil {
		t.Fatalf("index score of %s after the race = %v; want present", merchant, err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 1 || ids[0] != j.ID {
		t.Errorf("ClaimJobs = %v; want [%s]", ids, j.ID)
	}
}

// Enqueuers and claimers run together: no job is lost from the index, so
// every one is claimed, once, without SweepIndex. A lost index entry only
// shows when no later enqueue of the same merchant repairs it, so each
// merchant gets a short burst: its last job is the one at risk.
func TestIndexRaceConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newTestStore(t, Options{})
	const producers, merchantsEach, burst = 4, 60, 3
	var mu sync.Mutex
	seen := map[string]int{}
	var produced, consumed atomic.Int64
	done := make(chan struct{})
	var claimers sync.WaitGroup
	for range 8 {
		claimers.Go(func() {
			for {
				jobs, err := s.ClaimJobs(ctx, time.Minute, 1)
				if err != nil {
					t.Errorf("ClaimJobs = %v", err)
					return
				}
				for _, j := range jobs {
					mu.Lock()
					seen[j.ID]++
					mu.Unlock()
					if err := s.Ack(ctx, j); err != nil {
						t.Errorf("Ack = %v", err)
					}
				}
				consumed.Add(int64(len(jobs)))
				if len(jobs) == 0 {
					select {
					case <-done:
						return
					default:
					}
				}
			}
		})
	}
	var producersWG sync.WaitGroup
	for p := range producers {
		producersWG.Go(func() {
			for m := range merchantsEach {
				merchant := fmt.Sprintf("m-%d-%03d", p, m)
				for i := range burst {
					if err := s.Enqueue(ctx, newJob(merchant, "", time.Time{})); err != nil {
						t.Errorf("Enqueue = %v", err)
						return
					}
					produced.Add(1)
					// Let a claimer reach the merchant between jobs.
					time.Sleep(time.Duration(i*100) * time.Microsecond)
				}
			}
		})
	}
	producersWG.Wait()
	// The claimers get a bounded time to drain; a job missing from the
	// index would never be claimed.
	deadline := time.Now().Add(10 * time.Second)
	for consumed.Load() < produced.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	claimers.Wait()
	want := int64(producers * merchantsEach * burst)
	if got := consumed.Load(); got != want || len(seen) != int(want) {
		t.Fatalf("claimed %d jobs (%d distinct); want %d", got, len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s claimed %d times; want once", id, n)
		}
	}
}

// SweepIndex repairs an index entry lost between an enqueue's script and
// its ZADD (a crash).
func TestSweepIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	j := newJob("m-tanvi", "", time.Time{})
	mustEnqueue(t, s, j)
	if err := s.rdb.ZRem(ctx, s.keys.queueIndex(), j.Merchant).Err(); err != nil {
		t.Fatal(err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 0 {
		t.Fatalf("ClaimJobs with the merchant missing from the index = %v; want none", ids)
	}
	if err := s.SweepIndex(ctx); err != nil {
		t.Fatalf("SweepIndex = %v; want nil", err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 1 || ids[0] != j.ID {
		t.Errorf("ClaimJobs after SweepIndex = %v; want [%s]", ids, j.ID)
	}
}

// Merchants take turns: one merchant's flood does not fill a batch while
// another waits.
func TestClaimFairness(t *testing.T) {
	t.Parallel()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	past := clock.Now().Add(-time.Hour)
	for range 50 {
		mustEnqueue(t, s, newJob("m-flood", "", past))
	}
	mustEnqueue(t, s, newJob("m-small", "", time.Time{}))
	_, jobs := claimIDs(t, s, time.Minute, 10)
	perMerchant := map[string]int{}
	for _, j := range jobs {
		perMerchant[j.Merchant]++
	}
	if len(jobs) != 10 || perMerchant["m-small"] != 1 {
		t.Errorf("ClaimJobs(10) per merchant = %v; want 10 jobs, 1 of them m-small's", perMerchant)
	}
}

// A payload is stored in its record, base64, as the record's last field,
// in the job's one field of q:jobs; jobs main's code wrote (the payload in
// q:payload, or in the record) still come back whole, and settle.
func TestPayloadInRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-raw"
	j := newJob(merchant, "", time.Time{})
	j.Payload = append(append(bytes.Repeat([]byte("x"), 4096), '\n', 0, 0xff), `"}{,"payload":"`...)
	mustEnqueue(t, s, j)
	q := s.keys.queue(merchant)
	field := s.rdb.HGet(ctx, q.jobs, j.ID).Val()
	record, payload, _ := strings.Cut(field, `,"payload":"`)
	if want := base64.StdEncoding.EncodeToString(j.Payload) + `"}`; payload != want {
		t.Errorf("payload field = %d bytes; want the %d of the base64 payload, last", len(payload), len(want))
	}
	if len(record) > 512 || strings.Contains(record, "payload") {
		t.Errorf("record = %q; want small fields before the payload", record)
	}

	// Written by main's code: apart in q:payload, and older still, in the
	// record (TestJobsReadByMainsScripts has records main's scripts moved).
	apart := newJob(merchant, "", clock.Now().Add(-2*time.Second))
	old := newJob(merchant, "", clock.Now().Add(-time.Second))
	for _, o := range []app.Job{apart, old} {
		r := jobRecord{ID: o.ID, Merchant: merchant, Kind: o.Kind, MaxAttempts: 5, DueAt: o.DueAt, CreatedAt: o.DueAt}
		if o.ID == old.ID {
			r.Payload = o.Payload
		} else {
			s.rdb.HSet(ctx, q.payload, o.ID, o.Payload)
		}
		rec, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		s.rdb.HSet(ctx, q.jobs, o.ID, rec)
		s.rdb.ZAdd(ctx, q.due, redis.Z{Score: float64(msOf(o.DueAt)), Member: o.ID})
	}
	empty := newJob(merchant, "", time.Time{})
	empty.Payload = nil
	mustEnqueue(t, s, empty)

	_, jobs := claimIDs(t, s, time.Minute, 10)
	got := map[string]app.Job{}
	for _, c := range jobs {
		got[c.ID] = c
	}
	if len(jobs) != 4 || !bytes.Equal(got[j.ID].Payload, j.Payload) || !bytes.Equal(got[old.ID].Payload, old.Payload) ||
		!bytes.Equal(got[apart.ID].Payload, apart.Payload) || got[empty.ID].Payload != nil || got[old.ID].Attempt != 1 {
		t.Fatalf("ClaimJobs = %+v; want the four jobs with their payloads", jobs)
	}
	// A retry and a claim again keep each payload where it was.
	for _, c := range jobs {
		if err := s.Retry(ctx, c, clock.Now(), "again"); err != nil {
			t.Fatalf("Retry = %v", err)
		}
	}
	_, jobs = claimIDs(t, s, time.Minute, 10)
	for _, c := range jobs {
		if want := got[c.ID].Payload; !bytes.Equal(c.Payload, want) || c.Attempt != 2 {
			t.Errorf("claimed again: %s with %d bytes at attempt %d; want %d bytes at attempt 2", c.ID, len(c.Payload), c.Attempt, len(want))
		}
		if err := s.Ack(ctx, c); err != nil {
			t.Fatalf("Ack = %v", err)
		}
	}
	if len(jobs) != 4 {
		t.Errorf("claimed again %d jobs; want 4", len(jobs))
	}
	if n := s.rdb.Exists(ctx, q.payload, q.jobs).Val(); n != 0 {
		t.Errorf("EXISTS q:payload q:jobs after acking all = %d; want 0", n)
	}
}

// A job that is not the merchant's earliest work leaves the index alone; one
// that is lowers it. A claim that leaves due work keeps the merchant's score.
func TestIndexScoreOnlyMovesWhenNeeded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	s, _ := newTestStore(t, clocked(clock))
	const merchant = "m-index"
	score := func() int64 {
		t.Helper()
		v, err := s.rdb.ZScore(ctx, s.keys.queueIndex(), merchant).Result()
		if err != nil {
			t.Fatalf("ZSCORE = %v", err)
		}
		return int64(v)
	}
	now := clock.Now()
	mustEnqueue(t, s, newJob(merchant, "", now.Add(time.Minute)))
	if got := score(); got != msOf(now.Add(time.Minute)) {
		t.Fatalf("score = %d; want the first job's due time", got)
	}
	// Later work: no index write, even when the score is deliberately off.
	s.rdb.ZAdd(ctx, s.keys.queueIndex(), redis.Z{Score: 1, Member: merchant})
	mustEnqueue(t, s, newJob(merchant, "", now.Add(2*time.Minute)))
	if _, err := s.ClaimAndEnqueue(ctx, "k1", time.Hour, newJob(merchant, "", now.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := score(); got != 1 {
		t.Errorf("score after later jobs = %d; want 1 (untouched)", got)
	}
	// Earlier work lowers it.
	s.rdb.ZAdd(ctx, s.keys.queueIndex(), redis.Z{Score: float64(msOf(now.Add(time.Minute))), Member: merchant})
	if _, err := s.ClaimAndEnqueue(ctx, "k2", time.Hour, newJob(merchant, "", now.Add(-time.Second))); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, newJob(merchant, "", now.Add(-2*time.Second)))
	if got := score(); got != msOf(now.Add(-2*time.Second)) {
		t.Errorf("score after earlier jobs = %d; want %d", got, msOf(now.Add(-2*time.Second)))
	}
	// Claim one of the two due jobs: the other is still due, the score stays.
	if ids, _ := claimIDs(t, s, time.Minute, 1); len(ids) != 1 {
		t.Fatalf("ClaimJobs(1) = %v; want 1 job", ids)
	}
	if got := score(); got != msOf(now.Add(-2*time.Second)) {
		t.Errorf("score with due work left = %d; want %d (untouched)", got, msOf(now.Add(-2*time.Second)))
	}
	// Claim the other: the score rises to the next due time.
	if ids, _ := claimIDs(t, s, time.Hour, 10); len(ids) != 1 {
		t.Fatalf("ClaimJobs = %v; want 1 job", ids)
	}
	if got := score(); got != msOf(now.Add(time.Minute)) {
		t.Errorf("score after the due work was taken = %d; want %d", got, msOf(now.Add(time.Minute)))
	}
}

// The claim and re-check scripts run in pipelines by EVALSHA; after the
// server forgot its scripts they run by EVAL instead.
func TestClaimAfterScriptFlush(t *testing.T) {
	ctx := context.Background()
	srv, err := startRedis(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	clock := newClock()
	s := New(newClient(srv.addr()), clocked(clock))
	t.Cleanup(func() { s.Close() })
	for i := range 12 {
		mustEnqueue(t, s, newJob(fmt.Sprintf("m-flush-%d", i%4), "", time.Time{}))
	}
	for range 2 {
		if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		ids, jobs := claimIDs(t, s, time.Minute, 6)
		if len(ids) != 6 {
			t.Fatalf("ClaimJobs(6) after SCRIPT FLUSH = %v; want 6 jobs", ids)
		}
		for _, j := range jobs {
			if err := s.Ack(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepIndex(ctx); err != nil {
		t.Fatalf("SweepIndex after SCRIPT FLUSH = %v", err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 0 {
		t.Errorf("ClaimJobs after draining = %v; want none", ids)
	}
	clock.Advance(2 * time.Minute) // past the leases of the acked jobs
	if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if ids, _ := claimIDs(t, s, time.Minute, 10); len(ids) != 0 {
		t.Errorf("ClaimJobs after draining = %v; want none", ids)
	}
	if n := s.rdb.ZCard(ctx, s.keys.queueIndex()).Val(); n != 0 {
		t.Errorf("index after a claim found every merchant empty = %d merchants; want 0", n)
	}
}

// Two instances whose clocks are 30 s apart share one queue. Leases and
// what is due follow the server's clock, so the one ahead does not take the
// other's lease early (the job would run twice at once), the one behind
// does not wait on a dead lease, and work due now is due at once whoever
// wrote it. The server's clock is moved by a shared offset, the instances'
// clocks stay 30 s apart.
func TestLeasesFollowTheServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	server := newClock()
	const skew = 30 * time.Second
	exact, prefix := newTestStore(t, Options{Now: time.Now, ServerClockOffset: server.Offset})
	ahead := New(newClient(sharedAddr), Options{Prefix: prefix, Now: func() time.Time { return time.Now().Add(skew) }, ServerClockOffset: server.Offset})
	t.Cleanup(func() { ahead.Close() })
	const merchant = "m-skew"

	// Due now by the clock ahead is due now by the server.
	mustEnqueue(t, ahead, newJob(merchant, "", time.Time{}))
	_, held := claimIDs(t, exact, time.Minute, 10)
	if len(held) != 1 {
		t.Fatalf("ClaimJobs by the exact instance of a job the one ahead enqueued now = %d jobs; want 1", len(held))
	}
	// 45 s into a 1 min lease: past it by the clock ahead, not by the server.
	server.Advance(45 * time.Second)
	if ids, _ := claimIDs(t, ahead, time.Minute, 10); len(ids) != 0 {
		t.Fatalf("ClaimJobs by the instance 30 s ahead, 45 s into another's 1 min lease = %v; want none", ids)
	}
	if depth, err := ahead.Depth(ctx); err != nil || depth != (app.QueueDepth{Running: 1}) {
		t.Errorf("Depth() from the instance ahead = %+v, %v; want {Running:1}", depth, err)
	}
	if err := exact.Ack(ctx, held[0]); err != nil {
		t.Fatalf("Ack by the holder inside its lease = %v; want nil", err)
	}

	// The one ahead holds a lease that the server's clock then ends: the
	// instance 30 s behind it takes the job at once, not 30 s later.
	mustEnqueue(t, exact, newJob(merchant, "", time.Time{}))
	_, held = claimIDs(t, ahead, time.Minute, 10)
	if len(held) != 1 {
		t.Fatalf("ClaimJobs by the instance ahead = %d jobs; want 1", len(held))
	}
	server.Advance(time.Minute + time.Second)
	_, again := claimIDs(t, exact, time.Minute, 10)
	if len(again) != 1 || again[0].ID != held[0].ID || again[0].Attempt != 2 {
		t.Fatalf("ClaimJobs by the instance behind once the lease ran out on the server = %+v; want %s, attempt 2", again, held[0].ID)
	}
	if err := ahead.Ack(ctx, held[0]); !errors.Is(err, app.ErrLeaseLost) {
		t.Errorf("Ack by the old holder = %v; want ErrLeaseLost", err)
	}
	if err := exact.Ack(ctx, again[0]); err != nil {
		t.Fatalf("Ack by the new holder = %v", err)
	}

	// A scheduled time is the writer's own, compared with the server's
	// clock: "in ten minutes" by the clock ahead is due when the server
	// reaches that time.
	due := ahead.now().Add(10 * time.Minute)
	mustEnqueue(t, ahead, newJob(merchant, "", due))
	server.Advance(time.Until(due) - server.Offset() - time.Second)
	if ids, _ := claimIDs(t, exact, time.Minute, 10); len(ids) != 0 {
		t.Errorf("ClaimJobs a second before the writer's due time = %v; want none", ids)
	}
	server.Advance(2 * time.Second)
	if ids, _ := claimIDs(t, exact, time.Minute, 10); len(ids) != 1 {
		t.Errorf("ClaimJobs a second after the writer's due time = %v; want the scheduled job", ids)
	}
}

// A record's own encoding is json.Marshal's, byte for byte, so records of
// every release read alike (old instances decode them with encoding/json,
// the scripts split the payload by its place).
func TestJobRecordEncodeIsJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	payloads := [][]byte{nil, {}, {0}, []byte(`{"a":"</script>\u2028"}` + "\n\xff\x00"), bytes.Repeat([]byte("é"), 5000)}
	for range 200 {
		p := make([]byte, rnd.IntN(300))
		for i := range p {
			p[i] = byte(rnd.IntN(256))
		}
		payloads = append(payloads, p)
	}
	for i, p := range payloads {
		r := jobRecord{
			ID: fmt.Sprintf("j%d", i), Merchant: "m<1>", Kind: "shopify.webhook", Key: "k\"\\\u2028",
			Attempt: i, MaxAttempts: 3, DueAt: time.Unix(int64(i)*7919, 13).UTC(), CreatedAt: time.Unix(1, 0).In(time.FixedZone("IST", 19800)),
			LastError: "é\x01", Lease: "tok.h", Payload: p,
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("payload %d: encode() =\n%s\nwant json.Marshal's\n%s", i, got, want)
		}
	}
}
