package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// stateRecord is the last value AdvanceState recorded for a key. It lives
// in the states bucket (merchant, key) with an entry in states_expiry
// (expiry, merchant, key) that Purge walks.
type stateRecord struct {
	Version int64
	Value   string
	Expires time.Time
}

// AdvanceState records value for key when version is newer than the one
// stored, or nothing live is stored, and returns the value stored before.
// An expired record counts as absent. A stale or repeated version changes
// nothing, its expiry included.
func (s *Store) AdvanceState(ctx context.Context, merchant, key string, version int64, value string, ttl time.Duration, effects ...app.Job) (string, bool, error) {
	if err := checkClaim(merchant, key, ttl); err != nil {
		return "", false, fmt.Errorf("embedded: advance state: %w", err)
	}
	for _, job := range effects {
		if job.Merchant != merchant {
			return "", false, fmt.Errorf("embedded: advance state: %w", app.Invalid("effects", "a job of another merchant"))
		}
		if err := checkJob(job); err != nil {
			return "", false, fmt.Errorf("embedded: advance state: effect %s: %w", job.ID, err)
		}
	}
	// Repeated and stale updates are common (platforms resend webhooks):
	// answer them from a read transaction rather than commit nothing.
	var (
		previous string
		advanced bool
	)
	err := s.view(ctx, "advance state", func(tx *bolt.Tx) error {
		rec, live, err := loadState(tx, s.now(), merchant, key)
		previous, advanced = rec.Value, !live || version > rec.Version
		return err
	})
	if err != nil {
		return "", false, err
	}
	if !advanced {
		return previous, false, nil
	}
	err = s.batch(ctx, "advance state", func(tx *bolt.Tx) error {
		now := s.now()
		rec, live, err := loadState(tx, now, merchant, key)
		if err != nil {
			return err
		}
		previous, advanced = rec.Value, !live || version > rec.Version
		if !advanced {
			return nil
		}
		if err := setState(tx, merchant, key, stateRecord{Version: version, Value: value, Expires: now.Add(ttl)}); err != nil {
			return err
		}
		if live && rec.Value == value {
			return nil // the same value, newer: nothing happened
		}
		for _, job := range effects {
			// A job already there was queued by an earlier run of the same
			// transition: skip it, keep the rest.
			if err := enqueue(tx, now, job); err != nil && !errors.Is(err, app.ErrConflict) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return previous, advanced, nil
}

// State reads the live record AdvanceState keeps for key.
func (s *Store) State(ctx context.Context, merchant, key string) (string, int64, error) {
	var rec stateRecord
	var live bool
	err := s.view(ctx, "state", func(tx *bolt.Tx) error {
		var err error
		rec, live, err = loadState(tx, s.now(), merchant, key)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	if !live {
		return "", 0, fmt.Errorf("embedded: state %s: %w", key, app.ErrNotFound)
	}
	return rec.Value, rec.Version, nil
}

// DeleteStates deletes the records of keys, with their expiry entries, in
// one transaction.
func (s *Store) DeleteStates(ctx context.Context, merchant string, keys ...string) error {
	if err := required("merchant", merchant); err != nil {
		return fmt.Errorf("embedded: delete states: %w", err)
	}
	if len(keys) == 0 {
		return nil
	}
	return s.batch(ctx, "delete states", func(tx *bolt.Tx) error {
		for _, key := range keys {
			if key == "" || len(key) > maxPart {
				continue // never stored
			}
			if err := deleteState(tx, merchant, key); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadState returns the live record of key, or the zero record and false
// when there is none or it expired.
func loadState(tx *bolt.Tx, now time.Time, merchant, key string) (stateRecord, bool, error) {
	var rec stateRecord
	switch err := getJSON(bucket(tx, bucketStates), scoped(merchant, key), &rec); {
	case errors.Is(err, app.ErrNotFound):
		return stateRecord{}, false, nil
	case err != nil:
		return stateRecord{}, false, err
	case !rec.Expires.After(now):
		return stateRecord{}, false, nil
	}
	return rec, true, nil
}

// states are AdvanceState's records, with their expiry index for Purge.
func states() expiring { return expiring{records: bucketStates, index: bucketStateExpiry} }

func setState(tx *bolt.Tx, merchant, key string, rec stateRecord) error {
	return states().put(tx, merchant, key, rec, rec.Expires)
}

func deleteState(tx *bolt.Tx, merchant, key string) error { return states().delete(tx, merchant, key) }

// purgeState deletes key's record if it expired by now. Purge calls it for
// each entry of states_expiry that is due.
func purgeState(tx *bolt.Tx, now time.Time, merchant, key string) error {
	if _, live, err := loadState(tx, now, merchant, key); err != nil || live {
		return err
	}
	return deleteState(tx, merchant, key)
}
