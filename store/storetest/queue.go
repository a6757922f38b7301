package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

const lease = time.Minute

func newJob(clock *Clock, merchant, id string) app.Job {
	return app.Job{
		ID:          id,
		Merchant:    merchant,
		Kind:        "test.kind",
		Payload:     []byte(`{"order":"#1001","customer":"ज्योति"}` + "\x00\xff"),
		MaxAttempts: 5,
		CreatedAt:   clock.Now(),
	}
}

func claimAll(t *testing.T, s app.Store, max int) []app.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), lease, max)
	if err != nil {
		t.Fatalf("ClaimJobs() = %v", err)
	}
	return jobs
}

func ids(jobs []app.Job) []string {
	out := make([]string, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func mustEnqueue(t *testing.T, s app.Store, jobs ...app.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := s.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("Enqueue(%s) = %v", j.ID, err)
		}
	}
}

func queueCases() []testCase {
	return []testCase{
		{"Queue/EnqueueClaimAck", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			want := newJob(clock, "m1", "j1")
			want.Key = "order:1001"
			mustEnqueue(t, s, want)
			jobs := claimAll(t, s, 10)
			if len(jobs) != 1 {
				t.Fatalf("ClaimJobs() = %d jobs; want 1", len(jobs))
			}
			got := jobs[0]
			if got.ID != "j1" || got.Merchant != "m1" || got.Kind != "test.kind" || got.Key != "order:1001" ||
				string(got.Payload) != string(want.Payload) || got.MaxAttempts != 5 || got.Attempt != 1 || got.Lease == "" {
				t.Errorf("claimed job = %+v; want %+v with attempt 1 and a lease", got, want)
			}
			if again := claimAll(t, s, 10); len(again) != 0 {
				t.Errorf("ClaimJobs() while leased = %v; want none", ids(again))
			}
			if err := s.Ack(ctx, got); err != nil {
				t.Fatalf("Ack() = %v", err)
			}
			clock.Advance(2 * lease)
			if again := claimAll(t, s, 10); len(again) != 0 {
				t.Errorf("ClaimJobs() after Ack = %v; want none", ids(again))
			}
			// The key is free again once the job is done.
			next := newJob(clock, "m1", "j2")
			next.Key = "order:1001"
			mustEnqueue(t, s, next)
		}},
		{"Queue/DelayedNotEarly", func(t *testing.T, clock *Clock, s app.Store) {
			later := newJob(clock, "m1", "later")
			later.DueAt = clock.Now().Add(time.Hour)
			mustEnqueue(t, s, later)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() before due = %v; want none", ids(got))
			}
			clock.Advance(59 * time.Minute)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() a minute before due = %v; want none", ids(got))
			}
			clock.Advance(time.Minute + time.Millisecond)
			if got := claimAll(t, s, 10); len(got) != 1 || got[0].ID != "later" {
				t.Fatalf("ClaimJobs() when due = %v; want [later]", ids(got))
			}
		}},
		{"Queue/OldestDueFirst", func(t *testing.T, clock *Clock, s app.Store) {
			now := clock.Now()
			for i, offset := range []time.Duration{-time.Second, -3 * time.Second, -2 * time.Second} {
				j := newJob(clock, "m1", fmt.Sprintf("j%d", i))
				j.DueAt = now.Add(offset)
				mustEnqueue(t, s, j)
			}
			var order []string
			for range 3 {
				got := claimAll(t, s, 1)
				if len(got) != 1 {
					t.Fatalf("ClaimJobs(max 1) = %d jobs; want 1", len(got))
				}
				order = append(order, got[0].ID)
			}
			if fmt.Sprint(order) != "[j1 j2 j0]" {
				t.Errorf("claim order = %v; want [j1 j2 j0]", order)
			}
		}},
		{"Queue/LeaseExpiryHandsOutAgainOnce", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "j1"))
			first := claimAll(t, s, 10)
			if len(first) != 1 {
				t.Fatalf("ClaimJobs() = %d; want 1", len(first))
			}
			// The worker holding it dies; before the lease ends nobody gets it.
			clock.Advance(lease - time.Second)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() before lease end = %v; want none", ids(got))
			}
			clock.Advance(2 * time.Second)
			second := claimAll(t, s, 10)
			if len(second) != 1 || second[0].ID != "j1" || second[0].Attempt != 2 {
				t.Fatalf("ClaimJobs() after lease end = %+v; want j1 at attempt 2", second)
			}
			if second[0].Lease == first[0].Lease {
				t.Errorf("second lease = first lease %q; want a fresh one", first[0].Lease)
			}
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Errorf("ClaimJobs() third time = %v; want none", ids(got))
			}
			// The dead worker's late answers are refused; the new holder's count.
			if err := s.Ack(ctx, first[0]); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("Ack(stale lease) = %v; want ErrLeaseLost", err)
			}
			if err := s.Retry(ctx, first[0], clock.Now(), "late"); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("Retry(stale lease) = %v; want ErrLeaseLost", err)
			}
			if err := s.Bury(ctx, first[0], "late"); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("Bury(stale lease) = %v; want ErrLeaseLost", err)
			}
			if err := s.Ack(ctx, second[0]); err != nil {
				t.Errorf("Ack(current lease) = %v; want nil", err)
			}
			if err := s.Ack(ctx, second[0]); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("second Ack() = %v; want ErrLeaseLost", err)
			}
		}},
		{"Queue/AckAfterLeaseRanOutUnclaimed", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "slow"))
			held := claimAll(t, s, 10)
			if len(held) != 1 {
				t.Fatalf("ClaimJobs() = %d; want 1", len(held))
			}
			// The handler outran its lease, and no claim came meanwhile:
			// nobody else holds the job, so its answer still settles it.
			clock.Advance(lease + time.Second)
			if err := s.Ack(ctx, held[0]); err != nil {
				t.Fatalf("Ack() after the lease ran out, unclaimed = %v; want nil", err)
			}
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Errorf("ClaimJobs() after the ack = %v; want none", ids(got))
			}
			if err := s.Ack(ctx, held[0]); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("second Ack() = %v; want ErrLeaseLost", err)
			}
		}},
		{"Queue/ExtendKeepsLease", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "slow"))
			held := claimAll(t, s, 1)
			if len(held) != 1 {
				t.Fatal("nothing claimed")
			}
			if err := s.Extend(ctx, held[0], 10*time.Minute); err != nil {
				t.Fatalf("Extend() = %v", err)
			}
			clock.Advance(5 * time.Minute)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() within extended lease = %v; want none", ids(got))
			}
			if err := s.Ack(ctx, held[0]); err != nil {
				t.Fatalf("Ack() after Extend = %v", err)
			}
		}},
		{"Queue/RetryKeepsAttemptAndReason", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "flaky"))
			held := claimAll(t, s, 1)[0]
			if err := s.Retry(ctx, held, clock.Now().Add(10*time.Second), "interakt: retryable status 503"); err != nil {
				t.Fatalf("Retry() = %v", err)
			}
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() before retry time = %v; want none", ids(got))
			}
			clock.Advance(11 * time.Second)
			got := claimAll(t, s, 10)
			if len(got) != 1 || got[0].Attempt != 2 || got[0].LastError != "interakt: retryable status 503" {
				t.Fatalf("ClaimJobs() after retry time = %+v; want flaky at attempt 2 with the reason", got)
			}
		}},
		{"Queue/BuryListRequeue", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "d1"), newJob(clock, "m1", "d2"), newJob(clock, "m2", "other"))
			for _, j := range claimAll(t, s, 10) {
				clock.Advance(time.Millisecond)
				if err := s.Bury(ctx, j, "no rule for "+j.ID); err != nil {
					t.Fatalf("Bury(%s) = %v", j.ID, err)
				}
			}
			dead, err := s.DeadJobs(ctx, "m1", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(dead) != 2 || dead[0].LastError != "no rule for "+dead[0].ID {
				t.Fatalf("DeadJobs(m1) = %+v; want 2 with their reasons", dead)
			}
			if limited, _ := s.DeadJobs(ctx, "m1", 1); len(limited) != 1 {
				t.Errorf("DeadJobs(m1, limit 1) = %d jobs; want 1", len(limited))
			}
			depth, err := s.Depth(ctx)
			if err != nil || depth.Dead != 3 {
				t.Errorf("Depth().Dead = %d, %v; want 3", depth.Dead, err)
			}
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() with only dead jobs = %v; want none", ids(got))
			}
			if err := s.RequeueDead(ctx, "m1", "d1"); err != nil {
				t.Fatalf("RequeueDead() = %v", err)
			}
			if err := s.RequeueDead(ctx, "m1", "d1"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("RequeueDead() twice = %v; want ErrNotFound", err)
			}
			got := claimAll(t, s, 10)
			if len(got) != 1 || got[0].ID != "d1" || got[0].Attempt != 1 {
				t.Fatalf("ClaimJobs() after requeue = %+v; want d1 at attempt 1", got)
			}
			if dead, _ := s.DeadJobs(ctx, "m1", 10); len(dead) != 1 || dead[0].ID != "d2" {
				t.Errorf("DeadJobs(m1) after requeue = %v; want [d2]", ids(dead))
			}
		}},
		{"Queue/PurgeDeadJobs", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mustEnqueue(t, s, newJob(clock, "m1", "old1"), newJob(clock, "m1", "old2"), newJob(clock, "m1", "old3"), newJob(clock, "m2", "theirs"))
			for _, j := range claimAll(t, s, 10) {
				if err := s.Bury(ctx, j, "unusable"); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(time.Hour)
			cutoff := clock.Now()
			clock.Advance(time.Hour)
			mustEnqueue(t, s, newJob(clock, "m1", "new"))
			if err := s.Bury(ctx, claimAll(t, s, 1)[0], "unusable"); err != nil {
				t.Fatal(err)
			}
			if n, err := s.PurgeDeadJobs(ctx, "m1", cutoff, 2); err != nil || n != 2 {
				t.Fatalf("PurgeDeadJobs(limit 2) = %d, %v; want 2", n, err)
			}
			if n, err := s.PurgeDeadJobs(ctx, "m1", cutoff, 10); err != nil || n != 1 {
				t.Fatalf("PurgeDeadJobs() again = %d, %v; want the 1 left before the cutoff", n, err)
			}
			if n, err := s.PurgeDeadJobs(ctx, "m1", cutoff, 10); err != nil || n != 0 {
				t.Fatalf("PurgeDeadJobs() a third time = %d, %v; want 0", n, err)
			}
			if dead, _ := s.DeadJobs(ctx, "m1", 10); len(dead) != 1 || dead[0].ID != "new" {
				t.Errorf("m1's dead jobs after the purge = %v; want [new]", ids(dead))
			}
			if dead, _ := s.DeadJobs(ctx, "m2", 10); len(dead) != 1 {
				t.Errorf("another merchant's dead jobs = %v; want them kept", ids(dead))
			}
			if err := s.RequeueDead(ctx, "m1", "old1"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("RequeueDead(a purged job) = %v; want ErrNotFound", err)
			}
			if depth, err := s.Depth(ctx); err != nil || depth.Dead != 2 {
				t.Errorf("Depth().Dead = %d, %v; want 2", depth.Dead, err)
			}
			if _, err := s.PurgeDeadJobs(ctx, "m1", cutoff, 0); err == nil {
				t.Error("PurgeDeadJobs(limit 0) = nil error; want a refusal")
			}
		}},
		{"Queue/CancelByKey", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			reminder := newJob(clock, "m1", "r1")
			reminder.Key = "cart:tok-9:reminder-1"
			reminder.DueAt = clock.Now().Add(30 * time.Minute)
			mustEnqueue(t, s, reminder)
			dup := newJob(clock, "m1", "r2")
			dup.Key = reminder.Key
			if err := s.Enqueue(ctx, dup); !errors.Is(err, app.ErrConflict) {
				t.Fatalf("Enqueue(live key) = %v; want ErrConflict", err)
			}
			if ok, err := s.Cancel(ctx, "m2", reminder.Key); err != nil || ok {
				t.Errorf("Cancel(other merchant) = %v, %v; want false", ok, err)
			}
			if ok, err := s.Cancel(ctx, "m1", reminder.Key); err != nil || !ok {
				t.Fatalf("Cancel() = %v, %v; want true", ok, err)
			}
			if ok, err := s.Cancel(ctx, "m1", reminder.Key); err != nil || ok {
				t.Errorf("Cancel() twice = %v, %v; want false", ok, err)
			}
			clock.Advance(time.Hour)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Fatalf("ClaimJobs() after Cancel = %v; want none", ids(got))
			}
			mustEnqueue(t, s, dup) // the key is free again
			if depth, err := s.Depth(ctx); err != nil || depth.Ready != 1 {
				t.Errorf("Depth() = %+v, %v; want 1 ready", depth, err)
			}
		}},
		{"Queue/DuplicateID", func(t *testing.T, clock *Clock, s app.Store) {
			mustEnqueue(t, s, newJob(clock, "m1", "same"))
			if err := s.Enqueue(context.Background(), newJob(clock, "m1", "same")); !errors.Is(err, app.ErrConflict) {
				t.Errorf("Enqueue(same id) = %v; want ErrConflict", err)
			}
			mustEnqueue(t, s, newJob(clock, "m2", "same"))
		}},
		{"Queue/ClaimAndEnqueueOnce", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			var wg sync.WaitGroup
			states := make(chan app.ClaimState, 10)
			for i := range 10 {
				wg.Go(func() {
					st, err := s.ClaimAndEnqueue(ctx, "shopify:evt-42:orders/create", time.Hour, newJob(clock, "m1", fmt.Sprintf("w%d", i)))
					if err != nil {
						t.Errorf("ClaimAndEnqueue() = %v", err)
					}
					states <- st
				})
			}
			wg.Wait()
			close(states)
			counts := map[app.ClaimState]int{}
			for st := range states {
				counts[st]++
			}
			if counts[app.ClaimNew] != 1 || counts[app.ClaimDone] != 9 {
				t.Errorf("ClaimAndEnqueue() states = %v; want 1 new and 9 done", counts)
			}
			if got := claimAll(t, s, 20); len(got) != 1 {
				t.Errorf("jobs enqueued = %v; want exactly 1", ids(got))
			}
			if st, err := s.Claim(ctx, "m1", "shopify:evt-42:orders/create", time.Minute); err != nil || st != app.ClaimDone {
				t.Errorf("Claim() of an enqueued key = %v, %v; want done", st, err)
			}
		}},
		{"Queue/ClaimAndLease", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			st, job, err := s.ClaimAndLease(ctx, "shopify:evt-43:orders/create", time.Hour, newJob(clock, "m1", "h1"), time.Minute)
			if err != nil || st != app.ClaimNew || job.ID != "h1" || job.Lease == "" || job.Attempt != 1 || string(job.Payload) != string(newJob(clock, "m1", "h1").Payload) {
				t.Fatalf("ClaimAndLease() = %v, %+v, %v; want new, h1 leased on its first attempt", st, job, err)
			}
			// Leased: no claim hands it out while the lease holds.
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Errorf("ClaimJobs() under the lease = %v; want none", ids(got))
			}
			if depth, err := s.Depth(ctx); err != nil || depth.Running != 1 {
				t.Errorf("Depth() = %+v, %v; want 1 running", depth, err)
			}
			st, again, err := s.ClaimAndLease(ctx, "shopify:evt-43:orders/create", time.Hour, newJob(clock, "m1", "h2"), time.Minute)
			if err != nil || st != app.ClaimDone || again.ID != "" {
				t.Errorf("ClaimAndLease(same key) = %v, %+v, %v; want done and no job", st, again, err)
			}
			// Its holder died: the job comes back when the lease ends.
			clock.Advance(2 * time.Minute)
			got := claimAll(t, s, 10)
			if len(got) != 1 || got[0].ID != "h1" || got[0].Attempt != 2 {
				t.Fatalf("ClaimJobs() after the lease = %+v; want h1 on its second attempt", got)
			}
			if err := s.Ack(ctx, job); !errors.Is(err, app.ErrLeaseLost) {
				t.Errorf("Ack() by the first holder = %v; want ErrLeaseLost", err)
			}
			if err := s.Ack(ctx, got[0]); err != nil {
				t.Errorf("Ack() = %v", err)
			}
			// A job its holder settles never comes back.
			_, held, err := s.ClaimAndLease(ctx, "shopify:evt-44:orders/create", time.Hour, newJob(clock, "m1", "h3"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Ack(ctx, held); err != nil {
				t.Errorf("Ack() of a job leased at once = %v", err)
			}
			clock.Advance(2 * time.Minute)
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Errorf("ClaimJobs() after the ack = %v; want none", ids(got))
			}
		}},
		{"Queue/ClaimAndEnqueueRespectsHeldKey", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if st, err := s.Claim(ctx, "m1", "k", time.Minute); err != nil || st != app.ClaimNew {
				t.Fatal(st, err)
			}
			st, err := s.ClaimAndEnqueue(ctx, "k", time.Hour, newJob(clock, "m1", "j"))
			if err != nil || st != app.ClaimInProgress {
				t.Fatalf("ClaimAndEnqueue(held key) = %v, %v; want in progress", st, err)
			}
			if got := claimAll(t, s, 10); len(got) != 0 {
				t.Errorf("jobs enqueued = %v; want none", ids(got))
			}
		}},
		{"Queue/FairAcrossMerchants", func(t *testing.T, clock *Clock, s app.Store) {
			past := clock.Now().Add(-time.Minute)
			for i := range 60 {
				j := newJob(clock, "flood", fmt.Sprintf("f%02d", i))
				j.DueAt = past // older than the small merchant's job
				mustEnqueue(t, s, j)
			}
			mustEnqueue(t, s, newJob(clock, "small", "s1"))
			got := claimAll(t, s, 10)
			found := false
			for _, j := range got {
				found = found || j.ID == "s1"
			}
			if !found {
				t.Errorf("first ClaimJobs(10) = %v; want the small merchant's job among them", ids(got))
			}
		}},
		{"Queue/ConcurrentClaimsExactlyOnce", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			const total = 240
			for i := range total {
				mustEnqueue(t, s, newJob(clock, fmt.Sprintf("m%d", i%4), fmt.Sprintf("j%03d", i)))
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					for {
						jobs, err := s.ClaimJobs(ctx, lease, 5)
						if err != nil {
							t.Errorf("ClaimJobs() = %v", err)
							return
						}
						if len(jobs) == 0 {
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
					}
				})
			}
			wg.Wait()
			if len(seen) != total {
				t.Errorf("distinct jobs claimed = %d; want %d", len(seen), total)
			}
			var twice []string
			for id, n := range seen {
				if n != 1 {
					twice = append(twice, id)
				}
			}
			sort.Strings(twice)
			if len(twice) > 0 {
				t.Errorf("jobs handed out more than once: %v", twice)
			}
		}},
		{"Queue/Depth", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			later := newJob(clock, "m2", "later")
			later.DueAt = clock.Now().Add(time.Hour)
			mustEnqueue(t, s, newJob(clock, "m1", "a"), newJob(clock, "m1", "b"), newJob(clock, "m2", "c"), later)
			claimAll(t, s, 1)
			got, err := s.Depth(ctx)
			want := app.QueueDepth{Ready: 2, Scheduled: 1, Running: 1}
			if err != nil || got != want {
				t.Errorf("Depth() = %+v, %v; want %+v", got, err, want)
			}
		}},
	}
}
