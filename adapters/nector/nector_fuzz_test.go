package nector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/storebridge/storebridge/app"
)

// FuzzDecode holds the decoder to what the service relies on, for any
// body: no panic; an unmapped name is ErrNectorUnknownEvent; a decoded
// event has a contract event type, keeps Nector's fields under nector.*
// only, and sets neither id nor time.
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata payloads: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("", b)
		f.Add(strings.TrimSuffix(filepath.Base(name), ".json"), b)
	}
	f.Add("lead_create", []byte(`{"data":{"user_mobile":1e400}}`))
	f.Add("", []byte(`{"topic":7,"data":[1,2]}`))
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		e, err := Decode(topic, body)
		if err != nil {
			if e.Type != "" {
				t.Fatalf("Decode failed (%v) and still gave type %q", err, e.Type)
			}
			return
		}
		if _, ok := mappedTypes()[e.Type]; !ok {
			t.Fatalf("Type = %q; not one of the mapped loyalty events", e.Type)
		}
		name, _ := e.Properties["nector.event"].(string)
		if want, ok := EventType(name); !ok || want != e.Type {
			t.Fatalf("nector.event = %q maps to %q; decoded type %q", name, want, e.Type)
		}
		if e.ID != "" || !e.OccurredAt.IsZero() {
			t.Fatalf("decoder set id %q or time %v", e.ID, e.OccurredAt)
		}
		for k := range e.Properties {
			if strings.HasPrefix(k, "nector.") {
				if strings.Contains(strings.TrimPrefix(k, "nector."), ".") {
					t.Fatalf("property %q nests outside nector.*", k)
				}
				continue
			}
			if !contractProperty(k) {
				t.Fatalf("property %q is neither nector.* nor a contract property", k)
			}
		}
		for _, s := range []string{e.Customer.ID, e.Customer.FirstName, e.Customer.LastName, e.Customer.Email, e.Customer.Phone} {
			if !utf8.ValidString(s) && utf8.Valid(body) {
				t.Fatalf("customer field %q is not valid UTF-8 from a valid body", s)
			}
		}
	})
}

func mappedTypes() map[string]bool {
	return map[string]bool{
		app.EventPointsEarned: true, app.EventPointsExpiring: true, app.EventCouponCreated: true,
		app.EventReviewRequested: true, app.EventReferralCompleted: true, EventRefereeNotified: true,
		app.EventMilestoneReached: true,
	}
}

func contractProperty(k string) bool {
	switch k {
	case "points.amount", "points.balance", "points.expires_on", "tier.name", "coupon.code",
		"coupon.value", "referral.code", "referral.friend_name", "review.url", "milestone.name":
		return true
	}
	return false
}
