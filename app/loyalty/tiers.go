package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/storebridge/storebridge/app"
)

// standing is what a customer earned and spent, lifetime and per month
// (the last 13 kept), for tiers; Tier is the last tier they entered.
type standing struct {
	Tier   string           `json:"tier"`
	Points int64            `json:"points"`
	Spend  float64          `json:"spend"`
	Months map[string]month `json:"months"`
}

type month struct {
	Points int64   `json:"points"`
	Spend  float64 `json:"spend"`
}

func standingKey(customer string) string { return "loyalty:standing:" + customer }

func (e *Engine) standing(ctx context.Context, merchant, customer string) (standing, error) {
	s, _, err := e.standingVersion(ctx, merchant, customer)
	return s, err
}

// standingVersion is the standing and its record's version: the next
// write is version+1, so two earns in one clock tick both count.
func (e *Engine) standingVersion(ctx context.Context, merchant, customer string) (standing, int64, error) {
	raw, version, err := e.data.State(ctx, merchant, standingKey(customer))
	if errors.Is(err, app.ErrNotFound) {
		return standing{Months: map[string]month{}}, 0, nil
	}
	if err != nil {
		return standing{}, 0, err
	}
	var s standing
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return standing{}, 0, fmt.Errorf("loyalty: standing of a customer: %w", err)
	}
	if s.Months == nil {
		s.Months = map[string]month{}
	}
	return s, version, nil
}

// over sums the standing's basis over a period ending at now.
func (s standing) over(basis, period string, now time.Time) float64 {
	if period == PeriodLifetime {
		if basis == BasisSpend {
			return s.Spend
		}
		return float64(s.Points)
	}
	var sum float64
	for i := range 12 {
		at := now.AddDate(0, -i, 0)
		if period == PeriodCalendarYear && at.Year() != now.Year() {
			break
		}
		m := s.Months[at.Format("2006-01")]
		if basis == BasisSpend {
			sum += m.Spend
		} else {
			sum += float64(m.Points)
		}
	}
	return sum
}

// tierOf is the highest tier (by threshold, the later of equals) the
// standing reaches at now.
func (p Program) tierOf(s standing, now time.Time) (Tier, bool) {
	var best Tier
	found := false
	for _, t := range p.Tiers {
		if s.over(t.Basis, t.Period, now) >= t.Threshold && (!found || t.Threshold >= best.Threshold) {
			best, found = t, true
		}
	}
	return best, found
}

// addStanding counts an earn and, when it takes the customer into a new
// tier, sends loyalty.milestone_reached once for that tier.
func (e *Engine) addStanding(ctx context.Context, m app.Merchant, p Program, customer string, who app.Customer, points int64, spend *big.Rat, now time.Time) error {
	s, version, err := e.standingVersion(ctx, m.ID, customer)
	if err != nil {
		return err
	}
	f, _ := spend.Float64()
	s.Points += points
	s.Spend += f
	key := now.Format("2006-01")
	mo := s.Months[key]
	mo.Points += points
	mo.Spend += f
	s.Months[key] = mo
	for k := range s.Months {
		if k < now.AddDate(0, -13, 0).Format("2006-01") {
			delete(s.Months, k)
		}
	}
	t, reached := p.tierOf(s, now)
	entered := reached && t.Name != s.Tier
	if reached {
		s.Tier = t.Name
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, _, err := e.data.AdvanceState(ctx, m.ID, standingKey(customer), version+1, string(raw), orderTTL); err != nil {
		return err
	}
	if !entered {
		return nil
	}
	return e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventMilestoneReached, Subject: "loyalty:tier:" + customer + ":" + t.Name, Customer: who,
		Properties: map[string]any{"tier": map[string]any{"name": t.Name}, "milestone": map[string]any{"name": t.Name}},
	}})
}
