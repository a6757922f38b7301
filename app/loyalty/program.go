package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Program is a merchant's loyalty settings, as the admin API shows them.
type Program struct {
	Enabled bool `json:"enabled"`
	Earn    Earn `json:"earn"`
	// ApproveAfter keeps an order's points pending this long ("0s": none).
	ApproveAfter string `json:"approve_after"`
	// Expiry is "none" or a number of days ("365d") after earning.
	Expiry          string   `json:"expiry"`
	ExpiryReminders []string `json:"expiry_reminders"`
	Tiers           []Tier   `json:"tiers"`
	// Redeem turns points into discount codes (redeem_program.go).
	Redeem RedeemSettings `json:"redeem"`
	// Actions earn fixed points for signups, first orders, birthdays,
	// reviews and custom events (actions.go).
	Actions []Action `json:"actions"`
	// Referral rewards a customer whose friend orders (referrals.go).
	Referral Referral `json:"referral"`
	// ReviewRequest asks for a review after delivery (reviews.go).
	ReviewRequest ReviewRequest `json:"review_request"`
	// Milestones are order counts and lifetime spends (milestones.go).
	Milestones []Milestone `json:"milestones"`
}

// Earn says how an order earns points.
type Earn struct {
	// PointsPerUnit per whole unit of the order's currency; decimals
	// allowed, the product rounded down.
	PointsPerUnit float64 `json:"points_per_unit"`
	// On is the order status that earns: "paid" or "fulfilled".
	On              string `json:"on"`
	ExcludeShipping bool   `json:"exclude_shipping"`
	ExcludeTax      bool   `json:"exclude_tax"`
}

// Tier is a VIP level: reached at Threshold of Basis over Period; its
// Multiplier scales what each order earns.
type Tier struct {
	Name       string  `json:"name"`
	Threshold  float64 `json:"threshold"`
	Basis      string  `json:"basis"`  // points, spend
	Period     string  `json:"period"` // lifetime, calendar_year, rolling_year
	Multiplier float64 `json:"multiplier"`
}

// Earning statuses, tier bases and periods.
const (
	OnPaid             = "paid"
	OnFulfilled        = "fulfilled"
	BasisPoints        = "points"
	BasisSpend         = "spend"
	PeriodLifetime     = "lifetime"
	PeriodCalendarYear = "calendar_year"
	PeriodRollingYear  = "rolling_year"
)

// DefaultProgram is what a merchant who never saved one has: off, one
// point per unit on payment, no expiry, reminders 30 and 3 days before
// (Rivo's defaults).
func DefaultProgram() Program {
	return Program{
		Earn:         Earn{PointsPerUnit: 1, On: OnPaid},
		ApproveAfter: "0s", Expiry: "none", ExpiryReminders: []string{"30d", "3d"}, Tiers: []Tier{},
		Redeem:  DefaultRedeem(),
		Actions: []Action{}, Referral: defaultReferral(), ReviewRequest: defaultReviewRequest(), Milestones: []Milestone{},
	}
}

// maxTiers and maxReminders bound a program.
const (
	maxTiers     = 10
	maxReminders = 5
	maxDays      = 3660
)

// parseDays reads "30d", "72h", "0s" and other Go durations, at least 0
// and at most maxDays days.
func parseDays(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, errors.New(`must be a duration like "30d" or "72h"`)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New(`must be a duration like "30d" or "72h"`)
		}
	}
	if d < 0 || d > maxDays*24*time.Hour {
		return 0, fmt.Errorf("must be between 0 and %d days", maxDays)
	}
	return d, nil
}

// Validate answers a *app.ValidationError naming every bad field.
func (p Program) Validate() error {
	fields := map[string]string{}
	if r := p.Earn.PointsPerUnit; math.IsNaN(r) || r < 0 || r > 10000 {
		fields["earn.points_per_unit"] = "must be between 0 and 10000"
	}
	if p.Earn.On != OnPaid && p.Earn.On != OnFulfilled {
		fields["earn.on"] = `must be "paid" or "fulfilled"`
	}
	if _, err := parseDays(p.ApproveAfter); err != nil {
		fields["approve_after"] = err.Error()
	}
	if p.Expiry != "none" {
		if d, err := parseDays(p.Expiry); err != nil {
			fields["expiry"] = `must be "none" or ` + strings.TrimPrefix(err.Error(), "must be ")
		} else if d < 24*time.Hour {
			fields["expiry"] = "must be at least 1 day"
		}
	}
	if len(p.ExpiryReminders) > maxReminders {
		fields["expiry_reminders"] = fmt.Sprintf("at most %d", maxReminders)
	}
	for i, r := range p.ExpiryReminders {
		if d, err := parseDays(r); err != nil {
			fields[fmt.Sprintf("expiry_reminders[%d]", i)] = err.Error()
		} else if d <= 0 {
			fields[fmt.Sprintf("expiry_reminders[%d]", i)] = "must be positive"
		}
	}
	if len(p.Tiers) > maxTiers {
		fields["tiers"] = fmt.Sprintf("at most %d", maxTiers)
	}
	names := map[string]bool{}
	for i, t := range p.Tiers {
		f := func(name string) string { return fmt.Sprintf("tiers[%d].%s", i, name) }
		switch name := strings.TrimSpace(t.Name); {
		case name == "" || len(name) > 60:
			fields[f("name")] = "must be 1 to 60 characters"
		case names[strings.ToLower(name)]:
			fields[f("name")] = "is used by another tier"
		default:
			names[strings.ToLower(name)] = true
		}
		if math.IsNaN(t.Threshold) || t.Threshold <= 0 || t.Threshold > MaxPoints {
			fields[f("threshold")] = "must be positive"
		}
		if t.Basis != BasisPoints && t.Basis != BasisSpend {
			fields[f("basis")] = `must be "points" or "spend"`
		}
		if t.Period != PeriodLifetime && t.Period != PeriodCalendarYear && t.Period != PeriodRollingYear {
			fields[f("period")] = `must be "lifetime", "calendar_year" or "rolling_year"`
		}
		if math.IsNaN(t.Multiplier) || t.Multiplier < 1 || t.Multiplier > 10 {
			fields[f("multiplier")] = "must be between 1 and 10"
		}
	}
	p.Redeem.validate(fields)
	p.validateActions(fields)
	p.Referral.validate(fields)
	p.ReviewRequest.validate(fields)
	p.validateMilestones(fields)
	if len(fields) > 0 {
		return &app.ValidationError{Fields: fields}
	}
	return nil
}

