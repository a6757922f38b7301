package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

const (
	// claimCandidates is how many merchants with due work one ClaimJobs
	// call looks at.
	claimCandidates = 64
	// defaultDeadLimit and maxListLimit bound DeadJobs pages.
	defaultDeadLimit = 50
	maxListLimit     = 500
)

// jobRecord is a job as stored. The claim scripts change attempt, lease,
// last_error and due_at in place, so those names are shared with scripts.go.
type jobRecord struct {
	ID          string    `json:"id"`
	Merchant    string    `json:"merchant"`
	Kind        string    `json:"kind"`
	Key         string    `json:"key"`
	Payload     []byte    `json:"payload"`
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	DueAt       time.Time `json:"due_at"`
	CreatedAt   time.Time `json:"created_at"`
	LastError   string    `json:"last_error"`
	Lease       string    `json:"lease"`
}

func decodeJob(raw string) (app.Job, error) {
	var r jobRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return app.Job{}, fmt.Errorf("decode job: %w", err)
	}
	return app.Job{
		ID: r.ID, Merchant: r.Merchant, Kind: r.Kind, Key: r.Key, Payload: r.Payload,
		Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, DueAt: r.DueAt, CreatedAt: r.CreatedAt,
		LastError: r.LastError, Lease: r.Lease,
	}, nil
}

