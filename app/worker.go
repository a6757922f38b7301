package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// JobHandler does the work of one job. Returning nil acknowledges it; an
// error retries it later, unless the error is permanent (Permanent, or a
// non-retryable ProviderError), which buries it in the dead letters.
type JobHandler func(ctx context.Context, job Job) error

// JobObserver is told how each job ended, for metrics.
type JobObserver interface {
	// JobFinished reports outcome "done", "retried", "rescheduled" (asked
	// to run later: a rate limit, quiet hours), "dead" or "lost" (the lease
	// ran out before the result was recorded).
	JobFinished(kind, outcome string, took time.Duration)
}

// WorkerOptions tune a worker pool; zero values take the defaults noted.
type WorkerOptions struct {
	// Concurrency is how many jobs run at once; default 128. Jobs mostly
	// wait on providers and the store, so many are cheap: at 32 a whole
	// process delivered about 530 messages/s of 1,000 webhooks/s (its jobs
	// waiting on Redis round trips), at 128 all of them, while 256 began to
	// take the cores from ingest.
	Concurrency int
	Lease       time.Duration // how long a claimed job is held; default 60s
	// Backoff decides retry waits and the default attempt limit for jobs
	// whose MaxAttempts is 0.
	Backoff Backoff
	// PollInterval is the longest idle wait between claims; default 200ms.
	PollInterval time.Duration
	// DrainTimeout is how long jobs in hand may run on after shutdown
	// starts; default 15s. Jobs still running then are abandoned and come
	// back to another worker when their lease ends.
	DrainTimeout time.Duration
	Observer     JobObserver
	Logger       *slog.Logger
	Now          func() time.Time
}

// Workers is a pool that claims due jobs and runs the handler registered
// for each job's kind.
type Workers struct {
	queue    Queue
	opts     WorkerOptions
	handlers map[string]JobHandler
	wake     chan struct{}
	// slots holds one token per job running, claimed or handed over
	// (Take); running counts them for the drain.
	slots   chan struct{}
	running sync.WaitGroup
	// mu guards live and jobCtx: jobs are handed over only while Run
	// claims, so none starts after the drain began. jobCtx is the context
	// Run gives the jobs it runs, kept for those handed over (Start) so
	// the drain timeout cancels them too; it lives only as long as Run.
	mu     sync.Mutex
	live   bool
	jobCtx context.Context
	// sampling is set once Take started the pile's sampler (ingestLoad).
	sampling bool
	// failing is set while claims fail: a job handed over then shows the
	// store answers again, and wakes the claims out of their wait.
	failing atomic.Bool
	// ingest is the load of this process's webhooks (Ingest).
	ingest ingestLoad
}

// The HTTP side is saturated while webhooks pile up in this process:
// saturatedAt or more of them waiting on the store at once, seen again
// and again (never pileGap apart) for sustainedFor, whatever the store's
// speed (Redis's round trips, a file's fsync). Then no job is handed over
// (Take) and claims wait, at most maxYield each: the workers leave the
// cores and the store to the webhooks Shopify waits on, never stop, and
// catch up after. A steady rate the process keeps up with piles webhooks
// up only for a moment (a GC, a round of claims); giving way then would
// only hold its messages back while the queue grew.
const (
	saturatedAt  = 8
	pileGap      = 20 * time.Millisecond
	pileSample   = 5 * time.Millisecond
	sustainedFor = 100 * time.Millisecond
	maxYield     = time.Second
)

// ingestLoad counts the webhooks in the store and when they last piled
// up, without a lock: every webhook passes here. Two webhooks piling up at
// once may each move pileSince; either time is as good.
type ingestLoad struct {
	inStore   atomic.Int64
	pileSince atomic.Int64 // unix nanoseconds: when the pile-up began
	pileLast  atomic.Int64 // and when it was last seen
}

func (l *ingestLoad) begin() {
	if l.inStore.Add(1) >= saturatedAt {
		l.seen(time.Now().UnixNano())
	}
}

func (l *ingestLoad) end() { l.inStore.Add(-1) }

// seen notes a pile-up at t (unix nanoseconds).
func (l *ingestLoad) seen(t int64) {
	if t-l.pileLast.Load() > int64(pileGap) {
		l.pileSince.Store(t)
	}
	l.pileLast.Store(t)
}

func (l *ingestLoad) saturated(now time.Time) bool {
	t := now.UnixNano()
	return t-l.pileLast.Load() <= int64(pileGap) && t-l.pileSince.Load() >= int64(sustainedFor)
}

