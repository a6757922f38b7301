package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Counts counts what the engine decided not to do, by event type and
// outcome, in the merchant's daily stats (app.Service).
type Counts interface {
	Count(merchant, subject, outcome string, n int64)
}

// Referral rewards a customer (the referrer) when a friend's first paid
// order carries the referrer's code: ReferrerPoints for them, a discount
// code for the friend's next order.
type Referral struct {
	Enabled        bool           `json:"enabled"`
	ReferrerPoints int64          `json:"referrer_points"`
	Friend         FriendDiscount `json:"friend"`
}

// FriendDiscount is the code the referred friend gets.
type FriendDiscount struct {
	Kind            string `json:"kind"`  // fixed_amount or percentage
	Value           string `json:"value"` // a decimal: an amount in the order's currency, or a percentage
	ValidDays       int    `json:"valid_days"`
	MinimumSubtotal string `json:"minimum_subtotal,omitempty"`
}

func defaultReferral() Referral {
	return Referral{ReferrerPoints: 500, Friend: FriendDiscount{Kind: app.DiscountPercentage, Value: "10", ValidDays: 30}}
}

// validate checks a referral program that is on; one that is off may
// hold anything (a form that never showed it, a Go literal).
func (r Referral) validate(fields map[string]string) {
	if !r.Enabled {
		return
	}
	if r.ReferrerPoints < 0 || r.ReferrerPoints > maxActionPts {
		fields["referral.referrer_points"] = fmt.Sprintf("must be 0 to %d", maxActionPts)
	}
	switch r.Friend.Kind {
	case app.DiscountPercentage, app.DiscountFixedAmount:
	default:
		fields["referral.friend.kind"] = `must be "percentage" or "fixed_amount"`
	}
	if v, ok := decimal(r.Friend.Value); !ok || v <= 0 || (r.Friend.Kind == app.DiscountPercentage && v > 100) {
		fields["referral.friend.value"] = "must be a positive decimal (a percentage at most 100)"
	}
	if r.Friend.ValidDays < 1 || r.Friend.ValidDays > 366 {
		fields["referral.friend.valid_days"] = "must be 1 to 366"
	}
	if s := r.Friend.MinimumSubtotal; s != "" {
		if v, ok := decimal(s); !ok || v < 0 {
			fields["referral.friend.minimum_subtotal"] = "must be a decimal amount"
		}
	}
}

func decimal(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "eE+-/xXpP_") {
		return 0, false
	}
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return 0, false
	}
	return v, true
}

// Where referral codes and decisions are kept.
const (
	referralCodesMap = "loyalty-referral-codes" // code → the referrer's customer key
	codePrefix       = "REF"
	friendPrefix     = "FRIEND"
)

func referralStateKey(friend string) string { return "loyalty:referral:" + friend }
func cancelledStateKey(order string) string { return "loyalty:cancelled:" + order }

// referralOn reports whether the merchant's referrals can run.
func (e *Engine) referralOn(p Program) bool {
	return p.Enabled && p.Referral.Enabled && e.discounts != nil
}

// ReferralCode is the customer's referral code: derived from the
// merchant, the customer and the service's key, so it is the same every
// time, short, and cannot be guessed from another customer's. Issuing it
// records which customer it belongs to.
func (e *Engine) referralCode(ctx context.Context, m app.Merchant, customer string) (code string, issued bool, err error) {
	code = e.discounts.CodeFor(m, codePrefix, "referral:"+customer)
	owner, err := e.data.MapGet(ctx, m.ID, referralCodesMap, code)
	if err == nil && owner == customer {
		return code, false, nil
	}
	if err != nil && !errors.Is(err, app.ErrNotFound) {
		return "", false, err
	}
	if err := e.data.MapSet(ctx, m.ID, referralCodesMap, map[string]string{code: customer}); err != nil {
		return "", false, err
	}
	return code, true, nil
}

// referralCodeIfOn is the customer's code, "" while referrals are off.
func (e *Engine) referralCodeIfOn(ctx context.Context, m app.Merchant, customer string) (string, error) {
	p, err := e.program(ctx, m.ID)
	if err != nil || !e.referralOn(p) {
		return "", err
	}
	code, _, err := e.referralCode(ctx, m, customer)
	return code, err
}

