package loyalty

import (
	"context"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// redeemPrefix starts a redemption's code ("SB-…"); friendPrefix a
// referred friend's.
const redeemPrefix = "SB"

// countedLedger counts, for the merchant's statistics (outcomes.loyalty),
// the points each post earned the first time it posted: a duplicate post
// counts nothing, so a retried or redelivered event counts once.
type countedLedger struct {
	Ledger
	counts Counts
}

func (l countedLedger) Post(ctx context.Context, merchant, customer string, entries []Entry) (Result, error) {
	res, err := l.Ledger.Post(ctx, merchant, customer, entries)
	if err != nil {
		return res, err
	}
	var earned int64
	for _, e := range res.Entries {
		if !e.Duplicate && (e.Kind == KindEarn || e.Kind == KindPendingEarn) {
			earned += e.Points
		}
	}
	if earned > 0 {
		l.counts.Count(merchant, app.LoyaltySubject, app.LoyaltyCountPointsEarned, earned)
	}
	return res, nil
}

// countRedeemed counts a redemption whose code the store now holds, once:
// the caller has just moved its record to created.
func (e *Engine) countRedeemed(merchant string, points int64) {
	if e.counts == nil {
		return
	}
	e.counts.Count(merchant, app.LoyaltySubject, app.LoyaltyCountPointsRedeemed, points)
	e.counts.Count(merchant, app.LoyaltySubject, app.LoyaltyCountCouponsCreated, 1)
}

// couponUsedTTL keeps the mark of a used code past any redelivery.
const couponUsedTTL = 400 * 24 * time.Hour

// observeCouponsUsed counts the engine's codes (redemptions' and referred
// friends') an order used, each code once whichever of its events and
// redeliveries come.
func (e *Engine) observeCouponsUsed(ctx context.Context, m app.Merchant, order string, ev app.Event) error {
	if e.counts == nil || (ev.Type != app.EventOrderPlaced && ev.Type != app.EventOrderPaid) {
		return nil
	}
	v, _ := ev.Lookup("order.discount_codes")
	codes, _ := v.(string)
	for code := range strings.SplitSeq(codes, ",") {
		code = strings.ToUpper(strings.TrimSpace(code))
		if !strings.HasPrefix(code, redeemPrefix+"-") && !strings.HasPrefix(code, friendPrefix+"-") {
			continue
		}
		_, advanced, err := e.data.AdvanceState(ctx, m.ID, "loyalty:coupon-used:"+code, 1, order, couponUsedTTL)
		if err != nil {
			return err
		}
		if advanced {
			e.counts.Count(m.ID, app.LoyaltySubject, app.LoyaltyCountCouponsUsed, 1)
		}
	}
	return nil
}
