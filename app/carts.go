package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// JobCartStep is one step of a cart sequence, due at its delay after the
// checkout's last change: it checks the cart is still open, makes the
// step's discount code and sends the step.
const JobCartStep = "cart.step"

const (
	// cartStateTTL keeps a cart's record past its last step and the
	// longest attribution window, so a late order is still credited.
	cartStateTTL = 120 * 24 * time.Hour
	// cartTombstoneTTL keeps the mark of a cart bought before its
	// abandoned checkout was seen: long enough for a late checkout update.
	cartTombstoneTTL = 7 * 24 * time.Hour
	// cartUpdateTries bounds how often a record changed under us is read
	// again before the job is retried.
	cartUpdateTries = 8
)

// Why a cart sequence stopped before its last step: each is counted as a
// skip reason of cart.abandoned.
const (
	skipRecovered  = "recovered"   // an order or a completed checkout with its token
	skipOrdered    = "ordered"     // another order of the same customer since the cart
	skipReplied    = "replied"     // the customer wrote back since the last step
	skipCartOptOut = "opted_out"   // the customer opted out of marketing
	skipEmpty      = "empty"       // the cart has no items any more
	skipReplaced   = "replaced"    // a newer checkout of the same customer
	skipNoRule     = "no_rule"     // the rule was removed or disabled
	skipNoDiscount = "no_discount" // the step's code could not be made
)

var cartStopNotes = map[string]string{
	skipRecovered:  "the cart was bought before the reminder",
	skipOrdered:    "the customer ordered since the cart was left",
	skipReplied:    "the customer replied since the last reminder",
	skipCartOptOut: "the customer opted out of marketing messages",
	skipEmpty:      "the cart has no items any more",
	skipReplaced:   "a newer checkout of the customer replaced this one",
	skipNoRule:     "the rule was removed or disabled",
}

// Outcome counters of cart.abandoned (StatsView.Outcomes.Carts).
const (
	cartCountCarts     = "cart.carts"
	cartCountRecovered = "cart.recovered"
	cartCountRevenue   = "cart.revenue." // then the currency; minor units
	cartCountStep      = "cart.step."    // then "<n>.sent" or "<n>.recovered"
)

// CartDiscounts makes the discount codes of cart steps: DiscountCodes.
type CartDiscounts interface {
	CodeFor(m Merchant, prefix, source string) string
	CreateDiscount(ctx context.Context, m Merchant, r DiscountRequest) (DiscountCode, error)
}

// SetCartDiscounts names the maker of cart steps' codes. Call before the
// service starts; without one, a step's discount is never made.
func (s *Service) SetCartDiscounts(d CartDiscounts) { s.cartDiscounts = d }

// cartRecord is a cart's sequence: what was sent, the codes made, why it
// stopped and the order that recovered it. It is changed only through
// updateCart, whose versions make each change happen once.
type cartRecord struct {
	Token string `json:"token"`
	Phone string `json:"phone,omitempty"`
	// Gen counts the checkout's changes: a step job of an older one is
	// stale.
	Gen     int       `json:"gen"`
	Started time.Time `json:"started"`
	Changed time.Time `json:"changed"`
	// Event is the newest cart.abandoned event, for the steps' messages.
	Event     json.RawMessage `json:"event,omitempty"`
	Steps     []cartStepState `json:"steps"`
	Stopped   string          `json:"stopped,omitempty"`
	Recovered *cartRecovery   `json:"recovered,omitempty"`
}

type cartStepState struct {
	Sent time.Time `json:"sent,omitzero"`
	// Code is chosen and kept before the store is asked for it, so a
	// rerun asks for the same code and the store holds one.
	Code      string    `json:"code,omitempty"`
	CodeEnds  time.Time `json:"code_ends,omitzero"`
	CodeMade  bool      `json:"code_made,omitempty"`
	CodeValue string    `json:"code_value,omitempty"`
	CodeTries int       `json:"code_tries,omitempty"`
}

// cartRecovery is the order credited to a sent step.
type cartRecovery struct {
	Order    string    `json:"order"`
	Step     int       `json:"step"`
	At       time.Time `json:"at"`
	Amount   int64     `json:"amount"` // minor units of Currency
	Currency string    `json:"currency,omitempty"`
}

// lastSent is the time of the latest step sent, zero when none was.
func (c cartRecord) lastSent() time.Time {
	var last time.Time
	for _, st := range c.Steps {
		if st.Sent.After(last) {
			last = st.Sent
		}
	}
	return last
}

