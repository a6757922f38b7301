package loyalty_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

type oneMerchant struct{ m app.Merchant }

func (o oneMerchant) Merchant(_ context.Context, id string) (app.Merchant, error) {
	if id != o.m.ID {
		return app.Merchant{}, app.ErrNotFound
	}
	return o.m, nil
}

// sentEvents records what the engine sends, keeping the exactly-once
// promise of the real path: one event per type and subject.
type sentEvents struct {
	mu     sync.Mutex
	seen   map[string]bool
	events []app.Event
	// failOnce fails the first send of this event type.
	failOnce string
}

func (s *sentEvents) ProcessEvents(_ context.Context, _ app.Merchant, events []app.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		if e.Type == s.failOnce {
			s.failOnce = ""
			return errors.New("store down")
		}
		if s.seen[e.Type+e.Subject] {
			continue
		}
		s.seen[e.Type+e.Subject] = true
		s.events = append(s.events, e)
	}
	return nil
}

func (s *sentEvents) of(eventType string) []app.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []app.Event
	for _, e := range s.events {
		if e.Type == eventType {
			out = append(out, e)
		}
	}
	return out
}

type engineHarness struct {
	t      *testing.T
	ctx    context.Context
	clock  *fakeClock
	store  app.Store
	ledger loyalty.Ledger
	engine *loyalty.Engine
	sent   *sentEvents
	m      app.Merchant
}

func newEngineHarness(t *testing.T, p loyalty.Program) *engineHarness {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "sb.db"), embedded.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return startEngine(t, p, clock, st, st.Ledger())
}

// newRedisEngineHarness runs the engine on a real Redis; the queue's
// server clock moves with the fake clock.
func newRedisEngineHarness(t *testing.T, p loyalty.Program) *engineHarness {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	// Redis decides what is due on its own clock: the fake one starts at
	// the real time and moves the server's by its offset.
	start := time.Now().UTC()
	clock := &fakeClock{t: start}
	st := redisstore.New(rdb, redisstore.Options{Now: clock.Now, ServerClockOffset: func() time.Duration { return clock.Now().Sub(start) }})
	t.Cleanup(func() { st.Close() })
	return startEngine(t, p, clock, st, st.Ledger())
}

