package redisstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
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

// jobRecord is a job as stored in q:jobs: small fields, then the payload
// in base64 as the last field, which is the layout main's code (before
// this one) reads too, so old and new instances share a queue. The
// scripts change attempt, lease, last_error and due_at in place, so those
// names are shared with scripts.go, and split the payload off by its
// place without decoding it (see jobFunc).
type jobRecord struct {
	ID          string    `json:"id"`
	Merchant    string    `json:"merchant"`
	Kind        string    `json:"kind"`
	Key         string    `json:"key"`
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	DueAt       time.Time `json:"due_at"`
	CreatedAt   time.Time `json:"created_at"`
	LastError   string    `json:"last_error"`
	Lease       string    `json:"lease"`
	// Payload stays last: jobFunc finds it after the other fields.
	Payload []byte `json:"payload,omitempty"`
}

// decodeJob decodes a record and joins its payload kept apart (in
// q:payload, by code before this one), as Redis answered it: a string, or
// nil when the job has none apart from its record.
func decodeJob(raw string, payload any) (app.Job, error) {
	var r jobRecord
	head, body, cut, err := cutPayload(raw)
	if err != nil {
		return app.Job{}, fmt.Errorf("decode job: %w", err)
	}
	if err := json.Unmarshal([]byte(head), &r); err != nil {
		return app.Job{}, fmt.Errorf("decode job: %w", err)
	}
	if cut {
		r.Payload = body
	}
	if p, ok := payload.(string); ok {
		r.Payload = []byte(p)
	}
	return app.Job{
		ID: r.ID, Merchant: r.Merchant, Kind: r.Kind, Key: r.Key, Payload: r.Payload,
		Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, DueAt: r.DueAt, CreatedAt: r.CreatedAt,
		LastError: r.LastError, Lease: r.Lease,
	}, nil
}

// encode writes the record as json.Marshal does, byte for byte, but
// appends the payload's base64 itself: through encoding/json a 5 KB
// webhook is encoded into one buffer and copied into another, which cost a
// tenth of the ingest handler's CPU.
func (r jobRecord) encode() ([]byte, error) {
	payload := r.Payload
	r.Payload = nil
	head, err := json.Marshal(r)
	if err != nil || len(payload) == 0 {
		return head, err
	}
	out := make([]byte, 0, len(head)+len(payloadField)+base64.StdEncoding.EncodedLen(len(payload))+2)
	out = append(out, head[:len(head)-1]...) // without its closing brace
	out = append(out, payloadField...)
	out = base64.StdEncoding.AppendEncode(out, payload)
	return append(out, '"', '}'), nil
}

// payloadField starts a record's payload field (see jobFunc).
const payloadField = `,"payload":"`

// cutPayload is jobFunc's splitJob in Go, for the same reason: the
// payload's base64 is decoded apart, as encoding/json's scan of it costs
// more than the rest of the record. It answers the record without it and
// the payload; cut is false (head is raw) when no payload field follows
// another field, or when its text has escapes other than cjson's "\/".
func cutPayload(raw string) (head string, payload []byte, cut bool, err error) {
	i := strings.Index(raw, payloadField)
	if i < 0 {
		return raw, nil, false, nil
	}
	rest := raw[i+len(payloadField):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return raw, nil, false, nil
	}
	b64 := strings.ReplaceAll(rest[:j], `\/`, "/")
	if strings.IndexByte(b64, '\\') >= 0 {
		return raw, nil, false, nil
	}
	payload, err = base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, false, fmt.Errorf("payload: %w", err)
	}
	return raw[:i] + rest[j+1:], payload, true, nil
}

// newJob validates job and encodes its record as first stored: due now when DueAt is zero, no lease. dueNow is the scripts' flag for a
// job due now by this instance's clock.
func (s *Store) newJob(job app.Job) (raw []byte, dueMS int64, dueNow string, err error) {
	if err := requireID("merchant", job.Merchant); err != nil {
		return nil, 0, "", err
	}
	if err := requireID("id", job.ID); err != nil {
		return nil, 0, "", err
	}
	now := s.now()
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	raw, err = jobRecord{
		ID: job.ID, Merchant: job.Merchant, Kind: job.Kind, Key: job.Key,
		Attempt: job.Attempt, MaxAttempts: job.MaxAttempts, DueAt: job.DueAt, CreatedAt: job.CreatedAt,
		LastError: job.LastError, Payload: job.Payload,
	}.encode()
	if err != nil {
		return nil, 0, "", fmt.Errorf("redisstore: encode job: %w", err)
	}
	return raw, msOf(job.DueAt), dueNowFlag(job.DueAt, now), nil
}

