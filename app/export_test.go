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

// SendAsRead sends d as a run that read it so would: for tests of a run
// holding an older copy of the record than the store's.
func (s *Service) SendAsRead(ctx context.Context, d Delivery) (Delivery, error) {
	return s.sendLoaded(ctx, d.Merchant, d)
}