// sample looks at the pile every pileSample until ctx ends: webhooks
// waiting on a slow commit pile up without new ones coming in meanwhile.
// Only a process that takes webhooks runs it (Take starts it).
func (l *ingestLoad) sample(ctx context.Context) {
	tick := time.NewTicker(pileSample)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if l.inStore.Load() >= saturatedAt {
				l.seen(now.UnixNano())
			}
		}
	}
}

// Ingest counts a webhook this process is storing, until Ingested: while
// they pile up no job is handed over (Take) and claims wait.
func (w *Workers) Ingest() { w.ingest.begin() }

// Ingested ends what Ingest began.
func (w *Workers) Ingested() { w.ingest.end() }

// yieldToIngest waits while webhooks pile up, at most maxYield.
func (w *Workers) yieldToIngest(ctx context.Context) {
	deadline := time.Now().Add(maxYield)
	for now := time.Now(); w.ingest.saturated(now) && ctx.Err() == nil && now.Before(deadline); now = time.Now() {
		time.Sleep(5 * time.Millisecond)
	}
}

// NewWorkers returns a pool over queue. Register handlers before Run.
func NewWorkers(queue Queue, opts WorkerOptions) *Workers {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 128
	}
	if opts.Lease <= 0 {
		opts.Lease = 60 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Workers{
		queue: queue, opts: opts, handlers: map[string]JobHandler{}, wake: make(chan struct{}, 1),
		slots: make(chan struct{}, opts.Concurrency),
	}
}

// Handle registers the handler for a job kind.
func (w *Workers) Handle(kind string, h JobHandler) { w.handlers[kind] = h }

// HandleAll registers handlers by kind.
func (w *Workers) HandleAll(handlers map[string]JobHandler) {
	for kind, h := range handlers {
		w.handlers[kind] = h
	}
}

// Wake asks the pool to claim now instead of at its next poll, for work
// enqueued by this process.
func (w *Workers) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Take reserves a slot for a job this process stores leased to itself
// (Queue.ClaimAndLease) and answers the lease to store it with. It answers
// false when every slot is busy, webhooks pile up (Ingest) or the pool
// is not running: the job is
// then queued for a claim. After true, Start runs the job in the slot, or
// Release frees it when the job was not stored.
func (w *Workers) Take() (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.live {
		return 0, false
	}
	if !w.sampling {
		w.sampling = true
		go w.ingest.sample(w.jobCtx) // ends with Run
	}
	if w.ingest.saturated(time.Now()) {
		return 0, false
	}
	select {
	case w.slots <- struct{}{}:
		w.running.Add(1)
		return w.opts.Lease, true
	default:
		return 0, false
	}
}

// Release frees a slot Take reserved.
func (w *Workers) Release() {
	<-w.slots
	w.running.Done()
}

// Start runs job, leased to this process, in the slot Take reserved, as a
// claimed job runs.
func (w *Workers) Start(job Job) {
	w.mu.Lock()
	ctx := w.jobCtx
	w.mu.Unlock()
	if w.failing.Load() {
		w.Wake()
	}
	go func() {
		defer w.Release()
		w.run(ctx, job)
	}()
}

// Run claims and runs jobs until ctx is cancelled, then lets jobs in hand
// finish within the drain timeout. It returns nil on a clean stop.
func (w *Workers) Run(ctx context.Context) error {
	// Handlers run under their own context so shutdown lets them finish;
	// it is cancelled only when the drain timeout ends.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	slots := w.slots
	running := &w.running
	w.mu.Lock()
	w.live, w.jobCtx = true, jobCtx
	w.mu.Unlock()
	idle := w.opts.PollInterval / 8
	failing := 0 // claims failed in a row
	for ctx.Err() == nil {
		free := w.opts.Concurrency - len(slots)
		if free == 0 {
			// Wait for a slot rather than claiming work nobody can start.
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
			}
			continue
		}
		w.yieldToIngest(ctx)
		jobs, err := w.queue.ClaimJobs(ctx, w.opts.Lease, free)
		if err != nil && ctx.Err() == nil {
			// The store is down: say so once, then wait longer between
			// tries (up to 5 s) instead of logging five times a second.
			if failing == 0 {
				w.opts.Logger.Warn("claiming jobs failed; retrying until the store answers", "err", err)
			}
			failing++
			w.failing.Store(true)
			// Work stored meanwhile (Wake, Start) shows the store answers.
			select {
			case <-ctx.Done():
			case <-w.wake:
			case <-time.After(min(w.opts.PollInterval<<min(failing, 5), 5*time.Second)):
			}
			continue
		}
		if failing > 0 {
			w.opts.Logger.Info("claiming jobs works again", "failed_tries", failing)
			failing = 0
			w.failing.Store(false)
		}
		for _, job := range jobs {
			slots <- struct{}{}
			running.Go(func() {
				defer func() { <-slots }()
				w.run(jobCtx, job)
			})
		}
		if len(jobs) == free {
			idle = w.opts.PollInterval / 8
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-time.After(idle):
		}
		idle = min(idle*2, w.opts.PollInterval)
	}
	w.mu.Lock()
	w.live = false // no job is handed over from now on
	w.mu.Unlock()

	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(w.opts.DrainTimeout):
		cancelJobs()
		<-done
		return errors.New("workers: drain timeout: jobs in hand were abandoned and will be retried after their lease")
	}
}