// dueNowFlag tells a script that a job is due now by this instance's
// clock: the script then makes it due no later than the server's now, so
// an instance whose clock runs ahead does not hold back work due at once.
func dueNowFlag(due, now time.Time) string {
	if due.After(now) {
		return "0"
	}
	return "1"
}

// answer splits a script's {result, due score or empty} answer.
func answer(cmd *redis.Cmd) (result, score int64, err error) {
	res, err := cmd.Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("script answered %d values; want 2", len(res))
	}
	result, ok := res[0].(int64)
	if !ok {
		return 0, 0, fmt.Errorf("script answered %T as its result", res[0])
	}
	if str, _ := res[1].(string); str != "" {
		if score, err = strconv.ParseInt(str, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("script answered score %q", str)
		}
	}
	return result, score, nil
}

// Results of the enqueue and retry scripts (claimAndEnqueue answers
// claimNewCovered for the second).
const (
	enqueueTaken   = 0 // the id or the live key is taken, nothing written
	enqueueEarlier = 1 // the job is the merchant's earliest work: lower the index
	enqueueCovered = 2 // an element at or before it covers it: leave the index

	claimNewCovered = 4
)

// Enqueue stores job. The job is written on the merchant's slot first, then,
// when it became the merchant's earliest work, the merchant's score in the
// global index is lowered to its due time.
func (s *Store) Enqueue(ctx context.Context, job app.Job) error {
	raw, due, dueNow, err := s.newJob(job)
	if err != nil {
		return err
	}
	if err := s.noteMerchant(ctx, job.Merchant); err != nil {
		return wrap("enqueue", err)
	}
	q := s.keys.queue(job.Merchant)
	res, score, err := answer(s.scripts.enqueue.Run(ctx, s.rdb, []string{q.jobs, q.due, q.keys, q.lease},
		job.ID, raw, due, job.Key, dueNow, s.offsetMS()))
	if err != nil {
		return wrap("enqueue", err)
	}
	if res == enqueueTaken {
		return fmt.Errorf("redisstore: enqueue %s: id or key taken: %w", job.ID, app.ErrConflict)
	}
	if res == enqueueEarlier {
		s.lowerIndex(ctx, job.Merchant, score)
	}
	return nil
}

// ClaimAndEnqueue claims key (marking it done for doneTTL) and enqueues job
// in one script on the merchant's slot.
func (s *Store) ClaimAndEnqueue(ctx context.Context, key string, doneTTL time.Duration, job app.Job) (app.ClaimState, error) {
	if err := checkIdem(job.Merchant, key, doneTTL); err != nil {
		return 0, err
	}
	raw, due, dueNow, err := s.newJob(job)
	if err != nil {
		return 0, err
	}
	if err := s.noteMerchant(ctx, job.Merchant); err != nil {
		return 0, wrap("claim and enqueue", err)
	}
	q := s.keys.queue(job.Merchant)
	keys := []string{q.jobs, q.due, q.keys, q.lease, s.keys.idempotency(job.Merchant, key)}
	res, score, err := answer(s.group.run(ctx, s.scripts.claimAndEnqueue, keys,
		job.ID, raw, due, job.Key, positiveMS(doneTTL), dueNow, s.offsetMS()))
	if err != nil {
		return 0, wrap("claim and enqueue", err)
	}
	state := int(res)
	switch state {
	case enqueueTaken:
		return 0, fmt.Errorf("redisstore: claim and enqueue %s: id or key taken: %w", job.ID, app.ErrConflict)
	case claimNewCovered:
		return app.ClaimNew, nil
	case int(app.ClaimNew):
		s.lowerIndex(ctx, job.Merchant, score)
	}
	return app.ClaimState(state), nil
}

