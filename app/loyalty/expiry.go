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
// 500), and answers how many it expired. An expired lot leaves the due
// index in the same step as its entry, so each round finds new lots.
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
		for _, d := range due {
			_, err := l.Post(ctx, merchant, d.Customer, []Entry{{Kind: KindExpire, Source: ExpirySource(d.Lot), Ref: d.Lot}})
			if err != nil {
				return expired, fmt.Errorf("loyalty: expire lot %q of %q: %w", d.Lot, d.Customer, err)
			}
			expired++
		}
		if len(due) < batch {
			return expired, nil
		}
	}
}
