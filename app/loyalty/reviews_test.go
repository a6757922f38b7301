package loyalty_test

import (
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

func reviewProgram() loyalty.Program {
	p := program()
	p.ReviewRequest = loyalty.ReviewRequest{Enabled: true, After: "7d", Reminders: 2, Every: "10d",
		URL: "https://asha.example/reviews?order={order_number}"}
	return p
}

func delivered(id, number string) app.Event {
	return app.Event{Type: app.EventOrderDelivered, Subject: "order:" + id, Customer: app.Customer{ID: "c1", Phone: "+919876543210"},
		Properties: map[string]any{"order": map[string]any{"id": id, "number": number, "total_amount": "100"}}}
}

// A delivered order is asked for a review 7 days on, reminded 10 days
// later, and not again once the review arrives.
func TestReviewRequestStopsOnReview(t *testing.T) {
	for name, start := range map[string]func(*testing.T, loyalty.Program) *engineHarness{
		"embedded": newEngineHarness, "redis": newRedisEngineHarness,
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, reviewProgram())
			h.observe(delivered("1001", "#1001"))
			h.observe(delivered("1001", "#1001")) // redelivered: the same jobs
			h.clock.Advance(7*24*time.Hour - time.Minute)
			h.runDue()
			if got := h.sent.of(app.EventReviewRequested); len(got) != 0 {
				t.Fatalf("review requests before 7 days = %d; want 0", len(got))
			}
			h.clock.Advance(2 * time.Minute)
			h.runDue()
			got := h.sent.of(app.EventReviewRequested)
			if len(got) != 1 {
				t.Fatalf("review requests after 7 days = %d; want 1", len(got))
			}
			if v, _ := got[0].Lookup("review.url"); v != "https://asha.example/reviews?order=1001" {
				t.Errorf("review.url = %v; want the program's URL for order 1001", v)
			}
			h.clock.Advance(10 * 24 * time.Hour)
			h.runDue()
			if got := h.sent.of(app.EventReviewRequested); len(got) != 2 {
				t.Fatalf("review requests after the first reminder = %d; want 2", len(got))
			}
			h.observe(app.Event{Type: app.EventReviewSubmitted, Subject: "api:rev-1", Customer: app.Customer{ID: "c1"},
				Properties: map[string]any{"review": map[string]any{"order_id": float64(1001), "rating": float64(5)}}})
			h.clock.Advance(10 * 24 * time.Hour)
			h.runDue()
			if got := h.sent.of(app.EventReviewRequested); len(got) != 2 {
				t.Fatalf("review requests after the review = %d; want still 2", len(got))
			}
		})
	}
}

// A review from the customer after the delivery, naming no order, also
// stops the requests; without a URL template the order's status page is
// the link, and all reminders go out when no review comes.
func TestReviewRequestCustomerReviewAndDefaultURL(t *testing.T) {
	p := reviewProgram()
	p.ReviewRequest.URL = ""
	h := newEngineHarness(t, p)
	ev := delivered("2002", "#2002")
	ev.Properties["order"].(map[string]any)["status_url"] = "https://asha.example/orders/2002"
	h.observe(ev)
	h.observe(delivered("3003", "#3003"))
	h.clock.Advance(8 * 24 * time.Hour)
	h.runDue()
	got := h.sent.of(app.EventReviewRequested)
	if len(got) != 2 {
		t.Fatalf("review requests = %d; want one per order", len(got))
	}
	for _, g := range got {
		if id, _ := g.Lookup("order.id"); id == "2002" {
			if v, _ := g.Lookup("review.url"); v != "https://asha.example/orders/2002" {
				t.Errorf("review.url = %v; want the status page", v)
			}
		}
	}
	h.observe(app.Event{Type: app.EventReviewSubmitted, Subject: "api:rev-2", Customer: app.Customer{ID: "c1"}})
	h.clock.Advance(30 * 24 * time.Hour)
	h.runDue()
	if got := h.sent.of(app.EventReviewRequested); len(got) != 2 {
		t.Fatalf("review requests after the customer's review = %d; want still 2", len(got))
	}
	// A later delivery is asked again, with both reminders.
	h.observe(delivered("4004", "#4004"))
	for range 3 {
		h.clock.Advance(10 * 24 * time.Hour)
		h.runDue()
	}
	if got := h.sent.of(app.EventReviewRequested); len(got) != 5 {
		t.Fatalf("review requests = %d; want 2 + the new order's request and 2 reminders", len(got))
	}
}

