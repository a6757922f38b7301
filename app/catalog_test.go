package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// The loyalty engine's variables are offered for its events, and not for
// an order's.
func TestVariablesForLoyaltyEvents(t *testing.T) {
	paths := func(event string) []string {
		var out []string
		for _, v := range app.VariablesFor(event) {
			out = append(out, v.Path)
		}
		return out
	}
	for event, want := range map[string][]string{
		app.EventPointsEarned:     {"points.amount", "points.balance"},
		app.EventPointsExpiring:   {"points.amount", "points.expires_on", "points.balance"},
		app.EventMilestoneReached: {"tier.name"},
		app.EventCartAbandoned:    {"cart.recovery_url", "coupon.code", "coupon.value"},
	} {
		got := paths(event)
		for _, p := range want {
			if !slices.Contains(got, p) {
				t.Errorf("VariablesFor(%s) = %v; lacks %s", event, got, p)
			}
		}
	}
	if got := paths(app.EventOrderPaid); slices.Contains(got, "tier.name") {
		t.Errorf("VariablesFor(order.paid) = %v; want no tier.name", got)
	}
	if got := paths(app.EventCartAbandoned); slices.Contains(got, "coupon.expires_on") {
		t.Errorf("VariablesFor(cart.abandoned) = %v; want no coupon.expires_on, which a step's code does not carry", got)
	}
	if coupon, _ := app.SampleProperties(app.Merchant{Country: "IN"}, app.EventCartAbandoned, time.Now())["coupon"].(map[string]any); coupon["code"] == nil {
		t.Error("sample cart.abandoned properties lack the step's coupon.code for previews")
	}
	sample := app.SampleProperties(app.Merchant{Country: "IN"}, app.EventMilestoneReached, time.Now())
	if tier, _ := sample["tier"].(map[string]any); tier["name"] != "Gold" {
		t.Errorf("sample milestone properties = %v; want tier.name Gold", sample)
	}
}
