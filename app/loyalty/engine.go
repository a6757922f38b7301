package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Job kinds of the engine.
const (
	// JobApprove approves an order's pending points once approve_after
	// passed; keyed per order.
	JobApprove = "loyalty.approve"
	// JobRemind sends loyalty.points_expiring for a lot; keyed per lot and
	// offset, skipped when the lot is spent or expired by then.
	JobRemind = "loyalty.remind"
	// JobSweep expires the merchant's due lots, daily while any lot can
	// expire; keyed per merchant.
	JobSweep = "loyalty.sweep"
)

// Merchants finds a merchant (app.Service).
type Merchants interface {
	Merchant(ctx context.Context, id string) (app.Merchant, error)
}

// EventSender sends engine events through the merchant's rules,
// templates, quiet hours, opt-outs and exactly-once keys
// (app.Service.ProcessEvents).
type EventSender interface {
	ProcessEvents(ctx context.Context, m app.Merchant, events []app.Event) error
}

// Data is the part of the merchant data store the engine keeps its
// program, orders and tier standing in.
type Data interface {
	MapGet(ctx context.Context, merchant, name, field string) (string, error)
	MapSet(ctx context.Context, merchant, name string, fields map[string]string) error
	AdvanceState(ctx context.Context, merchant, key string, version int64, value string, ttl time.Duration, effects ...app.Job) (string, bool, error)
	State(ctx context.Context, merchant, key string) (string, int64, error)
	DeleteStates(ctx context.Context, merchant string, keys ...string) error
	// The index of a customer's redemptions, for a redaction.
	IndexAdd(ctx context.Context, merchant, name, member string, at time.Time, keep time.Duration) error
	IndexNewest(ctx context.Context, merchant, name string, offset, limit int) ([]string, error)
	IndexRemove(ctx context.Context, merchant, name string, members ...string) error
}

// Enqueuer schedules the engine's jobs.
type Enqueuer interface {
	Enqueue(ctx context.Context, job app.Job) error
}

// Options are the engine's dependencies.
type Options struct {
	Ledger    Ledger
	Data      Data
	Queue     Enqueuer
	Merchants Merchants
	Sender    EventSender
	// Discounts makes redemptions' codes and the referred friend's; nil:
	// no redemptions and no referrals.
	Discounts Discounts
	// Counts, when set, counts for the merchant's stats what the engine
	// turned down (a referral that failed its fraud checks) and its
	// outcomes (points earned and redeemed, codes created and used).
	Counts Counts
	Now    func() time.Time
	Logger *slog.Logger
}

// Engine turns a store's own orders into points and loyalty events.
type Engine struct {
	ledger    Ledger
	data      Data
	queue     Enqueuer
	merchants Merchants
	sender    EventSender
	discounts Discounts
	counts    Counts
	now       func() time.Time
	log       *slog.Logger
	programs  programCache
}

// NewEngine returns the engine.
func NewEngine(opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Counts != nil {
		opts.Ledger = countedLedger{Ledger: opts.Ledger, counts: opts.Counts}
	}
	e := &Engine{
		ledger: opts.Ledger, data: opts.Data, queue: opts.Queue, merchants: opts.Merchants,
		discounts: opts.Discounts, counts: opts.Counts, now: opts.Now, log: opts.Logger,
	}
	e.sender = withReferralCode{e: e, next: opts.Sender}
	return e
}

// JobHandlers are the engine's job kinds, for the workers.
func (e *Engine) JobHandlers() map[string]app.JobHandler {
	return map[string]app.JobHandler{JobApprove: e.handleApprove, JobRemind: e.handleRemind, JobSweep: e.handleSweep,
		JobRedeem: e.handleRedeem, JobReview: e.handleReview}
}

// orderTTL is how long an order's loyalty record is kept: its returns
// and late refunds included.
const orderTTL = 400 * 24 * time.Hour

// orderRecord is what the engine remembers of an order that earned: a
// refund carries no customer and a partial one needs the base.
type orderRecord struct {
	Key      string       `json:"key"`
	Customer app.Customer `json:"customer"`
	Base     string       `json:"base"` // the amount points were earned on
	Points   int64        `json:"points"`
	Pending  bool         `json:"pending"`
}

