package loyalty

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ExpirySource is the source of the expire entry of lot: one per lot, so a
// sweep that runs twice, or on two instances at once, expires it once.
func ExpirySource(lot string) string { return "expiry:" + lot }

// sweepWorkers is how many customers' expiries a sweep posts at once:
// posts of different customers are independent, and on the embedded store
// concurrent posts share one fsynced commit.
const sweepWorkers = 8

// ExpireDue posts an expire entry for every lot of merchant whose expiry is
// at or before now and which still holds points, batch lots at a time (0:
// 500), one post per customer in a batch, and answers how many it expired.
// now must come from the ledger's clock: an expire its clock thinks early
// is refused. An expired lot leaves the due index in the same step as its
// entry, so each round finds new lots.
func ExpireDue(ctx context.Context, l Ledger, merchant string, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	var expired atomic.Int64
	for {
		due, err := l.DueLots(ctx, merchant, now, batch)
		if err != nil {
			return int(expired.Load()), err
		}
		var order []string
		byCustomer := map[string][]Entry{}
		for _, d := range due {
			if byCustomer[d.Customer] == nil {
				order = append(order, d.Customer)
			}
			byCustomer[d.Customer] = append(byCustomer[d.Customer], Entry{Kind: KindExpire, Source: ExpirySource(d.Lot), Ref: d.Lot})
		}
		work := make(chan string)
		errs := make(chan error, sweepWorkers)
		var wg sync.WaitGroup
		for range min(sweepWorkers, len(order)) {
			wg.Go(func() {
				for customer := range work {
					if err := expireLots(ctx, l, merchant, customer, byCustomer[customer], &expired); err != nil {
						errs <- err
						for range work { // the round stops: skip the rest
						}
						return
					}
				}
			})
		}
		for _, customer := range order {
			work <- customer
		}
		close(work)
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return int(expired.Load()), err
		}
		if len(due) < batch {
			return int(expired.Load()), nil
		}
	}
}

func expireLots(ctx context.Context, l Ledger, merchant, customer string, entries []Entry, expired *atomic.Int64) error {
	for len(entries) > 0 {
		n := min(len(entries), MaxBatch)
		if _, err := l.Post(ctx, merchant, customer, entries[:n]); err != nil {
			return fmt.Errorf("loyalty: expire lots of %q: %w", customer, err)
		}
		expired.Add(int64(n))
		entries = entries[n:]
	}
	return nil
}
