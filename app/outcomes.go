package app

import (
	"strconv"
	"strings"
)

// StatsOutcomes are what the flows achieved over the range, beyond the
// messages sent.
type StatsOutcomes struct {
	Carts   CartOutcomes
	COD     CODOutcomes
	Loyalty LoyaltyOutcomes
}

// CartOutcomes follow the cart sequences: Carts counts the carts a
// sequence started for, Recovered those whose order came within the
// attribution window after a sent step, on the day the order came;
// Revenue is those orders' totals by currency (decimal strings); ByStep
// the steps sent and the recoveries credited to each, by step (1-based).
type CartOutcomes struct {
	Carts, Recovered int64
	Revenue          map[string]string
	ByStep           map[int]StepOutcomes
}

// StepOutcomes are one step's messages sent and carts recovered.
type StepOutcomes struct{ Sent, Recovered int64 }

// CODOutcomes follow Cash-on-Delivery orders: Asked counts the orders the
// flow started for, the others each order's first decision, on the day it
// was made; TimedOut counts the orders nobody answered for, whether the
// timeout marked or cancelled them.
type CODOutcomes struct {
	Asked, Confirmed, Cancelled, TimedOut int64
}

// LoyaltyOutcomes are the loyalty engine's counters (LoyaltySubject).
type LoyaltyOutcomes struct {
	PointsEarned, PointsRedeemed, CouponsCreated, CouponsUsed int64
	// ReviewsRequested counts the orders a review request went to,
	// ReviewsAnswered those of them a review came for.
	ReviewsRequested, ReviewsAnswered int64
}

// Loyalty outcome counters, on the subject LoyaltySubject.
const (
	LoyaltySubject              = "loyalty"
	LoyaltyCountPointsEarned    = "points_earned"
	LoyaltyCountPointsRedeemed  = "points_redeemed"
	LoyaltyCountCouponsCreated  = "coupons_created"
	LoyaltyCountCouponsUsed     = "coupons_used"
	LoyaltyCountReviewsAsked    = "reviews_requested"
	LoyaltyCountReviewsAnswered = "reviews_answered"
)

// OutcomesOf reads the outcomes out of counters (subject → outcome →
// count), summed over a range or of one day.
func OutcomesOf(counts map[string]map[string]int64) StatsOutcomes {
	cod := counts[EventCODConfirmationAsked]
	loyalty := counts[LoyaltySubject]
	out := StatsOutcomes{
		Carts: CartOutcomes{Revenue: map[string]string{}, ByStep: map[int]StepOutcomes{}},
		COD:   CODOutcomes{Asked: cod[codCountAsked], Confirmed: cod[codCountConfirmed], Cancelled: cod[codCountCancelled], TimedOut: cod[codCountTimedOut]},
		Loyalty: LoyaltyOutcomes{
			PointsEarned: loyalty[LoyaltyCountPointsEarned], PointsRedeemed: loyalty[LoyaltyCountPointsRedeemed],
			CouponsCreated: loyalty[LoyaltyCountCouponsCreated], CouponsUsed: loyalty[LoyaltyCountCouponsUsed],
			ReviewsRequested: loyalty[LoyaltyCountReviewsAsked], ReviewsAnswered: loyalty[LoyaltyCountReviewsAnswered],
		},
	}
	for outcome, n := range counts[EventCartAbandoned] {
		switch {
		case outcome == cartCountCarts:
			out.Carts.Carts = n
		case outcome == cartCountRecovered:
			out.Carts.Recovered = n
		case strings.HasPrefix(outcome, cartCountRevenue):
			currency := strings.TrimPrefix(outcome, cartCountRevenue)
			out.Carts.Revenue[currency] = formatMinor(n, currency)
		case strings.HasPrefix(outcome, cartCountStep):
			step, what, _ := strings.Cut(strings.TrimPrefix(outcome, cartCountStep), ".")
			i, err := strconv.Atoi(step)
			if err != nil {
				continue
			}
			so := out.Carts.ByStep[i]
			switch what {
			case "sent":
				so.Sent = n
			case "recovered":
				so.Recovered = n
			}
			out.Carts.ByStep[i] = so
		}
	}
	return out
}
