package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/storebridge/storebridge/app"
)

type remindJob struct {
	Customer string       `json:"customer"`
	Who      app.Customer `json:"who"`
	Lot      string       `json:"lot"`
	Offset   string       `json:"offset"`
}

// scheduleExpiry schedules a lot's reminders (its expiry less each
// offset, the ones still ahead) and the merchant's daily sweep.
func (e *Engine) scheduleExpiry(ctx context.Context, merchant string, p Program, customer string, lot Entry) error {
	if lot.ExpiresAt.IsZero() {
		return nil
	}
	now := e.now()
	rec, _, err := e.orderOfLot(ctx, merchant, lot.Source)
	if err != nil {
		return err
	}
	for _, off := range p.ExpiryReminders {
		d, err := parseDays(off)
		if err != nil || d <= 0 {
			continue
		}
		due := lot.ExpiresAt.Add(-d)
		if !due.After(now) {
			continue
		}
		payload, err := json.Marshal(remindJob{Customer: customer, Who: rec.Customer, Lot: lot.Source, Offset: off})
		if err != nil {
			return err
		}
		if err := e.schedule(ctx, app.Job{
			ID: "loyalty-remind-" + lot.Source + "-" + off, Merchant: merchant, Kind: JobRemind,
			Key: "loyalty-remind:" + lot.Source + ":" + off, Payload: payload, DueAt: due,
		}); err != nil {
			return err
		}
	}
	return e.scheduleSweep(ctx, merchant, now)
}

// orderOfLot reads the order record behind an order's earn source.
func (e *Engine) orderOfLot(ctx context.Context, merchant, source string) (orderRecord, bool, error) {
	const prefix, suffix = "order:", ":earn"
	if len(source) <= len(prefix)+len(suffix) || source[:len(prefix)] != prefix || source[len(source)-len(suffix):] != suffix {
		return orderRecord{}, false, nil
	}
	return e.order(ctx, merchant, source[len(prefix):len(source)-len(suffix)])
}

// scheduleSweep keeps one sweep job per merchant and day, due at the
// next UTC midnight: keyed by the day, so the sweep that is running can
// schedule the next one while it still holds its own key.
func (e *Engine) scheduleSweep(ctx context.Context, merchant string, now time.Time) error {
	next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	day := next.Format("20060102")
	return e.schedule(ctx, app.Job{
		ID: "loyalty-sweep-" + day, Merchant: merchant, Kind: JobSweep, Key: "loyalty-sweep:" + day, DueAt: next,
	})
}

func (e *Engine) handleRemind(ctx context.Context, job app.Job) error {
	var r remindJob
	if err := json.Unmarshal(job.Payload, &r); err != nil {
		return app.Permanent(err)
	}
	m, err := e.merchants.Merchant(ctx, job.Merchant)
	if errors.Is(err, app.ErrNotFound) {
		return app.Permanent(err)
	}
	if err != nil {
		return err
	}
	lots, err := e.ledger.Lots(ctx, m.ID, r.Customer)
	if err != nil {
		return err
	}
	now := e.now()
	for _, l := range lots {
		if l.ID != r.Lot || l.Pending || l.Remaining <= 0 || !l.ExpiresAt.After(now) {
			continue
		}
		bal, err := e.ledger.Balance(ctx, m.ID, r.Customer)
		if err != nil {
			return err
		}
		return e.sender.ProcessEvents(ctx, m, []app.Event{{
			Type: app.EventPointsExpiring, Subject: "loyalty:expiring:" + r.Lot + ":" + r.Offset, Customer: r.Who,
			Properties: map[string]any{"points": map[string]any{
				"amount": l.Remaining, "balance": bal.Points, "expires_on": l.ExpiresAt.Format(time.DateOnly),
			}},
		}})
	}
	return nil // spent, reversed or expired: nothing to remind of
}

// handleSweep expires the merchant's due lots and schedules the next
// sweep while the program expires points.
func (e *Engine) handleSweep(ctx context.Context, job app.Job) error {
	if _, err := ExpireDue(ctx, e.ledger, job.Merchant, e.now(), 0); err != nil {
		return err
	}
	p, err := e.program(ctx, job.Merchant)
	if err != nil {
		return err
	}
	if p.Expiry == "none" {
		return nil
	}
	return e.scheduleSweep(ctx, job.Merchant, e.now())
}
