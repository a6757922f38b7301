package loyalty_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

type referralHarness struct {
	*engineHarness
	discounts *fakeDiscounts
	counts    *fakeCounts
	code      string
}

var referrer = app.Customer{ID: "ref1", FirstName: "Asha", Phone: "+919800000001", Email: "Asha.K+shop@Gmail.com"}

var referrerAddress = map[string]any{"address1": "12 MG Road", "city": "Pune", "zip": "411001", "country": "IN"}

func newReferralHarness(t *testing.T, start func(*testing.T, loyalty.Program) *engineHarness) *referralHarness {
	t.Helper()
	p := program()
	p.Referral = loyalty.Referral{Enabled: true, ReferrerPoints: 500,
		Friend: loyalty.FriendDiscount{Kind: app.DiscountPercentage, Value: "10", ValidDays: 30}}
	h := &referralHarness{engineHarness: start(t, p)}
	h.discounts, h.counts = withExtras(h.engineHarness)
	h.paid("r-1", referrer, referrerAddress, "")
	pts, err := h.engine.Points(h.ctx, "m1", "ref1", "", 0)
	if err != nil || !strings.HasPrefix(pts.ReferralCode, "REF-") {
		t.Fatalf("Points(ref1) = %+v, %v; want a referral code", pts, err)
	}
	h.code = pts.ReferralCode
	return h
}

func orderEvent(eventType, id string, who app.Customer, address map[string]any, ref string) app.Event {
	o := map[string]any{"id": id, "total_amount": "100", "currency": "INR"}
	if address != nil {
		o["shipping_address"] = address
	}
	if ref != "" {
		o["ref"] = ref
	}
	return app.Event{Type: eventType, Subject: "order:" + id, Customer: who, Properties: map[string]any{"order": o}}
}

func (h *referralHarness) paid(id string, who app.Customer, address map[string]any, ref string) {
	h.t.Helper()
	h.observe(orderEvent(app.EventOrderPaid, id, who, address, ref))
}

func friend(id, name, phone, email string) app.Customer {
	return app.Customer{ID: id, FirstName: name, Phone: phone, Email: email}
}

var friendAddress = map[string]any{"address1": "4 Lake View", "city": "Mumbai", "zip": "400001", "country": "IN"}

// A friend's first paid order with the code rewards both sides once,
// whatever is redelivered or retried; the engine's events carry the
// customer's referral.code.
func TestReferralCompletesOnce(t *testing.T) {
	for name, start := range map[string]func(*testing.T, loyalty.Program) *engineHarness{
		"embedded": newEngineHarness, "redis": newRedisEngineHarness,
	} {
		t.Run(name, func(t *testing.T) {
			h := newReferralHarness(t, start)
			ravi := friend("f1", "Ravi", "+919800000002", "ravi@example.com")
			// The friend's code creation times out: the order's job fails
			// and is retried.
			h.discounts.fail = errors.New("store timeout")
			if err := h.engine.ObserveEvent(h.ctx, h.m, orderEvent(app.EventOrderPaid, "f1-1", ravi, friendAddress, h.code)); err == nil {
				t.Fatal("ObserveEvent with a failing code creation = nil; want the error, so the job retries")
			}
			for range 3 {
				h.paid("f1-1", ravi, friendAddress, h.code)
			}
			h.observe(orderEvent(app.EventOrderPlaced, "f1-1", ravi, friendAddress, h.code)) // reordered: older
			if b := h.balanceOf("ref1"); b != 100+500 {
				t.Fatalf("referrer's balance = %d; want their order's 100 + 500", b)
			}
			if n := h.discounts.codes(); n != 1 {
				t.Fatalf("friend codes = %d; want 1", n)
			}
			done := h.sent.of(app.EventReferralCompleted)
			if len(done) != 1 || done[0].Customer.ID != "ref1" {
				t.Fatalf("referral_completed = %+v; want one to ref1", done)
			}
			if v, _ := done[0].Lookup("referral.friend_name"); v != "Ravi" {
				t.Errorf("referral.friend_name = %v; want Ravi", v)
			}
			if v, _ := done[0].Lookup("points.amount"); v != int64(500) {
				t.Errorf("points.amount = %v; want 500", v)
			}
			coupons := h.sent.of(app.EventCouponCreated)
			if len(coupons) != 1 || coupons[0].Customer.ID != "f1" {
				t.Fatalf("coupon_created = %+v; want one to the friend", coupons)
			}
			code, _ := coupons[0].Lookup("coupon.code")
			if req, ok := h.discounts.created[code.(string)]; !ok || req.Customer.ID != "f1" || req.Value != "10" {
				t.Errorf("friend's code %v = %+v; want 10%% limited to f1", code, req)
			}
			if v, _ := coupons[0].Lookup("coupon.value"); v != "10%" {
				t.Errorf("coupon.value = %v; want 10%%", v)
			}
			if v, _ := coupons[0].Lookup("coupon.expires_on"); v != h.clock.Now().AddDate(0, 0, 30).Format(time.DateOnly) {
				t.Errorf("coupon.expires_on = %v; want 30 days on", v)
			}
			if v, _ := done[0].Lookup("referral.reward"); v != "500 points" {
				t.Errorf("referral.reward = %v; want 500 points", v)
			}
			earned := h.sent.of(app.EventPointsEarned)
			if v, _ := earned[0].Lookup("referral.code"); v != h.code {
				t.Errorf("points_earned referral.code = %v; want %s", v, h.code)
			}
			// A second order of the friend with the code is no new referral.
			h.paid("f1-2", ravi, friendAddress, h.code)
			if b := h.balanceOf("ref1"); b != 600 {
				t.Errorf("referrer's balance after the friend's second order = %d; want 600", b)
			}
			// The referred order cancelled: the referrer's points go back.
			h.observe(orderEvent(app.EventOrderCancelled, "f1-1", ravi, friendAddress, h.code))
			h.observe(orderEvent(app.EventOrderCancelled, "f1-1", ravi, friendAddress, h.code))
			if b := h.balanceOf("ref1"); b != 100 {
				t.Errorf("referrer's balance after the referred order's cancel = %d; want 100", b)
			}
		})
	}
}

