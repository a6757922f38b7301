package loyalty

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// ExportedLedger is what the engine holds of one of a customer's keys.
type ExportedLedger struct {
	Customer string      `json:"customer"`
	Balance  int64       `json:"balance"`
	Pending  int64       `json:"pending"`
	Tier     string      `json:"tier"`
	Entries  []EntryView `json:"entries"`
	// Redemptions are the discount codes made for the customer from
	// their points, newest first.
	Redemptions []ExportedRedemption `json:"redemptions,omitempty"`
}

// ExportedRedemption is one redemption as a privacy export shows it.
type ExportedRedemption struct {
	ID              string     `json:"id"`
	Points          int64      `json:"points"`
	Code            string     `json:"code"`
	Value           string     `json:"value"`
	Currency        string     `json:"currency,omitempty"`
	MinimumSubtotal string     `json:"minimum_subtotal,omitempty"`
	Status          string     `json:"status"` // pending, created, refunded
	Failure         string     `json:"failure,omitempty"`
	Reason          string     `json:"reason"`
	CreatedAt       time.Time  `json:"created_at"`
	EndsAt          *time.Time `json:"ends_at"`
}

// ExportLoyalty is the engine's part of a privacy export: the ledger of
// each key the customer may have (account id, phone, email), every
// entry, and the redemptions (codes made for them) kept under it; nil
// when it holds none.
func (e *Engine) ExportLoyalty(ctx context.Context, m app.Merchant, who app.CustomerIdentity) (any, error) {
	var out []ExportedLedger
	seen := map[string]bool{}
	for _, key := range []string{who.CustomerID, who.Phone, strings.ToLower(strings.TrimSpace(who.Email))} {
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		bal, err := e.ledger.Balance(ctx, m.ID, key)
		if err != nil {
			return nil, err
		}
		redemptions, err := e.exportRedemptions(ctx, m.ID, key)
		if err != nil {
			return nil, err
		}
		if bal.Entries == 0 && len(redemptions) == 0 {
			continue
		}
		st, err := e.standing(ctx, m.ID, key)
		if err != nil {
			return nil, err
		}
		x := ExportedLedger{Customer: key, Balance: bal.Points, Pending: bal.Pending, Tier: st.Tier, Redemptions: redemptions}
		page := Page{Limit: MaxEntriesPage}
		for {
			entries, next, err := e.ledger.Entries(ctx, m.ID, key, page)
			if err != nil {
				return nil, err
			}
			for _, en := range entries {
				x.Entries = append(x.Entries, entryView(en))
			}
			if next == 0 {
				break
			}
			page.Before = next
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// exportRedemptions reads the records of a customer's redemptions,
// newest first; a record gone (expired with its TTL) is left out.
func (e *Engine) exportRedemptions(ctx context.Context, merchant, customer string) ([]ExportedRedemption, error) {
	ids, err := e.data.IndexNewest(ctx, merchant, redemptionsIndex(customer), 0, maxRedemptions)
	if err != nil {
		return nil, err
	}
	var out []ExportedRedemption
	for _, id := range ids {
		rec, _, found, err := e.redemption(ctx, merchant, id)
		if err != nil {
			return nil, err
		}
		if !found || rec.Customer != customer {
			continue
		}
		x := ExportedRedemption{
			ID: rec.ID, Points: rec.Points, Code: rec.Code, Value: rec.Value, Currency: rec.Currency, MinimumSubtotal: rec.MinimumSubtotal,
			Status: rec.Status, Failure: rec.Failure, Reason: rec.Reason, CreatedAt: rec.CreatedAt,
		}
		if rec.Coupon != nil {
			x.Code = rec.Coupon.Code
		}
		if !rec.EndsAt.IsZero() {
			ends := rec.EndsAt
			x.EndsAt = &ends
		}
		out = append(out, x)
	}
	return out, nil
}

// RedactLoyalty deletes what the engine holds of a customer
// (customers/redact): the ledgers kept under their customer id, phone and
// email, their tier standing, contact and redemption records, and the
// records of the orders named. Their scheduled reminders find no lot when
// due and send nothing; a pending redemption's job finds no record.
func (e *Engine) RedactLoyalty(ctx context.Context, m app.Merchant, who app.CustomerIdentity) error {
	var states []string
	seen := map[string]bool{}
	for _, key := range []string{who.CustomerID, who.Phone, strings.ToLower(strings.TrimSpace(who.Email))} {
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		if _, err := e.ledger.Forget(ctx, m.ID, key); err != nil {
			return fmt.Errorf("loyalty: redact: %w", err)
		}
		if err := e.forgetRedemptions(ctx, m.ID, key); err != nil {
			return fmt.Errorf("loyalty: redact: %w", err)
		}
		states = append(states, standingKey(key), contactKey(key), profileKey(key), referralStateKey(key), reviewedCustomerKey(key))
	}
	for _, id := range who.OrderIDs {
		states = append(states, orderStateKey(id), reviewedOrderKey(id), reviewAskedKey(id), cancelledStateKey(id))
	}
	if err := e.forgetReferralCodes(ctx, m, seen); err != nil {
		return err
	}
	if len(states) == 0 {
		return nil
	}
	return e.data.DeleteStates(ctx, m.ID, states...)
}
