package loyalty

import (
	"context"
	"fmt"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// ExportedLedger is what the engine holds of one of a customer's keys.
type ExportedLedger struct {
	Customer string      `json:"customer"`
	Balance  int64       `json:"balance"`
	Pending  int64       `json:"pending"`
	Tier     string      `json:"tier"`
	Entries  []EntryView `json:"entries"`
}

// ExportLoyalty is the engine's part of a privacy export: the ledger of
// each key the customer may have (account id, phone, email), every
// entry; nil when it holds none.
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
		if bal.Entries == 0 {
			continue
		}
		st, err := e.standing(ctx, m.ID, key)
		if err != nil {
			return nil, err
		}
		x := ExportedLedger{Customer: key, Balance: bal.Points, Pending: bal.Pending, Tier: st.Tier}
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