// newJob validates job and encodes it as first stored: due now when DueAt
// is zero, no lease.
func (s *Store) newJob(job app.Job) (raw []byte, dueMS int64, err error) {
	if err := requireID("merchant", job.Merchant); err != nil {
		return nil, 0, err
	}
	if err := requireID("id", job.ID); err != nil {
		return nil, 0, err
	}
	now := s.now()
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	raw, err = json.Marshal(jobRecord{
		ID: job.ID, Merchant: job.Merchant, Kind: job.Kind, Key: job.Key, Payload: job.Payload,
		Attempt: job.Attempt, MaxAttempts: job.MaxAttempts, DueAt: job.DueAt, CreatedAt: job.CreatedAt,
		LastError: job.LastError,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: encode job: %w", err)
	}
	return raw, msOf(job.DueAt), nil
}

// Enqueue stores job. The job is written on the merchant's slot first, then
// the merchant's score in the global index is lowered to its due time.
func (s *Store) Enqueue(ctx context.Context, job app.Job) error {
	raw, due, err := s.newJob(job)
	if err != nil {
		return err
	}
	if err := s.noteMerchant(ctx, job.Merchant); err != nil {
		return wrap("enqueue", err)
	}
	q := s.keys.queue(job.Merchant)
	ok, err := s.scripts.enqueue.Run(ctx, s.rdb, []string{q.jobs, q.due, q.keys}, job.ID, raw, due, job.Key).Int()
	if err != nil {
		return wrap("enqueue", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: enqueue %s: id or key taken: %w", job.ID, app.ErrConflict)
	}
	s.lowerIndex(ctx, job.Merchant, due)
	return nil
}

// ClaimAndEnqueue claims key (marking it done for doneTTL) and enqueues job
// in one script on the merchant's slot.
func (s *Store) ClaimAndEnqueue(ctx context.Context, key string, doneTTL time.Duration, job app.Job) (app.ClaimState, error) {
	if err := checkIdem(job.Merchant, key, doneTTL); err != nil {
		return 0, err
	}
	raw, due, err := s.newJob(job)
	if err != nil {
		return 0, err
	}
	if err := s.noteMerchant(ctx, job.Merchant); err != nil {
		return 0, wrap("claim and enqueue", err)
	}
	q := s.keys.queue(job.Merchant)
	keys := []string{q.jobs, q.due, q.keys, s.keys.idempotency(job.Merchant, key)}
	state, err := s.scripts.claimAndEnqueue.Run(ctx, s.rdb, keys, job.ID, raw, due, job.Key, positiveMS(doneTTL)).Int()
	if err != nil {
		return 0, wrap("claim and enqueue", err)
	}
	if state == 0 {
		return 0, fmt.Errorf("redisstore: claim and enqueue %s: id or key taken: %w", job.ID, app.ErrConflict)
	}
	if app.ClaimState(state) == app.ClaimNew {
		s.lowerIndex(ctx, job.Merchant, due)
	}
	return app.ClaimState(state), nil
}

// noteMerchant records that merchant has jobs, before its first job is
// written, so SweepIndex can always find it.
func (s *Store) noteMerchant(ctx context.Context, merchant string) error {
	if _, ok := s.known.Load(merchant); ok {
		return nil
	}
	if err := s.rdb.SAdd(ctx, s.keys.queueMerchants(), merchant).Err(); err != nil {
		return err
	}
	s.known.Store(merchant, struct{}{})
	return nil
}

// lowerIndex lowers the merchant's score in the global index to at (adding
// it when absent). It runs after a job became due on the merchant's slot.
// Its error is not returned: the job is already stored, and SweepIndex
// restores a score that a failure here left too high.
func (s *Store) lowerIndex(ctx context.Context, merchant string, at int64) {
	s.rdb.ZAddLT(ctx, s.keys.queueIndex(), redis.Z{Score: float64(at), Member: merchant})
}

// ClaimJobs leases up to max due jobs, taking merchants with due work in a
// random order, an even share from each.
func (s *Store) ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]app.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, app.Invalid("lease", fmt.Sprintf("must be positive, got %s", lease))
	}
	now := msOf(s.now())
	candidates, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.keys.queueIndex(), Start: "-inf", Stop: strconv.FormatInt(now, 10),
		ByScore: true, Count: claimCandidates,
	}).Result()
	if err != nil {
		return nil, wrap("claim jobs", err)
	}
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })

	var jobs []app.Job
	for len(candidates) > 0 && len(jobs) < limit {
		share := max(1, (limit-len(jobs))/len(candidates))
		var more []string // merchants that filled their share and may have more
		for _, merchant := range candidates {
			want := min(share, limit-len(jobs))
			if want == 0 {
				break
			}
			got, err := s.claimFrom(ctx, merchant, now, lease, want)
			if err != nil {
				if len(jobs) > 0 {
					// Those are leased already; hand them out. The failure
					// will show again on the next call.
					return jobs, nil
				}
				return nil, err
			}
			jobs = append(jobs, got...)
			if len(got) == want {
				more = append(more, merchant)
			}
		}
		candidates = more
	}
	return jobs, nil
}

// claimFrom leases up to want due jobs of one merchant, then settles the
// merchant's score in the index.
func (s *Store) claimFrom(ctx context.Context, merchant string, now int64, lease time.Duration, want int) ([]app.Job, error) {
	q := s.keys.queue(merchant)
	res, err := s.scripts.claim.Run(ctx, s.rdb, []string{q.due, q.lease, q.jobs},
		now, now+positiveMS(lease), want, newToken()).StringSlice()
	if err != nil {
		return nil, wrap("claim jobs", err)
	}
	jobs := make([]app.Job, 0, len(res)-1)
	for _, raw := range res[1:] {
		job, err := decodeJob(raw)
		if err != nil {
			// The job is leased and will come back when the lease runs
			// out; a record that does not decode is a bug to see, not skip.
			return nil, fmt.Errorf("redisstore: claim jobs: merchant %s: %w", merchant, err)
		}
		jobs = append(jobs, job)
	}
	if err := s.settleIndex(ctx, merchant, res[0]); err != nil {
		if len(jobs) > 0 {
			return jobs, nil // SweepIndex repairs the score
		}
		return nil, err
	}
	return jobs, nil
}

