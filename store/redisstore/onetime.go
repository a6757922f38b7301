package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// PutOnce stores value under key for ttl, unless key is live (SET NX PX).
func (s *Store) PutOnce(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := checkOnce(key); err != nil {
		return err
	}
	if ttl <= 0 {
		return app.Invalid("ttl", fmt.Sprintf("must be positive, got %s", ttl))
	}
	err := s.rdb.SetArgs(ctx, s.keys.once(key), value, redis.SetArgs{Mode: "NX", TTL: time.Duration(positiveMS(ttl)) * time.Millisecond}).Err()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: put once: %w", app.ErrConflict)
	}
	return wrap("put once", err)
}

// TakeOnce answers key's value and deletes it (GETDEL, Redis 6.2+): one
// command, so two takes never both get it. Redis drops expired keys itself.
func (s *Store) TakeOnce(ctx context.Context, key string) (string, error) {
	if err := checkOnce(key); err != nil {
		return "", err
	}
	v, err := s.rdb.GetDel(ctx, s.keys.once(key)).Result()
	if err != nil {
		return "", wrap("take once", err)
	}
	return v, nil
}

func checkOnce(key string) error {
	if key == "" {
		return app.Invalid("key", "is required")
	}
	return nil
}