// pending lists the steps (1-based) of n not sent yet.
func (c cartRecord) pending(n int) []int {
	var out []int
	for i := 0; i < n && i < len(c.Steps); i++ {
		if c.Steps[i].Sent.IsZero() {
			out = append(out, i+1)
		}
	}
	return out
}

func cartKey(token string) string { return "cart:" + token }

// cartCustomerKey names the newest cart of a customer (by phone).
func cartCustomerKey(phone string) string { return "cart-customer:" + phone }

func cartHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:10])
}

// cartStepKey names the job of step n of a checkout's change gen, so the
// next change or an order can cancel it.
func cartStepKey(token string, gen, n int) string {
	return fmt.Sprintf("cart-step:%s:%d:%d", cartHash(token), gen, n)
}

// cartDeliveryID is step n's delivery: step 1's is the one a cart's
// single reminder always had.
func cartDeliveryID(merchant, token string, n int) string {
	subject := "cart:" + token
	if n != 1 {
		subject += "#" + strconv.Itoa(n)
	}
	return deliveryID(merchant, Event{Type: EventCartAbandoned, Subject: subject})
}

// cartOf names the cart an event is about: a checkout's own subject, or
// the checkout an order came from.
func cartOf(e Event) string {
	if token, ok := strings.CutPrefix(e.Subject, "cart:"); ok {
		return token
	}
	if v, ok := e.Lookup("order.checkout_token"); ok {
		return formatValue(v)
	}
	return ""
}

func (s *Service) loadCart(ctx context.Context, m Merchant, token string) (cartRecord, int64, error) {
	raw, version, err := s.store.State(ctx, m.ID, cartKey(token))
	if err != nil {
		return cartRecord{}, 0, err
	}
	var c cartRecord
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		// The mark an older release left on a bought cart.
		c = cartRecord{Token: token, Stopped: skipRecovered}
	}
	c.Token = token
	for len(c.Steps) < maxCartSteps {
		c.Steps = append(c.Steps, cartStepState{})
	}
	return c, version, nil
}

// updateCart applies change to the cart's record and stores it as the
// next version, with the jobs change asks for, in one store step; a record
// changed meanwhile is read again and change applied to it afresh. change
// answers false to leave the record as it is.
func (s *Service) updateCart(ctx context.Context, m Merchant, token string, ttl time.Duration, change func(c *cartRecord, exists bool) ([]Job, bool)) (cartRecord, bool, error) {
	for range cartUpdateTries {
		c, version, err := s.loadCart(ctx, m, token)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return cartRecord{}, false, err
		}
		if !exists {
			c = cartRecord{Token: token, Steps: make([]cartStepState, maxCartSteps)}
		}
		jobs, changed := change(&c, exists)
		if !changed {
			return c, false, nil
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return cartRecord{}, false, Permanent(err)
		}
		_, advanced, err := s.store.AdvanceState(ctx, m.ID, cartKey(token), version+1, string(raw), ttl, jobs...)
		if err != nil {
			return cartRecord{}, false, err
		}
		if advanced {
			if s.wake != nil {
				for _, j := range jobs {
					if !j.DueAt.After(s.now()) {
						s.wake()
						break
					}
				}
			}
			return c, true, nil
		}
	}
	return cartRecord{}, false, errors.New("the cart's record kept changing under this update")
}

type cartStepPayload struct {
	Token string `json:"token"`
	Gen   int    `json:"gen"`
	Step  int    `json:"step"`
}

func (s *Service) cartStepJob(m Merchant, token string, gen, n int, due time.Time) Job {
	payload, _ := json.Marshal(cartStepPayload{Token: token, Gen: gen, Step: n})
	now := s.now()
	if due.Before(now) {
		due = now
	}
	return Job{
		ID:       fmt.Sprintf("cartstep-%s-%d-%d", cartHash(token), gen, n),
		Merchant: m.ID, Kind: JobCartStep, Key: cartStepKey(token, gen, n),
		Payload: payload, DueAt: due, MaxAttempts: sendJobMaxAttempts, CreatedAt: now,
	}
}

