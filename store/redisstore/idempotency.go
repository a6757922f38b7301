package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/storebridge/storebridge/app"
)

// idemDone is the value of a completed key; the scripts use the same
// literals ("processing", "done").
const idemDone = "done"

// Claim takes key for ttl if it is free (absent, or its in-progress claim
// expired).
func (s *Store) Claim(ctx context.Context, merchant, key string, ttl time.Duration) (app.ClaimState, error) {
	if err := checkIdem(merchant, key, ttl); err != nil {
		return 0, err
	}
	state, err := s.scripts.claimIdem.Run(ctx, s.rdb, []string{s.keys.idempotency(merchant, key)}, positiveMS(ttl)).Int()
	if err != nil {
		return 0, wrap("claim", err)
	}
	return app.ClaimState(state), nil
}

// Complete marks key done for ttl, whoever holds it.
func (s *Store) Complete(ctx context.Context, merchant, key string, ttl time.Duration) error {
	if err := checkIdem(merchant, key, ttl); err != nil {
		return err
	}
	return wrap("complete", s.rdb.Set(ctx, s.keys.idempotency(merchant, key), idemDone, time.Duration(positiveMS(ttl))*time.Millisecond).Err())
}

// Release frees key if it is still in progress; a done key stays done.
func (s *Store) Release(ctx context.Context, merchant, key string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	return wrap("release", s.scripts.releaseIdem.Run(ctx, s.rdb, []string{s.keys.idempotency(merchant, key)}).Err())
}

func checkIdem(merchant, key string, ttl time.Duration) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	if key == "" {
		return app.Invalid("key", "is required")
	}
	if ttl <= 0 {
		return app.Invalid("ttl", fmt.Sprintf("must be positive, got %s", ttl))
	}
	return nil
}
