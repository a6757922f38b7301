// Package nector reads the events Nector's outbound event integration
// sends to a merchant's Nector inbox, and maps them to the contract's
// loyalty events and property names. Authentication (the inbox token) and
// exactly-once are app's; this package only decodes.
//
// What is known of Nector's events is their names and the fields common to
// all of them (Nector's "event details sent to external integrations" and
// the Wati guide's user_name and amount); the meaning of a field the docs
// do not give is not guessed silently: see the README's Nector section.
// Every field Nector sends stays available as nector.<field>.
package nector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// Headers Nector sets on its deliveries.
const (
	HeaderTopic      = "X-Nector-Topic"
	HeaderDeliveryID = "X-Nector-Delivery-Id"
)

// EventType is the contract's event for a Nector event name, or false for
// a name storebridge does not map.
func EventType(nector string) (string, bool) {
	switch nector {
	case "walletreward_create":
		return app.EventPointsEarned, true
	case "coinexpirynotify_create":
		return app.EventPointsExpiring, true
	case "coupon_create":
		return app.EventCouponCreated, true
	case "reviewrequest_create":
		return app.EventReviewRequested, true
	case "referrernotify_create":
		return app.EventReferralCompleted, true
	case "refereenotify_create":
		// The referred friend's side of a referral: no contract event
		// says it, and sending the referrer's message to the friend would
		// be wrong, so it has a name of its own.
		return EventRefereeNotified, true
	case "viptier_create":
		return app.EventMilestoneReached, true
	}
	return "", false
}

// EventRefereeNotified is Nector's refereenotify_create: a message to the
// friend who was referred.
const EventRefereeNotified = "loyalty.referee_notified"

// property is the contract's property for a Nector field of an event, or
// "" when the field has none (it stays under nector.* only).
func property(event, field string) string {
	switch field {
	case "amount": // Nector's documented coin count (CONTRACT.md's alias)
		return "points.amount"
	case "user_tier":
		return "tier.name"
	case "user_referral_code":
		return "referral.code"
	// The fields below are not in Nector's public docs: the names are
	// assumed, so the README lists them as such.
	case "coupon_code":
		return "coupon.code"
	case "coupon_value":
		return "coupon.value"
	case "wallet_balance", "user_wallet_balance":
		return "points.balance"
	case "expiry_date", "coin_expiry_date":
		return "points.expires_on"
	case "review_url", "review_link":
		return "review.url"
	case "referee_name":
		if event == "referrernotify_create" {
			return "referral.friend_name"
		}
	case "referrer_name":
		if event == "refereenotify_create" {
			return "referral.friend_name"
		}
	}
	return ""
}

// customerFields become the event's customer; they are not repeated as
// properties.
func customerField(field string) bool {
	switch field {
	case "user_name", "user_mobile", "user_email", "user_customer_id":
		return true
	}
	return false
}

// Decode reads one Nector event (app.NectorDecoder). The event name is the
// x-nector-topic header, else the body's "topic" or "event". Fields are
// read from the body's top level and from an object under "data", the top
// level winning.
func Decode(topic string, body []byte) (app.APIEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil {
		return app.APIEvent{}, errors.New("nector: body is not a JSON object")
	}
	if dec.More() {
		return app.APIEvent{}, errors.New("nector: more than one JSON value in the body")
	}
	fields := map[string]any{}
	if data, ok := raw["data"].(map[string]any); ok {
		for k, v := range data {
			fields[k] = v
		}
	}
	for k, v := range raw {
		if k != "data" || !isObject(v) {
			fields[k] = v
		}
	}
	name := strings.TrimSpace(topic)
	for _, key := range []string{"topic", "event"} {
		if name != "" {
			break
		}
		name, _ = fields[key].(string)
		name = strings.TrimSpace(name)
	}
	if name == "" {
		return app.APIEvent{}, fmt.Errorf("nector: no event name (no %s header, no topic or event field): %w", HeaderTopic, app.ErrNectorUnknownEvent)
	}
	eventType, ok := EventType(name)
	if !ok {
		return app.APIEvent{}, fmt.Errorf("nector: event %q: %w", name, app.ErrNectorUnknownEvent)
	}
	first, last := splitName(text(fields["user_name"]))
	out := app.APIEvent{
		Type: eventType,
		Customer: app.APICustomer{
			ID:        text(fields["user_customer_id"]),
			FirstName: first,
			LastName:  last,
			Email:     text(fields["user_email"]),
			Phone:     text(fields["user_mobile"]),
		},
		Properties: map[string]any{"nector.event": name},
	}
	for k, v := range fields {
		if customerField(k) || k == "topic" || k == "event" {
			continue
		}
		// A dotted key would nest outside nector.*.
		out.Properties["nector."+strings.ReplaceAll(k, ".", "_")] = v
		if p := property(name, k); p != "" && v != nil {
			out.Properties[p] = v
			if name == "viptier_create" && p == "tier.name" {
				// The tier reached is the milestone (the catalog's name).
				out.Properties["milestone.name"] = v
			}
		}
	}
	return out, nil
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

// text is a string or number field as text; anything else is "".
func text(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// splitName takes the first word of user_name as the first name, as the
// contract's alias of user_name (customer.first_name) reads it.
func splitName(full string) (first, last string) {
	full = strings.Join(strings.Fields(full), " ")
	first, last, _ = strings.Cut(full, " ")
	return first, last
}
