package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// fakeDiscounts is the store's discount codes: one code per CodeFor
// source, and a store that holds each code once.
type fakeDiscounts struct {
	mu      sync.Mutex
	created map[string]app.DiscountRequest
	calls   int
	fail    error // the next CreateDiscount fails with it
}

func (f *fakeDiscounts) CodeFor(m app.Merchant, prefix, source string) string {
	return prefix + "-" + strings.ToUpper(shortSum(m.ID+"|"+source))
}

func shortSum(s string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return fmt.Sprintf("%012x", h)[:12]
}

func (f *fakeDiscounts) CreateDiscount(_ context.Context, _ app.Merchant, r app.DiscountRequest) (app.DiscountCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.fail; err != nil {
		f.fail = nil
		return app.DiscountCode{}, err
	}
	if f.created == nil {
		f.created = map[string]app.DiscountRequest{}
	}
	f.created[r.Code] = r
	return app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, Currency: r.Currency, EndsAt: r.EndsAt}, nil
}

func (f *fakeDiscounts) codes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.created)
}

type fakeCounts struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *fakeCounts) Count(_, subject, outcome string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[subject+" "+outcome] += int(n)
}

func (c *fakeCounts) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

// withExtras rebuilds the harness's engine with discount codes and
// counts, on the same store and program.
func withExtras(h *engineHarness) (*fakeDiscounts, *fakeCounts) {
	d, c := &fakeDiscounts{}, &fakeCounts{}
	h.engine = loyalty.NewEngine(loyalty.Options{Ledger: h.ledger, Data: h.store, Queue: h.store, Merchants: oneMerchant{h.m},
		Sender: h.sent, Discounts: d, Counts: c, Now: h.clock.Now})
	return d, c
}

func (h *engineHarness) observe(ev app.Event) {
	h.t.Helper()
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		h.t.Fatalf("ObserveEvent(%s %s) = %v", ev.Type, ev.Subject, err)
	}
}

func (h *engineHarness) balanceOf(customer string) int64 {
	h.t.Helper()
	b, err := h.ledger.Balance(h.ctx, "m1", customer)
	if err != nil {
		h.t.Fatal(err)
	}
	return b.Points
}

func pushed(eventType, id, customer string, at time.Time) app.Event {
	return app.Event{Type: eventType, Subject: "api:" + id, Customer: app.Customer{ID: customer, Phone: "+919876543210"}, OccurredAt: at}
}

// A custom event earns at most twice a day in the merchant's time zone:
// a third on the same day earns nothing, a redelivery never posts
// again, and the next local day starts afresh.
func TestActionCapOverDayBoundary(t *testing.T) {
	for name, start := range map[string]func(*testing.T, loyalty.Program) *engineHarness{
		"embedded": newEngineHarness, "redis": newRedisEngineHarness,
	} {
		t.Run(name, func(t *testing.T) {
			p := program()
			p.Actions = []loyalty.Action{{Name: "quiz", On: loyalty.OnCustom, Event: "quiz.completed", Points: 10, Limit: 2, Per: loyalty.PerDay}}
			h := start(t, p)
			h.m.Timezone = "Asia/Kolkata"
			withExtras(h)
			// 18:00 UTC is 23:30 in Kolkata; 18:31 UTC is past its midnight.
			day := time.Date(2026, 3, 1, 18, 0, 0, 0, time.UTC)
			h.observe(pushed("quiz.completed", "q1", "c1", day))
			h.observe(pushed("quiz.completed", "q1", "c1", day)) // redelivered
			h.observe(pushed("quiz.completed", "q2", "c1", day.Add(10*time.Minute)))
			h.observe(pushed("quiz.completed", "q3", "c1", day.Add(20*time.Minute))) // capped
			h.observe(pushed("quiz.completed", "q2", "c1", day.Add(10*time.Minute))) // redelivered
			if b := h.balanceOf("c1"); b != 20 {
				t.Fatalf("balance after four quizzes on one day = %d; want 20 (two, capped)", b)
			}
			h.observe(pushed("quiz.completed", "q4", "c1", day.Add(31*time.Minute))) // the next local day
			h.observe(pushed("quiz.completed", "q1", "c1", day))                     // an old one again
			if b := h.balanceOf("c1"); b != 30 {
				t.Fatalf("balance after a quiz the next day = %d; want 30", b)
			}
			if got := h.sent.of(app.EventPointsEarned); len(got) != 3 {
				t.Errorf("points_earned events = %d; want 3", len(got))
			}
			// Another customer has caps of their own.
			h.observe(pushed("quiz.completed", "q5", "c2", day))
			if b := h.balanceOf("c2"); b != 10 {
				t.Errorf("c2's balance = %d; want 10", b)
			}
		})
	}
}

