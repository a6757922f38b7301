package loyalty

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// Source prefixes of a guest's points moving to their account.
const (
	mergeOutPrefix = "merge-out:"
	mergeInPrefix  = "merge-in:"
)

// mergeGuest moves the spendable points a guest earned under their phone
// to their account, once the customer orders with a customer id and the
// same phone: a merge-out entry on the phone, then a merge-in on the
// account with the same points, both keyed by the phone and the out
// entry's sequence. A crash between the two is repaired by the next run,
// which finds the phone's newest entry a merge-out and posts its merge-in
// (once: its source is fixed). Pending points stay with the phone until
// they are approved and move at the next order.
func (e *Engine) mergeGuest(ctx context.Context, merchant string, p Program, who app.Customer) error {
	account, phone := who.ID, who.Phone
	if account == "" || account == "0" || phone == "" || account == phone {
		return nil
	}
	newest, _, err := e.ledger.Entries(ctx, merchant, phone, Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(newest) == 1 && strings.HasPrefix(newest[0].Source, mergeOutPrefix) {
		if err := e.mergeIn(ctx, merchant, p, account, phone, newest[0]); err != nil {
			return err
		}
	}
	bal, err := e.ledger.Balance(ctx, merchant, phone)
	if err != nil || bal.Points <= 0 {
		return err
	}
	out := Entry{Kind: KindAdjust, Source: mergeOutPrefix + phone + ":" + strconv.FormatInt(bal.Entries+1, 10),
		Points: -bal.Points, Reason: "moved to customer " + account}
	res, err := e.ledger.Post(ctx, merchant, phone, []Entry{out})
	if err != nil {
		return fmt.Errorf("loyalty: move a guest's points: %w", err)
	}
	return e.mergeIn(ctx, merchant, p, account, phone, res.Entries[0])
}

func (e *Engine) mergeIn(ctx context.Context, merchant string, p Program, account, phone string, out Entry) error {
	in := Entry{Kind: KindAdjust, Source: mergeInPrefix + phone + ":" + strconv.FormatInt(out.Seq, 10),
		Points: -out.Delta, Reason: "moved from guest orders", ExpiresAt: p.expiresAt(e.now())}
	if in.Points <= 0 {
		return nil
	}
	if _, err := e.ledger.Post(ctx, merchant, account, []Entry{in}); err != nil {
		return fmt.Errorf("loyalty: move a guest's points: %w", err)
	}
	return nil
}