func orderStateKey(id string) string { return "loyalty:order:" + id }

// Source keys of order entries.
func earnSource(order string) string    { return "order:" + order + ":earn" }
func approveSource(order string) string { return "order:" + order + ":approve" }
func cancelSource(order string) string  { return "order:" + order + ":cancel" }

// CustomerKey is who a customer is in a merchant's ledger: the platform
// customer id when the order has one, else the phone in E.164, else the
// email in lower case; empty when the order names no one.
func CustomerKey(c app.Customer) string {
	switch {
	case c.ID != "" && c.ID != "0":
		return c.ID
	case c.Phone != "":
		return c.Phone
	}
	return strings.ToLower(strings.TrimSpace(c.Email))
}

// ObserveEvent reacts to a normalised store event before it is sent: an
// order that counts earns, a cancel or refund takes back. Every post has
// a source key, so a redelivered or reordered event posts once.
func (e *Engine) ObserveEvent(ctx context.Context, m app.Merchant, ev app.Event) error {
	if ev.Test || strings.HasPrefix(ev.Type, "loyalty.") {
		return nil // the engine's own events, or ones pushed in under its names
	}
	if !strings.HasPrefix(ev.Type, "order.") {
		return e.observeOther(ctx, m, ev)
	}
	order, _ := ev.Lookup("order.id")
	id, _ := order.(string)
	if id == "" {
		return nil
	}
	var p Program
	if earns(ev.Type) { // the program is read only where it decides
		var err error
		if p, err = e.observedProgram(ctx, m.ID); err != nil {
			return err
		}
	}
	if err := e.observeOrderExtras(ctx, m, p, id, ev); err != nil {
		return err
	}
	if err := e.observeCouponsUsed(ctx, m, id, ev); err != nil {
		return err
	}
	// A program switched off earns nothing more, but what its orders
	// earned is still taken back when they are cancelled or refunded.
	switch ev.Type {
	case app.EventOrderPaid:
		if p.Enabled && p.Earn.On == OnPaid {
			return e.earn(ctx, m, p, id, ev)
		}
	case app.EventOrderShipped, app.EventOrderDelivered:
		if p.Enabled && p.Earn.On == OnFulfilled {
			return e.earn(ctx, m, p, id, ev)
		}
	case app.EventOrderCancelled:
		return e.reverse(ctx, m, id, cancelSource(id), nil)
	case app.EventOrderRefunded:
		amount, _ := ev.Lookup("refund.amount_raw")
		raw, _ := amount.(string)
		rid, _ := ev.Lookup("refund.id")
		refund, _ := rid.(string)
		if raw == "" || refund == "" {
			// A refund with no amount (the order's status says refunded):
			// all of it.
			return e.reverse(ctx, m, id, "refund:"+id+":full", nil)
		}
		v, ok := new(big.Rat).SetString(raw)
		if !ok {
			return nil
		}
		return e.reverse(ctx, m, id, "refund:"+refund, v)
	}
	return nil
}

// earns tells the event types a program may earn on.
func earns(eventType string) bool {
	switch eventType {
	case app.EventOrderPaid, app.EventOrderShipped, app.EventOrderDelivered:
		return true
	}
	return false
}

// earnBase is the order's total less shipping and tax when the program
// excludes them and the event carries them.
func earnBase(p Program, ev app.Event) (*big.Rat, bool) {
	total, ok := ratAt(ev, "order.total_amount")
	if !ok {
		return nil, false
	}
	if p.Earn.ExcludeShipping {
		if v, ok := ratAt(ev, "order.shipping_amount"); ok {
			total.Sub(total, v)
		}
	}
	if p.Earn.ExcludeTax {
		if v, ok := ratAt(ev, "order.tax_amount"); ok {
			total.Sub(total, v)
		}
	}
	if total.Sign() <= 0 {
		return nil, false
	}
	return total, true
}

func ratAt(ev app.Event, path string) (*big.Rat, bool) {
	v, ok := ev.Lookup(path)
	if !ok {
		return nil, false
	}
	s, ok := v.(string)
	if !ok || strings.ContainsAny(s, "eE/") {
		return nil, false
	}
	return new(big.Rat).SetString(strings.TrimSpace(s))
}