// Monthly and yearly caps turn over at the calendar's boundaries.
func TestActionCapMonthAndYear(t *testing.T) {
	p := program()
	p.Actions = []loyalty.Action{
		{Name: "review", On: loyalty.OnReview, Points: 50, Limit: 1, Per: loyalty.PerMonth},
		{Name: "birthday", On: loyalty.OnBirthday, Points: 200},
	}
	h := newEngineHarness(t, p)
	withExtras(h)
	jan31 := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	h.observe(pushed(app.EventReviewSubmitted, "r1", "c1", jan31))
	h.observe(pushed(app.EventReviewSubmitted, "r2", "c1", jan31.Add(30*time.Minute)))
	h.observe(pushed(app.EventReviewSubmitted, "r3", "c1", jan31.Add(2*time.Hour))) // February
	if b := h.balanceOf("c1"); b != 100 {
		t.Fatalf("balance after reviews across a month = %d; want 100", b)
	}
	dec31 := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	h.observe(pushed(app.EventCustomerBirthday, "b1", "c1", dec31))
	h.observe(pushed(app.EventCustomerBirthday, "b2", "c1", dec31.Add(time.Hour))) // once a year
	h.observe(pushed(app.EventCustomerBirthday, "b3", "c1", dec31.Add(24*time.Hour)))
	if b := h.balanceOf("c1"); b != 500 {
		t.Fatalf("balance after birthdays across a year = %d; want 100 + 2×200", b)
	}
}

