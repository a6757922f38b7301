package embedded

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// A job lives in the jobs bucket in one of three states and has exactly one
// index entry for it: due (due bucket, plus its merchant's entry in
// due_heads when it is the merchant's oldest), leased (leases bucket) or
// dead (dead bucket). A due or leased job with a Key also holds job_keys.
type jobState string

const (
	jobDue    jobState = "due"
	jobLeased jobState = "leased"
	jobDead   jobState = "dead"

	deadJobsLimit = 50
)

type jobRecord struct {
	app.Job
	State      jobState
	LeaseUntil time.Time `json:",omitzero"`
	BuriedAt   time.Time `json:",omitzero"`
}

// Enqueue stores job, due at job.DueAt (zero: now). ErrConflict when the
// merchant already has a job with the same ID, or a live job with the same
// Key.
func (s *Store) Enqueue(ctx context.Context, job app.Job) error {
	if err := checkJob(job); err != nil {
		return fmt.Errorf("embedded: enqueue: %w", err)
	}
	return s.batch(ctx, "enqueue "+job.ID, func(tx *bolt.Tx) error {
		return enqueue(tx, s.now(), job)
	})
}

// ClaimAndEnqueue marks key done for doneTTL and enqueues job in one
// transaction, or, when key is already claimed, answers its state and
// enqueues nothing.
func (s *Store) ClaimAndEnqueue(ctx context.Context, key string, doneTTL time.Duration, job app.Job) (app.ClaimState, error) {
	err := checkJob(job)
	if err == nil {
		err = checkClaim(job.Merchant, key, doneTTL)
	}
	if err != nil {
		return 0, fmt.Errorf("embedded: claim and enqueue: %w", err)
	}
	var state app.ClaimState
	err = s.batch(ctx, "claim and enqueue "+job.ID, func(tx *bolt.Tx) error {
		state = 0
		now := s.now()
		claimed, err := claimKey(tx, now, job.Merchant, key, app.ClaimDone, doneTTL)
		if err != nil || claimed != app.ClaimNew {
			state = claimed
			return err
		}
		if err := enqueue(tx, now, job); err != nil {
			return err
		}
		state = app.ClaimNew
		return nil
	})
	if err != nil {
		return 0, err
	}
	return state, nil
}

// ClaimAndLease marks key done for doneTTL and stores job leased to the
// caller for lease in one transaction, or, when key is already claimed,
// answers its state and stores nothing.
func (s *Store) ClaimAndLease(ctx context.Context, key string, doneTTL time.Duration, job app.Job, lease time.Duration) (app.ClaimState, app.Job, error) {
	err := checkJob(job)
	if err == nil {
		err = checkClaim(job.Merchant, key, doneTTL)
	}
	if err == nil && lease <= 0 {
		err = app.Invalid("lease", "must be positive")
	}
	if err != nil {
		return 0, app.Job{}, fmt.Errorf("embedded: claim and lease: %w", err)
	}
	var state app.ClaimState
	var leased app.Job
	err = s.batch(ctx, "claim and lease "+job.ID, func(tx *bolt.Tx) error {
		state, leased = 0, app.Job{}
		now := s.now()
		claimed, err := claimKey(tx, now, job.Merchant, key, app.ClaimDone, doneTTL)
		if err != nil || claimed != app.ClaimNew {
			state = claimed
			return err
		}
		if leased, err = enqueueLeased(tx, now, job, lease); err != nil {
			return err
		}
		state = app.ClaimNew
		return nil
	})
	if err != nil {
		return 0, app.Job{}, err
	}
	return state, leased, nil
}

