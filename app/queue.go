package app

import (
	"context"
	"time"
)

// Job is one unit of durable work: a webhook to normalise, a message to send,
// a reminder to check. Jobs belong to a merchant so that every key they touch
// lives in that merchant's slot of a Redis Cluster, and so one merchant's
// flood cannot starve the others.
type Job struct {
	ID       string // unique per merchant; set by the caller (NewID)
	Merchant string
	Kind     string // selects the handler, e.g. "shopify.webhook"
	// Key, when set, names the job within its merchant so it can be
	// cancelled (an abandoned-cart reminder cancelled by the order). Two live
	// jobs of one merchant never share a key: Enqueue answers ErrConflict.
	Key     string
	Payload []byte
	// Attempt counts the times the job has been handed to a worker,
	// including the current one: 1 on the first run.
	Attempt     int
	MaxAttempts int // 0: the worker pool's default
	DueAt       time.Time
	CreatedAt   time.Time
	LastError   string // why the previous attempt failed
	// Lease identifies the current holder. Set by ClaimJobs; Ack, Retry and Bury
	// must be given the job as claimed so a worker whose lease expired cannot
	// settle a job another worker now holds.
	Lease string
}

// ClaimState is the answer to an idempotency claim.
type ClaimState int

const (
	// ClaimNew: the caller owns the key now and must Complete or Release it.
	ClaimNew ClaimState = iota + 1
	// ClaimInProgress: another caller owns the key and has not finished.
	ClaimInProgress
	// ClaimDone: the work behind the key was completed; do nothing.
	ClaimDone
)

func (s ClaimState) String() string {
	switch s {
	case ClaimNew:
		return "new"
	case ClaimInProgress:
		return "in_progress"
	case ClaimDone:
		return "done"
	}
	return "unknown"
}

// Idempotency is the two-state claim used by the best webhook gateways: a
// short "in progress" lock, then a long "done" record. Keys are scoped to a
// merchant.
type Idempotency interface {
	// Claim takes key for ttl if it is free. An expired in-progress claim is
	// free again, so a crashed owner cannot hold a key for ever.
	Claim(ctx context.Context, merchant, key string, ttl time.Duration) (ClaimState, error)
	// Complete marks key done for ttl, whoever holds it.
	Complete(ctx context.Context, merchant, key string, ttl time.Duration) error
	// Release frees key so a retry can claim it again.
	Release(ctx context.Context, merchant, key string) error
	// MarkDone marks key done for ttl if it is free, in one step, and
	// answers ClaimNew; a key held or done is left as it is and its state
	// answered. For work that is finished as soon as it is claimed (an
	// event no rule wants), at the cost of one write instead of a Claim and
	// a Complete.
	MarkDone(ctx context.Context, merchant, key string, ttl time.Duration) (ClaimState, error)
}

// QueueDepth is a snapshot of the queue for metrics and the admin pages.
type QueueDepth struct {
	Ready     int64 // due now, waiting for a worker
	Scheduled int64 // due later
	Running   int64 // leased to a worker
	Dead      int64
}

// Queue is the durable job queue. Every method is safe for concurrent use by
// many workers in many processes.
type Queue interface {
	// Enqueue stores job, due at job.DueAt (zero: now). ErrConflict when the
	// merchant already has a live job with the same Key or ID.
	Enqueue(ctx context.Context, job Job) error
	// ClaimAndEnqueue claims the idempotency key and enqueues job in one
	// atomic step: either both happen or neither. When the key is not new,
	// nothing is enqueued and the state says why. The key is marked done at
	// once (for doneTTL): the job now carries the work, and the queue's own
	// retries, not the sender's, see it through.
	ClaimAndEnqueue(ctx context.Context, key string, doneTTL time.Duration, job Job) (ClaimState, error)
	// ClaimAndLease is ClaimAndEnqueue with the job stored leased for
	// lease to the caller at once, as its first attempt, for a process
	// that runs it itself: no claim follows. The job answered carries its
	// lease (settle it as a claimed one); it is zero when the key is not
	// new. Should the caller die, the job comes back when the lease ends,
	// as a claimed job does.
	ClaimAndLease(ctx context.Context, key string, doneTTL time.Duration, job Job, lease time.Duration) (ClaimState, Job, error)
	// ClaimJobs leases up to max due jobs for lease. A job whose lease ran out
	// before it was settled is due again (its attempt already counted).
	// Jobs come oldest due first within a merchant, merchants in turn.
	ClaimJobs(ctx context.Context, lease time.Duration, max int) ([]Job, error)
	// Extend pushes the lease of a held job further out (long handlers).
	Extend(ctx context.Context, job Job, lease time.Duration) error
	// Ack removes a finished job. A job whose lease ran out is still its
	// holder's to ack until a claim takes it back (ErrLeaseLost then).
	Ack(ctx context.Context, job Job) error
	// Retry puts a held job back, due at at, keeping its attempt count and
	// recording reason as LastError.
	Retry(ctx context.Context, job Job, at time.Time, reason string) error
	// Bury moves a held job to the dead letters with reason.
	Bury(ctx context.Context, job Job, reason string) error
	// DeadJobs lists a merchant's dead jobs, most recent first.
	DeadJobs(ctx context.Context, merchant string, limit int) ([]Job, error)
	// RequeueDead makes a dead job due now with a fresh attempt count.
	RequeueDead(ctx context.Context, merchant, id string) error
	// PurgeDeadJobs deletes up to limit of the merchant's dead jobs buried
	// before before, payloads included, oldest first, and says how many.
	PurgeDeadJobs(ctx context.Context, merchant string, before time.Time, limit int) (int, error)
	// Cancel removes the merchant's scheduled or ready job with key. It
	// reports false when there is none (already run, or never there). A job
	// a worker holds at that moment is not stopped; handlers re-check state.
	Cancel(ctx context.Context, merchant, key string) (bool, error)
	// Depth counts jobs across all merchants at now.
	Depth(ctx context.Context) (QueueDepth, error)
}
