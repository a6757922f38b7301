package nector

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/storebridge/storebridge/app"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeEveryEvent(t *testing.T) {
	riya := app.APICustomer{ID: "7390114627", FirstName: "Riya", LastName: "Sharma", Email: "riya@example.in", Phone: "9876543210"}
	for _, tc := range []struct {
		file  string
		event string
		props map[string]string // contract property → value as text
	}{
		{"walletreward_create.json", app.EventPointsEarned, map[string]string{
			"points.amount": "100", "points.balance": "1250", "tier.name": "Silver", "referral.code": "RIYA100",
		}},
		{"coinexpirynotify_create.json", app.EventPointsExpiring, map[string]string{
			"points.amount": "300", "points.expires_on": "2026-12-31", "points.balance": "1250",
		}},
		{"coupon_create.json", app.EventCouponCreated, map[string]string{
			"coupon.code": "KESAR-7QX2", "coupon.value": "₹50", "points.amount": "500",
		}},
		{"reviewrequest_create.json", app.EventReviewRequested, map[string]string{
			"review.url": "https://kesar-kitchen.example/review/1042", "nector.order_name": "#1042",
		}},
		{"referrernotify_create.json", app.EventReferralCompleted, map[string]string{
			"referral.friend_name": "Arjun", "points.amount": "200", "referral.code": "RIYA100",
		}},
		{"refereenotify_create.json", EventRefereeNotified, map[string]string{
			"referral.friend_name": "Meera", "coupon.code": "FRIEND-9K",
		}},
		{"viptier_create.json", app.EventMilestoneReached, map[string]string{
			"tier.name": "Gold", "milestone.name": "Gold", "nector.business_coin_name": "Kesar Coins",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := Decode("", readTestdata(t, tc.file))
			if err != nil {
				t.Fatalf("Decode = %v", err)
			}
			if got.Type != tc.event {
				t.Errorf("Type = %q; want %q", got.Type, tc.event)
			}
			if got.Customer != riya {
				t.Errorf("Customer = %+v; want %+v", got.Customer, riya)
			}
			for k, want := range tc.props {
				if v := text(got.Properties[k]); v != want {
					t.Errorf("Properties[%q] = %q; want %q", k, v, want)
				}
			}
			// Every field but the customer's stays under nector.*.
			if got.Properties["nector.business_name"] != "Kesar Kitchen" || got.Properties["nector.event"] == nil {
				t.Errorf("Properties = %v; want nector.business_name and nector.event", got.Properties)
			}
			for _, k := range []string{"nector.user_mobile", "nector.user_email", "nector.user_name"} {
				if _, ok := got.Properties[k]; ok {
					t.Errorf("Properties[%q] is set; the customer's fields belong to the customer only", k)
				}
			}
			if got.ID != "" || !got.OccurredAt.IsZero() {
				t.Errorf("ID %q, OccurredAt %v set; the service sets them", got.ID, got.OccurredAt)
			}
		})
	}
}

func TestDecodeShapes(t *testing.T) {
	for _, tc := range []struct {
		name, topic, body string
		wantType          string
		wantErr           error // nil: decodes; errAny: some error
		check             func(t *testing.T, e app.APIEvent)
	}{
		{name: "header names the event", topic: "walletreward_create", body: `{"user_mobile":9876543210,"amount":50}`, wantType: app.EventPointsEarned,
			check: func(t *testing.T, e app.APIEvent) {
				if e.Customer.Phone != "9876543210" || text(e.Properties["points.amount"]) != "50" {
					t.Errorf("numeric mobile and amount = %q, %v; want text 9876543210 and 50", e.Customer.Phone, e.Properties["points.amount"])
				}
			}},
		{name: "header wins over the body", topic: "viptier_create", body: `{"topic":"coupon_create","user_mobile":"9876543210"}`, wantType: app.EventMilestoneReached},
		{name: "event field", body: `{"event":"coupon_create","user_email":"a@b.in"}`, wantType: app.EventCouponCreated},
		{name: "fields under data", body: `{"topic":"walletreward_create","data":{"user_mobile":"+919876543210","amount":"75","user_name":"  Asha  "}}`, wantType: app.EventPointsEarned,
			check: func(t *testing.T, e app.APIEvent) {
				if e.Customer.Phone != "+919876543210" || e.Customer.FirstName != "Asha" || e.Customer.LastName != "" || e.Properties["points.amount"] != "75" {
					t.Errorf("event = %+v; want the data object's customer and amount", e)
				}
			}},
		{name: "top level wins over data", body: `{"topic":"walletreward_create","amount":10,"data":{"amount":99}}`, wantType: app.EventPointsEarned,
			check: func(t *testing.T, e app.APIEvent) {
				if text(e.Properties["points.amount"]) != "10" {
					t.Errorf("points.amount = %v; want 10", e.Properties["points.amount"])
				}
			}},
		{name: "dotted key kept inside nector", body: `{"topic":"walletreward_create","points.amount":5}`, wantType: app.EventPointsEarned,
			check: func(t *testing.T, e app.APIEvent) {
				if _, ok := e.Properties["points.amount"]; ok || text(e.Properties["nector.points_amount"]) != "5" {
					t.Errorf("Properties = %v; want the dotted key as nector.points_amount only", e.Properties)
				}
			}},
		{name: "friend name only on its side", body: `{"topic":"refereenotify_create","referee_name":"Arjun"}`, wantType: EventRefereeNotified,
			check: func(t *testing.T, e app.APIEvent) {
				if _, ok := e.Properties["referral.friend_name"]; ok {
					t.Errorf("referral.friend_name = %v; the referee's own name is not their friend's", e.Properties["referral.friend_name"])
				}
			}},
		{name: "unknown event", body: `{"topic":"lead_create","user_mobile":"9876543210"}`, wantErr: app.ErrNectorUnknownEvent},
		{name: "Nector's own spelling, not mapped", topic: "wallettrasaction_update", body: `{}`, wantErr: app.ErrNectorUnknownEvent},
		{name: "no event name", body: `{"user_mobile":"9876543210"}`, wantErr: app.ErrNectorUnknownEvent},
		{name: "not JSON", topic: "walletreward_create", body: `user_mobile=9876543210`, wantErr: errAny},
		{name: "JSON array", topic: "walletreward_create", body: `[{"user_mobile":"9876543210"}]`, wantErr: errAny},
		{name: "null", topic: "walletreward_create", body: `null`, wantErr: errAny},
		{name: "two values", topic: "walletreward_create", body: `{} {}`, wantErr: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.topic, []byte(tc.body))
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Decode = %v; want no error", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Decode = %+v, %v; want error %v", got, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got.Type != tc.wantType {
				t.Errorf("Type = %q; want %q", got.Type, tc.wantType)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

var errAny = errors.New("any error")

// The decoded event must survive the events API's own job encoding.
func TestDecodedEventRoundTrips(t *testing.T) {
	got, err := Decode("", readTestdata(t, "coupon_create.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(got); err != nil {
		t.Fatalf("json.Marshal(decoded) = %v", err)
	}
}
