package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func oneTimeCases() []testCase {
	return []testCase{
		{"OneTime/TakenOnce", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.PutOnce(ctx, "signin-link:abc", "m1", time.Minute); err != nil {
				t.Fatalf("PutOnce() = %v", err)
			}
			if err := s.PutOnce(ctx, "signin-link:abc", "m2", time.Minute); !errors.Is(err, app.ErrConflict) {
				t.Fatalf("PutOnce() of a live key = %v; want ErrConflict", err)
			}
			if v, err := s.TakeOnce(ctx, "signin-link:abc"); err != nil || v != "m1" {
				t.Fatalf("TakeOnce() = %q, %v; want m1 (the first put's)", v, err)
			}
			if v, err := s.TakeOnce(ctx, "signin-link:abc"); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("second TakeOnce() = %q, %v; want ErrNotFound", v, err)
			}
			if v, err := s.TakeOnce(ctx, "signin-link:never"); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("TakeOnce() of a key never put = %q, %v; want ErrNotFound", v, err)
			}
			// Taken, the key is free for a new value.
			if err := s.PutOnce(ctx, "signin-link:abc", "m3", time.Minute); err != nil {
				t.Fatalf("PutOnce() after the take = %v", err)
			}
			if v, err := s.TakeOnce(ctx, "signin-link:abc"); err != nil || v != "m3" {
				t.Fatalf("TakeOnce() = %q, %v; want m3", v, err)
			}
		}},
		{"OneTime/Expires", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.PutOnce(ctx, "k-short", "m1", 200*time.Millisecond); err != nil {
				t.Fatalf("PutOnce() = %v", err)
			}
			if err := s.PutOnce(ctx, "k-long", "m1", time.Hour); err != nil {
				t.Fatalf("PutOnce() = %v", err)
			}
			// Both real time (server-side TTLs) and the store's clock move on.
			time.Sleep(400 * time.Millisecond)
			clock.Advance(time.Second)
			if v, err := s.TakeOnce(ctx, "k-short"); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("TakeOnce() of an expired key = %q, %v; want ErrNotFound", v, err)
			}
			if err := s.PutOnce(ctx, "k-short", "m2", time.Minute); err != nil {
				t.Fatalf("PutOnce() over an expired key = %v; want it free", err)
			}
			if v, err := s.TakeOnce(ctx, "k-short"); err != nil || v != "m2" {
				t.Fatalf("TakeOnce() = %q, %v; want m2", v, err)
			}
			if v, err := s.TakeOnce(ctx, "k-long"); err != nil || v != "m1" {
				t.Fatalf("TakeOnce() of a live key = %q, %v; want m1", v, err)
			}
		}},
		{"OneTime/ConcurrentTakesOneWinner", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.PutOnce(ctx, "storm", "m1", time.Minute); err != nil {
				t.Fatalf("PutOnce() = %v", err)
			}
			var wg sync.WaitGroup
			won := make(chan string, 20)
			for range 20 {
				wg.Go(func() {
					v, err := s.TakeOnce(ctx, "storm")
					switch {
					case err == nil:
						won <- v
					case !errors.Is(err, app.ErrNotFound):
						t.Errorf("TakeOnce() = %v", err)
					}
				})
			}
			wg.Wait()
			close(won)
			var got []string
			for v := range won {
				got = append(got, v)
			}
			if len(got) != 1 || got[0] != "m1" {
				t.Errorf("concurrent TakeOnce() answered %q; want m1 once", got)
			}
		}},
		{"OneTime/RefusesBadInput", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			var invalid *app.ValidationError
			if err := s.PutOnce(ctx, "", "m1", time.Minute); !errors.As(err, &invalid) {
				t.Errorf("PutOnce() with no key = %v; want a ValidationError", err)
			}
			if err := s.PutOnce(ctx, "k", "m1", 0); !errors.As(err, &invalid) {
				t.Errorf("PutOnce() with no ttl = %v; want a ValidationError", err)
			}
			if _, err := s.TakeOnce(ctx, ""); !errors.As(err, &invalid) {
				t.Errorf("TakeOnce() with no key = %v; want a ValidationError", err)
			}
		}},
	}
}