// cancelSteps withdraws the queued jobs of a change's pending steps. A job
// a worker holds meanwhile finds the record moved on and does nothing.
func (s *Service) cancelSteps(ctx context.Context, m Merchant, token string, gen int, steps []int) error {
	for _, n := range steps {
		if _, err := s.store.Cancel(ctx, m.ID, cartStepKey(token, gen, n)); err != nil {
			return err
		}
	}
	return nil
}

// planCart starts or moves a cart's sequence on a cart.abandoned event:
// the steps not yet sent are due at their delays after this change of the
// checkout. A repeated or older change does nothing.
func (s *Service) planCart(ctx context.Context, m Merchant, e Event, count func(string)) error {
	r, err := s.rule(ctx, m.ID, e.Type)
	if errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		count("skipped.no_rule")
		count("received")
		return nil
	}
	if err != nil {
		return err
	}
	token := cartOf(e)
	skip, err := s.skipReason(ctx, m, r, e)
	if err != nil {
		return err
	}
	if skip.reason != "" {
		// Nothing starts; a later change of the checkout (a phone typed,
		// consent ticked) may start it.
		if err := s.recordCartSkip(ctx, m, e, "#plan", skip.detail); err != nil {
			return err
		}
		count("skipped." + skip.reason)
		count("received")
		return nil
	}
	steps := r.CartSteps()
	if newer, err := s.newerCartOf(ctx, m, e.Customer.Phone, token, e.OccurredAt); err != nil || newer {
		if err == nil {
			// A late change of a checkout the customer left for a newer one.
			count("skipped." + skipReplaced)
			count("received")
			err = s.stopCart(ctx, m, token, skipReplaced, len(steps))
		}
		return err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return Permanent(err)
	}
	var oldGen int
	var oldPending []int
	var fresh bool
	c, changed, err := s.updateCart(ctx, m, token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		oldGen, oldPending, fresh = c.Gen, c.pending(len(steps)), !exists
		switch {
		case exists && c.Stopped != "" && c.Stopped != skipReplaced && c.Stopped != skipEmpty:
			return nil, false // bought, answered or refused: it stays ended
		case exists && !e.OccurredAt.After(c.Changed):
			return nil, false // a repeat, or older than the change in hand
		case !exists:
			c.Started = e.OccurredAt
		}
		c.Gen++
		c.Changed, c.Stopped, c.Phone, c.Event = e.OccurredAt, "", e.Customer.Phone, raw
		var jobs []Job
		pending := c.pending(len(steps))
		// A change seen late (a backlog, a platform's retry) moves the
		// steps left as one, so they never go out in a burst: the first is
		// due now at the earliest, the others keep their spacing.
		var late time.Duration
		if len(pending) > 0 {
			late = max(s.now().Sub(c.Changed.Add(steps[pending[0]-1].Delay)), 0)
		}
		for _, n := range pending {
			jobs = append(jobs, s.cartStepJob(m, token, c.Gen, n, c.Changed.Add(steps[n-1].Delay+late)))
		}
		return jobs, true
	})
	if err != nil {
		return err
	}
	if !changed {
		count("skipped.duplicate")
		count("received")
		return nil
	}
	if oldGen > 0 {
		if err := s.cancelSteps(ctx, m, token, oldGen, oldPending); err != nil {
			return err
		}
	}
	if fresh {
		count(cartCountCarts)
	}
	if err := s.replaceOlderCart(ctx, m, c, len(steps)); err != nil {
		return err
	}
	count("received")
	return nil
}

// newerCartOf reports whether the customer has a checkout newer than a
// change at of token: then token's sequence must not start again.
func (s *Service) newerCartOf(ctx context.Context, m Merchant, phone, token string, at time.Time) (bool, error) {
	if phone == "" {
		return false, nil
	}
	current, version, err := s.store.State(ctx, m.ID, cartCustomerKey(phone))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && current != token && version >= at.UnixMilli(), err
}

// replaceOlderCart keeps one sequence per customer: the newest checkout's.
// The one it replaces is stopped as replaced.
func (s *Service) replaceOlderCart(ctx context.Context, m Merchant, c cartRecord, steps int) error {
	if c.Phone == "" {
		return nil
	}
	key := cartCustomerKey(c.Phone)
	previous, advanced, err := s.store.AdvanceState(ctx, m.ID, key, c.Changed.UnixMilli(), c.Token, cartStateTTL)
	if err != nil {
		return err
	}
	if !advanced {
		// A newer checkout came while this one was planned: this one goes.
		current, _, err := s.store.State(ctx, m.ID, key)
		if err != nil || current == c.Token {
			return err
		}
		return s.stopCart(ctx, m, c.Token, skipReplaced, steps)
	}
	if previous == "" || previous == c.Token {
		return nil
	}
	return s.stopCart(ctx, m, previous, skipReplaced, steps)
}