// ClaimAndLease claims key (marking it done for doneTTL) and stores job
// leased to the caller for lease, in one script on the merchant's slot.
func (s *Store) ClaimAndLease(ctx context.Context, key string, doneTTL time.Duration, job app.Job, lease time.Duration) (app.ClaimState, app.Job, error) {
	if err := checkIdem(job.Merchant, key, doneTTL); err != nil {
		return 0, app.Job{}, err
	}
	if lease <= 0 {
		return 0, app.Job{}, app.Invalid("lease", fmt.Sprintf("must be positive, got %s", lease))
	}
	if err := requireID("id", job.ID); err != nil {
		return 0, app.Job{}, err
	}
	now := s.now()
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if job.CreatedAt.IsZero() {
		job.CreatedAt = now
	}
	job.Attempt++
	job.Lease = newToken() + ".h"
	raw, err := jobRecord{
		ID: job.ID, Merchant: job.Merchant, Kind: job.Kind, Key: job.Key,
		Attempt: job.Attempt, MaxAttempts: job.MaxAttempts, DueAt: job.DueAt, CreatedAt: job.CreatedAt,
		LastError: job.LastError, Lease: job.Lease, Payload: job.Payload,
	}.encode()
	if err != nil {
		return 0, app.Job{}, fmt.Errorf("redisstore: encode job: %w", err)
	}
	if err := s.noteMerchant(ctx, job.Merchant); err != nil {
		return 0, app.Job{}, wrap("claim and lease", err)
	}
	serverNow, err := s.clock.now(ctx)
	if err != nil {
		return 0, app.Job{}, wrap("claim and lease", err)
	}
	q := s.keys.queue(job.Merchant)
	keys := []string{q.jobs, q.due, q.keys, q.lease, s.keys.idempotency(job.Merchant, key)}
	res, score, err := answer(s.group.run(ctx, s.scripts.claimAndLease, keys,
		job.ID, raw, positiveMS(lease), job.Key, positiveMS(doneTTL), msOf(serverNow)+s.offsetMS()))
	if err != nil {
		return 0, app.Job{}, wrap("claim and lease", err)
	}
	switch state := int(res); state {
	case enqueueTaken:
		return 0, app.Job{}, fmt.Errorf("redisstore: claim and lease %s: id or key taken: %w", job.ID, app.ErrConflict)
	case claimNewCovered:
		return app.ClaimNew, job, nil
	case int(app.ClaimNew):
		s.lowerIndex(ctx, job.Merchant, score)
		return app.ClaimNew, job, nil
	default:
		return app.ClaimState(state), app.Job{}, nil
	}
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
// it when absent). It runs after a job became the merchant's earliest work
// on the merchant's slot. Its error is not returned: the job is already
// stored, and SweepIndex restores a score that a failure here left too high.
//
// An enqueue or retry whose job did not become the merchant's earliest work
// skips it: the script saw an element (a due time or a lease expiry) at or
// before the job's due time, and the index already covers that element, so
// it covers the job too. The index protocol: only a claimer's raise
// (settleIndexes) moves a score up, and every raise is followed by a
// re-check that reads the merchant's sets after the raise and lowers the
// score to the earliest time it finds. Follow the elements a skipping job
// relied on back: each existed until the next one in the chain was written,
// and the first one lowered the index itself; a job's time only grows
// after it is written (claimed, extended). So if no raise came after the
// first element was written, its ZADD LT holds the score at or below our
// due time; and if one did, the last raise's re-check read the sets while
// some element of the chain (or the job itself) existed, all at or before
// our due time, and lowered the score to at most that. Either way the
// score ends at or below the job's due time, as if it had done the ZADD LT.
//
// Work due now is also published on the wake channel, in the same round
// trip, so workers idle in other processes claim it at once instead of at
// their next poll. A lost message costs only that poll's wait.
func (s *Store) lowerIndex(ctx context.Context, merchant string, at int64) {
	pipe := s.rdb.Pipeline()
	pipe.ZAddLT(ctx, s.keys.queueIndex(), redis.Z{Score: float64(at), Member: merchant})
	// A second of slack covers an instance clock behind the server's.
	if at <= s.now().UnixMilli()+s.offsetMS()+1000 {
		pipe.Publish(ctx, s.keys.queueWake(), merchant)
	}
	_, _ = pipe.Exec(ctx) // see above: SweepIndex repairs a lost lowering
}

// WatchEnqueued calls wake whenever any process publishes work due now
// (lowerIndex), until ctx ends. It resubscribes after a connection loss on
// its own; workers poll meanwhile.
func (s *Store) WatchEnqueued(ctx context.Context, wake func()) {
	sub := s.rdb.Subscribe(ctx, s.keys.queueWake())
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			wake()
		}
	}
}