// enqueueLeased stores job as enqueue does, but leased until now+lease,
// its first attempt counted.
func enqueueLeased(tx *bolt.Tx, now time.Time, job app.Job, lease time.Duration) (app.Job, error) {
	jobs := bucket(tx, bucketJobs)
	if jobs.Get(scoped(job.Merchant, job.ID)) != nil {
		return app.Job{}, fmt.Errorf("job id %s taken: %w", job.ID, app.ErrConflict)
	}
	if job.Key != "" {
		keys := bucket(tx, bucketJobKeys)
		if keys.Get(scoped(job.Merchant, job.Key)) != nil {
			return app.Job{}, fmt.Errorf("job key %s taken: %w", job.Key, app.ErrConflict)
		}
		if err := keys.Put(scoped(job.Merchant, job.Key), []byte(job.ID)); err != nil {
			return app.Job{}, err
		}
	}
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	job.Attempt++
	job.Lease = rand.Text()
	rec := jobRecord{Job: job, State: jobLeased, LeaseUntil: now.Add(lease)}
	if err := putPayload(tx, rec); err != nil {
		return app.Job{}, err
	}
	if err := saveJob(tx, rec); err != nil {
		return app.Job{}, err
	}
	if err := bucket(tx, bucketLeases).Put(timeFirst(rec.LeaseUntil, rec.Merchant, rec.ID), nil); err != nil {
		return app.Job{}, err
	}
	return job, nil
}

func checkJob(job app.Job) error {
	if err := required("merchant", job.Merchant, "id", job.ID); err != nil {
		return err
	}
	return bounded("key", job.Key)
}

func enqueue(tx *bolt.Tx, now time.Time, job app.Job) error {
	jobs := bucket(tx, bucketJobs)
	if jobs.Get(scoped(job.Merchant, job.ID)) != nil {
		return fmt.Errorf("job id %s taken: %w", job.ID, app.ErrConflict)
	}
	if job.Key != "" {
		keys := bucket(tx, bucketJobKeys)
		if keys.Get(scoped(job.Merchant, job.Key)) != nil {
			return fmt.Errorf("job key %s taken: %w", job.Key, app.ErrConflict)
		}
		if err := keys.Put(scoped(job.Merchant, job.Key), []byte(job.ID)); err != nil {
			return err
		}
	}
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	job.Lease = ""
	rec := jobRecord{Job: job}
	if err := putPayload(tx, rec); err != nil {
		return err
	}
	return makeDue(tx, rec)
}