// stopCart ends a cart's sequence for reason: its pending steps are
// withdrawn and, when one was left, counted as skipped for reason.
func (s *Service) stopCart(ctx context.Context, m Merchant, token, reason string, steps int) error {
	var pending []int
	c, changed, err := s.updateCart(ctx, m, token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		if !exists || c.Stopped != "" {
			return nil, false
		}
		pending = c.pending(steps)
		c.Stopped = reason
		return nil, true
	})
	if err != nil || !changed {
		return err
	}
	return s.afterStop(ctx, m, c, reason, pending)
}

// afterStop withdraws a stopped cart's pending steps and records why.
func (s *Service) afterStop(ctx context.Context, m Merchant, c cartRecord, reason string, pending []int) error {
	if err := s.cancelSteps(ctx, m, c.Token, c.Gen, pending); err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil // every step went: nothing was held back
	}
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: EventCartAbandoned, Outcome: "skipped." + reason}, 1)
	var e Event
	if err := jsonUnmarshal(c.Event, &e); err != nil {
		return nil // nothing to show the stop on
	}
	return s.recordCartSkip(ctx, m, e, "#stop"+strconv.Itoa(c.Gen), cartStopNotes[reason])
}

// recordCartSkip leaves a skipped delivery in the log, so the merchant
// sees why the cart got no (more) messages.
func (s *Service) recordCartSkip(ctx context.Context, m Merchant, e Event, suffix, note string) error {
	data, err := json.Marshal(e)
	if err != nil {
		return Permanent(err)
	}
	now := s.now().UTC()
	d := Delivery{
		ID: deliveryID(m.ID, Event{Type: EventCartAbandoned, Subject: e.Subject + suffix}), Merchant: m.ID,
		EventID: e.ID, Event: EventCartAbandoned, Subject: e.Subject, CustomerID: e.Customer.ID,
		Phone: e.Customer.Phone, Provider: providerName(m), Status: DeliverySkipped, Error: note,
		EventData: data, CreatedAt: now, UpdatedAt: now,
		History: []StatusChange{{Status: DeliverySkipped, At: now, Note: note}},
	}
	if err := s.store.CreateDelivery(ctx, d); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}

// cartOrdered ends the sequence of the cart an order (or a completed
// checkout) came from, else of the customer's newest cart, and credits the
// order to the step sent before it, when it came within the rule's
// attribution window: once per cart, so once per order.
func (s *Service) cartOrdered(ctx context.Context, m Merchant, e Event) error {
	token := cartOf(e)
	reason := skipRecovered
	c, _, err := s.cartOfOrder(ctx, m, token)
	if errors.Is(err, ErrNotFound) && e.Customer.Phone != "" && strings.HasPrefix(e.Subject, "order:") && s.mayHaveCarts(ctx, m) {
		// No cart of its own: the customer's newest, if left before it.
		newest, _, perr := s.store.State(ctx, m.ID, cartCustomerKey(e.Customer.Phone))
		if perr == nil && newest != token {
			c, _, err = s.cartOfOrder(ctx, m, newest)
			reason = skipOrdered
			if err == nil && e.OccurredAt.Before(c.Started) {
				err = ErrNotFound
			}
		} else if perr != nil && !errors.Is(perr, ErrNotFound) {
			return perr
		}
	}
	if errors.Is(err, ErrNotFound) {
		if token == "" {
			return nil
		}
		// Bought before its abandoned checkout was seen: a late checkout
		// event must not start a sequence.
		_, _, err := s.updateCart(ctx, m, token, cartTombstoneTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
			if exists {
				return nil, false
			}
			c.Stopped = skipRecovered
			return nil, true
		})
		return err
	}
	if err != nil {
		return err
	}
	r, err := s.rule(ctx, m.ID, EventCartAbandoned)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	steps := len(r.CartSteps())
	credit := e.Type == EventOrderPlaced || e.Type == EventOrderPaid
	var pending []int
	var stopped, recovered bool
	c, changed, err := s.updateCart(ctx, m, c.Token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		pending, stopped, recovered = nil, false, false
		if !exists {
			return nil, false
		}
		if c.Stopped == "" {
			pending, stopped = c.pending(steps), true
			c.Stopped = reason
		}
		if credit && c.Recovered == nil {
			if rec, ok := creditedStep(*c, e, r.attributionWindow()); ok {
				c.Recovered, recovered = &rec, true
			}
		}
		return nil, stopped || recovered
	})
	if err != nil || !changed {
		return err
	}
	if recovered {
		day := DayOf(s.now())
		add := func(outcome string, n int64) {
			s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: EventCartAbandoned, Outcome: outcome}, n)
		}
		add(cartCountRecovered, 1)
		add(cartCountStep+strconv.Itoa(c.Recovered.Step)+".recovered", 1)
		if c.Recovered.Currency != "" {
			add(cartCountRevenue+c.Recovered.Currency, c.Recovered.Amount)
		}
	}
	if stopped {
		return s.afterStop(ctx, m, c, reason, pending)
	}
	return nil
}

