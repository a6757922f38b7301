package loyalty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Action is a fixed-point earning rule: Points for each event On names,
// at most Limit times per customer per Per (0: no limit).
type Action struct {
	// Name identifies the rule in the ledger's source keys: keep it when
	// editing the rule, or its caps start again.
	Name   string `json:"name"`
	On     string `json:"on"`    // signup, first_order, birthday, review, custom
	Event  string `json:"event"` // custom: the event type pushed to the events API
	Points int64  `json:"points"`
	Limit  int    `json:"limit"`
	Per    string `json:"per"` // day, month, year, lifetime
}

// What an action is earned on, and the periods of its cap.
const (
	OnSignup     = "signup"      // customer.created (WooCommerce; Shopify customers/create)
	OnFirstOrder = "first_order" // the customer's first paid order
	OnBirthday   = "birthday"    // customer.birthday pushed to the events API
	OnReview     = "review"      // review.submitted pushed to the events API
	OnCustom     = "custom"      // the rule's own event type, pushed to the events API

	PerDay      = "day"
	PerMonth    = "month"
	PerYear     = "year"
	PerLifetime = "lifetime"
)

// Bounds of the actions.
const (
	maxActions     = 20
	maxActionLimit = 50
	maxActionPts   = 1_000_000
)

var (
	actionNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	customEventPat    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_-]+)+$`)
)

// eventType is the event type the action earns on; "" for a first order,
// which is an order.paid the engine recognises.
func (a Action) eventType() string {
	switch a.On {
	case OnSignup:
		return app.EventCustomerCreated
	case OnBirthday:
		return app.EventCustomerBirthday
	case OnReview:
		return app.EventReviewSubmitted
	case OnCustom:
		return a.Event
	}
	return ""
}

// cap is the action's effective limit: a signup and a first order happen
// once in a customer's life, a birthday at most once a year.
func (a Action) cap() (int, string) {
	switch a.On {
	case OnSignup, OnFirstOrder:
		return 1, PerLifetime
	case OnBirthday:
		if a.Limit == 0 || a.Per == PerLifetime || a.Per == "" {
			return 1, PerYear
		}
	}
	return a.Limit, a.Per
}

func (p *Program) normalizeExtras() {
	if p.Actions == nil {
		p.Actions = []Action{}
	}
	if p.Milestones == nil {
		p.Milestones = []Milestone{}
	}
	for i := range p.Actions {
		p.Actions[i].Name = strings.TrimSpace(p.Actions[i].Name)
		p.Actions[i].Event = strings.TrimSpace(p.Actions[i].Event)
		if p.Actions[i].Per == "" {
			p.Actions[i].Per = PerLifetime
		}
	}
	for i := range p.Milestones {
		p.Milestones[i].Name = strings.TrimSpace(p.Milestones[i].Name)
	}
	p.ReviewRequest.URL = strings.TrimSpace(p.ReviewRequest.URL)
}

func (p Program) validateActions(fields map[string]string) {
	if len(p.Actions) > maxActions {
		fields["actions"] = fmt.Sprintf("at most %d", maxActions)
	}
	names := map[string]bool{}
	for i, a := range p.Actions {
		f := func(name string) string { return fmt.Sprintf("actions[%d].%s", i, name) }
		switch {
		case !actionNamePattern.MatchString(a.Name):
			fields[f("name")] = "must be 1 to 40 lower-case letters, digits, - or _"
		case names[a.Name]:
			fields[f("name")] = "is used by another action"
		default:
			names[a.Name] = true
		}
		switch a.On {
		case OnSignup, OnFirstOrder, OnBirthday, OnReview:
			if a.Event != "" {
				fields[f("event")] = `is only for "custom" actions`
			}
		case OnCustom:
			if len(a.Event) > 100 || !customEventPat.MatchString(a.Event) {
				fields[f("event")] = "must be a dotted event name like quiz.completed"
			} else if reservedEvent(a.Event) {
				fields[f("event")] = "names an event of the store or of the engine: use the action made for it"
			}
		default:
			fields[f("on")] = `must be "signup", "first_order", "birthday", "review" or "custom"`
		}
		if a.Points <= 0 || a.Points > maxActionPts {
			fields[f("points")] = fmt.Sprintf("must be 1 to %d", maxActionPts)
		}
		if a.Limit < 0 || a.Limit > maxActionLimit {
			fields[f("limit")] = fmt.Sprintf("must be 0 (no limit) to %d", maxActionLimit)
		}
		switch a.Per {
		case PerDay, PerMonth, PerYear, PerLifetime:
		default:
			fields[f("per")] = `must be "day", "month", "year" or "lifetime"`
		}
	}
}

// reservedEvent reports the types a custom action may not name: orders,
// carts and COD come from the store, loyalty.* from the engine, and the
// rest have their own action.
func reservedEvent(t string) bool {
	for _, prefix := range []string{"order.", "cart.", "cod.", "loyalty."} {
		if strings.HasPrefix(t, prefix) {
			return true
		}
	}
	return t == app.EventCustomerCreated || t == app.EventCustomerBirthday || t == app.EventReviewSubmitted
}

// periodSlot names the period of at in the merchant's time zone.
func periodSlot(per string, at time.Time, m app.Merchant) string {
	if loc, err := time.LoadLocation(m.Timezone); err == nil && m.Timezone != "" {
		at = at.In(loc)
	} else {
		at = at.UTC()
	}
	switch per {
	case PerDay:
		return at.Format("20060102")
	case PerMonth:
		return at.Format("200601")
	case PerYear:
		return at.Format("2006")
	}
	return "life"
}

// shortHash keeps a customer key or an event id short inside a source key.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:10])
}

// observeActions earns the fixed-point actions an event matches.
func (e *Engine) observeActions(ctx context.Context, m app.Merchant, p Program, ev app.Event, firstOrder bool) error {
	for _, a := range p.Actions {
		match := a.eventType() == ev.Type && a.eventType() != ""
		if a.On == OnFirstOrder {
			match = firstOrder
		}
		if !match {
			continue
		}
		if err := e.awardAction(ctx, m, p, a, ev); err != nil {
			return err
		}
	}
	return nil
}

// awardAction posts the action's points once per occurrence (the event's
// subject) and within its cap. A capped action has Limit slots per period,
// each a source key of its own (action:{name}:{period}:{n}:{customer}):
// the ledger posts a source once, so two occurrences can never share a
// slot and the cap holds however many deliveries race. An occurrence
// names itself in the entry's reason; a redelivery that finds its own
// entry in a slot stops there, so it never posts twice.
func (e *Engine) awardAction(ctx context.Context, m app.Merchant, p Program, a Action, ev app.Event) error {
	key := CustomerKey(ev.Customer)
	occurrence := ev.Subject
	if key == "" || occurrence == "" {
		return nil
	}
	reason := a.Name + ": " + occurrence
	if len(reason) > MaxReason {
		reason = a.Name + ": " + shortHash(occurrence)
	}
	at := ev.OccurredAt
	if at.IsZero() {
		at = e.now()
	}
	limit, per := a.cap()
	var sources []string
	if limit == 0 {
		sources = []string{"action:" + a.Name + ":ev:" + shortHash(occurrence) + ":" + shortHash(key)}
	} else {
		slot := periodSlot(per, at, m)
		for n := 1; n <= limit; n++ {
			sources = append(sources, "action:"+a.Name+":"+slot+":"+strconv.Itoa(n)+":"+shortHash(key))
		}
	}
	sources, err := e.untakenFirst(ctx, m.ID, key, reason, sources)
	if err != nil {
		return err
	}
	now := e.now()
	for _, source := range sources {
		entry := Entry{Kind: KindEarn, Source: source, Points: a.Points, ExpiresAt: p.expiresAt(now), Reason: reason}
		res, err := e.ledger.Post(ctx, m.ID, key, []Entry{entry})
		if err != nil {
			return fmt.Errorf("loyalty: action %s: %w", a.Name, err)
		}
		posted := res.Entries[0]
		if posted.Duplicate && posted.Reason != reason {
			continue // the slot went to another occurrence
		}
		// Posted now, or by an earlier delivery whose send may have failed:
		// the event's subject is the lot, so it reaches the customer once.
		return e.earned(ctx, m, p, orderRecord{Key: key, Customer: ev.Customer}, posted, res.Balance)
	}
	return nil // capped for this period
}

// untakenFirst reads the customer's newest entries to spare posts that
// would only answer duplicates: the occurrence's own slot when it is
// among them, else the slots not seen taken, in order. The posts stay
// the judge (an older entry beyond the page is found by its post), so
// this only saves the durable writes of slots known to be full.
func (e *Engine) untakenFirst(ctx context.Context, merchant, key, reason string, sources []string) ([]string, error) {
	if len(sources) < 2 {
		return sources, nil
	}
	entries, _, err := e.ledger.Entries(ctx, merchant, key, Page{Limit: MaxEntriesPage})
	if err != nil {
		return nil, err
	}
	taken := make(map[string]bool, len(entries))
	for _, en := range entries {
		if en.Reason == reason {
			for _, s := range sources {
				if s == en.Source {
					return []string{s}, nil
				}
			}
		}
		taken[en.Source] = true
	}
	out := sources[:0:0]
	for _, s := range sources {
		if !taken[s] {
			out = append(out, s)
		}
	}
	return out, nil
}