// Milestones of order count and lifetime spend are sent once each,
// alongside the tier's.
func TestMilestonesOnce(t *testing.T) {
	p := program()
	p.Tiers = []loyalty.Tier{{Name: "Gold", Threshold: 250, Basis: loyalty.BasisSpend, Period: loyalty.PeriodLifetime, Multiplier: 1}}
	p.Milestones = []loyalty.Milestone{{Name: "Third order", Orders: 3}, {Name: "Big spender", Spend: 1000}}
	h := newEngineHarness(t, p)
	h.order(app.EventOrderPaid, "1", "100")
	h.order(app.EventOrderPaid, "2", "200")
	h.order(app.EventOrderPaid, "2", "200")
	if got := h.sent.of(app.EventMilestoneReached); len(got) != 1 {
		t.Fatalf("milestones after two orders = %d; want the tier's only", len(got))
	}
	h.order(app.EventOrderPaid, "3", "100")
	h.order(app.EventOrderPaid, "3", "100")
	h.order(app.EventOrderPaid, "4", "700")
	h.order(app.EventOrderPaid, "5", "700")
	names := map[any]int{}
	for _, ev := range h.sent.of(app.EventMilestoneReached) {
		v, _ := ev.Lookup("milestone.name")
		names[v]++
	}
	if len(names) != 3 || names["Third order"] != 1 || names["Big spender"] != 1 || names["Gold"] != 1 {
		t.Fatalf("milestones = %v; want Gold, Third order and Big spender once each", names)
	}
}

// A milestone whose send failed is sent by the retry, once.
func TestMilestoneRetried(t *testing.T) {
	p := program()
	p.Milestones = []loyalty.Milestone{{Name: "First", Orders: 1}}
	h := newEngineHarness(t, p)
	h.sent.failOnce = app.EventMilestoneReached
	ev := app.Event{Type: app.EventOrderPaid, Customer: app.Customer{ID: "c1"},
		Properties: map[string]any{"order": map[string]any{"id": "9", "total_amount": "150"}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err == nil {
		t.Fatal("ObserveEvent with a failing send = nil; want the error")
	}
	h.order(app.EventOrderPaid, "9", "150")
	h.order(app.EventOrderPaid, "9", "150")
	if got := h.sent.of(app.EventMilestoneReached); len(got) != 1 {
		t.Fatalf("milestones = %d; want 1", len(got))
	}
}

// The stats count each order asked for a review once, and a review of it
// once, however often the request's job and the review arrive; a review
// of an order never asked is not an answer.
func TestReviewOutcomesCountedOnce(t *testing.T) {
	h := newEngineHarness(t, reviewProgram())
	_, counts := withExtras(h)
	h.observe(delivered("1001", "#1001"))
	h.clock.Advance(7*24*time.Hour + time.Minute)
	h.runDue()
	review := func(order float64) app.Event {
		return app.Event{Type: app.EventReviewSubmitted, Subject: "api:rev", Customer: app.Customer{ID: "c1"},
			Properties: map[string]any{"review": map[string]any{"order_id": order, "rating": float64(5)}}}
	}
	h.observe(review(1001))
	h.observe(review(1001))
	h.observe(review(2002)) // never asked
	for outcome, want := range map[string]int{app.LoyaltyCountReviewsAsked: 1, app.LoyaltyCountReviewsAnswered: 1} {
		if got := counts.get(app.LoyaltySubject + " " + outcome); got != want {
			t.Errorf("%s = %d; want %d", outcome, got, want)
		}
	}
}