func (s *Service) cartOfOrder(ctx context.Context, m Merchant, token string) (cartRecord, int64, error) {
	if token == "" {
		return cartRecord{}, 0, ErrNotFound
	}
	return s.loadCart(ctx, m, token)
}

// mayHaveCarts tells whether the merchant may have sequences for an order
// to end: only with a cart.abandoned rule (on or off; rules are never
// deleted) are any started. A merchant without one, most of them, pays no
// read of the customer's newest cart per order. A rule made on another
// instance is seen here within the rule cache's 5 s, as for sending.
func (s *Service) mayHaveCarts(ctx context.Context, m Merchant) bool {
	_, err := s.rule(ctx, m.ID, EventCartAbandoned)
	return !errors.Is(err, ErrNotFound)
}

// creditedStep is the step an order is credited to: the last one sent
// before it, if the order came within window of it.
func creditedStep(c cartRecord, e Event, window time.Duration) (cartRecovery, bool) {
	at := e.OccurredAt
	step, sent := 0, time.Time{}
	for i, st := range c.Steps {
		if !st.Sent.IsZero() && !st.Sent.After(at) && st.Sent.After(sent) {
			step, sent = i+1, st.Sent
		}
	}
	if step == 0 || at.Sub(sent) > window {
		return cartRecovery{}, false
	}
	rec := cartRecovery{Order: e.Subject, Step: step, At: at.UTC()}
	amount, _ := e.Lookup("order.total_amount")
	currency, _ := e.Lookup("order.currency")
	if cur := strings.ToUpper(formatValue(currency)); currency != nil && cur != "" {
		if n, ok := moneyMinor(formatValue(amount), cur); ok {
			rec.Amount, rec.Currency = n, cur
		}
	}
	return rec, true
}

// cartStopped says why a cart delivery's sequence stopped, if it did:
// the send re-reads it just before the provider call.
func (s *Service) cartStopped(ctx context.Context, m Merchant, d Delivery) (string, error) {
	token, ok := strings.CutPrefix(d.Subject, "cart:")
	if !ok || d.Event != EventCartAbandoned || d.Test {
		return "", nil
	}
	c, _, err := s.loadCart(ctx, m, token)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return c.Stopped, err
}

