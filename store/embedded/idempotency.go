package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// purgeChunk bounds the keys one Purge transaction deletes, so the purge
// never holds the writer lock for long.
const purgeChunk = 1000

// claimRecord is an idempotency key's state until it expires.
type claimRecord struct {
	State   app.ClaimState
	Expires time.Time
}

// Claim takes key for ttl if it is free or its previous claim expired.
func (s *Store) Claim(ctx context.Context, merchant, key string, ttl time.Duration) (app.ClaimState, error) {
	if err := checkClaim(merchant, key, ttl); err != nil {
		return 0, fmt.Errorf("embedded: claim: %w", err)
	}
	var state app.ClaimState
	err := s.batch(ctx, "claim", func(tx *bolt.Tx) error {
		var err error
		state, err = claimKey(tx, s.now(), merchant, key, app.ClaimInProgress, ttl)
		return err
	})
	return state, err
}

// Complete marks key done for ttl, whoever holds it.
func (s *Store) Complete(ctx context.Context, merchant, key string, ttl time.Duration) error {
	if err := checkClaim(merchant, key, ttl); err != nil {
		return fmt.Errorf("embedded: complete: %w", err)
	}
	return s.batch(ctx, "complete", func(tx *bolt.Tx) error {
		return setClaim(tx, merchant, key, claimRecord{State: app.ClaimDone, Expires: s.now().Add(ttl)})
	})
}

// MarkDone marks key done for ttl if it is free.
func (s *Store) MarkDone(ctx context.Context, merchant, key string, ttl time.Duration) (app.ClaimState, error) {
	if err := checkClaim(merchant, key, ttl); err != nil {
		return 0, fmt.Errorf("embedded: mark done: %w", err)
	}
	var state app.ClaimState
	err := s.batch(ctx, "mark done", func(tx *bolt.Tx) error {
		var err error
		state, err = claimKey(tx, s.now(), merchant, key, app.ClaimDone, ttl)
		return err
	})
	return state, err
}

// Release frees key so a retry can claim it again.
func (s *Store) Release(ctx context.Context, merchant, key string) error {
	if err := required("merchant", merchant, "key", key); err != nil {
		return fmt.Errorf("embedded: release: %w", err)
	}
	return s.batch(ctx, "release", func(tx *bolt.Tx) error {
		return deleteClaim(tx, merchant, key)
	})
}

// Purge deletes the idempotency keys, the AdvanceState records and the
// one-time values that expired by now and reports how many. Expired ones already count as
// absent; this reclaims the space.
func (s *Store) Purge(ctx context.Context) (int, error) {
	total := 0
	for _, p := range []struct {
		index string
		drop  func(tx *bolt.Tx, now time.Time, merchant, key string) error
	}{
		{bucketIdemExpiry, purgeClaim},
		{bucketStateExpiry, purgeState},
		{bucketOnceExpiry, purgeOnce},
	} {
		n, err := s.purgeIndex(ctx, p.index, p.drop)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// purgeIndex walks an expiry index (timeFirst keys) up to now in chunks and
// calls drop for each entry, which deletes the record and its entry.
func (s *Store) purgeIndex(ctx context.Context, index string, drop func(tx *bolt.Tx, now time.Time, merchant, key string) error) (int, error) {
	total := 0
	for {
		n := 0
		err := s.update(ctx, "purge", func(tx *bolt.Tx) error {
			n = 0
			now := s.now()
			limit := appendTime(nil, now)
			var expired [][]byte
			c := bucket(tx, index).Cursor()
			for k, _ := c.First(); k != nil && len(expired) < purgeChunk && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
				expired = append(expired, bytes.Clone(k))
			}
			for _, k := range expired {
				_, merchant, key, ok := splitTimeFirst(k)
				if !ok {
					return fmt.Errorf("corrupt expiry key %q", k)
				}
				if err := drop(tx, now, merchant, key); err != nil {
					return err
				}
				// drop removes the record's own entry; this one too, should
				// it be stale, so the walk always moves on.
				if err := bucket(tx, index).Delete(k); err != nil {
					return err
				}
			}
			n = len(expired)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < purgeChunk {
			return total, nil
		}
	}
}

func checkClaim(merchant, key string, ttl time.Duration) error {
	if err := required("merchant", merchant, "key", key); err != nil {
		return err
	}
	if ttl <= 0 {
		return app.Invalid("ttl", "must be positive")
	}
	return nil
}

// claimKey answers the state of a live key, or takes a free one as state
// for ttl and answers ClaimNew.
func claimKey(tx *bolt.Tx, now time.Time, merchant, key string, state app.ClaimState, ttl time.Duration) (app.ClaimState, error) {
	var rec claimRecord
	switch err := getJSON(bucket(tx, bucketIdem), scoped(merchant, key), &rec); {
	case err == nil && rec.Expires.After(now):
		return rec.State, nil
	case err != nil && !errors.Is(err, app.ErrNotFound):
		return 0, err
	}
	return app.ClaimNew, setClaim(tx, merchant, key, claimRecord{State: state, Expires: now.Add(ttl)})
}

// claims are the idempotency keys, with their expiry index for Purge.
func claims() expiring { return expiring{records: bucketIdem, index: bucketIdemExpiry} }

func setClaim(tx *bolt.Tx, merchant, key string, rec claimRecord) error {
	return claims().put(tx, merchant, key, rec, rec.Expires)
}

func deleteClaim(tx *bolt.Tx, merchant, key string) error { return claims().delete(tx, merchant, key) }

// purgeClaim deletes key's claim if it expired by now.
func purgeClaim(tx *bolt.Tx, now time.Time, merchant, key string) error {
	var rec claimRecord
	switch err := getJSON(bucket(tx, bucketIdem), scoped(merchant, key), &rec); {
	case errors.Is(err, app.ErrNotFound):
		return nil
	case err != nil:
		return err
	case rec.Expires.After(now):
		return nil
	}
	return deleteClaim(tx, merchant, key)
}
