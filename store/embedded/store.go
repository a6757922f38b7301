// Package embedded implements app.Store on bbolt, a single-file embedded
// database: the store of `go run .` without REDIS_URL and of small
// single-node installs.
//
// Every committed transaction is fsynced before a call returns, so nothing
// acknowledged is lost across a crash. bbolt serialises writers, so the hot
// writes (enqueue, ack, claims, idempotency, counters) go through a group
// commit (commit.go): the calls that arrive while one transaction commits
// share the next one, and its fsync.
package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/storebridge/storebridge/app"
)

const (
	// schemaVersion 2 keeps job payloads apart from job records (see
	// payloadKey); Open moves those of version 1 files.
	schemaVersion = "2"
	// lockTimeout bounds the wait for the file lock another process holds.
	lockTimeout = 3 * time.Second
)

// Bucket names, one per concern. Key layouts are in keys.go.
const (
	bucketMeta            = "meta"
	bucketMerchants       = "merchants"         // id → merchant
	bucketMerchantDomains = "merchant_domains"  // platform, domain → id
	bucketMerchantKeys    = "merchant_api_keys" // api key hash → id
	bucketIdem            = "idempotency"       // merchant, key → claim
	bucketIdemExpiry      = "idempotency_expiry"
	bucketJobs            = "jobs"         // merchant, id → job
	bucketJobPayloads     = "job_payloads" // created, merchant, id → payload
	bucketJobKeys         = "job_keys"     // merchant, key → id of the live job
	bucketDue             = "due"          // merchant, due, id
	bucketHeads           = "due_heads"    // oldest due, merchant: merchants with due work
	bucketHeadOf          = "due_head_of"
	bucketLeases          = "leases" // lease expiry, merchant, id
	bucketDead            = "dead"   // merchant, buried at, id
	bucketDeliveries      = "deliveries"
	bucketDeliveryByTime  = "deliveries_by_time"
	bucketDeliveryStatus  = "deliveries_by_status"
	bucketDeliveryEvent   = "deliveries_by_event"
	bucketDeliveryMessage = "deliveries_by_message_id"
	bucketStats           = "stats" // merchant, day, subject, outcome → count
	// Customer indexes of deliveries, for privacy redactions: merchant,
	// value, id. Records written before they existed have no entries.
	bucketDeliveryPhone    = "deliveries_by_phone"
	bucketDeliveryCustomer = "deliveries_by_customer"
	bucketDeliverySubject  = "deliveries_by_subject"
	bucketMaps             = "maps"   // merchant, map name, field → value
	bucketStates           = "states" // merchant, key → state record
	bucketStateExpiry      = "states_expiry"
	bucketOnce             = "once" // key → one-time value (nobody's)
	bucketOnceExpiry       = "once_expiry"
	bucketIndex            = "indexes"       // merchant, index name, time, member
	bucketIndexMembers     = "index_members" // merchant, index name, member → time

	keySchemaVersion = "schema_version"
	// keyMovingPayloads marks a version 1 file whose payloads Open has not
	// all moved yet (movePayloads).
	keyMovingPayloads = "moving_payloads"
)

func bucketNames() []string {
	return append([]string{
		bucketMeta, bucketMerchants, bucketMerchantDomains, bucketMerchantKeys,
		bucketIdem, bucketIdemExpiry, bucketJobs, bucketJobPayloads, bucketJobKeys, bucketDue,
		bucketHeads, bucketHeadOf, bucketLeases, bucketDead, bucketDeliveries,
		bucketDeliveryByTime, bucketDeliveryStatus, bucketDeliveryEvent,
		bucketDeliveryMessage, bucketStats, bucketDeliveryPhone,
		bucketDeliveryCustomer, bucketDeliverySubject, bucketMaps, bucketStates,
		bucketStateExpiry, bucketOnce, bucketOnceExpiry, bucketIndex, bucketIndexMembers,
	}, loyaltyBucketNames()...)
}

