package app

import "context"

// RunOnce claims the jobs due now (up to the pool's concurrency) and runs
// each to its end, one after another, through the same path Run takes:
// for tests that must know the order of every store call.
func (w *Workers) RunOnce(ctx context.Context) (int, error) {
	jobs, err := w.queue.ClaimJobs(ctx, w.opts.Lease, w.opts.Concurrency)
	for _, job := range jobs {
		w.run(ctx, job)
	}
	return len(jobs), err
}
