package loyalty

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// JobRedeem finishes a redemption the request did not: it makes the code
// or, when the store refuses it or never answers, gives the points back.
// Keyed per redemption; queued with the redemption's record, in the same
// atomic step, so a redemption whose request died mid-way is finished.
const JobRedeem = "loyalty.redeem"

// Discounts makes discount codes in the merchant's store
// (app.DiscountCodes).
type Discounts interface {
	CodeFor(m app.Merchant, prefix, source string) string
	CreateDiscount(ctx context.Context, m app.Merchant, r app.DiscountRequest) (app.DiscountCode, error)
}

// Redemption is a customer spending points on a discount code.
type Redemption struct {
	Points int64 `json:"points"`
	// Key, when given, makes a retried redemption spend and make a code
	// once: the same key answers the same code.
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Redeemed is the redeem entry posted and the code the store holds.
type Redeemed struct {
	Entry  EntryView        `json:"entry"`
	Coupon app.DiscountCode `json:"coupon"`
}

// CouponError says the store did not make a redemption's code. Pending:
// it did not answer; the points stay spent while the redemption's job
// retries, and come back if the store never answers (a retry of the
// request with the same key answers the code once it is made). Otherwise
// the store refused, and the points were given back.
type CouponError struct {
	Pending bool
	Reason  string
	Err     error
}

func (e *CouponError) Error() string {
	return "loyalty: redemption: " + e.Reason + ": " + e.Err.Error()
}
func (e *CouponError) Unwrap() error { return e.Err }

// Redemption statuses.
const (
	redeemPending  = "pending"  // spent (or about to be), no code yet
	redeemCreated  = "created"  // the store holds the code
	redeemRefunded = "refunded" // the store refused: the points go back
)

// Timing of a redemption's job.
const (
	// redeemFinishAfter leaves the request time to finish on its own.
	redeemFinishAfter = time.Minute
	// redeemJobAttempts: on the last, a store that still does not answer
	// gets the points back (about 20 hours with the default retry
	// schedule).
	redeemJobAttempts = 9
	// redeemTTL keeps a redemption's record for retries and the job. A
	// retry after it spends nothing more (the ledger keeps the source)
	// and asks the store for the same code (derived from the key).
	redeemTTL = 90 * 24 * time.Hour
	maxKey    = 100
	// storeCallTimeout bounds the store's answer to one create.
	storeCallTimeout = 20 * time.Second
)

// redemption is the record that ties a redeem entry to its code.
type redemption struct {
	ID              string            `json:"id"`
	Customer        string            `json:"customer"`
	Points          int64             `json:"points"`
	Reason          string            `json:"reason"`
	Code            string            `json:"code"`
	Value           string            `json:"value"`
	Currency        string            `json:"currency"`
	MinimumSubtotal string            `json:"minimum_subtotal,omitempty"`
	EndsAt          time.Time         `json:"ends_at"`
	Status          string            `json:"status"`
	Entry           *EntryView        `json:"entry,omitempty"`
	Balance         int64             `json:"balance"`
	Coupon          *app.DiscountCode `json:"coupon,omitempty"`
	Failure         string            `json:"failure,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
}

func redeemStateKey(id string) string { return "loyalty:redeem:" + id }

// redemptionsIndex names the index of a customer's redemptions, so that
// a redaction finds their records.
func redemptionsIndex(customer string) string { return "loyalty-redeems:" + customer }

// maxRedemptions bounds what a redaction reads of a customer's index.
const maxRedemptions = 10000

// forgetRedemptions deletes the records of a customer's redemptions and
// their index (customers/redact).
func (e *Engine) forgetRedemptions(ctx context.Context, merchant, customer string) error {
	ids, err := e.data.IndexNewest(ctx, merchant, redemptionsIndex(customer), 0, maxRedemptions)
	if err != nil || len(ids) == 0 {
		return err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = redeemStateKey(id)
	}
	if err := e.data.DeleteStates(ctx, merchant, keys...); err != nil {
		return err
	}
	return e.data.IndexRemove(ctx, merchant, redemptionsIndex(customer), ids...)
}

// Source keys of a redemption's entries.
func redeemSource(id string) string { return "redeem:" + id }
func refundSource(id string) string { return "redeem:" + id + ":refund" }

// Redeem spends a customer's points on a single-use fixed-amount code in
// the merchant's store: the redeem entry first, then the code, tied by a
// record. A retry with the same key answers the same entry and code; a
// refused code gives the points back (a *CouponError); a store that does
// not answer leaves the redemption to its job (a pending *CouponError).
// Too few points, or points outside the program's bounds, are 422 on
// points.
func (e *Engine) Redeem(ctx context.Context, merchant, customer string, r Redemption) (Redeemed, error) {
	m, err := e.merchants.Merchant(ctx, merchant)
	if err != nil {
		return Redeemed{}, err
	}
	key, err := customerParam(m, customer)
	if err != nil {
		return Redeemed{}, err
	}
	fields := map[string]string{}
	if r.Points <= 0 || r.Points > MaxPoints {
		fields["points"] = "must be a positive whole number of points"
	}
	if len(strings.TrimSpace(r.Reason)) > MaxReason {
		fields["reason"] = "is too long (at most 500 characters)"
	}
	if len(r.Key) > maxKey || strings.ContainsAny(r.Key, ":\x00") {
		fields["key"] = "must be at most 100 characters, without ':'"
	}
	if len(fields) > 0 {
		return Redeemed{}, &app.ValidationError{Fields: fields}
	}
	now := e.now()
	id := r.Key
	if id == "" {
		id = app.NewID(now)
	}
	if e.discounts == nil {
		return Redeemed{}, &CouponError{Reason: "no discount codes on this server", Err: app.ErrNoDiscounts}
	}
	// A request that finds the key's record goes on from it; one that
	// loses the race to write it reads it again.
	for range 3 {
		rec, version, found, err := e.redemption(ctx, m.ID, id)
		if err != nil {
			return Redeemed{}, err
		}
		if found {
			if rec.Customer != key || rec.Points != r.Points {
				return Redeemed{}, app.Invalid("key", "was used for another redemption")
			}
			return e.answer(m, id)(e.finishRedemption(ctx, m, rec, version))
		}
		rec, job, err := e.newRedemption(ctx, m, key, id, r, now)
		var invalid *app.ValidationError
		if errors.As(err, &invalid) && invalid.Fields["points"] != "" {
			// Too few points, unless a request with the same key spent
			// them meanwhile: its record says so.
			if _, _, found, rerr := e.redemption(ctx, m.ID, id); rerr != nil || found {
				continue
			}
		}
		if err != nil {
			return Redeemed{}, err
		}
		if err := e.data.IndexAdd(ctx, m.ID, redemptionsIndex(key), id, now, redeemTTL); err != nil {
			return Redeemed{}, err
		}
		advanced, err := e.putRedemption(ctx, m.ID, rec, 1, job)
		if err != nil {
			return Redeemed{}, err
		}
		if advanced {
			return e.answer(m, id)(e.finishRedemption(ctx, m, rec, 1))
		}
	}
	return Redeemed{}, fmt.Errorf("loyalty: redemption %s keeps changing", id)
}

// newRedemption checks a first redemption against the program and the
// balance, and answers its record and job.
func (e *Engine) newRedemption(ctx context.Context, m app.Merchant, key, id string, r Redemption, now time.Time) (redemption, app.Job, error) {
	p, err := e.program(ctx, m.ID)
	if err != nil {
		return redemption{}, app.Job{}, err
	}
	_, lastCurrency, err := e.contact(ctx, m.ID, key)
	if err != nil {
		return redemption{}, app.Job{}, err
	}
	// Shopify shops say their currency; otherwise the customer's orders do.
	currency := cmp.Or(m.Synced.Currency, lastCurrency)
	rs := p.Redeem
	value := rs.valueOf(r.Points, currency)
	switch {
	case !p.Enabled || !rs.Enabled:
		return redemption{}, app.Job{}, app.Invalid("points", "redemption is off in the loyalty program")
	case r.Points < rs.MinPoints:
		return redemption{}, app.Job{}, app.Invalid("points", "must be at least "+strconv.FormatInt(rs.MinPoints, 10))
	case rs.MaxPoints > 0 && r.Points > rs.MaxPoints:
		return redemption{}, app.Job{}, app.Invalid("points", "must be at most "+strconv.FormatInt(rs.MaxPoints, 10))
	case value == "":
		return redemption{}, app.Job{}, app.Invalid("points", "buy nothing: "+strconv.FormatInt(rs.PointsPerUnit, 10)+" points make one unit")
	}
	bal, err := e.ledger.Balance(ctx, m.ID, key)
	if err != nil {
		return redemption{}, app.Job{}, err
	}
	if bal.Points < r.Points {
		return redemption{}, app.Job{}, insufficient(bal.Points)
	}
	reason := strings.TrimSpace(r.Reason)
	if reason == "" {
		reason = "redeemed for a discount code"
	}
	rec := redemption{
		ID: id, Customer: key, Points: r.Points, Reason: reason,
		Code:  e.discounts.CodeFor(m, redeemPrefix, redeemSource(id)),
		Value: value, Currency: currency, MinimumSubtotal: rs.MinimumSubtotal, EndsAt: rs.endsAt(now),
		Status: redeemPending, CreatedAt: now,
	}
	job := app.Job{
		ID: "loyalty-redeem-" + id, Merchant: m.ID, Kind: JobRedeem, Key: "loyalty-redeem:" + id,
		Payload: []byte(id), MaxAttempts: redeemJobAttempts, CreatedAt: now, DueAt: now.Add(redeemFinishAfter),
	}
	return rec, job, nil
}

// answer is what a request is answered: the code, also when its event
// could not be sent (the redemption's job sends it again).
func (e *Engine) answer(m app.Merchant, id string) func(Redeemed, error) (Redeemed, error) {
	return func(out Redeemed, err error) (Redeemed, error) {
		var unsent *unsentError
		if errors.As(err, &unsent) {
			e.log.Warn("loyalty.coupon_created not sent yet; the redemption's job sends it", "merchant", m.ID, "redemption", id, "err", unsent.err)
			return out, nil
		}
		return out, err
	}
}

// unsentError is a code made whose event was not sent.
type unsentError struct{ err error }

func (e *unsentError) Error() string { return "loyalty: coupon event not sent: " + e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

func insufficient(balance int64) error {
	return app.Invalid("points", ErrInsufficientPoints.Error()+": the balance is "+strconv.FormatInt(balance, 10))
}

// finishRedemption takes a redemption from where its record says it is.
// Every step is keyed (the entries by source, the code by itself, the
// event by subject), so two finishers, or a finisher after a crash, do
// each once.
func (e *Engine) finishRedemption(ctx context.Context, m app.Merchant, rec redemption, version int64) (Redeemed, error) {
	switch rec.Status {
	case redeemCreated:
		return e.redeemed(ctx, m, rec)
	case redeemRefunded:
		return Redeemed{}, e.refund(ctx, m, rec)
	}
	res, err := e.ledger.Post(ctx, m.ID, rec.Customer, []Entry{{Kind: KindRedeem, Source: redeemSource(rec.ID), Points: rec.Points, Reason: rec.Reason}})
	var refused *RefusedError
	if errors.As(err, &refused) {
		// Nothing was spent: the redemption never happened.
		if err := e.data.DeleteStates(ctx, m.ID, redeemStateKey(rec.ID)); err != nil {
			return Redeemed{}, err
		}
		return Redeemed{}, insufficient(refused.Balance)
	}
	if err != nil {
		return Redeemed{}, fmt.Errorf("loyalty: redeem: %w", err)
	}
	posted := res.Entries[0]
	view := entryView(posted)
	rec.Entry, rec.Balance = &view, posted.Balance
	who, _, err := e.contact(ctx, m.ID, rec.Customer)
	if err != nil {
		return Redeemed{}, err
	}
	// Bounded well inside the server's write timeout: a slow store leaves
	// the redemption to its job rather than cut the answer off.
	storeCtx, cancel := context.WithTimeout(ctx, storeCallTimeout)
	defer cancel()
	code, err := e.discounts.CreateDiscount(storeCtx, m, app.DiscountRequest{
		Code: rec.Code, Title: "Loyalty reward: " + strconv.FormatInt(rec.Points, 10) + " points",
		Kind: app.DiscountFixedAmount, Value: rec.Value, Currency: rec.Currency, Customer: who,
		MinimumSubtotal: rec.MinimumSubtotal, StartsAt: rec.CreatedAt, EndsAt: rec.EndsAt,
	})
	if err != nil {
		if !refusal(err) {
			return Redeemed{}, &CouponError{Pending: true, Reason: "the store did not answer", Err: err}
		}
		rec.Status, rec.Failure = redeemRefunded, failureOf(err)
	} else {
		rec.Status, rec.Coupon = redeemCreated, &code
	}
	advanced, err := e.putRedemption(ctx, m.ID, rec, version+1)
	if err != nil {
		return Redeemed{}, err
	}
	if advanced && rec.Status == redeemCreated {
		e.countRedeemed(m.ID, rec.Points)
	}
	if !advanced {
		// Another finisher got there first: its outcome stands.
		stored, v, found, err := e.redemption(ctx, m.ID, rec.ID)
		if err != nil {
			return Redeemed{}, err
		}
		if !found || stored.Status == redeemPending {
			return Redeemed{}, fmt.Errorf("loyalty: redemption %s changed meanwhile", rec.ID)
		}
		return e.finishRedemption(ctx, m, stored, v)
	}
	return e.finishRedemption(ctx, m, rec, version+1)
}

// refusal tells a store's refusal (no retry makes the code) from a store
// that did not answer.
func refusal(err error) bool {
	var permanent *app.PermanentError
	return errors.As(err, &permanent) || !app.IsRetryable(err)
}

// failureOf is what the merchant is told of a refusal: the store's own
// message when it gave one.
func failureOf(err error) string {
	var pe *app.ProviderError
	if errors.As(err, &pe) && pe.Message != "" {
		return pe.Provider + ": " + pe.Message
	}
	if errors.Is(err, app.ErrNoDiscounts) {
		return app.ErrNoDiscounts.Error()
	}
	return "the store refused the code"
}

// redeemed tells the customer of their code (once: the subject is the
// redemption) and answers it. A failed send is left to the redemption's
// job, which sends it again.
func (e *Engine) redeemed(ctx context.Context, m app.Merchant, rec redemption) (Redeemed, error) {
	if rec.Entry == nil || rec.Coupon == nil {
		return Redeemed{}, fmt.Errorf("loyalty: redemption %s is created without its entry or code", rec.ID)
	}
	out := Redeemed{Entry: *rec.Entry, Coupon: *rec.Coupon}
	who, _, err := e.contact(ctx, m.ID, rec.Customer)
	if err != nil {
		return out, &unsentError{err}
	}
	err = e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventCouponCreated, Subject: "loyalty:" + redeemSource(rec.ID), Customer: who,
		Properties: map[string]any{
			"coupon": map[string]any{"code": rec.Coupon.Code, "value": app.FormatMoney(rec.Coupon.Value, rec.Coupon.Currency), "expires_on": endsOn(rec.Coupon.EndsAt)},
			"points": map[string]any{"amount": rec.Points, "balance": rec.Balance},
		},
	}})
	if err != nil {
		return out, &unsentError{err}
	}
	return out, nil
}

func endsOn(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// refund gives a refused redemption's points back, once (its own source),
// as a new lot with the program's expiry, and answers the refusal.
func (e *Engine) refund(ctx context.Context, m app.Merchant, rec redemption) error {
	refused := &CouponError{Reason: "the store refused the discount code (" + rec.Failure + "); the points were given back", Err: errCouponRefused}
	p, err := e.program(ctx, m.ID)
	if err != nil {
		return err
	}
	entry := Entry{Kind: KindAdjust, Source: refundSource(rec.ID), Points: rec.Points, ExpiresAt: p.expiresAt(e.now()),
		Reason: "given back: the store did not make the discount code"}
	res, err := e.ledger.Post(ctx, m.ID, rec.Customer, []Entry{entry})
	if err != nil {
		return fmt.Errorf("loyalty: give back a redemption's points: %w", err)
	}
	if posted := res.Entries[0]; !posted.Duplicate {
		if err := e.scheduleExpiry(ctx, m.ID, p, rec.Customer, posted); err != nil {
			return err
		}
	}
	return refused
}

var errCouponRefused = errors.New("discount code refused")

// handleRedeem finishes a redemption its request left: makes the code,
// sends its event, or gives the points back, on the last attempt also
// when the store never answered.
func (e *Engine) handleRedeem(ctx context.Context, job app.Job) error {
	id := string(job.Payload)
	m, err := e.merchants.Merchant(ctx, job.Merchant)
	if errors.Is(err, app.ErrNotFound) {
		return app.Permanent(err)
	}
	if err != nil {
		return err
	}
	rec, version, found, err := e.redemption(ctx, m.ID, id)
	if err != nil || !found {
		return err // none: refused for its balance, or redacted
	}
	if e.discounts == nil {
		return app.Permanent(app.ErrNoDiscounts)
	}
	_, err = e.finishRedemption(ctx, m, rec, version)
	var coupon *CouponError
	var invalid *app.ValidationError
	switch {
	case err == nil, errors.As(err, &invalid):
		return nil
	case errors.As(err, &coupon) && !coupon.Pending:
		return nil // refused: the points are back
	case errors.As(err, &coupon) && job.Attempt >= max(job.MaxAttempts, 1):
		return e.giveUp(ctx, m, id, coupon)
	}
	return err
}

// giveUp gives the points back of a redemption whose store never
// answered.
func (e *Engine) giveUp(ctx context.Context, m app.Merchant, id string, last *CouponError) error {
	rec, version, found, err := e.redemption(ctx, m.ID, id)
	if err != nil || !found || rec.Status != redeemPending {
		return err
	}
	rec.Status, rec.Failure = redeemRefunded, "the store did not answer: "+failureOf(last.Err)
	if _, err := e.putRedemption(ctx, m.ID, rec, version+1); err != nil {
		return err
	}
	stored, v, _, err := e.redemption(ctx, m.ID, id)
	if err != nil {
		return err
	}
	if _, err := e.finishRedemption(ctx, m, stored, v); err != nil && !errors.As(err, new(*CouponError)) {
		return err
	}
	return nil
}

func (e *Engine) redemption(ctx context.Context, merchant, id string) (redemption, int64, bool, error) {
	raw, version, err := e.data.State(ctx, merchant, redeemStateKey(id))
	if errors.Is(err, app.ErrNotFound) {
		return redemption{}, 0, false, nil
	}
	if err != nil {
		return redemption{}, 0, false, err
	}
	var rec redemption
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		return redemption{}, 0, false, fmt.Errorf("loyalty: redemption record %s: %w", id, err)
	}
	return rec, version, true, nil
}

func (e *Engine) putRedemption(ctx context.Context, merchant string, rec redemption, version int64, effects ...app.Job) (bool, error) {
	raw, err := json.Marshal(rec)
	if err != nil {
		return false, err
	}
	_, advanced, err := e.data.AdvanceState(ctx, merchant, redeemStateKey(rec.ID), version, string(raw), redeemTTL, effects...)
	return advanced, err
}