// ClaimJobs first makes the jobs whose lease ran out due again, then leases
// up to max due jobs: oldest due first within a merchant, one job per
// merchant in turn, merchants ordered by their oldest due job.
func (s *Store) ClaimJobs(ctx context.Context, lease time.Duration, max int) ([]app.Job, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("embedded: claim jobs: %w", app.Invalid("lease", "must be positive"))
	}
	if max <= 0 {
		return nil, nil
	}
	// Idle workers poll: answer from a read transaction when there is
	// nothing to take, rather than commit (and fsync) an empty write.
	var work bool
	err := s.view(ctx, "claim jobs", func(tx *bolt.Tx) error {
		work = hasWork(tx, s.now())
		return nil
	})
	if err != nil || !work {
		return nil, err
	}
	var claimed []app.Job
	err = s.batch(ctx, "claim jobs", func(tx *bolt.Tx) error {
		claimed = nil
		now := s.now()
		if err := reclaimExpired(tx, now); err != nil {
			return err
		}
		picks, err := pickDue(tx, now, max)
		if err != nil {
			return err
		}
		until := now.Add(lease)
		touched := map[string]bool{}
		for _, p := range picks {
			rec, err := loadJob(tx, p.merchant, p.id)
			if err != nil {
				return err
			}
			if err := bucket(tx, bucketDue).Delete(p.dueKey); err != nil {
				return err
			}
			rec.State = jobLeased
			rec.Attempt++
			rec.Lease = rand.Text()
			rec.LeaseUntil = until
			if err := saveJob(tx, rec); err != nil {
				return err
			}
			if err := bucket(tx, bucketLeases).Put(timeFirst(until, rec.Merchant, rec.ID), nil); err != nil {
				return err
			}
			touched[rec.Merchant] = true
			rec.Payload = loadPayload(tx, rec)
			claimed = append(claimed, rec.Job)
		}
		for merchant := range touched {
			if err := refreshHead(tx, merchant); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// hasWork reports whether a lease has run out or a merchant has a due job.
func hasWork(tx *bolt.Tx, now time.Time) bool {
	limit := appendTime(nil, now)
	for _, name := range []string{bucketLeases, bucketHeads} {
		if k, _ := bucket(tx, name).Cursor().First(); k != nil && bytes.Compare(k[:8], limit) <= 0 {
			return true
		}
	}
	return false
}

// reclaimExpired makes every job whose lease ran out by now due again, at
// its old due time, so it keeps its place in its merchant's line.
func reclaimExpired(tx *bolt.Tx, now time.Time) error {
	leases := bucket(tx, bucketLeases)
	limit := appendTime(nil, now)
	var expired [][]byte
	c := leases.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
		expired = append(expired, bytes.Clone(k))
	}
	for _, k := range expired {
		if err := leases.Delete(k); err != nil {
			return err
		}
		_, merchant, id, ok := splitTimeFirst(k)
		if !ok {
			return fmt.Errorf("corrupt lease key %q", k)
		}
		rec, err := loadJob(tx, merchant, id)
		if err != nil {
			return err
		}
		rec.Lease = ""
		rec.LeaseUntil = time.Time{}
		if err := makeDue(tx, rec); err != nil {
			return err
		}
	}
	return nil
}

type pick struct {
	merchant, id string
	dueKey       []byte
}

// pickDue chooses up to max due jobs round-robin between the merchants
// with the oldest due work. It only reads, so its cursors stay valid.
func pickDue(tx *bolt.Tx, now time.Time, max int) ([]pick, error) {
	limit := appendTime(nil, now)
	type line struct {
		merchant string
		prefix   []byte
		cursor   *bolt.Cursor
		next     []byte
	}
	var lines []*line
	heads := bucket(tx, bucketHeads).Cursor()
	for k, _ := heads.First(); k != nil && len(lines) < max && bytes.Compare(k[:8], limit) <= 0; k, _ = heads.Next() {
		_, merchant, _, ok := splitTimeFirst(k)
		if !ok {
			return nil, fmt.Errorf("corrupt due head %q", k)
		}
		l := &line{merchant: merchant, prefix: merchantPrefix(merchant), cursor: bucket(tx, bucketDue).Cursor()}
		l.next, _ = l.cursor.Seek(l.prefix)
		lines = append(lines, l)
	}
	var picks []pick
	for len(picks) < max && len(lines) > 0 {
		active := lines[:0]
		for _, l := range lines {
			if len(picks) == max {
				break
			}
			k := l.next
			if k == nil || !bytes.HasPrefix(k, l.prefix) {
				continue
			}
			at, id, ok := readTime(k[len(l.prefix):])
			if !ok {
				return nil, fmt.Errorf("corrupt due key %q", k)
			}
			if at > micros(now) {
				continue
			}
			picks = append(picks, pick{merchant: l.merchant, id: string(id), dueKey: bytes.Clone(k)})
			l.next, _ = l.cursor.Next()
			active = append(active, l)
		}
		lines = active
	}
	return picks, nil
}

// Extend pushes the lease of a held job to now+lease.
func (s *Store) Extend(ctx context.Context, job app.Job, lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("embedded: extend: %w", app.Invalid("lease", "must be positive"))
	}
	return s.batch(ctx, "extend "+job.ID, func(tx *bolt.Tx) error {
		now := s.now()
		rec, err := heldJob(tx, now, job)
		if err != nil {
			return err
		}
		if err := dropLease(tx, &rec); err != nil {
			return err
		}
		rec.Lease = job.Lease
		rec.LeaseUntil = now.Add(lease)
		if err := bucket(tx, bucketLeases).Put(timeFirst(rec.LeaseUntil, rec.Merchant, rec.ID), nil); err != nil {
			return err
		}
		return saveJob(tx, rec)
	})
}

// Ack removes a finished job. A lease that ran out still settles it until
// a claim takes it (the token changes then): nobody else holds it.
func (s *Store) Ack(ctx context.Context, job app.Job) error {
	return s.batch(ctx, "ack "+job.ID, func(tx *bolt.Tx) error {
		rec, err := heldJob(tx, time.Time{}, job)
		if err != nil {
			return err
		}
		if err := dropLease(tx, &rec); err != nil {
			return err
		}
		if err := dropKey(tx, rec); err != nil {
			return err
		}
		return deleteJob(tx, rec)
	})
}

// Retry puts a held job back, due at at (zero: now), keeping its attempt
// count and recording reason.
func (s *Store) Retry(ctx context.Context, job app.Job, at time.Time, reason string) error {
	return s.batch(ctx, "retry "+job.ID, func(tx *bolt.Tx) error {
		now := s.now()
		rec, err := heldJob(tx, now, job)
		if err != nil {
			return err
		}
		if err := dropLease(tx, &rec); err != nil {
			return err
		}
		rec.DueAt = at
		if at.IsZero() {
			rec.DueAt = now
		}
		rec.LastError = reason
		return makeDue(tx, rec)
	})
}

// Bury moves a held job to the dead letters with reason and frees its key.
func (s *Store) Bury(ctx context.Context, job app.Job, reason string) error {
	return s.batch(ctx, "bury "+job.ID, func(tx *bolt.Tx) error {
		now := s.now()
		rec, err := heldJob(tx, now, job)
		if err != nil {
			return err
		}
		if err := dropLease(tx, &rec); err != nil {
			return err
		}
		if err := dropKey(tx, rec); err != nil {
			return err
		}
		rec.State = jobDead
		rec.LastError = reason
		rec.BuriedAt = now
		if err := bucket(tx, bucketDead).Put(scopedAt(rec.Merchant, now, rec.ID), nil); err != nil {
			return err
		}
		return saveJob(tx, rec)
	})
}

// heldJob loads the job a worker settles and checks the worker still holds
// it: leased, with the same token, and the lease not run out by now (zero:
// not checked).
func heldJob(tx *bolt.Tx, now time.Time, job app.Job) (jobRecord, error) {
	if job.Lease == "" {
		return jobRecord{}, app.ErrLeaseLost
	}
	rec, err := loadJob(tx, job.Merchant, job.ID)
	if errors.Is(err, app.ErrNotFound) {
		return jobRecord{}, app.ErrLeaseLost
	}
	if err != nil {
		return jobRecord{}, err
	}
	if rec.State != jobLeased || rec.Lease != job.Lease || !rec.LeaseUntil.After(now) {
		return jobRecord{}, app.ErrLeaseLost
	}
	return rec, nil
}

// DeadJobs lists a merchant's dead jobs, most recently buried first; limit
// 0 means 50.
func (s *Store) DeadJobs(ctx context.Context, merchant string, limit int) ([]app.Job, error) {
	if limit <= 0 {
		limit = deadJobsLimit
	}
	var list []app.Job
	err := s.view(ctx, "dead jobs", func(tx *bolt.Tx) error {
		list = nil
		prefix := merchantPrefix(merchant)
		c := bucket(tx, bucketDead).Cursor()
		for k := lastWithPrefix(c, prefix); k != nil && len(list) < limit; k, _ = c.Prev() {
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			_, id, ok := readTime(k[len(prefix):])
			if !ok {
				return fmt.Errorf("corrupt dead key %q", k)
			}
			rec, err := loadJob(tx, merchant, string(id))
			if err != nil {
				return err
			}
			rec.Payload = loadPayload(tx, rec)
			list = append(list, rec.Job)
		}
		return nil
	})
	return list, err
}

// PurgeDeadJobs deletes up to limit of the merchant's dead jobs buried
// before before, oldest first, with their records (and payloads).
func (s *Store) PurgeDeadJobs(ctx context.Context, merchant string, before time.Time, limit int) (int, error) {
	if err := required("merchant", merchant); err != nil {
		return 0, fmt.Errorf("embedded: purge dead jobs: %w", err)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("embedded: purge dead jobs: %w", app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit)))
	}
	purged := 0
	err := s.update(ctx, "purge dead jobs", func(tx *bolt.Tx) error {
		purged = 0
		prefix, end := merchantPrefix(merchant), micros(before)
		var old [][]byte
		c := bucket(tx, bucketDead).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(old) < limit; k, _ = c.Next() {
			at, _, ok := readTime(k[len(prefix):])
			if !ok {
				return fmt.Errorf("corrupt dead key %q", k)
			}
			if at >= end {
				break
			}
			old = append(old, bytes.Clone(k))
		}
		// Deleted after the walk: a cursor is not safe across deletes.
		for _, k := range old {
			_, id, _ := readTime(k[len(prefix):])
			if err := bucket(tx, bucketDead).Delete(k); err != nil {
				return err
			}
			rec, err := loadJob(tx, merchant, string(id))
			if errors.Is(err, app.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := deleteJob(tx, rec); err != nil {
				return err
			}
		}
		purged = len(old)
		return nil
	})
	return purged, err
}

