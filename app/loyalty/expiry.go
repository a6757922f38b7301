package loyalty

import (
	"context"
	"fmt"
	"time"
)

// ExpirySource is the source of the expire entry of lot: one per lot, so a
// sweep that runs twice, or on two instances at once, expires it once.
func ExpirySource(lot string) string { return "expiry:" + lot }

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
	expired := 0
	for {
		due, err := l.DueLots(ctx, merchant, now, batch)
		if err != nil {
			return expired, err
		}
		var order []string
		byCustomer := map[string][]Entry{}
		for _, d := range due {
			if byCustomer[d.Customer] == nil {
				order = append(order, d.Customer)
			}
			byCustomer[d.Customer] = append(byCustomer[d.Customer], Entry{Kind: KindExpire, Source: ExpirySource(d.Lot), Ref: d.Lot})
		}
		for _, customer := range order {
			entries := byCustomer[customer]
			for len(entries) > 0 {
				n := min(len(entries), MaxBatch)
				if _, err := l.Post(ctx, merchant, customer, entries[:n]); err != nil {
					return expired, fmt.Errorf("loyalty: expire lots of %q: %w", customer, err)
				}
				expired += n
				entries = entries[n:]
			}
		}
		if len(due) < batch {
			return expired, nil
		}
	}
}
