package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// idemDone is the value of a completed key; the scripts use the same
// literals ("processing", "done").
const (
	idemDone       = "done"
	idemProcessing = "processing"
)

// Claim takes key for ttl if it is free (absent, or its in-progress claim
// expired).
func (s *Store) Claim(ctx context.Context, merchant, key string, ttl time.Duration) (app.ClaimState, error) {
	return s.setIfFree(ctx, "claim", merchant, key, idemProcessing, ttl)
}

// Complete marks key done for ttl, whoever holds it.
func (s *Store) Complete(ctx context.Context, merchant, key string, ttl time.Duration) error {
	if err := checkIdem(merchant, key, ttl); err != nil {
		return err
	}
	return wrap("complete", s.rdb.Set(ctx, s.keys.idempotency(merchant, key), idemDone, time.Duration(positiveMS(ttl))*time.Millisecond).Err())
}

// MarkDone sets key done for ttl if it is free.
func (s *Store) MarkDone(ctx context.Context, merchant, key string, ttl time.Duration) (app.ClaimState, error) {
	return s.setIfFree(ctx, "mark done", merchant, key, idemDone, ttl)
}

// setIfFree sets a free key to value by one SET NX GET: the old value of a
// taken one tells a held key from a done one.
func (s *Store) setIfFree(ctx context.Context, op, merchant, key, value string, ttl time.Duration) (app.ClaimState, error) {
	if err := checkIdem(merchant, key, ttl); err != nil {
		return 0, err
	}
	old, err := s.rdb.SetArgs(ctx, s.keys.idempotency(merchant, key), value, redis.SetArgs{
		Mode: "NX", Get: true, TTL: time.Duration(positiveMS(ttl)) * time.Millisecond,
	}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return app.ClaimNew, nil
	case err != nil:
		return 0, wrap(op, err)
	case old == idemDone:
		return app.ClaimDone, nil
	}
	return app.ClaimInProgress, nil
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
