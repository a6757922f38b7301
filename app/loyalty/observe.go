package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/storebridge/storebridge/app"
)

// observeOther reacts to the events that are not orders: a customer's
// signup, birthday, review and the merchant's custom events earn their
// actions; a review also ends the review requests it answers.
func (e *Engine) observeOther(ctx context.Context, m app.Merchant, ev app.Event) error {
	p, err := e.observedProgram(ctx, m.ID)
	if err != nil || !p.Enabled {
		return err
	}
	if ev.Type == app.EventReviewSubmitted {
		if err := e.reviewSubmitted(ctx, m, ev); err != nil {
			return err
		}
	}
	return e.observeActions(ctx, m, p, ev, false)
}

// observeOrderExtras is the order's part in actions, referrals and review
// requests; earning and reversal follow in ObserveEvent.
func (e *Engine) observeOrderExtras(ctx context.Context, m app.Merchant, p Program, order string, ev app.Event) error {
	key := CustomerKey(ev.Customer)
	if key == "" {
		return nil
	}
	switch ev.Type {
	case app.EventOrderPaid:
		if !p.Enabled {
			return nil
		}
		if gone, err := e.cancelled(ctx, m.ID, order); err != nil || gone {
			return err
		}
		prof, err := e.touchProfile(ctx, m.ID, key, ev.Customer, shippingAddress(ev), order)
		if err != nil {
			return err
		}
		first := prof.FirstOrder == order
		if e.referralOn(p) {
			if err := e.referralOnPaid(ctx, m, p, order, ev, prof, first); err != nil {
				return err
			}
		}
		return e.observeActions(ctx, m, p, ev, first)
	case app.EventOrderDelivered:
		if p.Enabled && p.ReviewRequest.Enabled {
			return e.scheduleReviews(ctx, m, p, order, ev)
		}
	case app.EventOrderCancelled:
		return e.referralOnCancel(ctx, m, order, ev)
	}
	return nil
}

// profile is what the engine keeps of a customer for first orders and
// the referral checks: their contact, folded email and shipping address,
// and their first paid order.
type profile struct {
	Who     app.Customer `json:"who"`
	Email   string       `json:"email,omitempty"`
	Address string       `json:"address,omitempty"`
	// FirstOrder is the first paid order the engine saw; "-" when the
	// customer had earned from orders before it saw any.
	FirstOrder string `json:"first_order,omitempty"`
}

func profileKey(customer string) string { return "loyalty:profile:" + customer }

func (e *Engine) profile(ctx context.Context, merchant, customer string) (profile, error) {
	p, _, err := e.profileVersion(ctx, merchant, customer)
	return p, err
}

func (e *Engine) profileVersion(ctx context.Context, merchant, customer string) (profile, int64, error) {
	raw, version, err := e.data.State(ctx, merchant, profileKey(customer))
	if errors.Is(err, app.ErrNotFound) {
		return profile{}, 0, nil
	}
	if err != nil {
		return profile{}, 0, err
	}
	var p profile
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return profile{}, 0, fmt.Errorf("loyalty: profile of a customer: %w", err)
	}
	return p, version, nil
}

// touchProfile records what the event tells of the customer and, for a
// paid order, makes it their first when none was seen. Concurrent writes
// race on the record's version; the loser reads again.
func (e *Engine) touchProfile(ctx context.Context, merchant, key string, who app.Customer, address, order string) (profile, error) {
	for range 10 {
		p, version, err := e.profileVersion(ctx, merchant, key)
		if err != nil {
			return profile{}, err
		}
		next := p
		next.Who = mergeCustomer(p.Who, who)
		next.Email = foldEmail(next.Who.Email)
		if address != "" {
			next.Address = address
		}
		if order != "" && next.FirstOrder == "" {
			next.FirstOrder = order
			earlier, err := e.orderedBefore(ctx, merchant, key, order)
			if err != nil {
				return profile{}, err
			}
			if earlier {
				next.FirstOrder = "-"
			}
		}
		if next == p {
			return p, nil
		}
		raw, err := json.Marshal(next)
		if err != nil {
			return profile{}, err
		}
		_, advanced, err := e.data.AdvanceState(ctx, merchant, profileKey(key), version+1, string(raw), orderTTL)
		if err != nil {
			return profile{}, err
		}
		if advanced {
			return next, nil
		}
	}
	return profile{}, errors.New("loyalty: profile of a customer kept changing")
}

// orderedBefore reports whether the customer's ledger holds an earn of
// another order that was not cancelled: a customer who ordered before
// the engine kept profiles.
func (e *Engine) orderedBefore(ctx context.Context, merchant, key, order string) (bool, error) {
	entries, _, err := e.ledger.Entries(ctx, merchant, key, Page{Limit: MaxEntriesPage})
	if err != nil {
		return false, err
	}
	for _, en := range entries {
		other, ok := strings.CutPrefix(en.Source, "order:")
		if !ok || en.Source == earnSource(order) || !strings.HasSuffix(other, ":earn") {
			continue
		}
		gone, err := e.cancelled(ctx, merchant, strings.TrimSuffix(other, ":earn"))
		if err != nil || !gone {
			return !gone, err
		}
	}
	return false, nil
}

func mergeCustomer(old, in app.Customer) app.Customer {
	out := old
	set := func(dst *string, v string) {
		if v = strings.TrimSpace(v); v != "" {
			*dst = v
		}
	}
	set(&out.ID, in.ID)
	set(&out.FirstName, in.FirstName)
	set(&out.LastName, in.LastName)
	set(&out.Email, in.Email)
	set(&out.Phone, in.Phone)
	out.PhoneProblem, out.Consent, out.ConsentSource = "", "", ""
	if out.Phone == "" {
		out.PhoneProblem = in.PhoneProblem
	}
	return out
}

// foldEmail is an email as one mailbox: lower case, without a +tag, and
// for Gmail without the dots Gmail ignores.
func foldEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" {
		return ""
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// shippingAddress is the order's shipping address folded to letters and
// digits (the adapters' order.shipping_address: address1, address2,
// city, zip, country), "" without a street.
func shippingAddress(ev app.Event) string {
	v, _ := ev.Lookup("order.shipping_address")
	a, _ := v.(map[string]any)
	street, _ := a["address1"].(string)
	if strings.TrimSpace(street) == "" {
		return ""
	}
	var b strings.Builder
	for _, k := range []string{"address1", "address2", "city", "zip", "country"} {
		s, _ := a[k].(string)
		for _, r := range strings.ToLower(s) {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(r)
			}
		}
		b.WriteByte('|')
	}
	return b.String()
}