// claimCall is one merchant's claim script in a ClaimJobs round.
type claimCall struct {
	merchant string
	want     int
}

// claimEnd is what a merchant's last claim script saw: its earliest time
// after the claim ("" for none) and the server's now, in ms.
type claimEnd struct {
	earliest string
	now      int64
}

// ClaimJobs leases up to limit due jobs. It reads up to claimCandidates
// merchants whose index score is due and takes them in a random order,
// giving each a share of the batch; merchants that filled their share and
// may hold more share what is left in further rounds, after the merchants
// not reached yet, so one merchant cannot take the batch while others wait.
// Each round runs the claim scripts of all its merchants in one pipeline;
// then the index is settled for all of them at once (settleIndexes).
func (s *Store) ClaimJobs(ctx context.Context, lease time.Duration, limit int) ([]app.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, app.Invalid("lease", fmt.Sprintf("must be positive, got %s", lease))
	}
	candidates, err := s.scripts.candidates.Run(ctx, s.rdb, []string{s.keys.queueIndex()}, s.offsetMS(), claimCandidates).StringSlice()
	if err != nil {
		return nil, wrap("claim jobs", err)
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("redisstore: claim jobs: the candidates script answered no time")
	}
	// On one server the round's claims take the candidates' reading of
	// its clock; on a cluster the index lives on another node, whose clock
	// must not decide leases, so each claim reads its own.
	now := candidates[0]
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster {
		now = ""
	}
	candidates = candidates[1:]
	rand.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })

	var (
		jobs   []app.Job
		next   = make(map[string]claimEnd, len(candidates)) // merchant → what its last claim saw
		order  []string                                     // the merchants of next, in turn
		failed error
	)
	round := candidates
	for len(round) > 0 && len(jobs) < limit && failed == nil {
		left := limit - len(jobs)
		share := max(1, left/len(round))
		calls := make([]claimCall, 0, min(len(round), left))
		for _, merchant := range round {
			if left == 0 {
				break
			}
			want := min(share, left)
			left -= want
			calls = append(calls, claimCall{merchant: merchant, want: want})
		}
		// The merchants not reached come first next round; then those
		// that filled their share and may have more.
		round = append([]string(nil), round[len(calls):]...)
		for i, cmd := range s.runClaims(ctx, calls, lease, now) {
			merchant := calls[i].merchant
			got, end, err := claimed(merchant, cmd)
			if err != nil {
				// Jobs the failed scripts leased come back when the lease
				// runs out; a record that does not decode is a bug to
				// see, not skip.
				failed = cmp.Or(failed, err)
				continue
			}
			jobs = append(jobs, got...)
			if _, ok := next[merchant]; !ok {
				order = append(order, merchant)
			}
			next[merchant] = end
			if len(got) == calls[i].want {
				round = append(round, merchant)
			}
		}
	}
	if err := s.settleIndexes(ctx, order, next); err != nil && len(jobs) == 0 {
		return nil, err
	}
	if failed != nil && len(jobs) == 0 {
		return nil, failed
	}
	// Jobs leased before a failure are handed out; the failure will show
	// again on the next call, and SweepIndex repairs what the settling
	// left out.
	return jobs, nil
}