// handleCartStepJob runs one step of a cart sequence.
func (s *Service) handleCartStepJob(ctx context.Context, job Job) error {
	var p cartStepPayload
	if err := jsonUnmarshal(job.Payload, &p); err != nil || p.Token == "" || p.Step < 1 || p.Step > maxCartSteps {
		return Permanent(fmt.Errorf("cart step payload: %v", err))
	}
	cached, err := s.merchants.byID(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m := cached.Merchant
	if m.Status != MerchantActive {
		return nil
	}
	c, _, err := s.loadCart(ctx, m, p.Token)
	if errors.Is(err, ErrNotFound) {
		return nil // redacted, or expired
	}
	if err != nil {
		return err
	}
	i := p.Step - 1
	if !c.Steps[i].Sent.IsZero() {
		return nil
	}
	id := cartDeliveryID(m.ID, p.Token, p.Step)
	// Sent by a run that stopped before recording it: record it now, for
	// the attribution, whatever happened to the cart since.
	if d, err := s.store.GetDelivery(ctx, m.ID, id); err == nil && sentStatus(d.Status) {
		return s.cartStepSent(ctx, m, p.Token, p.Step)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if c.Gen != p.Gen || c.Stopped != "" {
		return nil // moved on since the job was queued
	}
	r, err := s.rule(ctx, m.ID, EventCartAbandoned)
	if errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		return s.stopCart(ctx, m, p.Token, skipNoRule, maxCartSteps)
	}
	if err != nil {
		return err
	}
	steps := r.CartSteps()
	if p.Step > len(steps) {
		return nil // the merchant shortened the sequence
	}
	var e Event
	if err := jsonUnmarshal(c.Event, &e); err != nil {
		return Permanent(fmt.Errorf("stored cart event: %w", err))
	}
	reason, err := s.cartClosed(ctx, m, c, e)
	if err != nil {
		return err
	}
	if reason != "" {
		return s.stopCart(ctx, m, p.Token, reason, len(steps))
	}
	if st := steps[i]; st.Discount != nil {
		coupon, err := s.cartCode(ctx, m, p, *st.Discount, e)
		switch {
		case errors.Is(err, errNoCartCode):
			if namesCoupon(st.Variables) {
				// The message would promise a code that does not exist.
				s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: EventCartAbandoned, Outcome: "skipped." + skipNoDiscount}, 1)
				return s.recordCartSkip(ctx, m, e, "#"+strconv.Itoa(p.Step)+"-nocode", "the step's discount code could not be made")
			}
		case errors.Is(err, ErrNotFound):
			return nil // redacted meanwhile
		case err != nil:
			return err
		default:
			withCoupon(m, &e, coupon)
		}
	}
	if err := s.createStepDelivery(ctx, m, e, id, p.Step, steps[i]); err != nil {
		return err
	}
	d, err := s.sendDelivery(ctx, m.ID, id)
	if sentStatus(d.Status) {
		if recErr := s.cartStepSent(ctx, m, p.Token, p.Step); recErr != nil {
			return recErr
		}
	}
	return err
}

func sentStatus(st DeliveryStatus) bool {
	return st == DeliverySent || st == DeliveryDelivered || st == DeliveryRead
}

// cartClosed says why a cart must get no more messages, if so: the checks
// made before each step besides the order ones, which stop the sequence
// when the order comes.
func (s *Service) cartClosed(ctx context.Context, m Merchant, c cartRecord, e Event) (string, error) {
	if n, ok := e.Lookup("cart.item_count"); ok && formatValue(n) == "0" {
		return skipEmpty, nil
	}
	if c.Phone == "" {
		return "", nil
	}
	if _, err := s.store.MapGet(ctx, m.ID, mapOptOuts, c.Phone); err == nil {
		return skipCartOptOut, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	last := c.lastSent()
	if last.IsZero() {
		return "", nil
	}
	raw, err := s.store.MapGet(ctx, m.ID, mapReplies, c.Phone)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var reply Reply
	if err := json.Unmarshal([]byte(raw), &reply); err == nil && reply.At.After(last) {
		return skipReplied, nil
	}
	return "", nil
}

// cartStepSent records step n as sent, once, and counts it.
func (s *Service) cartStepSent(ctx context.Context, m Merchant, token string, n int) error {
	_, changed, err := s.updateCart(ctx, m, token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		if !exists || !c.Steps[n-1].Sent.IsZero() {
			return nil, false
		}
		c.Steps[n-1].Sent = s.now().UTC()
		return nil, true
	})
	if err == nil && changed {
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: EventCartAbandoned, Outcome: cartCountStep + strconv.Itoa(n) + ".sent"}, 1)
	}
	return err
}

// createStepDelivery records the step's delivery, queued, unless a run
// before this one did.
func (s *Service) createStepDelivery(ctx context.Context, m Merchant, e Event, id string, n int, st CartStep) error {
	data, err := json.Marshal(e)
	if err != nil {
		return Permanent(err)
	}
	now := s.now().UTC()
	d := Delivery{
		ID: id, Merchant: m.ID, EventID: e.ID, Event: EventCartAbandoned, Subject: e.Subject,
		CustomerID: e.Customer.ID, Phone: e.Customer.Phone, Provider: providerName(m),
		Template: st.Template, Status: DeliveryQueued, Step: n, EventData: data, CreatedAt: now, UpdatedAt: now,
		History: []StatusChange{{Status: DeliveryQueued, At: now, Note: fmt.Sprintf("step %d of the cart's sequence", n)}},
	}
	if err := s.store.CreateDelivery(ctx, d); err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	return nil
}
