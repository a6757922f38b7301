package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// mapConsents holds each customer's consent to marketing messages, by
// phone: the last one a store, the events API or a reply said.
const mapConsents = "consents"

// Merchant settings of marketing consent.
const (
	// SettingMarketingConsent is "required" (the default: marketing goes
	// only to customers who opted in) or "assumed" (the merchant collects
	// consent on its own documented basis, SettingMarketingBasis).
	SettingMarketingConsent = "marketing_consent"
	SettingMarketingBasis   = "marketing_basis"
	consentRequired         = "required"
	consentAssumed          = "assumed"
)

// consentRecord is what is kept of a customer's consent.
type consentRecord struct {
	State  string    `json:"state"`
	Source string    `json:"source,omitempty"`
	At     time.Time `json:"at"`
}

// ConsentReport is a store's word on one customer's marketing consent,
// outside any event (Shopify's customers_marketing_consent/update).
type ConsentReport struct {
	CustomerID string
	Phone      string // E.164
	State      string // ConsentGranted or ConsentDenied
	Source     string
}

// recordConsent keeps a customer's consent when it changed.
func (s *Service) recordConsent(ctx context.Context, merchantID, phone, state, source string) error {
	if phone == "" || (state != ConsentGranted && state != ConsentDenied) {
		return nil
	}
	if stored, err := s.consentOf(ctx, merchantID, phone); err != nil {
		return err
	} else if stored.State == state {
		return nil
	}
	raw, err := json.Marshal(consentRecord{State: state, Source: source, At: s.now().UTC()})
	if err != nil {
		return err
	}
	return s.store.MapSet(ctx, merchantID, mapConsents, map[string]string{phone: string(raw)})
}

func (s *Service) consentOf(ctx context.Context, merchantID, phone string) (consentRecord, error) {
	raw, err := s.store.MapGet(ctx, merchantID, mapConsents, phone)
	if errors.Is(err, ErrNotFound) {
		return consentRecord{}, nil
	}
	if err != nil {
		return consentRecord{}, err
	}
	var rec consentRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return consentRecord{}, nil // unreadable counts as never given
	}
	return rec, nil
}

// marketingAllowed says whether a marketing message may go to the event's
// customer: with consent given (in the event, or before), unless the
// merchant collects consent on its own basis.
func (s *Service) marketingAllowed(ctx context.Context, m Merchant, e Event) (bool, error) {
	if m.Settings[SettingMarketingConsent] == consentAssumed {
		return true, nil
	}
	switch e.Customer.Consent {
	case ConsentGranted:
		return true, nil
	case ConsentDenied:
		return false, nil
	}
	rec, err := s.consentOf(ctx, m.ID, e.Customer.Phone)
	return rec.State == ConsentGranted, err
}