// bucket returns a bucket Open created.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

// Options configures a Store.
type Options struct {
	// Now is the clock; nil means time.Now. Every due time, lease and claim
	// expiry is computed from it.
	Now func() time.Time
}

// Store is app.Store on a bbolt file.
type Store struct {
	db        *bolt.DB
	commits   *committer
	now       func() time.Time
	throttles *throttles
}

var (
	_ app.Store        = (*Store)(nil)
	_ app.MerchantData = (*Store)(nil)
)

// Open opens the database at path, creating its directory, the file and its
// buckets. It fails after a few seconds when another process holds the
// file.
func Open(path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("embedded: open %s: the file is locked by another process (waited %s): %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded: open %s: %w", path, err)
	}
	migrate := false
	err = db.Update(func(tx *bolt.Tx) error {
		migrate = false
		for _, name := range bucketNames() {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		meta := bucket(tx, bucketMeta)
		switch v := meta.Get([]byte(keySchemaVersion)); {
		case v == nil:
			return meta.Put([]byte(keySchemaVersion), []byte(schemaVersion))
		case string(v) == "1":
			// The version goes up before any payload moves, so a version 1
			// build never reads a record whose payload has moved.
			migrate = true
			if err := meta.Put([]byte(keyMovingPayloads), nil); err != nil {
				return err
			}
			return meta.Put([]byte(keySchemaVersion), []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %s, this build reads %s", v, schemaVersion)
		}
		migrate = meta.Get([]byte(keyMovingPayloads)) != nil
		return nil
	})
	if err == nil && migrate {
		err = movePayloads(db)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("embedded: open %s: %w", path, err), db.Close())
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, commits: &committer{db: db, grew: make(chan struct{}, 1)}, now: now, throttles: newThrottles()}, nil
}

// movePayloads finishes the upgrade of a version 1 file: each job record
// that holds its payload gives it to job_payloads, purgeChunk records a
// transaction, and the mark Open left is removed once all are moved; an
// upgrade cut short resumes at the next Open.
func movePayloads(db *bolt.DB) error {
	var from []byte
	for done := false; !done; {
		err := db.Update(func(tx *bolt.Tx) error {
			var keys, values [][]byte
			c := bucket(tx, bucketJobs).Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for ; k != nil && len(keys) < purgeChunk; k, v = c.Next() {
				keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			}
			done = len(keys) < purgeChunk
			if len(keys) > 0 {
				from = append(keys[len(keys)-1], 0)
			}
			// Written after the walk: a cursor is not safe across puts.
			for i, k := range keys {
				var rec jobRecord
				if err := json.Unmarshal(values[i], &rec); err != nil {
					return fmt.Errorf("move payloads: corrupt job record %q: %w", k, err)
				}
				if len(rec.Payload) == 0 {
					continue
				}
				if err := putPayload(tx, rec); err != nil {
					return err
				}
				if err := saveJob(tx, rec); err != nil {
					return err
				}
			}
			if done {
				return bucket(tx, bucketMeta).Delete([]byte(keyMovingPayloads))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Ping answers nil while the database can serve reads.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded: ping: %w", err)
	}
	if err := s.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("embedded: ping: %w: %w", app.ErrUnavailable, err)
	}
	return nil
}

// Close waits for running transactions and closes the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("embedded: close: %w", err)
	}
	return nil
}

// view, update and batch run fn in a transaction and prefix its error with
// the operation. batch shares the transaction with concurrent calls (group
// commit) and may run fn more than once: fn must keep its effects inside
// tx and set its results afresh on every run.
func (s *Store) view(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}

func (s *Store) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	if err := s.db.Update(fn); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}

func (s *Store) batch(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	if err := s.commits.do(fn); err != nil {
		return fmt.Errorf("embedded: %s: %w", op, err)
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// getJSON decodes the value at key into v, or answers app.ErrNotFound.
func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return app.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("corrupt record %q: %w", key, err)
	}
	return nil
}
