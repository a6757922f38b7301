package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// onceRecord is a one-time value until it is taken or expires.
type onceRecord struct {
	Value   string
	Expires time.Time
}

// oneTime are the one-time values, with their expiry index for Purge.
// They are nobody's: the merchant part of their keys is empty.
func oneTime() expiring { return expiring{records: bucketOnce, index: bucketOnceExpiry} }

// PutOnce stores value under key for ttl, unless key is live.
func (s *Store) PutOnce(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := required("key", key); err != nil {
		return fmt.Errorf("embedded: put once: %w", err)
	}
	if ttl <= 0 {
		return fmt.Errorf("embedded: put once: %w", app.Invalid("ttl", "must be positive"))
	}
	// A refusal is a result, not an error of fn: an error would make
	// bbolt roll back the whole batch and run every call in it alone.
	taken := false
	err := s.batch(ctx, "put once", func(tx *bolt.Tx) error {
		now := s.now()
		var rec onceRecord
		switch err := getJSON(bucket(tx, bucketOnce), scoped("", key), &rec); {
		case err == nil && rec.Expires.After(now):
			taken = true
			return nil
		case err != nil && !errors.Is(err, app.ErrNotFound):
			return err
		}
		taken = false
		return oneTime().put(tx, "", key, onceRecord{Value: value, Expires: now.Add(ttl)}, now.Add(ttl))
	})
	if err == nil && taken {
		return fmt.Errorf("embedded: put once: %w", app.ErrConflict)
	}
	return err
}

// TakeOnce answers key's value and deletes it in one write transaction:
// bbolt has one writer at a time, so two takes never both get it.
func (s *Store) TakeOnce(ctx context.Context, key string) (string, error) {
	if err := required("key", key); err != nil {
		return "", fmt.Errorf("embedded: take once: %w", err)
	}
	var value string
	found := false
	err := s.batch(ctx, "take once", func(tx *bolt.Tx) error {
		value, found = "", false
		var rec onceRecord
		switch err := getJSON(bucket(tx, bucketOnce), scoped("", key), &rec); {
		case errors.Is(err, app.ErrNotFound):
			return nil
		case err != nil:
			return err
		}
		if err := oneTime().delete(tx, "", key); err != nil {
			return err
		}
		// An expired value is deleted all the same, and answers nothing.
		value, found = rec.Value, rec.Expires.After(s.now())
		return nil
	})
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("embedded: take once: %w", app.ErrNotFound)
	}
	return value, nil
}

// purgeOnce deletes key's one-time value if it expired by now.
func purgeOnce(tx *bolt.Tx, now time.Time, merchant, key string) error {
	var rec onceRecord
	switch err := getJSON(bucket(tx, bucketOnce), scoped(merchant, key), &rec); {
	case errors.Is(err, app.ErrNotFound):
		return nil
	case err != nil:
		return err
	case rec.Expires.After(now):
		return nil
	}
	return oneTime().delete(tx, merchant, key)
}