// RequeueDead makes a dead job due now with its attempt count reset.
// ErrNotFound when the merchant has no dead job id; ErrConflict when a live
// job took its key meanwhile.
func (s *Store) RequeueDead(ctx context.Context, merchant, id string) error {
	return s.batch(ctx, "requeue dead "+id, func(tx *bolt.Tx) error {
		rec, err := loadJob(tx, merchant, id)
		if err != nil {
			return err
		}
		if rec.State != jobDead {
			return fmt.Errorf("job %s is not dead: %w", id, app.ErrNotFound)
		}
		if rec.Key != "" {
			keys := bucket(tx, bucketJobKeys)
			if keys.Get(scoped(merchant, rec.Key)) != nil {
				return fmt.Errorf("job key %s taken: %w", rec.Key, app.ErrConflict)
			}
			if err := keys.Put(scoped(merchant, rec.Key), []byte(id)); err != nil {
				return err
			}
		}
		if err := bucket(tx, bucketDead).Delete(scopedAt(merchant, rec.BuriedAt, id)); err != nil {
			return err
		}
		rec.BuriedAt = time.Time{}
		rec.DueAt = s.now()
		rec.Attempt = 0
		return makeDue(tx, rec)
	})
}

// Cancel removes the merchant's due job with key; a leased job is left to
// its worker.
func (s *Store) Cancel(ctx context.Context, merchant, key string) (bool, error) {
	var cancelled bool
	err := s.batch(ctx, "cancel", func(tx *bolt.Tx) error {
		cancelled = false
		id := bucket(tx, bucketJobKeys).Get(scoped(merchant, key))
		if id == nil {
			return nil
		}
		rec, err := loadJob(tx, merchant, string(id))
		if err != nil {
			return err
		}
		if rec.State != jobDue {
			return nil
		}
		if err := bucket(tx, bucketDue).Delete(scopedAt(merchant, rec.DueAt, rec.ID)); err != nil {
			return err
		}
		if err := refreshHead(tx, merchant); err != nil {
			return err
		}
		if err := dropKey(tx, rec); err != nil {
			return err
		}
		cancelled = true
		return deleteJob(tx, rec)
	})
	return cancelled, err
}