// forgetReferralCodes unlinks the codes of a redacted customer's keys
// from them: the map keeps the code with no owner, which completes no
// referral.
func (e *Engine) forgetReferralCodes(ctx context.Context, m app.Merchant, keys map[string]bool) error {
	if e.discounts == nil {
		return nil
	}
	fields := map[string]string{}
	for key := range keys {
		code := e.discounts.CodeFor(m, codePrefix, "referral:"+key)
		if _, err := e.data.MapGet(ctx, m.ID, referralCodesMap, code); err == nil {
			fields[code] = ""
		} else if !errors.Is(err, app.ErrNotFound) {
			return err
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return e.data.MapSet(ctx, m.ID, referralCodesMap, fields)
}

// withReferralCode is the engine's sender: it adds the customer's
// referral.code to every engine event while the merchant runs referrals.
type withReferralCode struct {
	e    *Engine
	next EventSender
}

func (w withReferralCode) ProcessEvents(ctx context.Context, m app.Merchant, events []app.Event) error {
	p, err := w.e.observedProgram(ctx, m.ID)
	if err != nil {
		return err
	}
	if w.e.referralOn(p) {
		for i, ev := range events {
			key := CustomerKey(ev.Customer)
			if key == "" {
				continue
			}
			code, issued, err := w.e.referralCode(ctx, m, key)
			if err != nil {
				return err
			}
			if issued {
				if _, err := w.e.touchProfile(ctx, m.ID, key, ev.Customer, "", ""); err != nil {
					return err
				}
			}
			props := cloneMap(ev.Properties)
			ref, _ := props["referral"].(map[string]any)
			ref = cloneMap(ref)
			if _, ok := ref["code"]; !ok {
				ref["code"] = code
			}
			props["referral"] = ref
			events[i].Properties = props
		}
	}
	return w.next.ProcessEvents(ctx, m, events)
}

func cloneMap(in map[string]any) map[string]any {
	out := make(map[string]any, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	return out
}

// referralCandidates are the codes an order may carry a referral in: the
// adapters' order.ref (Shopify: the landing page's ?ref= or a note
// attribute "ref"/"referral_code"; WooCommerce: the order meta of the
// same names) first, then its discount codes (order.discount_codes,
// comma-separated: a code the merchant made a store discount of).
func referralCandidates(ev app.Event) []string {
	var out []string
	if v, ok := ev.Lookup("order.ref"); ok {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
			out = append(out, strings.ToUpper(strings.TrimSpace(s)))
		}
	}
	if v, ok := ev.Lookup("order.discount_codes"); ok {
		if s, ok := v.(string); ok {
			for c := range strings.SplitSeq(s, ",") {
				if c = strings.ToUpper(strings.TrimSpace(c)); strings.HasPrefix(c, codePrefix+"-") {
					out = append(out, c)
				}
			}
		}
	}
	if len(out) > 5 {
		out = out[:5]
	}
	return out
}

// referralDecision is what became of a friend's referral: decided once,
// at their first paid order that carried a code.
type referralDecision struct {
	Status   string `json:"status"` // completed, rejected
	Reason   string `json:"reason,omitempty"`
	Referrer string `json:"referrer"`
	Code     string `json:"code"`
	Order    string `json:"order"`
	Currency string `json:"currency,omitempty"`
	// Rewarded is set (version 2 of the record) once both sides got their
	// reward and messages: a redelivered order then asks the store for
	// nothing.
	Rewarded bool `json:"rewarded,omitempty"`
}

// Reasons a referral is turned down; counted as
// loyalty.referral_completed "skipped.referral_<reason>" in the stats.
const (
	RejectSelf          = "self_referral"
	RejectNotFirstOrder = "not_first_order"
	RejectSamePhone     = "same_phone"
	RejectSameEmail     = "same_email"
	RejectSameAddress   = "same_address"
)

// referralOnPaid completes or turns down the referral an order carries.
func (e *Engine) referralOnPaid(ctx context.Context, m app.Merchant, p Program, order string, ev app.Event, friend profile, first bool) error {
	codes := referralCandidates(ev)
	if len(codes) == 0 {
		return nil
	}
	var referrer, code string
	for _, c := range codes {
		owner, err := e.data.MapGet(ctx, m.ID, referralCodesMap, c)
		if errors.Is(err, app.ErrNotFound) || (err == nil && owner == "") {
			continue // no one's, or a redacted customer's
		}
		if err != nil {
			return err
		}
		referrer, code = owner, c
		break
	}
	friendKey := CustomerKey(ev.Customer)
	if referrer == "" || friendKey == "" {
		return nil
	}
	dec, found, err := e.referralDecision(ctx, m.ID, friendKey)
	if err != nil {
		return err
	}
	if !found {
		reason, err := e.fraudCheck(ctx, m.ID, referrer, friendKey, ev, friend, first)
		if err != nil {
			return err
		}
		cur, _ := ev.Lookup("order.currency")
		currency, _ := cur.(string)
		dec = referralDecision{Status: "completed", Reason: reason, Referrer: referrer, Code: code, Order: order, Currency: currency}
		if reason != "" {
			dec.Status = "rejected"
		}
		raw, err := json.Marshal(dec)
		if err != nil {
			return err
		}
		stored, advanced, err := e.data.AdvanceState(ctx, m.ID, referralStateKey(friendKey), 1, string(raw), orderTTL)
		if err != nil {
			return err
		}
		if !advanced { // decided by a concurrent delivery
			if err := json.Unmarshal([]byte(stored), &dec); err != nil {
				return fmt.Errorf("loyalty: referral record: %w", err)
			}
		} else if reason != "" {
			e.log.Info("referral turned down", "merchant", m.ID, "order", order, "reason", reason)
			if e.counts != nil {
				e.counts.Count(m.ID, app.EventReferralCompleted, "skipped.referral_"+reason, 1)
			}
		}
	}
	if dec.Status != "completed" || dec.Order != order || dec.Rewarded {
		return nil
	}
	if err := e.rewardReferral(ctx, m, p, friendKey, ev.Customer, dec); err != nil {
		return err
	}
	dec.Rewarded = true
	raw, err := json.Marshal(dec)
	if err != nil {
		return err
	}
	_, _, err = e.data.AdvanceState(ctx, m.ID, referralStateKey(friendKey), 2, string(raw), orderTTL)
	return err
}

func (e *Engine) referralDecision(ctx context.Context, merchant, friend string) (referralDecision, bool, error) {
	raw, _, err := e.data.State(ctx, merchant, referralStateKey(friend))
	if errors.Is(err, app.ErrNotFound) {
		return referralDecision{}, false, nil
	}
	if err != nil {
		return referralDecision{}, false, err
	}
	var dec referralDecision
	if err := json.Unmarshal([]byte(raw), &dec); err != nil {
		return referralDecision{}, false, fmt.Errorf("loyalty: referral record: %w", err)
	}
	return dec, true, nil
}

// fraudCheck answers why the referral must not be rewarded, or "": the
// friend is the referrer, has ordered before, or shares the referrer's
// phone, email (case, plus-addressing and Gmail's dots folded) or
// shipping address.
func (e *Engine) fraudCheck(ctx context.Context, merchant, referrer, friendKey string, ev app.Event, friend profile, first bool) (string, error) {
	if friendKey == referrer {
		return RejectSelf, nil
	}
	if !first {
		return RejectNotFirstOrder, nil
	}
	rp, err := e.profile(ctx, merchant, referrer)
	if err != nil {
		return "", err
	}
	refPhones := []string{rp.Who.Phone}
	refEmails := []string{foldEmail(rp.Who.Email)}
	if strings.HasPrefix(referrer, "+") {
		refPhones = append(refPhones, referrer)
	}
	if strings.Contains(referrer, "@") {
		refEmails = append(refEmails, foldEmail(referrer))
	}
	if ph := ev.Customer.Phone; ph != "" && contains(refPhones, ph) {
		return RejectSamePhone, nil
	}
	if em := foldEmail(ev.Customer.Email); em != "" && contains(refEmails, em) {
		return RejectSameEmail, nil
	}
	if a := friend.Address; a != "" && a == rp.Address {
		return RejectSameAddress, nil
	}
	return "", nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v != "" && v == s {
			return true
		}
	}
	return false
}

// rewardReferral posts the referrer's points, creates the friend's code
// and tells both; every step is keyed by the friend, so a retry or a
// redelivery repeats none of them.
func (e *Engine) rewardReferral(ctx context.Context, m app.Merchant, p Program, friendKey string, friend app.Customer, dec referralDecision) error {
	rp, err := e.profile(ctx, m.ID, dec.Referrer)
	if err != nil {
		return err
	}
	who := rp.Who
	if CustomerKey(who) == "" {
		who = customerOfKey(dec.Referrer)
	}
	points := map[string]any{"amount": int64(0)}
	if n := p.Referral.ReferrerPoints; n > 0 {
		res, err := e.ledger.Post(ctx, m.ID, dec.Referrer, []Entry{{
			Kind: KindEarn, Source: "referral:" + friendKey, Points: n, ExpiresAt: p.expiresAt(e.now()),
			Reason: "referral of order " + dec.Order,
		}})
		if err != nil {
			return fmt.Errorf("loyalty: referral reward: %w", err)
		}
		posted := res.Entries[0]
		if !posted.Duplicate {
			if err := e.scheduleExpiry(ctx, m.ID, p, dec.Referrer, posted); err != nil {
				return err
			}
		}
		points = map[string]any{"amount": posted.Points, "balance": res.Balance.Points}
	}
	coupon, err := e.friendCoupon(ctx, m, p, friendKey, friend, dec)
	if err != nil {
		return err
	}
	events := []app.Event{{
		Type: app.EventReferralCompleted, Subject: "loyalty:referral:" + friendKey, Customer: who,
		Properties: map[string]any{
			"referral": map[string]any{"friend_name": firstNonEmpty(friend.FirstName, friend.Name()), "order_id": dec.Order,
				"reward": fmt.Sprintf("%d points", p.Referral.ReferrerPoints)},
			"points": points,
		},
	}}
	if coupon != nil {
		events = append(events, app.Event{
			Type: app.EventCouponCreated, Subject: "loyalty:referral-coupon:" + friendKey, Customer: friend,
			Properties: map[string]any{
				"coupon":   coupon,
				"referral": map[string]any{"referrer_name": firstNonEmpty(who.FirstName, who.Name()), "reward": coupon["value"]},
			},
		})
	}
	return e.sender.ProcessEvents(ctx, m, events)
}

// friendCoupon creates the friend's code (idempotent on its code); nil
// when the store cannot make codes, which is logged and not retried.
func (e *Engine) friendCoupon(ctx context.Context, m app.Merchant, p Program, friendKey string, friend app.Customer, dec referralDecision) (map[string]any, error) {
	f := p.Referral.Friend
	req := app.DiscountRequest{
		Code: e.discounts.CodeFor(m, friendPrefix, "referral:"+friendKey), Title: "Referral welcome",
		Kind: f.Kind, Value: f.Value, Currency: dec.Currency, Customer: friend, MinimumSubtotal: f.MinimumSubtotal,
		EndsAt: e.now().Add(time.Duration(f.ValidDays) * 24 * time.Hour),
	}
	code, err := e.discounts.CreateDiscount(ctx, m, req)
	if err != nil {
		var permanent *app.PermanentError
		if errors.As(err, &permanent) {
			e.log.Warn("referral: the friend's code could not be created", "merchant", m.ID, "err", err)
			return nil, nil
		}
		return nil, err
	}
	value := code.Value + "%"
	if code.Kind == app.DiscountFixedAmount {
		value = app.FormatMoney(code.Value, code.Currency)
	}
	out := map[string]any{"code": code.Code, "value": value}
	if !code.EndsAt.IsZero() {
		out["expires_on"] = code.EndsAt.Format(time.DateOnly)
	}
	return out, nil
}

// customerOfKey is a customer known only by their ledger key.
func customerOfKey(key string) app.Customer {
	switch {
	case strings.HasPrefix(key, "+"):
		return app.Customer{Phone: key}
	case strings.Contains(key, "@"):
		return app.Customer{Email: key}
	}
	return app.Customer{ID: key}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cancelled reports an order seen cancelled: its payment, delivered
// late, makes it no first order, completes no referral, earns no action.
func (e *Engine) cancelled(ctx context.Context, merchant, order string) (bool, error) {
	_, _, err := e.data.State(ctx, merchant, cancelledStateKey(order))
	if errors.Is(err, app.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// referralOnCancel marks the order cancelled and takes back the
// referrer's points when it completed a referral.
func (e *Engine) referralOnCancel(ctx context.Context, m app.Merchant, order string, ev app.Event) error {
	if _, _, err := e.data.AdvanceState(ctx, m.ID, cancelledStateKey(order), 1, "cancelled", orderTTL); err != nil {
		return err
	}
	friendKey := CustomerKey(ev.Customer)
	if friendKey == "" {
		return nil
	}
	dec, found, err := e.referralDecision(ctx, m.ID, friendKey)
	if err != nil || !found || dec.Status != "completed" || dec.Order != order {
		return err
	}
	lots, err := e.ledger.Lots(ctx, m.ID, dec.Referrer)
	if err != nil {
		return err
	}
	for _, l := range lots {
		if l.ID != "referral:"+friendKey {
			continue
		}
		_, err := e.ledger.Post(ctx, m.ID, dec.Referrer, []Entry{{Kind: KindReverse, Source: "referral:" + friendKey + ":cancel",
			Ref: l.ID, Points: l.Points, Reason: "referred order " + order + " cancelled"}})
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil
		}
		return err
	}
	return nil
}
