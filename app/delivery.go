package app

import (
	"context"
	"time"
)

// DeliveryStatus is where a message stands. Statuses after "sent" only move
// forward (sent → delivered → read), since providers report them out of
// order.
type DeliveryStatus string

const (
	DeliveryQueued    DeliveryStatus = "queued"
	DeliverySent      DeliveryStatus = "sent"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryRead      DeliveryStatus = "read"
	DeliveryFailed    DeliveryStatus = "failed" // permanent error
	DeliveryRetrying  DeliveryStatus = "retrying"
	DeliveryDead      DeliveryStatus = "dead" // retries exhausted
	DeliverySkipped   DeliveryStatus = "skipped"
)

// DeliveryStatuses lists every status, in the order the delivery log
// offers them.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{
		DeliveryQueued, DeliverySent, DeliveryDelivered, DeliveryRead,
		DeliveryRetrying, DeliveryFailed, DeliveryDead, DeliverySkipped,
	}
}

// StatusChange is one step of a delivery's history.
type StatusChange struct {
	Status DeliveryStatus
	At     time.Time
	Note   string
}

// Delivery records what was sent to whom through which provider.
type Delivery struct {
	ID       string
	Merchant string
	EventID  string
	Event    string // event type
	// Subject is what the event was about ("order:<id>", "cart:<token>"),
	// and CustomerID the platform's customer: both let a privacy
	// redaction find the customer's records.
	Subject    string
	CustomerID string
	Phone      string // E.164; masked whenever shown
	Provider   string
	Template   string
	// Values are the template's variables as last sent, in order.
	Values []string
	// EventData is the event as it came (JSON), so a retry or a replay
	// builds the message again from the merchant's current rule.
	EventData []byte
	Status    DeliveryStatus
	// Attempts counts the provider calls made, all told; RetryBase is how
	// many were made before the merchant last asked for a retry (the retry
	// schedule counts from there). Ambiguous counts the calls that may have
	// reached the provider without an answer.
	Attempts  int
	RetryBase int `json:",omitempty"`
	Ambiguous int `json:",omitempty"`
	// Step is the place of a cart sequence's message in its sequence
	// (1-based); 0 for every other delivery.
	Step  int `json:",omitempty"`
	Error string
	// ProviderMessageID is the provider's id for the message (Meta's wamid),
	// used to match the statuses the provider reports.
	ProviderMessageID string
	Test              bool
	History           []StatusChange
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// pending marks a delivery planned and not stored yet: a message due
	// now is stored once, in the state its send leaves it in, by the
	// first move (moveDelivery), rather than stored queued and moved.
	pending bool
}

// DeliveryFilter selects deliveries for the log; zero fields match all.
type DeliveryFilter struct {
	Status DeliveryStatus
	Event  string
	Limit  int    // 0: 50
	Cursor string // from a previous page's answer
}

// DeliveryStore keeps delivery records.
type DeliveryStore interface {
	// CreateDelivery stores a new record. ErrConflict if the ID is taken.
	CreateDelivery(ctx context.Context, d Delivery) error
	GetDelivery(ctx context.Context, merchant, id string) (Delivery, error)
	// UpdateDelivery reads the record, applies change and writes it back
	// atomically: a concurrent update makes it re-read and apply again, so
	// change must be a pure function of the record. An error from change
	// aborts with nothing written.
	UpdateDelivery(ctx context.Context, merchant, id string, change func(*Delivery) error) (Delivery, error)
	// ListDeliveries pages through a merchant's deliveries, newest first,
	// and returns the cursor of the next page ("" at the end).
	ListDeliveries(ctx context.Context, merchant string, f DeliveryFilter) ([]Delivery, string, error)
	// DeliveryByProviderMessageID finds the delivery a provider status is
	// about.
	DeliveryByProviderMessageID(ctx context.Context, merchant, messageID string) (Delivery, error)
	// PurgeDeliveries deletes up to limit of the merchant's deliveries created
	// before before, with every index entry that points at them, and says how
	// many it deleted (0 when none are left to delete).
	PurgeDeliveries(ctx context.Context, merchant string, before time.Time, limit int) (int, error)
}
