package app

import (
	"context"
	"time"
)

// Message is one send to a messaging provider, already resolved from an
// event and the merchant's rule: values are formatted strings in template
// order.
type Message struct {
	// DeliveryID is ours; providers that echo a reference back in their
	// status webhooks (Interakt's callbackData) carry it.
	DeliveryID string
	Mode       string // "template" or "event"
	Template   string
	Language   string // e.g. "en"
	// Names are the rule's variable paths in template order; Values are
	// their values. Providers with named parameters (Wati, CleverTap event
	// properties) use the names, the others only the order.
	Names  []string
	Values []string
	// Event is the event type, in both modes (event mode: the name the
	// provider's journeys are triggered by). Properties are the event's
	// properties, flattened to dotted keys.
	Event      string
	OccurredAt time.Time // when the event happened
	Properties map[string]string
	To         Recipient
	// Buttons are quick-reply buttons (COD Confirm/Cancel); providers that
	// cannot send them ignore them.
	Buttons []Button
}

// Recipient is who a message goes to. Identity is the value of the
// merchant's common property (phone, email or customer id) and is what
// event-mode providers identify the user by.
type Recipient struct {
	Phone      string // E.164
	Email      string
	CustomerID string
	Name       string
	Identity   string
}

// Button is a quick-reply button; ID comes back with the customer's tap.
type Button struct {
	ID    string
	Title string
}

// SendResult is what a provider answered for an accepted message.
type SendResult struct {
	ProviderMessageID string
}

// Provider sends messages through one merchant's account with one
// messaging provider. Errors are *ProviderError.
type Provider interface {
	Name() string
	// Send delivers m. It must not retry: retries are decided by the
	// delivery use case.
	Send(ctx context.Context, m Message) (SendResult, error)
	// Verify makes a harmless call that proves the credentials work
	// ("Initialize" in the merchant's checklist).
	Verify(ctx context.Context) error
}
