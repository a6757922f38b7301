package loyalty

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Points is a customer's standing as the admin API shows it.
type Points struct {
	Customer   string      `json:"customer"`
	Balance    int64       `json:"balance"`
	Pending    int64       `json:"pending"`
	Tier       string      `json:"tier"`
	NextExpiry *NextExpiry `json:"next_expiry"`
	// ReferralCode is the customer's code while the merchant runs
	// referrals.
	ReferralCode string      `json:"referral_code,omitempty"`
	Entries      []EntryView `json:"entries"`
	Next         string      `json:"next"`
}

// NextExpiry is the soonest lot to expire.
type NextExpiry struct {
	Points int64  `json:"points"`
	On     string `json:"on"`
}

// EntryView is one ledger entry in the API.
type EntryView struct {
	ID        string     `json:"id"`
	Kind      Kind       `json:"kind"`
	Points    int64      `json:"points"`
	Source    string     `json:"source"`
	Reason    string     `json:"reason,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func entryView(e Entry) EntryView {
	v := EntryView{ID: strconv.FormatInt(e.Seq, 10), Kind: e.Kind, Points: e.Delta + e.PendingDelta, Source: e.Source, Reason: e.Reason, CreatedAt: e.CreatedAt}
	if !e.ExpiresAt.IsZero() {
		at := e.ExpiresAt
		v.ExpiresAt = &at
	}
	return v
}

// customerParam checks the {customer} of the API: a platform id, or a
// phone in E.164 (normalised in the merchant's country).
func customerParam(m app.Merchant, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxCustomer {
		return "", app.Invalid("customer", "must be a customer id or a phone in E.164")
	}
	if strings.HasPrefix(raw, "+") {
		phone, err := app.NormalizePhone(raw, m.Country)
		if err != nil {
			return "", app.Invalid("customer", "is not a valid phone number")
		}
		return phone, nil
	}
	return raw, nil
}

// Points answers a customer's balances and their ledger, newest first,
// a page at a time (before: the "next" of the previous page).
func (e *Engine) Points(ctx context.Context, merchant, customer, before string, limit int) (Points, error) {
	m, err := e.merchants.Merchant(ctx, merchant)
	if err != nil {
		return Points{}, err
	}
	key, err := customerParam(m, customer)
	if err != nil {
		return Points{}, err
	}
	page := Page{Limit: limit}
	if before != "" {
		if page.Before, err = strconv.ParseInt(before, 10, 64); err != nil || page.Before <= 0 {
			return Points{}, app.Invalid("before", "must be the next of a previous page")
		}
	}
	bal, err := e.ledger.Balance(ctx, m.ID, key)
	if err != nil {
		return Points{}, err
	}
	entries, next, err := e.ledger.Entries(ctx, m.ID, key, page)
	if err != nil {
		return Points{}, err
	}
	lots, err := e.ledger.Lots(ctx, m.ID, key)
	if err != nil {
		return Points{}, err
	}
	st, err := e.standing(ctx, m.ID, key)
	if err != nil {
		return Points{}, err
	}
	out := Points{Customer: key, Balance: bal.Points, Pending: bal.Pending, Tier: st.Tier, Entries: make([]EntryView, 0, len(entries))}
	if out.ReferralCode, err = e.referralCodeIfOn(ctx, m, key); err != nil {
		return Points{}, err
	}
	for _, en := range entries {
		out.Entries = append(out.Entries, entryView(en))
	}
	if next > 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	for _, l := range lots {
		if l.Pending || l.ExpiresAt.IsZero() || l.Remaining <= 0 {
			continue
		}
		if out.NextExpiry == nil || l.ExpiresAt.Format(time.DateOnly) < out.NextExpiry.On {
			out.NextExpiry = &NextExpiry{Points: l.Remaining, On: l.ExpiresAt.Format(time.DateOnly)}
		} else if l.ExpiresAt.Format(time.DateOnly) == out.NextExpiry.On {
			out.NextExpiry.Points += l.Remaining
		}
	}
	return out, nil
}

// Adjustment is a merchant's manual change of a customer's points.
type Adjustment struct {
	Points int64  `json:"points"`
	Reason string `json:"reason"`
	// Key, when given, makes a retried adjustment post once.
	Key string `json:"key"`
}

// Adjust posts a manual adjustment; refused (422) when it would take the
// balance below zero.
func (e *Engine) Adjust(ctx context.Context, merchant, customer string, a Adjustment) (EntryView, error) {
	m, err := e.merchants.Merchant(ctx, merchant)
	if err != nil {
		return EntryView{}, err
	}
	key, err := customerParam(m, customer)
	if err != nil {
		return EntryView{}, err
	}
	fields := map[string]string{}
	if a.Points == 0 || a.Points > MaxPoints || a.Points < -MaxPoints {
		fields["points"] = "must be a non-zero whole number of points"
	}
	if r := strings.TrimSpace(a.Reason); r == "" || len(r) > MaxReason {
		fields["reason"] = "is required (at most 500 characters)"
	}
	if len(a.Key) > 100 {
		fields["key"] = "is too long"
	}
	if len(fields) > 0 {
		return EntryView{}, &app.ValidationError{Fields: fields}
	}
	now := e.now()
	source := "adjust:" + app.NewID(now)
	if a.Key != "" {
		source = "adjust:" + a.Key
	}
	entry := Entry{Kind: KindAdjust, Source: source, Points: a.Points, Reason: strings.TrimSpace(a.Reason)}
	var p Program
	if a.Points > 0 {
		if p, err = e.program(ctx, m.ID); err != nil {
			return EntryView{}, err
		}
		entry.ExpiresAt = p.expiresAt(now)
	}
	res, err := e.ledger.Post(ctx, m.ID, key, []Entry{entry})
	var refused *RefusedError
	if errors.As(err, &refused) {
		return EntryView{}, app.Invalid("points", refused.Reason.Error()+": the balance is "+strconv.FormatInt(refused.Balance, 10))
	}
	if err != nil {
		return EntryView{}, err
	}
	posted := res.Entries[0]
	if a.Points > 0 && !posted.Duplicate {
		if err := e.scheduleExpiry(ctx, m.ID, p, key, posted); err != nil {
			return EntryView{}, err
		}
	}
	return entryView(posted), nil
}
