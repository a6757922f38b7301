package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// purgeStep empties one bucket of a merchant's keys: drop deletes the key
// it is given, with what depends on it, unless the key must stay, and says
// which it did.
type purgeStep struct {
	bucket string
	drop   func(tx *bolt.Tx, now time.Time, k, v []byte) (bool, error)
}

// purgeSteps are the buckets PurgeMerchantData walks, in order: the jobs
// first (each takes its due, dead or lease entry and its key along), then
// what is keyed by the merchant alone.
func purgeSteps(merchant string) []purgeStep {
	prefix := merchantPrefix(merchant)
	plain := func(name string) purgeStep {
		return purgeStep{name, func(tx *bolt.Tx, _ time.Time, k, _ []byte) (bool, error) {
			return true, bucket(tx, name).Delete(k)
		}}
	}
	steps := []purgeStep{
		{bucketJobs, func(tx *bolt.Tx, now time.Time, k, v []byte) (bool, error) {
			return dropUnheldJob(tx, now, merchant, k, v)
		}},
		// Entries left of jobs already gone, if any.
		plain(bucketDue), plain(bucketDead),
		{bucketJobKeys, func(tx *bolt.Tx, _ time.Time, k, id []byte) (bool, error) {
			if bucket(tx, bucketJobs).Get(scoped(merchant, string(id))) != nil {
				return false, nil // the key of a job a worker holds
			}
			return true, bucket(tx, bucketJobKeys).Delete(k)
		}},
		{bucketIdem, func(tx *bolt.Tx, _ time.Time, k, _ []byte) (bool, error) {
			return true, claims().delete(tx, merchant, string(k[len(prefix):]))
		}},
		{bucketStates, func(tx *bolt.Tx, _ time.Time, k, _ []byte) (bool, error) {
			return true, states().delete(tx, merchant, string(k[len(prefix):]))
		}},
	}
	for _, name := range []string{
		bucketDeliveries, bucketDeliveryByTime, bucketDeliveryStatus, bucketDeliveryEvent,
		bucketDeliveryMessage, bucketDeliveryPhone, bucketDeliveryCustomer, bucketDeliverySubject,
		bucketMaps, bucketIndex, bucketIndexMembers,
	} {
		steps = append(steps, plain(name))
	}
	// The points ledger is the customers' data too: a shop's redaction
	// takes it all.
	for _, name := range loyaltyBucketNames() {
		steps = append(steps, plain(name))
	}
	return steps
}

// purgeKept are the buckets PurgeMerchantData leaves: the merchant record
// and its indexes, the statistics, the schema version, and the one-time
// values, which are nobody's and expire within minutes. purgeIndirect are
// those it changes through the steps' records: expiry indexes, leases and
// the due heads.
func purgeKept() []string {
	return []string{bucketMeta, bucketMerchants, bucketMerchantDomains, bucketMerchantKeys, bucketStats, bucketOnce, bucketOnceExpiry}
}

func purgeIndirect() []string {
	return []string{bucketIdemExpiry, bucketStateExpiry, bucketLeases, bucketHeads, bucketHeadOf, bucketJobPayloads}
}

// dropUnheldJob deletes a job no worker holds (due, scheduled, dead, or
// leased with the lease run out) with its index entry and key; a job under
// a live lease stays for its worker to settle.
func dropUnheldJob(tx *bolt.Tx, now time.Time, merchant string, k, v []byte) (bool, error) {
	var rec jobRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return true, bucket(tx, bucketJobs).Delete(k) // unreadable: its payload cannot be found either
	}
	var err error
	switch rec.State {
	case jobLeased:
		if rec.LeaseUntil.After(now) {
			return false, nil
		}
		err = bucket(tx, bucketLeases).Delete(timeFirst(rec.LeaseUntil, merchant, rec.ID))
	case jobDue:
		err = bucket(tx, bucketDue).Delete(scopedAt(merchant, rec.DueAt, rec.ID))
	case jobDead:
		err = bucket(tx, bucketDead).Delete(scopedAt(merchant, rec.BuriedAt, rec.ID))
	}
	if err != nil {
		return false, err
	}
	if err := dropKey(tx, rec); err != nil {
		return false, err
	}
	return true, deleteJob(tx, rec)
}

// PurgeMerchantData deletes every key of the merchant in every bucket but
// the merchant record, its indexes and the statistics, in write
// transactions of at most purgeChunk keys each, so a large shop never
// holds the writer lock for long. Jobs under a live lease stay. The
// in-memory throttles of the merchant are forgotten too.
func (s *Store) PurgeMerchantData(ctx context.Context, merchant string) (int, error) {
	if err := required("merchant", merchant); err != nil {
		return 0, fmt.Errorf("embedded: purge merchant data: %w", err)
	}
	total := 0
	for _, step := range purgeSteps(merchant) {
		n, err := s.purgeBucket(ctx, merchantPrefix(merchant), step)
		total += n
		if err != nil {
			return total, err
		}
	}
	err := s.update(ctx, "purge merchant data", func(tx *bolt.Tx) error { return refreshHead(tx, merchant) })
	if err != nil {
		return total, err
	}
	s.throttles.forget(merchant)
	return total, nil
}

// purgeBucket runs step over the keys under prefix, chunk by chunk, and
// answers how many it deleted.
func (s *Store) purgeBucket(ctx context.Context, prefix []byte, step purgeStep) (int, error) {
	total := 0
	from := prefix
	for {
		deleted, seen := 0, 0
		var last []byte
		err := s.update(ctx, "purge merchant data", func(tx *bolt.Tx) error {
			deleted, seen, last = 0, 0, nil
			var keys, values [][]byte
			c := bucket(tx, step.bucket).Cursor()
			for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < purgeChunk; k, v = c.Next() {
				keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
			}
			seen = len(keys)
			if seen > 0 {
				last = keys[seen-1]
			}
			// Deleted after the walk: a cursor is not safe across deletes.
			now := s.now()
			for i, k := range keys {
				dropped, err := step.drop(tx, now, k, values[i])
				if err != nil {
					return err
				}
				if dropped {
					deleted++
				}
			}
			return nil
		})
		total += deleted
		if err != nil || seen < purgeChunk {
			return total, err
		}
		from = append(last, 0) // the first key after the last one seen
	}
}