// runClaims runs the claim script of every call in one pipeline; each
// leases until the server's now (as read for the round, or by the script
// when now is "") plus lease.
func (s *Store) runClaims(ctx context.Context, calls []claimCall, lease time.Duration, now string) []*redis.Cmd {
	token := newToken()
	offset, leaseMS := s.offsetMS(), positiveMS(lease)
	scriptCalls := make([]scriptCall, len(calls))
	for i, c := range calls {
		q := s.keys.queue(c.merchant)
		scriptCalls[i] = scriptCall{
			script: s.scripts.claim,
			keys:   []string{q.due, q.lease, q.jobs, q.payload},
			// One token per call; the script appends the job's place, so
			// the prefix must differ between merchants and rounds.
			args: []any{offset, leaseMS, c.want, token + "." + strconv.Itoa(i), now},
		}
	}
	return evalAll(ctx, s.rdb, scriptCalls)
}

// claimed decodes a claim script's answer: the jobs leased, and the
// merchant's earliest time after the claim with the server's now.
func claimed(merchant string, cmd *redis.Cmd) ([]app.Job, claimEnd, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, claimEnd{}, wrap("claim jobs", err)
	}
	if len(res) < 2 || len(res)%2 != 0 {
		return nil, claimEnd{}, fmt.Errorf("redisstore: claim jobs: merchant %s: %d values in the answer", merchant, len(res))
	}
	earliest, _ := res[0].(string)
	now, _ := res[1].(string)
	end := claimEnd{earliest: earliest, now: int64(parseMS(now))}
	jobs := make([]app.Job, 0, len(res)/2-1)
	for i := 2; i < len(res); i += 2 {
		raw, _ := res[i].(string)
		job, err := decodeJob(raw, res[i+1])
		if err != nil {
			return nil, claimEnd{}, fmt.Errorf("redisstore: claim jobs: merchant %s: %w", merchant, err)
		}
		jobs = append(jobs, job)
	}
	return jobs, end, nil
}

// settleIndex settles one merchant's index score after a claim that left
// it with earliest time next ("" for none), raising it however close next
// is; see settleIndexes.
func (s *Store) settleIndex(ctx context.Context, merchant, next string) error {
	return s.settleIndexes(ctx, []string{merchant}, map[string]claimEnd{merchant: {earliest: next, now: math.MinInt64}})
}

// settleIndexes sets each merchant's index score to next[merchant].earliest
// (its earliest time as its last claim script saw it, "" for none), which may
// raise the score or remove the merchant, in one pipeline for all of them.
// An enqueue that ran after a script may have lowered the score meanwhile
// and been overwritten, so the earliest times are read again after all the
// writes and put back with ZADD LT (lowerToEarliest). Enqueues write the job
// first and lower the score second; this raises first and re-reads second;
// so every job is covered by one side or the other. Raising every merchant
// before re-reading any keeps that order for each.
//
// A merchant whose earliest time is at or before the server's now (as its
// claim script read it) still has due work:
// its score, at or below that time since the script (see lowerIndex), is
// left alone, and nothing is raised that would need a re-check.
func (s *Store) settleIndexes(ctx context.Context, merchants []string, next map[string]claimEnd) error {
	index := s.keys.queueIndex()
	raised := make([]string, 0, len(merchants))
	raisedTo := make([]string, 0, len(merchants))
	pipe := s.rdb.Pipeline()
	for _, merchant := range merchants {
		e := next[merchant].earliest
		if e == "" {
			pipe.ZRem(ctx, index, merchant)
		} else if ms := parseMS(e); ms > float64(next[merchant].now) {
			pipe.ZAdd(ctx, index, redis.Z{Score: ms, Member: merchant})
		} else {
			continue
		}
		raised = append(raised, merchant)
		raisedTo = append(raisedTo, e)
	}
	if len(raised) == 0 {
		return nil
	}
	// A raise that failed may still have been applied; every merchant is
	// re-read, which can only lower its score.
	_, raiseErr := pipe.Exec(ctx)
	err := s.lowerToEarliest(ctx, raised, raisedTo)
	return wrap("claim jobs: index", cmp.Or(raiseErr, err))
}

