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
	Tier string `json:"tier"`
	// Announced is the last tier whose milestone was sent.
	Announced string           `json:"announced,omitempty"`
	Points    int64            `json:"points"`
	Spend     float64          `json:"spend"`
	Months    map[string]month `json:"months"`
	// Orders counts the orders that earned; Milestones are the names of
	// the milestones sent (milestones.go).
	Orders     int64    `json:"orders,omitempty"`
	Milestones []string `json:"milestones,omitempty"`
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
// tier, sends loyalty.milestone_reached once for that tier. Concurrent
// earns of one customer race on the record's version: the loser reads
// again.
func (e *Engine) addStanding(ctx context.Context, m app.Merchant, p Program, customer string, who app.Customer, points int64, spend *big.Rat, now time.Time) error {
	f, _ := spend.Float64()
	for range 10 {
		s, version, err := e.standingVersion(ctx, m.ID, customer)
		if err != nil {
			return err
		}
		s.Points += points
		s.Spend += f
		s.Orders++
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
		if t, reached := p.tierOf(s, now); reached {
			s.Tier = t.Name
		}
		advanced, err := e.putStanding(ctx, m.ID, customer, version, s)
		if err != nil {
			return err
		}
		if advanced {
			return e.announceTier(ctx, m, customer, who)
		}
	}
	return fmt.Errorf("loyalty: standing of a customer kept changing")
}

func (e *Engine) putStanding(ctx context.Context, merchant, customer string, version int64, s standing) (bool, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return false, err
	}
	_, advanced, err := e.data.AdvanceState(ctx, merchant, standingKey(customer), version+1, string(raw), orderTTL)
	return advanced, err
}

// announceTier sends the milestone of a tier entered and not yet
// announced, then records it announced: a send that failed is sent by the
// retry, which finds the earn posted but the tier not announced.
func (e *Engine) announceTier(ctx context.Context, m app.Merchant, customer string, who app.Customer) error {
	s, version, err := e.standingVersion(ctx, m.ID, customer)
	if err != nil || s.Tier == "" || s.Tier == s.Announced {
		return err
	}
	if err := e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventMilestoneReached, Subject: "loyalty:tier:" + customer + ":" + s.Tier, Customer: who,
		Properties: map[string]any{"tier": map[string]any{"name": s.Tier}, "milestone": map[string]any{"name": s.Tier}},
	}}); err != nil {
		return err
	}
	s.Announced = s.Tier
	_, err = e.putStanding(ctx, m.ID, customer, version, s)
	return err
}