// DropJobs removes the merchant's due and scheduled jobs, and those whose
// lease ran out (no worker holds them any more: the next claim would make
// them due), frees their keys, and answers how many it removed. Held and
// dead jobs stay. It works in chunks, like Purge, so an uninstall with a
// long queue never holds the writer lock for long; jobs enqueued meanwhile
// may be removed too.
func (s *Store) DropJobs(ctx context.Context, merchant string) (int, error) {
	if err := required("merchant", merchant); err != nil {
		return 0, fmt.Errorf("embedded: drop jobs: %w", err)
	}
	total := 0
	for {
		n := 0
		err := s.update(ctx, "drop jobs", func(tx *bolt.Tx) error {
			var err error
			n, err = dropJobs(tx, s.now(), merchant, purgeChunk)
			return err
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

// dropJobs removes up to max of the merchant's jobs no worker holds and
// keeps the due heads right.
func dropJobs(tx *bolt.Tx, now time.Time, merchant string, max int) (int, error) {
	// Leases that ran out are the first keys of the lease index.
	var lapsed [][]byte
	limit := appendTime(nil, now)
	c := bucket(tx, bucketLeases).Cursor()
	for k, _ := c.First(); k != nil && len(lapsed) < max && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
		if _, m, _, ok := splitTimeFirst(k); ok && m == merchant {
			lapsed = append(lapsed, bytes.Clone(k))
		}
	}
	var due [][]byte
	prefix := merchantPrefix(merchant)
	c = bucket(tx, bucketDue).Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(lapsed)+len(due) < max && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		due = append(due, bytes.Clone(k))
	}
	drop := func(index string, k []byte, id string) error {
		rec, err := loadJob(tx, merchant, id)
		if err != nil {
			return err
		}
		if err := bucket(tx, index).Delete(k); err != nil {
			return err
		}
		if err := dropKey(tx, rec); err != nil {
			return err
		}
		return deleteJob(tx, rec)
	}
	for _, k := range lapsed {
		_, _, id, _ := splitTimeFirst(k)
		if err := drop(bucketLeases, k, id); err != nil {
			return 0, err
		}
	}
	for _, k := range due {
		_, id, ok := readTime(k[len(prefix):])
		if !ok {
			return 0, fmt.Errorf("corrupt due key %q", k)
		}
		if err := drop(bucketDue, k, string(id)); err != nil {
			return 0, err
		}
	}
	if len(due) > 0 {
		if err := refreshHead(tx, merchant); err != nil {
			return 0, err
		}
	}
	return len(lapsed) + len(due), nil
}

// Depth counts jobs across all merchants at now. It walks the indexes, so
// it costs a read of every job key; it runs in a read transaction, which
// does not block writers.
func (s *Store) Depth(ctx context.Context) (app.QueueDepth, error) {
	var d app.QueueDepth
	err := s.view(ctx, "depth", func(tx *bolt.Tx) error {
		d = app.QueueDepth{}
		now := micros(s.now())
		err := bucket(tx, bucketDue).ForEach(func(k, _ []byte) error {
			_, rest, ok := readPart(k)
			at, _, ok2 := readTime(rest)
			switch {
			case !ok || !ok2:
				return fmt.Errorf("corrupt due key %q", k)
			case at <= now:
				d.Ready++
			default:
				d.Scheduled++
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = bucket(tx, bucketLeases).ForEach(func(k, _ []byte) error {
			// A lease that ran out makes its job ready again.
			if at, _, _ := readTime(k); at <= now {
				d.Ready++
			} else {
				d.Running++
			}
			return nil
		})
		if err != nil {
			return err
		}
		return bucket(tx, bucketDead).ForEach(func(_, _ []byte) error {
			d.Dead++
			return nil
		})
	})
	return d, err
}

func loadJob(tx *bolt.Tx, merchant, id string) (jobRecord, error) {
	var rec jobRecord
	err := getJSON(bucket(tx, bucketJobs), scoped(merchant, id), &rec)
	return rec, err
}

// saveJob writes rec without its payload, which putPayload wrote once.
func saveJob(tx *bolt.Tx, rec jobRecord) error {
	rec.Payload = nil
	return putJSON(bucket(tx, bucketJobs), scoped(rec.Merchant, rec.ID), rec)
}

// A job's payload (a webhook's body: ~5 KB) is kept apart from its record,
// written once when the job is stored and deleted with it: each claim,
// extension and settlement rewrites the record, and bbolt rewrites whole
// leaves, which hold two to four values each. Its key is the job's creation
// time first, so new payloads are appended to the last leaves instead of
// rewriting their neighbours in every merchant's range.
func payloadKey(rec jobRecord) []byte { return timeFirst(rec.CreatedAt, rec.Merchant, rec.ID) }

func putPayload(tx *bolt.Tx, rec jobRecord) error {
	if len(rec.Payload) == 0 {
		return nil
	}
	return bucket(tx, bucketJobPayloads).Put(payloadKey(rec), rec.Payload)
}

// loadPayload answers a copy of rec's payload: bbolt's bytes live only as
// long as tx.
func loadPayload(tx *bolt.Tx, rec jobRecord) []byte {
	return bytes.Clone(bucket(tx, bucketJobPayloads).Get(payloadKey(rec)))
}

// deleteJob deletes rec and its payload; its index entries and key are the
// caller's.
func deleteJob(tx *bolt.Tx, rec jobRecord) error {
	if err := bucket(tx, bucketJobPayloads).Delete(payloadKey(rec)); err != nil {
		return err
	}
	return bucket(tx, bucketJobs).Delete(scoped(rec.Merchant, rec.ID))
}

// makeDue saves rec as due at rec.DueAt and indexes it.
func makeDue(tx *bolt.Tx, rec jobRecord) error {
	rec.State = jobDue
	if err := saveJob(tx, rec); err != nil {
		return err
	}
	if err := bucket(tx, bucketDue).Put(scopedAt(rec.Merchant, rec.DueAt, rec.ID), nil); err != nil {
		return err
	}
	return refreshHead(tx, rec.Merchant)
}

// dropLease removes a leased job's lease index entry and token.
func dropLease(tx *bolt.Tx, rec *jobRecord) error {
	if err := bucket(tx, bucketLeases).Delete(timeFirst(rec.LeaseUntil, rec.Merchant, rec.ID)); err != nil {
		return err
	}
	rec.Lease = ""
	rec.LeaseUntil = time.Time{}
	return nil
}

// dropKey frees the job's key if the job holds it.
func dropKey(tx *bolt.Tx, rec jobRecord) error {
	if rec.Key == "" {
		return nil
	}
	keys := bucket(tx, bucketJobKeys)
	k := scoped(rec.Merchant, rec.Key)
	if string(keys.Get(k)) != rec.ID {
		return nil
	}
	return keys.Delete(k)
}

// refreshHead keeps the merchant's entry in due_heads at its oldest due job,
// or removes it when the merchant has none.
func refreshHead(tx *bolt.Tx, merchant string) error {
	prefix := merchantPrefix(merchant)
	var head []byte
	if k, _ := bucket(tx, bucketDue).Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) >= len(prefix)+8 {
		head = bytes.Clone(k[len(prefix) : len(prefix)+8])
	}
	headOf := bucket(tx, bucketHeadOf)
	old := bytes.Clone(headOf.Get([]byte(merchant)))
	if bytes.Equal(old, head) {
		return nil
	}
	heads := bucket(tx, bucketHeads)
	if old != nil {
		if err := heads.Delete(appendPart(old, merchant)); err != nil {
			return err
		}
	}
	if head == nil {
		return headOf.Delete([]byte(merchant))
	}
	if err := headOf.Put([]byte(merchant), head); err != nil {
		return err
	}
	return heads.Put(appendPart(bytes.Clone(head), merchant), nil)
}

// lastWithPrefix positions c on the last key starting with prefix, or
// returns nil when there is none.
func lastWithPrefix(c *bolt.Cursor, prefix []byte) []byte {
	// Keys under prefix continue with a time, whose first byte is never
	// 0xff, so this seek lands just past them.
	k, _ := c.Seek(append(bytes.Clone(prefix), 0xff))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil
	}
	return k
}