// programMap and programField name where a program is kept: one field of
// a merchant map, so both backends' map contract (proven by the
// conformance suite) stores it.
const (
	programMap   = "loyalty"
	programField = "program"
)

// Program answers the merchant's program; DefaultProgram when none was
// saved. app.ErrNotFound for an unknown merchant.
func (e *Engine) Program(ctx context.Context, merchant string) (Program, error) {
	if _, err := e.merchants.Merchant(ctx, merchant); err != nil {
		return Program{}, err
	}
	return e.program(ctx, merchant)
}

func (e *Engine) program(ctx context.Context, merchant string) (Program, error) {
	raw, err := e.data.MapGet(ctx, merchant, programMap, programField)
	if errors.Is(err, app.ErrNotFound) {
		raw, err = "", nil
	}
	if err != nil {
		return Program{}, err
	}
	return decodeProgram(merchant, raw)
}

// observedProgram is the program as the event path reads it: through a
// cache of programCacheTTL, since every order and event asks, and a
// program changes seldom. A program saved on this instance applies at
// once; one saved on another, within the TTL, as a rule does. Everything
// else (redemptions, the admin) reads it afresh.
func (e *Engine) observedProgram(ctx context.Context, merchant string) (Program, error) {
	now := e.now()
	if raw, ok := e.programs.get(merchant, now); ok {
		return decodeProgram(merchant, raw)
	}
	raw, err := e.data.MapGet(ctx, merchant, programMap, programField)
	if errors.Is(err, app.ErrNotFound) {
		raw, err = "", nil
	}
	if err != nil {
		return Program{}, err
	}
	e.programs.put(merchant, raw, now)
	return decodeProgram(merchant, raw)
}

// decodeProgram reads a stored program; "" is none saved.
func decodeProgram(merchant, raw string) (Program, error) {
	p := DefaultProgram()
	if raw == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Program{}, fmt.Errorf("loyalty: stored program of %s: %w", merchant, err)
	}
	return p, nil
}

// PutProgram validates and saves the merchant's program.
func (e *Engine) PutProgram(ctx context.Context, merchant string, p Program) (Program, error) {
	if _, err := e.merchants.Merchant(ctx, merchant); err != nil {
		return Program{}, err
	}
	if p.ExpiryReminders == nil {
		p.ExpiryReminders = []string{}
	}
	if p.Tiers == nil {
		p.Tiers = []Tier{}
	}
	for i := range p.Tiers {
		p.Tiers[i].Name = strings.TrimSpace(p.Tiers[i].Name)
	}
	p.normalizeExtras()
	if err := p.Validate(); err != nil {
		return Program{}, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return Program{}, err
	}
	if err := e.data.MapSet(ctx, merchant, programMap, map[string]string{programField: string(raw)}); err != nil {
		return Program{}, err
	}
	e.programs.forget(merchant)
	return p, nil
}

// programCacheTTL bounds how stale the event path's program may be on an
// instance that did not save it.
const programCacheTTL = 5 * time.Second

// maxCachedPrograms bounds the cache: past it, it starts again empty,
// which only costs reads.
const maxCachedPrograms = 50_000

// programCache keeps merchants' stored programs (raw, so no caller shares
// a decoded one), by merchant.
type programCache struct {
	mu      sync.RWMutex
	entries map[string]cachedProgram
}

type cachedProgram struct {
	raw     string
	expires time.Time
}

func (c *programCache) get(merchant string, now time.Time) (string, bool) {
	c.mu.RLock()
	p, ok := c.entries[merchant]
	c.mu.RUnlock()
	if !ok || !now.Before(p.expires) {
		return "", false
	}
	return p.raw, true
}

func (c *programCache) put(merchant, raw string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedPrograms {
		c.entries = map[string]cachedProgram{}
	}
	c.entries[merchant] = cachedProgram{raw: raw, expires: now.Add(programCacheTTL)}
}

func (c *programCache) forget(merchant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, merchant)
}