// Concurrent deliveries of many occurrences never pass the cap, and
// concurrent copies of one occurrence post it once.
func TestActionCapUnderRaces(t *testing.T) {
	for name, start := range map[string]func(*testing.T, loyalty.Program) *engineHarness{
		"embedded": newEngineHarness, "redis": newRedisEngineHarness,
	} {
		t.Run(name, func(t *testing.T) {
			p := program()
			p.Actions = []loyalty.Action{
				{Name: "share", On: loyalty.OnCustom, Event: "social.shared", Points: 5, Limit: 3, Per: loyalty.PerLifetime},
				{Name: "visit", On: loyalty.OnCustom, Event: "store.visited", Points: 1},
			}
			h := start(t, p)
			withExtras(h)
			at := h.clock.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 20 {
				wg.Go(func() {
					errs <- h.engine.ObserveEvent(h.ctx, h.m, pushed("social.shared", fmt.Sprint("s", i), "c1", at))
				})
				wg.Go(func() {
					errs <- h.engine.ObserveEvent(h.ctx, h.m, pushed("store.visited", "v1", "c1", at))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if b := h.balanceOf("c1"); b != 16 {
				t.Fatalf("balance = %d; want 3×5 shares + 1 visit", b)
			}
		})
	}
}

// A signup earns once, a first paid order earns its bonus once, and a
// second order earns none.
func TestActionSignupAndFirstOrder(t *testing.T) {
	p := program()
	p.Actions = []loyalty.Action{
		{Name: "signup", On: loyalty.OnSignup, Points: 100},
		{Name: "first", On: loyalty.OnFirstOrder, Points: 250},
	}
	h := newEngineHarness(t, p)
	withExtras(h)
	signup := app.Event{Type: app.EventCustomerCreated, Subject: "customer:c1", Customer: app.Customer{ID: "c1", Phone: "+919876543210"}}
	h.observe(signup)
	signup.Subject = "customer:c1:again" // even under another subject: once in a lifetime
	h.observe(signup)
	h.order(app.EventOrderPaid, "1", "100")
	h.order(app.EventOrderPaid, "1", "100")
	h.order(app.EventOrderPaid, "2", "100")
	if b := h.balanceOf("c1"); b != 100+250+200 {
		t.Fatalf("balance = %d; want signup 100 + first order 250 + orders 200", b)
	}
}

// Actions of a program that is off earn nothing; an engine event
// pushed in under a loyalty.* name is never an action.
func TestActionOffAndLoyaltyEventsIgnored(t *testing.T) {
	p := program()
	p.Enabled = false
	p.Actions = []loyalty.Action{{Name: "quiz", On: loyalty.OnCustom, Event: "quiz.completed", Points: 10}}
	h := newEngineHarness(t, p)
	withExtras(h)
	h.observe(pushed("quiz.completed", "q1", "c1", h.clock.Now()))
	h.observe(pushed(app.EventPointsEarned, "x", "c1", h.clock.Now()))
	if b := h.balanceOf("c1"); b != 0 {
		t.Fatalf("balance = %d; want 0", b)
	}
}

// The program's actions are validated with their fields named.
func TestActionValidation(t *testing.T) {
	h := newEngineHarness(t, program())
	p := program()
	p.Actions = []loyalty.Action{
		{Name: "Bad Name", On: loyalty.OnCustom, Event: "order.paid", Points: 0, Limit: 99, Per: "week"},
		{Name: "ok", On: "tweet", Points: 1},
	}
	p.Milestones = []loyalty.Milestone{{Name: "both", Orders: 2, Spend: 10}}
	p.ReviewRequest = loyalty.ReviewRequest{Enabled: true, After: "7d", Reminders: 3, Every: "1h", URL: "ftp://x"}
	p.Referral = loyalty.Referral{Enabled: true, ReferrerPoints: -1, Friend: loyalty.FriendDiscount{Kind: "free", Value: "0", ValidDays: 0}}
	_, err := h.engine.PutProgram(h.ctx, "m1", p)
	var ve *app.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("PutProgram = %v; want a validation error", err)
	}
	for _, f := range []string{
		"actions[0].name", "actions[0].event", "actions[0].points", "actions[0].limit", "actions[0].per", "actions[1].on",
		"milestones[0].orders", "review_request.reminders", "review_request.every", "review_request.url",
		"referral.referrer_points", "referral.friend.kind", "referral.friend.value", "referral.friend.valid_days",
	} {
		if ve.Fields[f] == "" {
			t.Errorf("fields[%s] missing; got %v", f, ve.Fields)
		}
	}
}

// A program that leaves referrals and review requests off saves
// whatever those hold, as a Go literal or an old form leaves them.
func TestProgramOffPartsNotValidated(t *testing.T) {
	h := newEngineHarness(t, program())
	p := program()
	p.Referral, p.ReviewRequest = loyalty.Referral{}, loyalty.ReviewRequest{}
	if _, err := h.engine.PutProgram(h.ctx, "m1", p); err != nil {
		t.Fatalf("PutProgram with referrals and reviews off and empty = %v; want it saved", err)
	}
}

// The cap and the once-per-occurrence promise hold when the slots'
// entries are older than the newest page the engine reads first.
func TestActionCapBeyondTheNewestPage(t *testing.T) {
	p := program()
	p.Actions = []loyalty.Action{{Name: "share", On: loyalty.OnCustom, Event: "social.shared", Points: 5, Limit: 3, Per: loyalty.PerLifetime}}
	h := newEngineHarness(t, p)
	withExtras(h)
	at := h.clock.Now()
	h.observe(pushed("social.shared", "s1", "c1", at))
	h.observe(pushed("social.shared", "s2", "c1", at))
	// 300 newer entries push the two slots off the first page.
	for batch := range 3 {
		var entries []loyalty.Entry
		for i := range 100 {
			entries = append(entries, loyalty.Entry{Kind: loyalty.KindAdjust, Source: fmt.Sprintf("filler:%d:%d", batch, i), Points: 1})
		}
		if _, err := h.ledger.Post(h.ctx, "m1", "c1", entries); err != nil {
			t.Fatal(err)
		}
	}
	h.observe(pushed("social.shared", "s1", "c1", at)) // redelivered: finds its slot by posting
	h.observe(pushed("social.shared", "s3", "c1", at)) // the third slot
	h.observe(pushed("social.shared", "s4", "c1", at)) // capped
	h.observe(pushed("social.shared", "s3", "c1", at)) // redelivered: on the first page now
	if b := h.balanceOf("c1"); b != 300+15 {
		t.Fatalf("balance = %d; want 300 + 3×5", b)
	}
}