func startEngine(t *testing.T, p loyalty.Program, clock *fakeClock, st app.Store, ledger loyalty.Ledger) *engineHarness {
	t.Helper()
	h := &engineHarness{t: t, ctx: context.Background(), clock: clock, store: st, ledger: ledger, sent: &sentEvents{seen: map[string]bool{}},
		m: app.Merchant{ID: "m1", Country: "IN", Status: app.MerchantActive}}
	h.engine = loyalty.NewEngine(loyalty.Options{Ledger: ledger, Data: st, Queue: st, Merchants: oneMerchant{h.m}, Sender: h.sent, Now: clock.Now})
	if _, err := h.engine.PutProgram(h.ctx, "m1", p); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *engineHarness) order(eventType, id, total string) {
	h.t.Helper()
	ev := app.Event{Type: eventType, Subject: "order:" + id,
		Customer:   app.Customer{ID: "c1", Phone: "+919876543210"},
		Properties: map[string]any{"order": map[string]any{"id": id, "total_amount": total}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		h.t.Fatalf("ObserveEvent(%s %s) = %v", eventType, id, err)
	}
}

func (h *engineHarness) refund(order, refund, amount string) {
	h.t.Helper()
	ev := app.Event{Type: app.EventOrderRefunded, Subject: "order:" + order,
		Properties: map[string]any{"order": map[string]any{"id": order}, "refund": map[string]any{"id": refund, "amount_raw": amount}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		h.t.Fatalf("refund = %v", err)
	}
}

// runDue runs every job due by now through the engine's handlers.
func (h *engineHarness) runDue() int {
	h.t.Helper()
	handlers := h.engine.JobHandlers()
	n := 0
	for {
		jobs, err := h.store.ClaimJobs(h.ctx, time.Minute, 10)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(jobs) == 0 {
			return n
		}
		for _, j := range jobs {
			if err := handlers[j.Kind](h.ctx, j); err != nil {
				h.t.Fatalf("job %s: %v", j.Kind, err)
			}
			if err := h.store.Ack(h.ctx, j); err != nil {
				h.t.Fatal(err)
			}
			n++
		}
	}
}

func (h *engineHarness) balance() loyalty.Balance {
	h.t.Helper()
	b, err := h.ledger.Balance(h.ctx, "m1", "c1")
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func program() loyalty.Program {
	p := loyalty.DefaultProgram()
	p.Enabled = true
	return p
}

// A paid order delivered twice earns once and tells the customer once.
func TestEngineEarnsOnce(t *testing.T) {
	p := program()
	p.Earn.PointsPerUnit = 0.5
	h := newEngineHarness(t, p)
	h.order(app.EventOrderPaid, "1001", "1299.90")
	h.order(app.EventOrderPaid, "1001", "1299.90")
	if b := h.balance(); b.Points != 649 || b.Entries != 1 {
		t.Fatalf("balance = %+v; want 649 points in 1 entry", b)
	}
	earned := h.sent.of(app.EventPointsEarned)
	if len(earned) != 1 {
		t.Fatalf("points_earned events = %d; want 1", len(earned))
	}
	if v, _ := earned[0].Lookup("points.amount"); v != int64(649) {
		t.Errorf("points.amount = %v; want 649", v)
	}
	if v, _ := earned[0].Lookup("points.balance"); v != int64(649) {
		t.Errorf("points.balance = %v; want 649", v)
	}
	// Fulfilled does not earn when the program earns on payment.
	h.order(app.EventOrderShipped, "1002", "500")
	if b := h.balance(); b.Points != 649 {
		t.Errorf("balance after a shipped order = %d; want 649", b.Points)
	}
}

// Pending points approve after N days; a refund before approval drops its
// share from pending, one after approval takes back its share.
func TestEnginePendingApproveAndRefunds(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testPendingApproveAndRefunds(t, newEngineHarness) })
	t.Run("redis", func(t *testing.T) { testPendingApproveAndRefunds(t, newRedisEngineHarness) })
}

func testPendingApproveAndRefunds(t *testing.T, start func(*testing.T, loyalty.Program) *engineHarness) {
	p := program()
	p.ApproveAfter = "7d"
	h := start(t, p)
	h.order(app.EventOrderPaid, "1", "1000")
	h.order(app.EventOrderPaid, "2", "1000")
	if b := h.balance(); b.Points != 0 || b.Pending != 2000 {
		t.Fatalf("balance = %+v; want 2000 pending", b)
	}
	h.refund("1", "r1", "250") // before approval: a quarter of order 1 dropped
	if n := h.runDue(); n != 0 {
		t.Fatalf("ran %d jobs before approval; want 0", n)
	}
	if got := h.sent.of(app.EventPointsEarned); len(got) != 0 {
		t.Fatalf("points_earned before approval: %v", got)
	}
	h.clock.Advance(7*24*time.Hour + time.Second)
	h.runDue()
	if b := h.balance(); b.Points != 1750 || b.Pending != 0 {
		t.Fatalf("balance after approval = %+v; want 1750 spendable", b)
	}
	if got := h.sent.of(app.EventPointsEarned); len(got) != 2 {
		t.Fatalf("points_earned after approval = %d; want 2", len(got))
	}
	h.refund("2", "r2", "100") // after approval: 10% of 1000 points
	h.refund("2", "r2", "100") // redelivered
	if b := h.balance(); b.Points != 1650 {
		t.Fatalf("balance after a partial refund = %d; want 1650", b.Points)
	}
	h.order(app.EventOrderCancelled, "2", "1000") // takes the rest of order 2
	if b := h.balance(); b.Points != 750 {
		t.Fatalf("balance after cancel = %d; want 750", b.Points)
	}
	if got := h.sent.of(app.EventPointsReversed); len(got) != 2 {
		t.Errorf("points_reversed events = %d; want 2", len(got))
	}
}

// Entering a tier sends one milestone and multiplies later earns.
func TestEngineTier(t *testing.T) {
	p := program()
	p.Tiers = []loyalty.Tier{{Name: "Gold", Threshold: 1000, Basis: loyalty.BasisSpend, Period: loyalty.PeriodRollingYear, Multiplier: 2}}
	h := newEngineHarness(t, p)
	h.order(app.EventOrderPaid, "1", "600")
	h.order(app.EventOrderPaid, "2", "600") // reaches Gold
	h.order(app.EventOrderPaid, "3", "100") // earns double
	if b := h.balance(); b.Points != 1400 {
		t.Fatalf("balance = %d; want 600+600+200", b.Points)
	}
	ms := h.sent.of(app.EventMilestoneReached)
	if len(ms) != 1 {
		t.Fatalf("milestones = %d; want 1", len(ms))
	}
	if v, _ := ms[0].Lookup("tier.name"); v != "Gold" {
		t.Errorf("tier.name = %v; want Gold", v)
	}
	pts, err := h.engine.Points(h.ctx, "m1", "c1", "", 0)
	if err != nil || pts.Tier != "Gold" {
		t.Errorf("Points = %+v, %v; want tier Gold", pts, err)
	}
}

// A reminder fires for a lot that still holds points, is skipped for one
// that was spent, and the sweep expires what is left.
func TestEngineRemindersAndSweep(t *testing.T) {
	p := program()
	p.Expiry = "60d"
	p.ExpiryReminders = []string{"30d"}
	h := newEngineHarness(t, p)
	h.order(app.EventOrderPaid, "1", "100")
	h.clock.Advance(24 * time.Hour)
	h.order(app.EventOrderPaid, "2", "100")
	h.runDue() // the first sweeps find nothing due
	// Spend order 1's lot (FIFO: it expires first).
	if _, err := h.engine.Adjust(h.ctx, "m1", "c1", loyalty.Adjustment{Points: -100, Reason: "gift"}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30*24*time.Hour + time.Minute)
	h.runDue()
	rem := h.sent.of(app.EventPointsExpiring)
	if len(rem) != 1 {
		t.Fatalf("reminders = %d; want 1 (order 2's lot only)", len(rem))
	}
	if v, _ := rem[0].Lookup("points.amount"); v != int64(100) {
		t.Errorf("points.amount = %v; want 100", v)
	}
	if v, _ := rem[0].Lookup("points.expires_on"); v != "2026-05-01" {
		t.Errorf("points.expires_on = %v; want 2026-05-01", v)
	}
	h.clock.Advance(31 * 24 * time.Hour)
	h.runDue()
	if b := h.balance(); b.Points != 0 {
		t.Fatalf("balance after the sweep = %d; want 0", b.Points)
	}
	entries, _, err := h.ledger.Entries(h.ctx, "m1", "c1", loyalty.Page{})
	if err != nil || entries[0].Kind != loyalty.KindExpire {
		t.Fatalf("newest entry = %+v, %v; want an expire", entries[0], err)
	}
}

// An adjustment below zero is refused with the field.
func TestEngineAdjustRefused(t *testing.T) {
	h := newEngineHarness(t, program())
	_, err := h.engine.Adjust(h.ctx, "m1", "+919876543210", loyalty.Adjustment{Points: -1, Reason: "x"})
	var ve *app.ValidationError
	if !errorsAs(err, &ve) || ve.Fields["points"] == "" {
		t.Fatalf("Adjust below zero = %v; want a points validation error", err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// A milestone whose send failed is sent by the order event's retry,
// which finds the earn already posted.
func TestEngineMilestoneSurvivesAFailedSend(t *testing.T) {
	p := program()
	p.Tiers = []loyalty.Tier{{Name: "Silver", Threshold: 100, Basis: loyalty.BasisPoints, Period: loyalty.PeriodLifetime, Multiplier: 1}}
	h := newEngineHarness(t, p)
	h.sent.failOnce = app.EventMilestoneReached
	ev := app.Event{Type: app.EventOrderPaid, Customer: app.Customer{ID: "c1"},
		Properties: map[string]any{"order": map[string]any{"id": "9", "total_amount": "150"}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err == nil {
		t.Fatal("ObserveEvent with a failing send = nil; want the error, so the job retries")
	}
	h.order(app.EventOrderPaid, "9", "150") // the retry
	h.order(app.EventOrderPaid, "9", "150") // and a redelivery
	if got := h.sent.of(app.EventMilestoneReached); len(got) != 1 {
		t.Fatalf("milestones = %d; want 1", len(got))
	}
	if b := h.balance(); b.Points != 150 {
		t.Errorf("balance = %d; want 150", b.Points)
	}
}

// A guest's points, earned under their phone, move to their account when
// they order with one, once however often the order is delivered.
func TestEngineGuestKeepsPoints(t *testing.T) {
	h := newEngineHarness(t, program())
	guest := app.Event{Type: app.EventOrderPaid, Customer: app.Customer{Phone: "+919876543210"},
		Properties: map[string]any{"order": map[string]any{"id": "g1", "total_amount": "300"}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, guest); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		h.order(app.EventOrderPaid, "a1", "200") // c1 with the same phone
	}
	if b := h.balance(); b.Points != 500 {
		t.Fatalf("account balance = %d; want 300 moved + 200 earned", b.Points)
	}
	phone, err := h.ledger.Balance(h.ctx, "m1", "+919876543210")
	if err != nil || phone.Points != 0 {
		t.Fatalf("guest balance = %+v, %v; want 0", phone, err)
	}
	// A crash after the move out: the next order posts the move in.
	guest.Properties = map[string]any{"order": map[string]any{"id": "g2", "total_amount": "50"}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, guest); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ledger.Post(h.ctx, "m1", "+919876543210", []loyalty.Entry{{Kind: loyalty.KindAdjust, Source: "merge-out:+919876543210:4", Points: -50}}); err != nil {
		t.Fatal(err)
	}
	h.order(app.EventOrderPaid, "a2", "10")
	if b := h.balance(); b.Points != 560 {
		t.Fatalf("account balance = %d; want 500 + 50 repaired + 10", b.Points)
	}
}

// A privacy export holds every ledger of the customer's keys, and nothing
// for a customer the engine never saw.
func TestEngineExport(t *testing.T) {
	h := newEngineHarness(t, program())
	h.order(app.EventOrderPaid, "1", "100")
	got, err := h.engine.ExportLoyalty(h.ctx, h.m, app.CustomerIdentity{CustomerID: "c1", Phone: "+919876543210"})
	if err != nil {
		t.Fatal(err)
	}
	ledgers, ok := got.([]loyalty.ExportedLedger)
	if !ok || len(ledgers) != 1 || ledgers[0].Balance != 100 || len(ledgers[0].Entries) != 1 || ledgers[0].Entries[0].Source != "order:1:earn" {
		t.Fatalf("export = %#v; want c1's ledger with its earn", got)
	}
	none, err := h.engine.ExportLoyalty(h.ctx, h.m, app.CustomerIdentity{Phone: "+911111111111"})
	if err != nil || none != nil {
		t.Fatalf("export of a stranger = %v, %v; want nil", none, err)
	}
}

// Switching the program off stops earning, not the reversal of what its
// orders earned.
func TestEngineProgramOffStillReverses(t *testing.T) {
	h := newEngineHarness(t, program())
	h.order(app.EventOrderPaid, "1", "100")
	off := program()
	off.Enabled = false
	if _, err := h.engine.PutProgram(h.ctx, "m1", off); err != nil {
		t.Fatal(err)
	}
	h.order(app.EventOrderPaid, "2", "100")
	if b := h.balance(); b.Points != 100 {
		t.Fatalf("balance with the program off = %d; want 100 (order 2 earns nothing)", b.Points)
	}
	h.order(app.EventOrderCancelled, "1", "100")
	if b := h.balance(); b.Points != 0 {
		t.Fatalf("balance after cancelling order 1 = %d; want 0", b.Points)
	}
}

// customers/redact takes every loyalty record of the customer, on both
// stores: ledgers under each key, tier standing, order records.
func TestEngineRedact(t *testing.T) {
	for name, start := range map[string]func(*testing.T, loyalty.Program) *engineHarness{
		"embedded": newEngineHarness, "redis": newRedisEngineHarness,
	} {
		t.Run(name, func(t *testing.T) {
			h := start(t, program())
			h.order(app.EventOrderPaid, "1", "100")
			h.order(app.EventOrderPaid, "2", "40")
			who := app.CustomerIdentity{CustomerID: "c1", Phone: "+919876543210", Email: "Riya@Example.com", OrderIDs: []string{"1", "2"}}
			if x, err := h.engine.ExportLoyalty(h.ctx, h.m, who); err != nil || x == nil {
				t.Fatalf("export before the redaction = %v, %v; want the ledger", x, err)
			}
			for _, key := range []string{"loyalty:order:1", "loyalty:standing:c1"} {
				if v, _, err := h.store.State(h.ctx, "m1", key); err != nil || v == "" {
					t.Fatalf("state %s before the redaction = %q, %v; want it kept", key, v, err)
				}
			}
			if err := h.engine.RedactLoyalty(h.ctx, h.m, who); err != nil {
				t.Fatal(err)
			}
			if x, err := h.engine.ExportLoyalty(h.ctx, h.m, who); err != nil || x != nil {
				t.Fatalf("export after the redaction = %#v, %v; want nothing", x, err)
			}
			for _, key := range []string{"c1", "+919876543210"} {
				if b, _ := h.ledger.Balance(h.ctx, "m1", key); b != (loyalty.Balance{}) {
					t.Errorf("%s's balance after the redaction = %+v; want none", key, b)
				}
			}
			for _, key := range []string{"loyalty:order:1", "loyalty:order:2", "loyalty:standing:c1"} {
				if v, _, err := h.store.State(h.ctx, "m1", key); err == nil && v != "" {
					t.Errorf("state %s survives the redaction: %s", key, v)
				}
			}
			// A refund of a redacted order finds nothing to take back.
			h.refund("1", "r1", "50")
			if b := h.balance(); b != (loyalty.Balance{}) {
				t.Errorf("balance after a late refund = %+v; want none", b)
			}
			if err := h.engine.RedactLoyalty(h.ctx, h.m, who); err != nil {
				t.Errorf("a second redaction = %v; want nothing to do", err)
			}
		})
	}
}

// A program that excludes shipping and tax earns on the goods alone, from
// the amounts the platform adapters put on the order.
func TestEngineEarnsOnTheGoodsWhenShippingAndTaxAreExcluded(t *testing.T) {
	p := program()
	p.Earn.ExcludeShipping, p.Earn.ExcludeTax = true, true
	h := newEngineHarness(t, p)
	ev := app.Event{Type: app.EventOrderPaid, Subject: "order:2001",
		Customer: app.Customer{ID: "c1", Phone: "+919876543210"},
		Properties: map[string]any{"order": map[string]any{"id": "2001", "total_amount": "1349.00",
			"shipping_amount": "99.00", "tax_amount": "150.50"}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		t.Fatal(err)
	}
	if b := h.balance(); b.Points != 1099 {
		t.Fatalf("balance = %d; want 1099 (1349.00 - 99.00 - 150.50, rounded down)", b.Points)
	}
	// Shipping alone excluded: tax still earns.
	p.Earn.ExcludeTax = false
	if _, err := h.engine.PutProgram(h.ctx, "m1", p); err != nil {
		t.Fatal(err)
	}
	ev.Subject, ev.Properties["order"].(map[string]any)["id"] = "order:2002", "2002"
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		t.Fatal(err)
	}
	if b := h.balance(); b.Points != 1099+1250 {
		t.Fatalf("balance = %d; want %d", b.Points, 1099+1250)
	}
}
