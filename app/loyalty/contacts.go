package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// contactKey names the record of how to reach a customer of the ledger:
// the newest order's name, email, phone and platform id, which a
// redemption's code and message need (a redemption names only the key),
// and its currency, the store's when the platform does not say.
func contactKey(customer string) string { return "loyalty:contact:" + customer }

type contactRecord struct {
	ID        string `json:"id,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	Currency  string `json:"currency,omitempty"`
}

// noteContact remembers how to reach customer, as an order event names
// them.
func (e *Engine) noteContact(ctx context.Context, merchant, customer string, ev app.Event) error {
	who := ev.Customer
	currency, _ := ev.Lookup("order.currency")
	code, _ := currency.(string)
	raw, err := json.Marshal(contactRecord{ID: who.ID, FirstName: who.FirstName, LastName: who.LastName, Email: who.Email, Phone: who.Phone, Currency: code})
	if err != nil {
		return err
	}
	if _, _, err := e.data.AdvanceState(ctx, merchant, contactKey(customer), e.now().UnixNano(), string(raw), orderTTL); err != nil {
		return fmt.Errorf("loyalty: note a customer's contact: %w", err)
	}
	return nil
}

// contact is how to reach customer: what their orders said, and what the
// key itself is (a phone, an email or a platform id); and the currency of
// their newest order.
func (e *Engine) contact(ctx context.Context, merchant, customer string) (app.Customer, string, error) {
	var rec contactRecord
	raw, _, err := e.data.State(ctx, merchant, contactKey(customer))
	switch {
	case errors.Is(err, app.ErrNotFound):
	case err != nil:
		return app.Customer{}, "", err
	default:
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			return app.Customer{}, "", fmt.Errorf("loyalty: contact record: %w", err)
		}
	}
	who := app.Customer{ID: rec.ID, FirstName: rec.FirstName, LastName: rec.LastName, Email: rec.Email, Phone: rec.Phone}
	switch {
	case strings.HasPrefix(customer, "+"):
		if who.Phone == "" {
			who.Phone = customer
		}
	case strings.Contains(customer, "@"):
		if who.Email == "" {
			who.Email = customer
		}
	case who.ID == "":
		who.ID = customer
	}
	return who, rec.Currency, nil
}