func (w *Workers) run(ctx context.Context, job Job) {
	start := w.opts.Now()
	ctx = context.WithValue(ctx, inJobKey{}, true)
	ctx, stopHeartbeat := w.keepLease(ctx, job)
	err := w.call(ctx, job)
	stopHeartbeat()

	outcome, settleErr := w.settle(ctx, job, err)
	if w.opts.Observer != nil {
		w.opts.Observer.JobFinished(job.Kind, outcome, w.opts.Now().Sub(start))
	}
	log := w.opts.Logger.With("job", job.ID, "kind", job.Kind, "merchant", job.Merchant, "attempt", job.Attempt)
	switch {
	case settleErr != nil:
		log.Error("recording the job's result failed", "outcome", outcome, "err", settleErr)
	case outcome == "dead":
		log.Error("job dead", "err", err)
	case outcome == "retried":
		log.Warn("job failed; will retry", "err", err)
	case outcome == "rescheduled":
		log.Debug("job rescheduled", "reason", err)
	}
}

// inJobKey marks the context of a job's handler.
type inJobKey struct{}

// inJob tells whether ctx is a job handler's: its work is then a leased
// job's, which the queue runs again if the process dies midway.
func inJob(ctx context.Context) bool {
	v, _ := ctx.Value(inJobKey{}).(bool)
	return v
}

// call runs the handler, turning a panic into a permanent failure so one
// bad payload cannot take the worker down.
func (w *Workers) call(ctx context.Context, job Job) (err error) {
	handler, ok := w.handlers[job.Kind]
	if !ok {
		return Permanent(fmt.Errorf("no handler for job kind %q", job.Kind))
	}
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return handler(ctx, job)
}

// keepLease extends the job's lease while the handler runs, so a slow but
// live handler does not have its job handed to a second worker.
func (w *Workers) keepLease(ctx context.Context, job Job) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(w.opts.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := w.queue.Extend(ctx, job, w.opts.Lease); errors.Is(err, ErrLeaseLost) {
					cancel() // someone else holds it now: stop working on it
					return
				}
			}
		}
	}()
	return ctx, func() { cancel(); <-stopped }
}

// settle records the handler's result: ack, retry or bury.
func (w *Workers) settle(ctx context.Context, job Job, err error) (string, error) {
	// Settling must happen even when the handler's context was cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var settleErr error
	outcome := "done"
	var later *RetryAtError
	switch {
	case err == nil:
		settleErr = w.queue.Ack(ctx, job)
	case errors.As(err, &later):
		outcome = "rescheduled"
		settleErr = w.queue.Retry(ctx, job, later.At, later.Reason)
	case !isRetryableJobError(err) || job.Attempt >= w.maxAttempts(job):
		outcome = "dead"
		settleErr = w.queue.Bury(ctx, job, err.Error())
	default:
		outcome = "retried"
		settleErr = w.queue.Retry(ctx, job, w.opts.Now().Add(w.opts.Backoff.Delay(job.Attempt)), err.Error())
	}
	if errors.Is(settleErr, ErrLeaseLost) {
		return "lost", nil // another worker holds the job now; its result counts
	}
	return outcome, settleErr
}

func (w *Workers) maxAttempts(job Job) int {
	if job.MaxAttempts > 0 {
		return job.MaxAttempts
	}
	return w.opts.Backoff.Attempts()
}

// RetryAtError asks for the job to run again at At, outside the job's
// attempt limit: the handler keeps its own count (a delivery counts provider
// calls, not waits for a rate limit or for quiet hours to end).
type RetryAtError struct {
	At     time.Time
	Reason string
}

func (e *RetryAtError) Error() string {
	return "run again at " + e.At.UTC().Format(time.RFC3339) + ": " + e.Reason
}

// RetryAt builds a RetryAtError.
func RetryAt(at time.Time, reason string) error { return &RetryAtError{At: at, Reason: reason} }

func isRetryableJobError(err error) bool {
	var permanent *PermanentError
	if errors.As(err, &permanent) {
		return false
	}
	return IsRetryable(err)
}