// settleIndex sets the merchant's index score to next (its earliest time as
// the claim script saw it, "" for none), which may raise the score or
// remove the merchant. An enqueue that ran after the script may have
// lowered the score meanwhile and been overwritten, so the earliest time is
// read again after the write and put back with ZADD LT. Enqueues write the
// job first and lower the score second; this raises first and re-reads
// second; so every job is covered by one side or the other.
func (s *Store) settleIndex(ctx context.Context, merchant, next string) error {
	index := s.keys.queueIndex()
	var err error
	if next == "" {
		err = s.rdb.ZRem(ctx, index, merchant).Err()
	} else {
		err = s.rdb.ZAdd(ctx, index, redis.Z{Score: parseMS(next), Member: merchant}).Err()
	}
	if err != nil {
		return wrap("claim jobs: index", err)
	}
	return s.recheckIndex(ctx, merchant)
}

// recheckIndex lowers the merchant's index score to its earliest time now.
func (s *Store) recheckIndex(ctx context.Context, merchant string) error {
	q := s.keys.queue(merchant)
	earliest, err := s.scripts.earliest.Run(ctx, s.rdb, []string{q.due, q.lease}).Text()
	if err != nil {
		return wrap("index", err)
	}
	if earliest == "" {
		return nil
	}
	err = s.rdb.ZAddLT(ctx, s.keys.queueIndex(), redis.Z{Score: parseMS(earliest), Member: merchant}).Err()
	return wrap("index", err)
}

func parseMS(s string) float64 {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0 // a score the scripts made; 0 only makes the merchant look due
	}
	return float64(ms)
}

// SweepIndex lowers the index score of every merchant that ever had a job
// to its earliest time, repairing what a crash between an enqueue's script
// and its index update left out. It only lowers scores, so it cannot race
// with an enqueue; claims raise them again as they find no work.
func (s *Store) SweepIndex(ctx context.Context) error {
	merchants, err := s.rdb.SMembers(ctx, s.keys.queueMerchants()).Result()
	if err != nil {
		return wrap("sweep index", err)
	}
	for _, merchant := range merchants {
		if err := s.recheckIndex(ctx, merchant); err != nil {
			return fmt.Errorf("redisstore: sweep index: merchant %s: %w", merchant, err)
		}
	}
	return nil
}

// settle runs one of the lease-checked scripts (ack, extend, retry, bury).
func (s *Store) settle(ctx context.Context, op string, script *redis.Script, job app.Job, keys []string, args ...any) error {
	if err := requireID("merchant", job.Merchant); err != nil {
		return err
	}
	args = append([]any{job.ID, job.Lease, msOf(s.now())}, args...)
	ok, err := script.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return wrap(op, err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: %s %s: %w", op, job.ID, app.ErrLeaseLost)
	}
	return nil
}

// Extend pushes the lease of a held job to now+lease.
func (s *Store) Extend(ctx context.Context, job app.Job, lease time.Duration) error {
	if lease <= 0 {
		return app.Invalid("lease", fmt.Sprintf("must be positive, got %s", lease))
	}
	q := s.keys.queue(job.Merchant)
	return s.settle(ctx, "extend", s.scripts.extend, job, []string{q.lease, q.jobs}, msOf(s.now())+positiveMS(lease))
}

// Ack removes a finished job.
func (s *Store) Ack(ctx context.Context, job app.Job) error {
	q := s.keys.queue(job.Merchant)
	return s.settle(ctx, "ack", s.scripts.ack, job, []string{q.lease, q.jobs, q.keys})
}

// Retry puts a held job back, due at at (zero: now).
func (s *Store) Retry(ctx context.Context, job app.Job, at time.Time, reason string) error {
	if at.IsZero() {
		at = s.now()
	}
	q := s.keys.queue(job.Merchant)
	err := s.settle(ctx, "retry", s.scripts.retry, job, []string{q.lease, q.jobs, q.due},
		msOf(at), at.Format(time.RFC3339Nano), reason)
	if err != nil {
		return err
	}
	s.lowerIndex(ctx, job.Merchant, msOf(at))
	return nil
}

