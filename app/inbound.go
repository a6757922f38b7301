package app

import "time"

// ProviderReport is what a messaging provider tells us in its webhooks: how
// our messages fared and what customers replied.
type ProviderReport struct {
	Statuses []StatusReport
	Replies  []Reply
}

// StatusReport moves one delivery forward. The delivery is found by our
// DeliveryID when the provider echoes it back, else by ProviderMessageID.
type StatusReport struct {
	DeliveryID        string
	ProviderMessageID string
	Status            DeliveryStatus // sent, delivered, read or failed
	At                time.Time
	Error             string // provider's reason when failed
}

// Reply is a customer's message or button tap.
type Reply struct {
	Phone    string // E.164
	Text     string
	ButtonID string // the Button.ID tapped, if a button
	// InReplyTo is the provider message id of the message answered, when
	// the provider says.
	InReplyTo         string
	ProviderMessageID string
	At                time.Time
}
