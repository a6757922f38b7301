package app

import (
	"strings"
	"time"
)

// Event types of the contract. Any other dotted name may be pushed to the
// events API; order.status.{slug} stands for an unmapped platform status.
const (
	EventOrderPlaced          = "order.placed"
	EventOrderPaid            = "order.paid"
	EventOrderShipped         = "order.shipped"
	EventOrderOutForDelivery  = "order.out_for_delivery"
	EventOrderDelivered       = "order.delivered"
	EventOrderCancelled       = "order.cancelled"
	EventOrderRefunded        = "order.refunded"
	EventOrderStatusPrefix    = "order.status."
	EventCODConfirmationAsked = "cod.confirmation_requested"
	EventCODReminder          = "cod.reminder"
	EventCODConfirmed         = "cod.confirmed"
	EventCODCancelled         = "cod.cancelled"
	EventCartAbandoned        = "cart.abandoned"
	EventCartRecovered        = "cart.recovered"
	EventPointsEarned         = "loyalty.points_earned"
	EventPointsReversed       = "loyalty.points_reversed"
	EventPointsExpiring       = "loyalty.points_expiring"
	EventCouponCreated        = "loyalty.coupon_created"
	EventReferralCompleted    = "loyalty.referral_completed"
	EventReviewRequested      = "loyalty.review_requested"
	EventMilestoneReached     = "loyalty.milestone_reached"
	// Customer and review events the loyalty engine earns from: the store
	// tells of a new customer account; a review app or the merchant pushes
	// the others to the events API.
	EventCustomerCreated  = "customer.created"
	EventCustomerBirthday = "customer.birthday"
	EventReviewSubmitted  = "review.submitted"
)

// Customer is who an event is about.
type Customer struct {
	ID        string // the platform's customer id, if any
	FirstName string
	LastName  string
	Email     string
	// Phone is E.164 ("+919876543210"), or empty with PhoneProblem saying
	// why no usable number was found. A missing phone is not an error: the
	// event is recorded as unable to reach the customer.
	Phone        string
	PhoneProblem string
	// Consent is what the payload says of the customer's consent to
	// marketing messages on their phone (ConsentGranted, ConsentDenied),
	// or empty when it says nothing; ConsentSource names where it was
	// given ("shopify checkout", "whatsapp reply").
	Consent       string `json:",omitempty"`
	ConsentSource string `json:",omitempty"`
}

// Consent states a payload or a reply can carry.
const (
	ConsentGranted = "granted"
	ConsentDenied  = "denied"
)

// Name is the customer's full name.
func (c Customer) Name() string {
	return strings.TrimSpace(c.FirstName + " " + c.LastName)
}

// Event is something that happened in a store or a loyalty program.
type Event struct {
	ID       string
	Merchant string
	Type     string
	// Subject names what the event is about, for exactly-once sending: the
	// same Type for the same Subject reaches a customer once. "order:<id>",
	// "cart:<token>", "loyalty:<transaction id>".
	Subject  string
	Customer Customer
	// Properties are nested by the first segment of the contract's
	// variable paths: {"order": {"number": "#1001", "total": "₹1,499.00"},
	// "shop": {"name": "Asha Naturals"}}. Values are strings, numbers,
	// booleans or nested maps; the customer's own fields are added at send
	// time from Customer.
	Properties map[string]any
	OccurredAt time.Time
	Test       bool
}

// Lookup returns the property at a dotted path ("order.total") and whether
// it was there.
func (e Event) Lookup(path string) (any, bool) {
	var cur any = e.Properties
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// StatusSlug keeps a platform status usable in an event name
// (order.status.{slug}): lower-case letters, digits, "_" and "-", at most
// 32 characters.
func StatusSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('_')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return b.String()
}