// pointsFor is base × rate × multiplier, rounded down.
func pointsFor(base *big.Rat, rate, multiplier float64) int64 {
	r := new(big.Rat).Mul(base, new(big.Rat).SetFloat64(rate))
	r.Mul(r, new(big.Rat).SetFloat64(multiplier))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() || n.Int64() > MaxPoints {
		return MaxPoints
	}
	return n.Int64()
}

func (e *Engine) earn(ctx context.Context, m app.Merchant, p Program, order string, ev app.Event) error {
	key := CustomerKey(ev.Customer)
	base, ok := earnBase(p, ev)
	if key == "" || !ok {
		return nil
	}
	if err := e.mergeGuest(ctx, m.ID, p, ev.Customer); err != nil {
		return err
	}
	if err := e.noteContact(ctx, m.ID, key, ev); err != nil {
		return err
	}
	standing, err := e.standing(ctx, m.ID, key)
	if err != nil {
		return err
	}
	now := e.now()
	multiplier := 1.0
	if t, ok := p.tierOf(standing, now); ok {
		multiplier = t.Multiplier
	}
	points := pointsFor(base, p.Earn.PointsPerUnit, multiplier)
	if points <= 0 {
		return nil
	}
	approveAfter, _ := parseDays(p.ApproveAfter)
	pending := approveAfter > 0
	// The record comes first: a refund that races the earn finds it.
	rec := orderRecord{Key: key, Customer: ev.Customer, Base: base.FloatString(6), Points: points, Pending: pending}
	if err := e.putOrder(ctx, m.ID, order, rec); err != nil {
		return err
	}
	entry := Entry{Kind: KindEarn, Source: earnSource(order), Points: points, ExpiresAt: p.expiresAt(now),
		Reason: "order " + order}
	if pending {
		entry.Kind = KindPendingEarn
	}
	res, err := e.ledger.Post(ctx, m.ID, key, []Entry{entry})
	if err != nil {
		return fmt.Errorf("loyalty: earn for order %s: %w", order, err)
	}
	posted := res.Entries[0]
	if !posted.Duplicate {
		err = e.addStanding(ctx, m, p, key, ev.Customer, posted.Points, base, now)
	} else {
		err = e.announceTier(ctx, m, key, ev.Customer)
	}
	if err == nil {
		err = e.announceMilestones(ctx, m, p, key, ev.Customer)
	}
	if err != nil {
		return err
	}
	if pending {
		return e.schedule(ctx, app.Job{
			ID: "loyalty-approve-" + order, Merchant: m.ID, Kind: JobApprove, Key: "loyalty-approve:" + order,
			Payload: []byte(order), DueAt: posted.CreatedAt.Add(approveAfter),
		})
	}
	return e.earned(ctx, m, p, rec, posted, res.Balance)
}

// earned tells the customer, schedules the lot's reminders and the
// merchant's sweep. A retry sends nothing twice: the event's subject is
// the lot.
func (e *Engine) earned(ctx context.Context, m app.Merchant, p Program, rec orderRecord, lot Entry, bal Balance) error {
	if err := e.scheduleExpiry(ctx, m.ID, p, rec.Key, lot); err != nil {
		return err
	}
	return e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventPointsEarned, Subject: "loyalty:" + lot.Source, Customer: rec.Customer,
		Properties: map[string]any{"points": map[string]any{"amount": lot.Points, "balance": bal.Points}},
	}})
}

func (p Program) expiresAt(now time.Time) time.Time {
	if p.Expiry == "none" || p.Expiry == "" {
		return time.Time{}
	}
	d, err := parseDays(p.Expiry)
	if err != nil || d == 0 {
		return time.Time{}
	}
	return now.Add(d)
}

func (e *Engine) putOrder(ctx context.Context, merchant, order string, rec orderRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, _, err = e.data.AdvanceState(ctx, merchant, orderStateKey(order), e.now().UnixNano(), string(raw), orderTTL)
	return err
}

