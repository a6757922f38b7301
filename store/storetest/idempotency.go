package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func idempotencyCases() []testCase {
	return []testCase{
		{"Idempotency/Lifecycle", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			step := func(name string, got app.ClaimState, err error, want app.ClaimState) {
				t.Helper()
				if err != nil || got != want {
					t.Fatalf("%s = %v, %v; want %v", name, got, err, want)
				}
			}
			st, err := s.Claim(ctx, "m1", "evt-1", time.Minute)
			step("first Claim", st, err, app.ClaimNew)
			st, err = s.Claim(ctx, "m1", "evt-1", time.Minute)
			step("Claim while held", st, err, app.ClaimInProgress)
			st, err = s.Claim(ctx, "m2", "evt-1", time.Minute)
			step("Claim of the same key by another merchant", st, err, app.ClaimNew)
			if err := s.Release(ctx, "m1", "evt-1"); err != nil {
				t.Fatalf("Release() = %v", err)
			}
			st, err = s.Claim(ctx, "m1", "evt-1", time.Minute)
			step("Claim after Release", st, err, app.ClaimNew)
			if err := s.Complete(ctx, "m1", "evt-1", time.Hour); err != nil {
				t.Fatalf("Complete() = %v", err)
			}
			st, err = s.Claim(ctx, "m1", "evt-1", time.Minute)
			step("Claim after Complete", st, err, app.ClaimDone)
		}},
		{"Idempotency/MarkDone", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			step := func(name string, got app.ClaimState, err error, want app.ClaimState) {
				t.Helper()
				if err != nil || got != want {
					t.Fatalf("%s = %v, %v; want %v", name, got, err, want)
				}
			}
			st, err := s.MarkDone(ctx, "m1", "no-rule", time.Hour)
			step("MarkDone of a free key", st, err, app.ClaimNew)
			st, err = s.MarkDone(ctx, "m1", "no-rule", time.Hour)
			step("MarkDone again", st, err, app.ClaimDone)
			st, err = s.Claim(ctx, "m1", "no-rule", time.Minute)
			step("Claim after MarkDone", st, err, app.ClaimDone)
			st, err = s.Claim(ctx, "m1", "held", time.Minute)
			step("Claim", st, err, app.ClaimNew)
			st, err = s.MarkDone(ctx, "m1", "held", time.Hour)
			step("MarkDone of a held key", st, err, app.ClaimInProgress)
			if err := s.Release(ctx, "m1", "held"); err != nil {
				t.Fatalf("Release() = %v", err)
			}
			st, err = s.Claim(ctx, "m1", "held", time.Minute)
			step("Claim after Release (MarkDone left the held key alone)", st, err, app.ClaimNew)
			if _, err := s.MarkDone(ctx, "m1", "", time.Hour); err == nil {
				t.Error("MarkDone with no key = nil; want an error")
			}
		}},
		{"Idempotency/ExpiredClaimIsFree", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if st, err := s.Claim(ctx, "m1", "crashed-owner", 200*time.Millisecond); err != nil || st != app.ClaimNew {
				t.Fatalf("Claim() = %v, %v; want new", st, err)
			}
			// Both real time (server-side TTLs) and the store's clock move on.
			time.Sleep(400 * time.Millisecond)
			clock.Advance(time.Second)
			if st, err := s.Claim(ctx, "m1", "crashed-owner", time.Minute); err != nil || st != app.ClaimNew {
				t.Fatalf("Claim() after expiry = %v, %v; want new", st, err)
			}
		}},
		{"Idempotency/ConcurrentClaimsOneWinner", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			var wg sync.WaitGroup
			results := make(chan app.ClaimState, 20)
			for range 20 {
				wg.Go(func() {
					st, err := s.Claim(ctx, "m1", "storm", time.Minute)
					if err != nil {
						t.Errorf("Claim() = %v", err)
					}
					results <- st
				})
			}
			wg.Wait()
			close(results)
			winners := 0
			for st := range results {
				if st == app.ClaimNew {
					winners++
				}
			}
			if winners != 1 {
				t.Errorf("concurrent Claim() winners = %d; want 1", winners)
			}
		}},
	}
}