// Bury moves a held job to the dead letters.
func (s *Store) Bury(ctx context.Context, job app.Job, reason string) error {
	q := s.keys.queue(job.Merchant)
	return s.settle(ctx, "bury", s.scripts.bury, job, []string{q.lease, q.jobs, q.dead, q.keys}, reason)
}

// DeadJobs lists the merchant's dead jobs, most recently buried first.
func (s *Store) DeadJobs(ctx context.Context, merchant string, limit int) ([]app.Job, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = defaultDeadLimit
	}
	limit = min(limit, maxListLimit)
	q := s.keys.queue(merchant)
	ids, err := s.rdb.ZRevRange(ctx, q.dead, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, wrap("dead jobs", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	raws, err := s.rdb.HMGet(ctx, q.jobs, ids...).Result()
	if err != nil {
		return nil, wrap("dead jobs", err)
	}
	jobs := make([]app.Job, 0, len(raws))
	for _, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue // requeued or removed since the range was read
		}
		job, err := decodeJob(str)
		if err != nil {
			return nil, fmt.Errorf("redisstore: dead jobs: %w", err)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// RequeueDead makes a dead job due now with its attempt count reset.
// ErrConflict when a live job of the merchant now holds its key.
func (s *Store) RequeueDead(ctx context.Context, merchant, id string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	now := s.now()
	q := s.keys.queue(merchant)
	res, err := s.scripts.requeueDead.Run(ctx, s.rdb, []string{q.dead, q.jobs, q.due, q.keys},
		id, msOf(now), now.Format(time.RFC3339Nano)).Int()
	if err != nil {
		return wrap("requeue dead", err)
	}
	switch res {
	case -1:
		return fmt.Errorf("redisstore: requeue dead %s: %w", id, app.ErrNotFound)
	case 0:
		return fmt.Errorf("redisstore: requeue dead %s: a live job holds its key: %w", id, app.ErrConflict)
	}
	s.lowerIndex(ctx, merchant, msOf(now))
	return nil
}

// Cancel removes the merchant's waiting job with key; a leased one stays.
func (s *Store) Cancel(ctx context.Context, merchant, key string) (bool, error) {
	if err := requireID("merchant", merchant); err != nil {
		return false, err
	}
	if key == "" {
		return false, nil
	}
	q := s.keys.queue(merchant)
	n, err := s.scripts.cancel.Run(ctx, s.rdb, []string{q.keys, q.due, q.jobs}, key).Int()
	if err != nil {
		return false, wrap("cancel", err)
	}
	return n == 1, nil
}

// Depth counts jobs over every merchant that ever had one.
func (s *Store) Depth(ctx context.Context) (app.QueueDepth, error) {
	merchants, err := s.rdb.SMembers(ctx, s.keys.queueMerchants()).Result()
	if err != nil {
		return app.QueueDepth{}, wrap("depth", err)
	}
	now := strconv.FormatInt(msOf(s.now()), 10)
	type counts struct{ ready, scheduled, running, dead *redis.IntCmd }
	cmds := make([]counts, len(merchants))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, merchant := range merchants {
			q := s.keys.queue(merchant)
			cmds[i] = counts{
				ready:     p.ZCount(ctx, q.due, "-inf", now),
				scheduled: p.ZCount(ctx, q.due, "("+now, "+inf"),
				running:   p.ZCard(ctx, q.lease),
				dead:      p.ZCard(ctx, q.dead),
			}
		}
		return nil
	})
	if err != nil {
		return app.QueueDepth{}, wrap("depth", err)
	}
	var d app.QueueDepth
	for _, c := range cmds {
		d.Ready += c.ready.Val()
		d.Scheduled += c.scheduled.Val()
		d.Running += c.running.Val()
		d.Dead += c.dead.Val()
	}
	return d, nil
}