func (e *Engine) order(ctx context.Context, merchant, order string) (orderRecord, bool, error) {
	raw, _, err := e.data.State(ctx, merchant, orderStateKey(order))
	if errors.Is(err, app.ErrNotFound) {
		return orderRecord{}, false, nil
	}
	if err != nil {
		return orderRecord{}, false, err
	}
	var rec orderRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return orderRecord{}, false, fmt.Errorf("loyalty: order record %s: %w", order, err)
	}
	return rec, true, nil
}

// reverse takes back an order's points: all of them (amount nil), or the
// refunded share of them, rounded to the nearest point. The ledger never
// takes more than the lot earned, so a full refund after a partial one
// takes only the rest.
func (e *Engine) reverse(ctx context.Context, m app.Merchant, order, source string, amount *big.Rat) error {
	rec, ok, err := e.order(ctx, m.ID, order)
	if err != nil || !ok {
		return err
	}
	points := rec.Points
	if amount != nil {
		base, ok := new(big.Rat).SetString(rec.Base)
		if !ok || base.Sign() <= 0 {
			return nil
		}
		share := new(big.Rat).Mul(new(big.Rat).SetInt64(rec.Points), amount)
		share.Quo(share, base)
		share.Add(share, big.NewRat(1, 2))
		n := new(big.Int).Quo(share.Num(), share.Denom())
		points = min(n.Int64(), rec.Points)
	}
	if points <= 0 {
		return nil
	}
	res, err := e.ledger.Post(ctx, m.ID, rec.Key, []Entry{{Kind: KindReverse, Source: source, Ref: earnSource(order), Points: points, Reason: "order " + order}})
	var refused *RefusedError
	if errors.As(err, &refused) && errors.Is(err, ErrUnknownLot) {
		return nil // the order never earned (a record without its post)
	}
	if err != nil {
		return fmt.Errorf("loyalty: reverse for order %s: %w", order, err)
	}
	taken := res.Entries[0]
	if taken.Delta == 0 {
		return nil // pending points dropped, or nothing left to take
	}
	return e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventPointsReversed, Subject: "loyalty:" + source, Customer: rec.Customer,
		Properties: map[string]any{"points": map[string]any{"amount": -taken.Delta, "balance": res.Balance.Points}},
	}})
}

func (e *Engine) schedule(ctx context.Context, job app.Job) error {
	now := e.now()
	job.CreatedAt = now
	if job.DueAt.IsZero() {
		job.DueAt = now
	}
	if err := e.queue.Enqueue(ctx, job); err != nil && !errors.Is(err, app.ErrConflict) {
		return err
	}
	return nil
}

// handleApprove approves an order's pending points; a lot that refunds
// emptied or that was approved before is left as it is.
func (e *Engine) handleApprove(ctx context.Context, job app.Job) error {
	order := string(job.Payload)
	m, err := e.merchants.Merchant(ctx, job.Merchant)
	if errors.Is(err, app.ErrNotFound) {
		return app.Permanent(err)
	}
	if err != nil {
		return err
	}
	rec, ok, err := e.order(ctx, m.ID, order)
	if err != nil || !ok {
		return err
	}
	p, err := e.program(ctx, m.ID)
	if err != nil {
		return err
	}
	res, err := e.ledger.Post(ctx, m.ID, rec.Key, []Entry{{Kind: KindApprove, Source: approveSource(order), Ref: earnSource(order)}})
	var refused *RefusedError
	if errors.As(err, &refused) {
		return nil
	}
	if err != nil {
		return err
	}
	approved := res.Entries[0]
	if approved.Delta <= 0 {
		return nil // refunds took it all before approval
	}
	lot, err := e.lot(ctx, m.ID, rec.Key, earnSource(order))
	if err != nil {
		return err
	}
	lot.Points = approved.Delta
	return e.earned(ctx, m, p, rec, lot, res.Balance)
}

// lot is the earn entry that opened the lot source, as the reminders and
// the points event see it.
func (e *Engine) lot(ctx context.Context, merchant, customer, source string) (Entry, error) {
	lots, err := e.ledger.Lots(ctx, merchant, customer)
	if err != nil {
		return Entry{}, err
	}
	for _, l := range lots {
		if l.ID == source {
			return Entry{Source: l.ID, Points: l.Remaining, ExpiresAt: l.ExpiresAt}, nil
		}
	}
	return Entry{Source: source}, nil
}