// The fraud checks turn a referral down, once per friend, counted with
// the reason; nothing is posted, created or sent for it.
func TestReferralFraudChecks(t *testing.T) {
	h := newReferralHarness(t, newEngineHarness)
	cases := []struct {
		name    string
		run     func()
		outcome string
	}{
		{"same phone", func() {
			h.paid("f2-1", friend("f2", "Maya", "+919800000001", "maya@example.com"), friendAddress, h.code)
		}, loyalty.RejectSamePhone},
		{"same email with a +tag, dots and another case", func() {
			h.paid("f3-1", friend("f3", "Kiran", "+919800000003", "ASHAK+deal@googlemail.com"), friendAddress, h.code)
		}, loyalty.RejectSameEmail},
		{"same shipping address", func() {
			addr := map[string]any{"address1": "12, M.G. Road", "city": "PUNE", "zip": "411 001", "country": "IN"}
			h.paid("f4-1", friend("f4", "Dev", "+919800000004", "dev@example.com"), addr, h.code)
		}, loyalty.RejectSameAddress},
		{"not a first order", func() {
			who := friend("f5", "Lia", "+919800000005", "lia@example.com")
			h.paid("f5-1", who, friendAddress, "")
			h.paid("f5-2", who, friendAddress, h.code)
		}, loyalty.RejectNotFirstOrder},
		{"self referral", func() {
			h.paid("r-2", referrer, referrerAddress, h.code)
		}, loyalty.RejectSelf},
	}
	for _, c := range cases {
		c.run()
		c.run() // redelivered: decided and counted once
		if n := h.counts.get(app.EventReferralCompleted + " skipped.referral_" + c.outcome); n != 1 {
			t.Errorf("%s: count of skipped.referral_%s = %d; want 1 (counts %v)", c.name, c.outcome, n, h.counts.counts)
		}
	}
	if b := h.balanceOf("ref1"); b != 200 {
		t.Errorf("referrer's balance = %d; want their own two orders' 200 and no reward", b)
	}
	if n := h.discounts.calls; n != 0 {
		t.Errorf("code creations = %d; want 0", n)
	}
	if got := h.sent.of(app.EventReferralCompleted); len(got) != 0 {
		t.Errorf("referral_completed = %v; want none", got)
	}
}

// An order placed unpaid and cancelled never completes a referral, not
// even when its payment is delivered late; the friend's next paid order
// is their first and does.
func TestReferralUnpaidThenCancelled(t *testing.T) {
	h := newReferralHarness(t, newEngineHarness)
	noor := friend("f6", "Noor", "+919800000006", "noor@example.com")
	h.observe(orderEvent(app.EventOrderPlaced, "f6-1", noor, friendAddress, h.code))
	h.observe(orderEvent(app.EventOrderCancelled, "f6-1", noor, friendAddress, h.code))
	if got := h.sent.of(app.EventReferralCompleted); len(got) != 0 {
		t.Fatalf("referral_completed after a cancelled unpaid order = %v; want none", got)
	}
	h.paid("f6-1", noor, friendAddress, h.code) // a stale paid, after the cancel
	if b := h.balanceOf("ref1"); b != 100 {
		t.Fatalf("referrer's balance after a late paid of a cancelled order = %d; want 100", b)
	}
	h.paid("f6-2", noor, friendAddress, h.code)
	if got := h.sent.of(app.EventReferralCompleted); len(got) != 1 {
		t.Fatalf("referral_completed after the first paid order = %d; want 1", len(got))
	}
}

// A code that belongs to no one, or an order without one, changes
// nothing.
func TestReferralUnknownCode(t *testing.T) {
	h := newReferralHarness(t, newEngineHarness)
	h.paid("x-1", friend("f7", "Om", "+919800000007", "om@example.com"), friendAddress, "REF-NOSUCHCODE")
	if b := h.balanceOf("ref1"); b != 100 {
		t.Fatalf("referrer's balance = %d; want 100", b)
	}
}

// A redacted referrer's code completes no referral, and their profile is
// gone.
func TestReferralCodeForgottenOnRedact(t *testing.T) {
	h := newReferralHarness(t, newEngineHarness)
	if err := h.engine.RedactLoyalty(h.ctx, h.m, app.CustomerIdentity{CustomerID: "ref1", Phone: referrer.Phone, OrderIDs: []string{"r-1"}}); err != nil {
		t.Fatal(err)
	}
	if v, _, err := h.store.State(h.ctx, "m1", "loyalty:profile:ref1"); err == nil && v != "" {
		t.Errorf("profile after the redaction = %s; want none", v)
	}
	h.paid("z-1", friend("f8", "Ira", "+919800000008", "ira@example.com"), friendAddress, h.code)
	if b := h.balanceOf("ref1"); b != 0 {
		t.Fatalf("redacted referrer's balance = %d; want 0", b)
	}
	if got := h.sent.of(app.EventReferralCompleted); len(got) != 0 {
		t.Fatalf("referral_completed = %v; want none", got)
	}
}
