package loyalty

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// Milestone is reached at the customer's Orders-th order that earned, or
// once their lifetime Spend (what earned, in the store's currency)
// reaches Spend: one of the two.
type Milestone struct {
	Name   string  `json:"name"`
	Orders int64   `json:"orders,omitempty"`
	Spend  float64 `json:"spend,omitempty"`
}

const maxMilestones = 20

func (p Program) validateMilestones(fields map[string]string) {
	if len(p.Milestones) > maxMilestones {
		fields["milestones"] = fmt.Sprintf("at most %d", maxMilestones)
	}
	names := map[string]bool{}
	for _, t := range p.Tiers {
		names[strings.ToLower(t.Name)] = true
	}
	for i, ms := range p.Milestones {
		f := func(name string) string { return fmt.Sprintf("milestones[%d].%s", i, name) }
		switch {
		case ms.Name == "" || len(ms.Name) > 60:
			fields[f("name")] = "must be 1 to 60 characters"
		case names[strings.ToLower(ms.Name)]:
			fields[f("name")] = "is used by a tier or another milestone"
		default:
			names[strings.ToLower(ms.Name)] = true
		}
		byOrders, bySpend := ms.Orders != 0, ms.Spend != 0
		switch {
		case byOrders == bySpend:
			fields[f("orders")] = "give orders or spend, one of the two"
		case byOrders && (ms.Orders < 1 || ms.Orders > 100000):
			fields[f("orders")] = "must be 1 to 100000"
		case bySpend && (math.IsNaN(ms.Spend) || ms.Spend <= 0 || ms.Spend > MaxPoints):
			fields[f("spend")] = "must be positive"
		}
	}
}

func (ms Milestone) reached(s standing) bool {
	if ms.Orders > 0 {
		return s.Orders >= ms.Orders
	}
	return ms.Spend > 0 && s.Spend >= ms.Spend
}

// announceMilestones sends loyalty.milestone_reached once for each
// milestone the customer's standing reached and that was not sent, then
// records it sent; like announceTier, a failed send is sent by the retry.
func (e *Engine) announceMilestones(ctx context.Context, m app.Merchant, p Program, customer string, who app.Customer) error {
	if len(p.Milestones) == 0 {
		return nil
	}
	for range 10 {
		s, version, err := e.standingVersion(ctx, m.ID, customer)
		if err != nil {
			return err
		}
		var due []Milestone
		for _, ms := range p.Milestones {
			if ms.reached(s) && !slices.Contains(s.Milestones, ms.Name) {
				due = append(due, ms)
			}
		}
		if len(due) == 0 {
			return nil
		}
		events := make([]app.Event, 0, len(due))
		for _, ms := range due {
			props := map[string]any{"name": ms.Name, "orders": s.Orders}
			events = append(events, app.Event{
				Type: app.EventMilestoneReached, Subject: "loyalty:milestone:" + customer + ":" + ms.Name, Customer: who,
				Properties: map[string]any{"milestone": props},
			})
			s.Milestones = append(s.Milestones, ms.Name)
		}
		if err := e.sender.ProcessEvents(ctx, m, events); err != nil {
			return err
		}
		advanced, err := e.putStanding(ctx, m.ID, customer, version, s)
		if err != nil || advanced {
			return err
		}
	}
	return fmt.Errorf("loyalty: standing of a customer kept changing")
}