// lowerToEarliest reads the earliest time of each merchant (one pipeline)
// and lowers its index score to it with ZADD LT (a second pipeline).
// raisedTo, when not nil, holds the score each merchant was just raised to
// ("" for removed): a merchant whose earliest time is still at or after it
// needs nothing, as the raise left its score at or below every time it has
// now, and a later raise is followed by its own re-check.
func (s *Store) lowerToEarliest(ctx context.Context, merchants, raisedTo []string) error {
	calls := make([]scriptCall, len(merchants))
	for i, merchant := range merchants {
		q := s.keys.queue(merchant)
		calls[i] = scriptCall{script: s.scripts.earliest, keys: []string{q.due, q.lease}}
	}
	var first error
	index := s.keys.queueIndex()
	pipe := s.rdb.Pipeline()
	for i, cmd := range evalAll(ctx, s.rdb, calls) {
		earliest, err := cmd.Text()
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		if earliest == "" {
			continue
		}
		ms := parseMS(earliest)
		if raisedTo != nil && raisedTo[i] != "" && ms >= parseMS(raisedTo[i]) {
			continue
		}
		pipe.ZAddLT(ctx, index, redis.Z{Score: ms, Member: merchants[i]})
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			first = cmp.Or(first, err)
		}
	}
	return first
}

// scriptCall is one run of a script in a pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// evalAll runs each call's script, all in one pipeline, by EVALSHA.
// Calls the server answers NOSCRIPT (its script cache was flushed, or it
// restarted) did not run; they run again, in a second pipeline, by EVAL,
// which also caches the script for the next time. Errors are the
// commands'.
func evalAll(ctx context.Context, rdb redis.UniversalClient, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 0 {
		return cmds
	}
	pipe := rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // read per command
	var again []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		pipe := rdb.Pipeline()
		for _, i := range again {
			cmds[i] = calls[i].script.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
	}
	return cmds
}

func parseMS(s string) float64 {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0 // a score the scripts made; 0 only makes the merchant look due
	}
	return float64(ms)
}

// sweepBatch bounds the merchants one SweepIndex pipeline reads.
const sweepBatch = 256

// SweepIndex lowers the index score of every merchant that ever had a job
// to its earliest time, repairing what a crash between an enqueue's script
// and its index update left out. It only lowers scores, so it cannot race
// with an enqueue; claims raise them again as they find no work.
func (s *Store) SweepIndex(ctx context.Context) error {
	merchants, err := s.rdb.SMembers(ctx, s.keys.queueMerchants()).Result()
	if err != nil {
		return wrap("sweep index", err)
	}
	for len(merchants) > 0 {
		n := min(len(merchants), sweepBatch)
		if err := s.lowerToEarliest(ctx, merchants[:n], nil); err != nil {
			return wrap("sweep index", err)
		}
		merchants = merchants[n:]
	}
	return nil
}

// settle runs one of the lease-checked scripts (ack, extend, retry, bury)
// and answers the script's result, which is not 0, and its due score.
func (s *Store) settle(ctx context.Context, op string, script *redis.Script, job app.Job, keys []string, args ...any) (int, int64, error) {
	if err := requireID("merchant", job.Merchant); err != nil {
		return 0, 0, err
	}
	args = append([]any{job.ID, job.Lease, s.offsetMS()}, args...)
	res, score, err := answer(script.Run(ctx, s.rdb, keys, args...))
	if err != nil {
		return 0, 0, wrap(op, err)
	}
	if res == 0 {
		return 0, 0, fmt.Errorf("redisstore: %s %s: %w", op, job.ID, app.ErrLeaseLost)
	}
	return int(res), score, nil
}

// Extend pushes the lease of a held job to the server's now plus lease.
func (s *Store) Extend(ctx context.Context, job app.Job, lease time.Duration) error {
	if lease <= 0 {
		return app.Invalid("lease", fmt.Sprintf("must be positive, got %s", lease))
	}
	q := s.keys.queue(job.Merchant)
	_, _, err := s.settle(ctx, "extend", s.scripts.extend, job, []string{q.lease, q.jobs}, positiveMS(lease))
	return err
}

// Ack removes a finished job.
func (s *Store) Ack(ctx context.Context, job app.Job) error {
	q := s.keys.queue(job.Merchant)
	_, _, err := s.settle(ctx, "ack", s.scripts.ack, job, []string{q.lease, q.jobs, q.keys, q.payload})
	return err
}

