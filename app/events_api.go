package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// JobAPIEvent processes an event pushed to the events API.
const JobAPIEvent = "api.event"

// Bounds of a pushed event's id and customer (names: maxNameLen); the
// email as RFC 5321 bounds an address, the phone with room for spaces and
// punctuation around E.164's 15 digits.
const (
	maxAPIEventIDLen = 200
	maxCustomerIDLen = 100
	maxEmailLen      = 254
	maxPhoneLen      = 32
)

// apiEventDoneTTL is how long a pushed event's id is remembered, so a
// sender retrying after a timeout does not message the customer twice.
const apiEventDoneTTL = 7 * 24 * time.Hour

// APIEvent is an event a loyalty platform or the merchant's own systems
// push to POST /api/v1/events.
type APIEvent struct {
	// ID is the sender's id for the event (a loyalty transaction, a
	// referral): the same id is accepted once.
	ID         string         `json:"id"`
	Type       string         `json:"event"`
	OccurredAt time.Time      `json:"occurred_at"`
	Customer   APICustomer    `json:"customer"`
	Properties map[string]any `json:"properties"`
}

// APICustomer is who a pushed event is about.
type APICustomer struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	// MarketingConsent is the sender's word on the customer's consent to
	// marketing messages: true (opted in), false (opted out), absent.
	MarketingConsent *bool `json:"marketing_consent,omitempty"`
}

// MerchantByAPIKey finds the merchant an API key belongs to.
func (s *Service) MerchantByAPIKey(ctx context.Context, key string) (Merchant, error) {
	if !strings.HasPrefix(key, apiKeyPrefix) {
		return Merchant{}, ErrUnauthenticated
	}
	m, err := s.store.MerchantByAPIKeyHash(ctx, HashAPIKey(key))
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, ErrUnauthenticated
	}
	if err != nil {
		return Merchant{}, err
	}
	if m.Status != MerchantActive {
		return Merchant{}, fmt.Errorf("merchant %s is %s: %w", m.ID, m.Status, ErrUnauthenticated)
	}
	return m, nil
}

// ReceiveEvent validates a pushed event and queues it once per id, in one
// atomic store step, like a store webhook.
func (s *Service) ReceiveEvent(ctx context.Context, m Merchant, in APIEvent) (WebhookOutcome, error) {
	in.ID = strings.TrimSpace(in.ID)
	if fields := validateAPIEvent(in); len(fields) > 0 {
		return "", &ValidationError{Fields: fields}
	}
	now := s.now()
	if in.OccurredAt.IsZero() {
		// Stamped once, so a retried job falls in the same period of a
		// loyalty action's cap.
		in.OccurredAt = now.UTC()
	}
	payload, err := json.Marshal(in)
	if err != nil {
		return "", Invalid("properties", "cannot be stored: "+err.Error())
	}
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobAPIEvent, Payload: payload, CreatedAt: now}
	state, err := s.store.ClaimAndEnqueue(ctx, "api:"+in.ID, apiEventDoneTTL, job)
	if err != nil {
		return "", fmt.Errorf("queue event: %w", err)
	}
	if state != ClaimNew {
		return WebhookDuplicate, nil
	}
	if s.wake != nil {
		s.wake()
	}
	return WebhookAccepted, nil
}

// validateAPIEvent answers, by field, why a pushed event cannot be taken.
func validateAPIEvent(in APIEvent) map[string]string {
	fields := map[string]string{}
	if in.ID == "" || !plainText(in.ID, maxAPIEventIDLen) {
		fields["id"] = fmt.Sprintf("is required: your id for the event (1 to %d characters, no control characters), so a retry is not sent twice", maxAPIEventIDLen)
	}
	if !validEventType(in.Type) {
		fields["event"] = fmt.Sprintf("must be a dotted event name like loyalty.points_earned, at most %d characters", maxEventTypeLen)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"customer.id", in.Customer.ID, maxCustomerIDLen},
		{"customer.first_name", in.Customer.FirstName, maxNameLen},
		{"customer.last_name", in.Customer.LastName, maxNameLen},
		{"customer.email", in.Customer.Email, maxEmailLen},
		{"customer.phone", in.Customer.Phone, maxPhoneLen},
	} {
		if !plainText(f.value, f.max) {
			fields[f.name] = fmt.Sprintf("must be at most %d characters, without control characters", f.max)
		}
	}
	if strings.TrimSpace(in.Customer.Phone) == "" && strings.TrimSpace(in.Customer.Email) == "" && strings.TrimSpace(in.Customer.ID) == "" {
		fields["customer"] = "needs a phone, an email or an id"
	}
	if reason := checkProperties(in.Properties); reason != "" {
		fields["properties"] = reason
	}
	return fields
}

// handleAPIEventJob turns a pushed event into a delivery, once per sender
// id and event type.
func (s *Service) handleAPIEventJob(ctx context.Context, job Job) error {
	var in APIEvent
	if err := jsonUnmarshal(job.Payload, &in); err != nil {
		return Permanent(fmt.Errorf("stored api event: %w", err))
	}
	return s.processAPIEvent(ctx, job.Merchant, in)
}

// processAPIEvent sends a pushed (or Nector's) event through the rules,
// once per sender id and event type.
func (s *Service) processAPIEvent(ctx context.Context, merchantID string, in APIEvent) error {
	cached, err := s.merchants.byID(ctx, merchantID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Permanent(err)
		}
		return err
	}
	m := cached.Merchant
	if m.Status != MerchantActive {
		return nil
	}
	customer := Customer{ID: in.Customer.ID, FirstName: in.Customer.FirstName, LastName: in.Customer.LastName, Email: in.Customer.Email}
	if c := in.Customer.MarketingConsent; c != nil {
		customer.Consent, customer.ConsentSource = ConsentDenied, "events api"
		if *c {
			customer.Consent = ConsentGranted
		}
	}
	if raw := strings.TrimSpace(in.Customer.Phone); raw != "" {
		if phone, err := NormalizePhone(raw, m.Country); err == nil {
			customer.Phone = phone
		} else {
			customer.PhoneProblem = "customer.phone: " + strings.TrimPrefix(err.Error(), "app: ")
		}
	} else {
		customer.PhoneProblem = "no phone in the event"
	}
	e := Event{
		Type: in.Type, Subject: "api:" + in.ID, Customer: customer,
		Properties: nestProperties(in.Properties), OccurredAt: in.OccurredAt,
	}
	return s.ProcessEvents(ctx, m, []Event{e})
}
