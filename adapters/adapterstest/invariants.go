package adapterstest

import (
	"regexp"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// e164 is the shape of a phone the app can send to: "+", a country
// calling code (never 0), 7 to 15 digits in all.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// eventType is the app's event name: dotted, lower-case, as the events API
// and the rules require (app's eventTypePattern).
var eventType = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$`)

// IsE164 reports whether phone has the shape of an E.164 number.
func IsE164(phone string) bool { return e164.MatchString(phone) }

// CheckEvent fails t unless e has what the pipeline relies on: a type a
// rule can name, a subject for exactly-once sending, properties, and a
// customer with either a valid E.164 phone or the reason there is none.
// Store platform decoders' fuzz tests run it on every event they build.
func CheckEvent(t testing.TB, e app.Event) {
	t.Helper()
	if !eventType.MatchString(e.Type) {
		t.Fatalf("event type %q is not a dotted lower-case name", e.Type)
	}
	if e.Subject == "" {
		t.Fatalf("event %s has no subject", e.Type)
	}
	if e.Properties == nil {
		t.Fatalf("event %s has no properties", e.Type)
	}
	c := e.Customer
	if (c.Phone == "") == (c.PhoneProblem == "") {
		t.Fatalf("event %s: phone %q, phone problem %q; want exactly one", e.Type, c.Phone, c.PhoneProblem)
	}
	if c.Phone != "" {
		if again, err := app.NormalizePhone(c.Phone); !IsE164(c.Phone) || err != nil || again != c.Phone {
			t.Fatalf("event %s: phone %q is not a normalised E.164 number (%q, %v)", e.Type, c.Phone, again, err)
		}
	}
}

// CheckReport fails t unless a provider webhook's report holds only what
// the app can apply: statuses it knows, each naming a delivery or a
// provider message, failures with a reason, and replies from a phone of
// E.164's shape.
func CheckReport(t testing.TB, r app.ProviderReport) {
	t.Helper()
	for _, s := range r.Statuses {
		switch s.Status {
		case app.DeliverySent, app.DeliveryDelivered, app.DeliveryRead, app.DeliveryFailed:
		default:
			t.Fatalf("status %q is not one a provider may report", s.Status)
		}
		if s.DeliveryID == "" && s.ProviderMessageID == "" {
			t.Fatalf("status %+v names no delivery and no message", s)
		}
		if s.Status == app.DeliveryFailed && s.Error == "" {
			t.Fatalf("failed status %+v gives no reason", s)
		}
	}
	for _, reply := range r.Replies {
		if !IsE164(reply.Phone) {
			t.Fatalf("reply phone %q is not E.164", reply.Phone)
		}
	}
}

// IsEventType reports whether s is an event name the app accepts.
func IsEventType(s string) bool { return eventType.MatchString(s) }