// Retry puts a held job back, due at at (zero: now), and lowers the index
// when the job became the merchant's earliest work (see lowerIndex).
func (s *Store) Retry(ctx context.Context, job app.Job, at time.Time, reason string) error {
	now := s.now()
	if at.IsZero() {
		at = now
	}
	q := s.keys.queue(job.Merchant)
	res, score, err := s.settle(ctx, "retry", s.scripts.retry, job, []string{q.lease, q.jobs, q.due},
		msOf(at), at.Format(time.RFC3339Nano), reason, dueNowFlag(at, now))
	if err != nil {
		return err
	}
	if res == enqueueEarlier {
		s.lowerIndex(ctx, job.Merchant, score)
	}
	return nil
}

// Bury moves a held job to the dead letters.
func (s *Store) Bury(ctx context.Context, job app.Job, reason string) error {
	q := s.keys.queue(job.Merchant)
	_, _, err := s.settle(ctx, "bury", s.scripts.bury, job, []string{q.lease, q.jobs, q.dead, q.keys}, reason)
	return err
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
	// One MULTI, so a job whose payload main's code wrote apart is read
	// with it.
	var records, payloads *redis.SliceCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		records = p.HMGet(ctx, q.jobs, ids...)
		payloads = p.HMGet(ctx, q.payload, ids...)
		return nil
	})
	if err != nil {
		return nil, wrap("dead jobs", err)
	}
	raws, bodies := records.Val(), payloads.Val()
	if len(bodies) != len(raws) {
		return nil, fmt.Errorf("redisstore: dead jobs: %d payloads for %d records", len(bodies), len(raws))
	}
	jobs := make([]app.Job, 0, len(raws))
	for i, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue // requeued or removed since the range was read
		}
		job, err := decodeJob(str, bodies[i])
		if err != nil {
			return nil, fmt.Errorf("redisstore: dead jobs: %w", err)
		}
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// PurgeDeadJobs deletes up to limit of the merchant's dead jobs buried
// before before, oldest first, with their records and payloads.
func (s *Store) PurgeDeadJobs(ctx context.Context, merchant string, before time.Time, limit int) (int, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, fmt.Errorf("redisstore: purge dead jobs: %w", app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit)))
	}
	q := s.keys.queue(merchant)
	n, err := s.scripts.purgeDead.Run(ctx, s.rdb, []string{q.dead, q.jobs, q.payload}, before.UnixMilli(), limit).Int()
	if err != nil {
		return 0, wrap("purge dead jobs", err)
	}
	return n, nil
}

// RequeueDead makes a dead job due now with its attempt count reset.
// ErrConflict when a live job of the merchant now holds its key.
func (s *Store) RequeueDead(ctx context.Context, merchant, id string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	q := s.keys.queue(merchant)
	res, score, err := answer(s.scripts.requeueDead.Run(ctx, s.rdb, []string{q.dead, q.jobs, q.due, q.keys},
		id, s.offsetMS(), s.now().Format(time.RFC3339Nano)))
	if err != nil {
		return wrap("requeue dead", err)
	}
	switch res {
	case -1:
		return fmt.Errorf("redisstore: requeue dead %s: %w", id, app.ErrNotFound)
	case 0:
		return fmt.Errorf("redisstore: requeue dead %s: a live job holds its key: %w", id, app.ErrConflict)
	}
	s.lowerIndex(ctx, merchant, score)
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
	n, err := s.scripts.cancel.Run(ctx, s.rdb, []string{q.keys, q.due, q.jobs, q.payload}, key).Int()
	if err != nil {
		return false, wrap("cancel", err)
	}
	return n == 1, nil
}

// Depth counts jobs over every merchant that ever had one; what is ready
// is what is due by the server's clock.
func (s *Store) Depth(ctx context.Context) (app.QueueDepth, error) {
	merchants, err := s.rdb.SMembers(ctx, s.keys.queueMerchants()).Result()
	if err != nil {
		return app.QueueDepth{}, wrap("depth", err)
	}
	serverNow, err := s.serverNow(ctx)
	if err != nil {
		return app.QueueDepth{}, wrap("depth", err)
	}
	now := strconv.FormatInt(serverNow, 10)
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
