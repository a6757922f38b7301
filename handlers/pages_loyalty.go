package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// loyaltyLedgerPage is how many ledger entries the page shows at a time.
const loyaltyLedgerPage = 20

// maxTierRows, maxActionRows and maxMilestoneRows bound the program
// form's rows (the engine takes 10 tiers, 20 actions, 20 milestones).
const (
	maxTierRows      = 10
	maxActionRows    = 20
	maxMilestoneRows = 20
)

// adminRedemptionReason is the ledger's reason for a redemption the
// merchant made on the customer's behalf.
const adminRedemptionReason = "redeemed in the admin"

// loyaltyProgramForm is the program as the form shows it: as saved, or as
// typed when it was refused.
type loyaltyProgramForm struct {
	Enabled                     bool
	PointsPerUnit, On           string
	ExcludeShipping, ExcludeTax bool
	ApproveAfter, Expiry        string
	Reminders                   string
	Tiers                       []tierRow
	Redeem                      redeemForm
	Referral                    referralForm
	Review                      reviewForm
	Actions                     []actionRow
	Milestones                  []milestoneRow
}

// tierRow is one tier's row; blank rows add a tier.
type tierRow struct {
	Name, Threshold, Basis, Period, Multiplier string
}

// redeemForm is the redemption settings as typed.
type redeemForm struct {
	Enabled                                                         bool
	PointsPerUnit, MinPoints, MaxPoints, ExpiresIn, MinimumSubtotal string
}

// referralForm is the referral program as typed.
type referralForm struct {
	Enabled                                                 bool
	ReferrerPoints, Kind, Value, ValidDays, MinimumSubtotal string
}

// reviewForm is the review requests as typed.
type reviewForm struct {
	Enabled                      bool
	After, Reminders, Every, URL string
}

// actionRow is one fixed-point action's row; blank rows add one.
type actionRow struct {
	Name, On, Event, Points, Limit, Per string
}

// milestoneRow is one milestone's row; blank rows add one.
type milestoneRow struct {
	Name, Orders, Spend string
}

// loyaltyLookup is the customer lookup and what it found.
type loyaltyLookup struct {
	// Query and By are what was typed; Customer is the key it resolved to
	// (a platform id, or a phone in E.164).
	Query, By, Customer string
	// Shown is the customer as the page names them: phones masked.
	Shown  string
	Points *loyalty.Points
	// Before is the page of the ledger shown ("" for the newest).
	Before string
	// AdjustKey makes this rendering's adjustment post once, however
	// often it is submitted.
	AdjustKey                  string
	AdjustPoints, AdjustReason string
	// RedeemKey makes this rendering's redemption spend and make a code
	// once: a retry after the store did not answer finishes it.
	RedeemKey, RedeemPoints string
	// Redeem is the program's redemption while it is on, for the form's
	// hint; nil: redemption is off.
	Redeem *loyalty.RedeemSettings
	// Redeemed is the code the last redemption made; RedeemProblem why
	// it made none.
	Redeemed      *redeemedNotice
	RedeemProblem string
	// NewestLink and OlderLink page through the ledger.
	NewestLink, OlderLink string
}

// redeemedNotice is a made code as the page tells it.
type redeemedNotice struct {
	Code, Value, EndsOn string
	Points              int64
}

type loyaltyData struct {
	Program     loyaltyProgramForm
	Lookup      loyaltyLookup
	Bases       []string
	Periods     []string
	ActionOns   []string
	Pers        []string
	FriendKinds []string
}

// loyaltyPage is the program's settings, a customer lookup with the
// ledger, and a manual adjustment.
func (h *Handlers) loyaltyPage(c echo.Context) error {
	s := sessionOf(c)
	prog, err := h.loyalty.Program(c.Request().Context(), s.merchant.ID)
	if err != nil {
		return err
	}
	return h.renderLoyalty(c, http.StatusOK, programForm(prog, 1), nil)
}

func (h *Handlers) renderLoyalty(c echo.Context, status int, form loyaltyProgramForm, fields map[string]string) error {
	return h.renderLoyaltyWith(c, status, form, fields, nil)
}

// renderLoyaltyWith renders the page; then, when given, changes the
// customer's part (a redemption's outcome) before it is shown.
func (h *Handlers) renderLoyaltyWith(c echo.Context, status int, form loyaltyProgramForm, fields map[string]string, then func(*loyaltyLookup)) error {
	s := sessionOf(c)
	p := h.newPage(c, "Loyalty", "/admin/loyalty")
	p.Subtitle = "Customers earn points from their orders and spend them on discount codes."
	for k, v := range fields {
		p.Fields[k] = v
	}
	lookup, lookupFields, err := h.lookupCustomer(c, *s.merchant)
	if err != nil {
		return err
	}
	for k, v := range lookupFields {
		p.Fields[k] = v
	}
	if len(lookupFields) > 0 && status == http.StatusOK {
		status = http.StatusUnprocessableEntity
	}
	if then != nil {
		then(&lookup)
	}
	if lookup.RedeemKey == "" {
		lookup.RedeemKey = newFormKey()
	}
	if c.QueryParam("done") == "adjusted" {
		p.Flash = "Points adjusted."
	}
	p.Data = loyaltyData{
		Program: form, Lookup: lookup,
		Bases:       []string{loyalty.BasisPoints, loyalty.BasisSpend},
		Periods:     []string{loyalty.PeriodLifetime, loyalty.PeriodCalendarYear, loyalty.PeriodRollingYear},
		ActionOns:   []string{loyalty.OnSignup, loyalty.OnFirstOrder, loyalty.OnBirthday, loyalty.OnReview, loyalty.OnCustom},
		Pers:        []string{loyalty.PerDay, loyalty.PerMonth, loyalty.PerYear, loyalty.PerLifetime},
		FriendKinds: []string{app.DiscountPercentage, app.DiscountFixedAmount},
	}
	return h.render(c, status, "loyalty", p)
}

// lookupCustomer reads the lookup's customer (the query's on a GET, the
// adjustment's or redemption's on a POST) and their points.
func (h *Handlers) lookupCustomer(c echo.Context, m app.Merchant) (loyaltyLookup, map[string]string, error) {
	l := loyaltyLookup{Query: strings.TrimSpace(c.QueryParam("customer")), By: c.QueryParam("by"), Before: c.QueryParam("before")}
	if isFormPost(c) && (c.Path() == "/admin/loyalty/adjust" || c.Path() == "/admin/loyalty/redeem") {
		l.Query, l.By, l.Before = c.FormValue("customer"), "id", ""
	}
	if isFormPost(c) && c.Path() == "/admin/loyalty/adjust" {
		l.AdjustPoints, l.AdjustReason, l.AdjustKey = c.FormValue("points"), c.FormValue("reason"), c.FormValue("key")
	}
	if l.By != "phone" {
		l.By = "id"
	}
	if l.AdjustKey == "" {
		l.AdjustKey = newFormKey()
	}
	if l.Query == "" {
		return l, nil, nil
	}
	l.Customer = l.Query
	if l.By == "phone" {
		phone, err := app.NormalizePhone(l.Query, m.Country)
		if err != nil {
			return l, map[string]string{"customer": "is not a phone number: give it as your customers type it, or with its country code"}, nil
		}
		l.Customer = phone
	}
	points, err := h.loyalty.Points(c.Request().Context(), m.ID, l.Customer, l.Before, loyaltyLedgerPage)
	if fields, ok := validationFields(err); ok {
		return l, fields, nil
	}
	if err != nil {
		return l, nil, err
	}
	l.Customer, l.Points, l.Shown = points.Customer, &points, points.Customer
	prog, err := h.loyalty.Program(c.Request().Context(), m.ID)
	if err != nil {
		return l, nil, err
	}
	if prog.Enabled && prog.Redeem.Enabled {
		l.Redeem = &prog.Redeem
	}
	link := func(before string) string {
		q := url.Values{"by": {"id"}, "customer": {points.Customer}}
		if before != "" {
			q.Set("before", before)
		}
		return "/admin/loyalty?" + q.Encode()
	}
	if l.Before != "" {
		l.NewestLink = link("")
	}
	if points.Next != "" {
		l.OlderLink = link(points.Next)
	}
	if strings.HasPrefix(points.Customer, "+") {
		l.Shown = app.MaskPhone(points.Customer)
	}
	return l, nil, nil
}

// newFormKey is a random key for one rendering of a form.
func newFormKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// saveLoyalty saves the program through the API's PutProgram; "Add a
// row" (of tiers, actions or milestones) shows the form again with one
// more blank row, saving nothing. A number that does not read is refused
// at its field with the program's other refusals, and nothing is saved.
func (h *Handlers) saveLoyalty(c echo.Context) error {
	s := sessionOf(c)
	form, prog, rows, unread := readProgramForm(c)
	switch c.FormValue("action") {
	case "add-tier":
		if len(form.Tiers) < maxTierRows {
			form.Tiers = append(form.Tiers, blankTier())
		}
		return h.renderLoyalty(c, http.StatusOK, form, nil)
	case "add-action":
		if len(form.Actions) < maxActionRows {
			form.Actions = append(form.Actions, blankAction())
		}
		return h.renderLoyalty(c, http.StatusOK, form, nil)
	case "add-milestone":
		if len(form.Milestones) < maxMilestoneRows {
			form.Milestones = append(form.Milestones, milestoneRow{})
		}
		return h.renderLoyalty(c, http.StatusOK, form, nil)
	}
	var err error
	if len(unread) > 0 {
		err = prog.Validate()
	} else {
		_, err = h.loyalty.PutProgram(c.Request().Context(), s.merchant.ID, prog)
	}
	fields, refused := validationFields(err)
	if refused || len(unread) > 0 {
		fields = programFieldsByRow(fields, rows)
		for k, v := range unread {
			fields[k] = v
		}
		return h.renderLoyalty(c, http.StatusUnprocessableEntity, form, fields)
	}
	if err != nil {
		return err
	}
	return h.seeOther(c, "/admin/loyalty?done=saved")
}

// redeemLoyaltyPage spends the customer's points on a discount code
// through the API's Redeem, keyed by the form's key: a double submit, or
// a submit again after the store did not answer, makes one code. The
// page answers with the code, or why there is none, next to the form.
func (h *Handlers) redeemLoyaltyPage(c echo.Context) error {
	s := sessionOf(c)
	customer := strings.TrimSpace(c.FormValue("customer"))
	typed, key := strings.TrimSpace(c.FormValue("points")), c.FormValue("key")
	status, fields := http.StatusOK, map[string]string{}
	var notice *redeemedNotice
	var problem string
	n, err := strconv.ParseInt(typed, 10, 64)
	if err != nil {
		status, fields["redeem_points"] = http.StatusUnprocessableEntity, "must be a whole number of points, like 500"
	} else {
		out, err := h.loyalty.Redeem(c.Request().Context(), s.merchant.ID, customer, loyalty.Redemption{Points: n, Key: key, Reason: adminRedemptionReason})
		var coupon *loyalty.CouponError
		invalid, isInvalid := validationFields(err)
		switch {
		case err == nil:
			notice = &redeemedNotice{Code: out.Coupon.Code, Value: app.FormatMoney(out.Coupon.Value, out.Coupon.Currency), Points: -out.Entry.Points}
			if !out.Coupon.EndsAt.IsZero() {
				notice.EndsOn = out.Coupon.EndsAt.UTC().Format("2 Jan 2006")
			}
			typed, key = "", "" // the next redemption is a new one
		case errors.As(err, &coupon) && coupon.Pending:
			status = http.StatusServiceUnavailable
			problem = "The store did not answer, so the discount code is not made yet. The points are held for it: " +
				"submit again to finish it with the same key (nothing is spent twice). If the store never answers, the points come back."
		case errors.As(err, &coupon):
			status, key = http.StatusBadGateway, "" // refused for good: another try is a new redemption
			problem = "No discount code: " + coupon.Reason + "."
		case isInvalid:
			status = http.StatusUnprocessableEntity
			for k, v := range invalid {
				switch k {
				case "points":
					fields["redeem_points"] = v
				case "key":
					problem, key = "This form was used for another redemption: check the ledger, then redeem again.", ""
				default:
					fields[k] = v
				}
			}
		default:
			return err
		}
	}
	prog, err := h.loyalty.Program(c.Request().Context(), s.merchant.ID)
	if err != nil {
		return err
	}
	return h.renderLoyaltyWith(c, status, programForm(prog, 1), fields, func(l *loyaltyLookup) {
		l.RedeemPoints, l.RedeemKey, l.Redeemed, l.RedeemProblem = typed, key, notice, problem
	})
}

// adjustLoyaltyPage posts the merchant's manual change through the API's
// Adjust, keyed by the form's key, so a double submit posts once.
func (h *Handlers) adjustLoyaltyPage(c echo.Context) error {
	s := sessionOf(c)
	customer := strings.TrimSpace(c.FormValue("customer"))
	a := loyalty.Adjustment{Reason: c.FormValue("reason"), Key: c.FormValue("key")}
	var fields map[string]string
	if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(c.FormValue("points"), "+")), 10, 64); err != nil {
		fields = map[string]string{"points": "must be a whole number of points, like 100 or -50"}
	} else {
		a.Points = n
	}
	if fields == nil {
		_, err := h.loyalty.Adjust(c.Request().Context(), s.merchant.ID, customer, a)
		fields, _ = validationFields(err)
		if err != nil && fields == nil {
			return err
		}
	}
	if fields != nil {
		prog, err := h.loyalty.Program(c.Request().Context(), s.merchant.ID)
		if err != nil {
			return err
		}
		return h.renderLoyalty(c, http.StatusUnprocessableEntity, programForm(prog, 1), fields)
	}
	return h.seeOther(c, "/admin/loyalty?"+url.Values{"customer": {customer}, "by": {"id"}, "done": {"adjusted"}}.Encode()+"#customer")
}

// programForm is a saved program as the form shows it, with blank rows
// (tiers, actions, milestones) to add more.
func programForm(p loyalty.Program, blank int) loyaltyProgramForm {
	f := loyaltyProgramForm{
		Enabled: p.Enabled, PointsPerUnit: formatFloat(p.Earn.PointsPerUnit), On: p.Earn.On,
		ExcludeShipping: p.Earn.ExcludeShipping, ExcludeTax: p.Earn.ExcludeTax,
		ApproveAfter: p.ApproveAfter, Expiry: p.Expiry, Reminders: strings.Join(p.ExpiryReminders, ", "),
		Redeem: redeemForm{
			Enabled: p.Redeem.Enabled, PointsPerUnit: formatInt(p.Redeem.PointsPerUnit), MinPoints: formatInt(p.Redeem.MinPoints),
			MaxPoints: formatInt(p.Redeem.MaxPoints), ExpiresIn: p.Redeem.ExpiresIn, MinimumSubtotal: p.Redeem.MinimumSubtotal,
		},
		Referral: referralForm{
			Enabled: p.Referral.Enabled, ReferrerPoints: formatInt(p.Referral.ReferrerPoints), Kind: p.Referral.Friend.Kind,
			Value: p.Referral.Friend.Value, ValidDays: strconv.Itoa(p.Referral.Friend.ValidDays), MinimumSubtotal: p.Referral.Friend.MinimumSubtotal,
		},
		Review: reviewForm{
			Enabled: p.ReviewRequest.Enabled, After: p.ReviewRequest.After, Reminders: strconv.Itoa(p.ReviewRequest.Reminders),
			Every: p.ReviewRequest.Every, URL: p.ReviewRequest.URL,
		},
	}
	for _, t := range p.Tiers {
		f.Tiers = append(f.Tiers, tierRow{
			Name: t.Name, Threshold: formatFloat(t.Threshold), Basis: t.Basis, Period: t.Period, Multiplier: formatFloat(t.Multiplier),
		})
	}
	for _, a := range p.Actions {
		f.Actions = append(f.Actions, actionRow{Name: a.Name, On: a.On, Event: a.Event, Points: formatInt(a.Points), Limit: strconv.Itoa(a.Limit), Per: a.Per})
	}
	for _, ms := range p.Milestones {
		row := milestoneRow{Name: ms.Name}
		if ms.Orders != 0 {
			row.Orders = formatInt(ms.Orders)
		}
		if ms.Spend != 0 {
			row.Spend = formatFloat(ms.Spend)
		}
		f.Milestones = append(f.Milestones, row)
	}
	for range blank {
		if len(f.Tiers) < maxTierRows {
			f.Tiers = append(f.Tiers, blankTier())
		}
		if len(f.Actions) < maxActionRows {
			f.Actions = append(f.Actions, blankAction())
		}
		if len(f.Milestones) < maxMilestoneRows {
			f.Milestones = append(f.Milestones, milestoneRow{})
		}
	}
	return f
}

func blankTier() tierRow {
	return tierRow{Basis: loyalty.BasisPoints, Period: loyalty.PeriodLifetime, Multiplier: "1"}
}

func blankAction() actionRow { return actionRow{On: loyalty.OnSignup, Per: loyalty.PerLifetime} }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func formatInt(n int64) string     { return strconv.FormatInt(n, 10) }

// programRows says which form row each of a read program's tiers,
// actions and milestones came from, by the API's list name.
type programRows map[string][]int

// unreadNumbers are the form's fields whose number does not read, by the
// API's field name (a row's by its form row).
type unreadNumbers map[string]string

// whole reads a whole number; blank is 0.
func (u unreadNumbers) whole(field, s string) int64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		u[field] = "must be a whole number"
		return 0
	}
	return n
}

// decimal reads a number with decimals; blank is 0.
func (u unreadNumbers) decimal(field, s string) float64 {
	if s == "" {
		return 0
	}
	n := number(s)
	if math.IsNaN(n) {
		u[field] = "must be a number"
		return 0
	}
	return n
}

// readProgramForm reads the posted form: as typed (to show again), as a
// program (to save), which form row each of the program's rows came from,
// and the numbers that did not read. A tier's number that does not read
// is NaN, which the program's own validation refuses by field; a blank or
// removed row is none.
func readProgramForm(c echo.Context) (loyaltyProgramForm, loyalty.Program, programRows, unreadNumbers) {
	params, _ := c.FormParams() // a body that does not parse reads as empty
	get := func(name string) string { return strings.TrimSpace(params.Get(name)) }
	f := loyaltyProgramForm{
		Enabled: get("enabled") != "", PointsPerUnit: get("points_per_unit"), On: get("earn_on"),
		ExcludeShipping: get("exclude_shipping") != "", ExcludeTax: get("exclude_tax") != "",
		ApproveAfter: get("approve_after"), Expiry: get("expiry"), Reminders: get("expiry_reminders"),
	}
	// A setting the post leaves out (a form from before it existed) keeps
	// its default.
	def := programForm(loyalty.DefaultProgram(), 0)
	getOr := func(name, fallback string) string {
		if _, ok := params[name]; !ok {
			return fallback
		}
		return get(name)
	}
	f.Redeem = redeemForm{
		Enabled: get("redeem.enabled") != "", PointsPerUnit: getOr("redeem.points_per_unit", def.Redeem.PointsPerUnit),
		MinPoints: getOr("redeem.min_points", def.Redeem.MinPoints), MaxPoints: getOr("redeem.max_points", def.Redeem.MaxPoints),
		ExpiresIn: getOr("redeem.expires_in", def.Redeem.ExpiresIn), MinimumSubtotal: getOr("redeem.minimum_subtotal", def.Redeem.MinimumSubtotal),
	}
	f.Referral = referralForm{
		Enabled: get("referral.enabled") != "", ReferrerPoints: getOr("referral.referrer_points", def.Referral.ReferrerPoints),
		Kind: getOr("referral.friend.kind", def.Referral.Kind), Value: getOr("referral.friend.value", def.Referral.Value),
		ValidDays:       getOr("referral.friend.valid_days", def.Referral.ValidDays),
		MinimumSubtotal: getOr("referral.friend.minimum_subtotal", def.Referral.MinimumSubtotal),
	}
	f.Review = reviewForm{
		Enabled: get("review_request.enabled") != "", After: getOr("review_request.after", def.Review.After),
		Reminders: getOr("review_request.reminders", def.Review.Reminders), Every: getOr("review_request.every", def.Review.Every),
		URL: getOr("review_request.url", def.Review.URL),
	}
	unread := unreadNumbers{}
	p := loyalty.DefaultProgram()
	p.Enabled = f.Enabled
	p.Earn = loyalty.Earn{PointsPerUnit: number(f.PointsPerUnit), On: f.On, ExcludeShipping: f.ExcludeShipping, ExcludeTax: f.ExcludeTax}
	p.ApproveAfter, p.Expiry = firstOf(f.ApproveAfter, "0s"), firstOf(f.Expiry, "none")
	p.ExpiryReminders = []string{}
	for _, r := range strings.Split(f.Reminders, ",") {
		if r = strings.TrimSpace(r); r != "" {
			p.ExpiryReminders = append(p.ExpiryReminders, r)
		}
	}
	p.Redeem = loyalty.RedeemSettings{
		Enabled: f.Redeem.Enabled, PointsPerUnit: unread.whole("redeem.points_per_unit", f.Redeem.PointsPerUnit),
		MinPoints: unread.whole("redeem.min_points", f.Redeem.MinPoints), MaxPoints: unread.whole("redeem.max_points", f.Redeem.MaxPoints),
		ExpiresIn: firstOf(f.Redeem.ExpiresIn, "none"), MinimumSubtotal: f.Redeem.MinimumSubtotal,
	}
	p.Referral = loyalty.Referral{
		Enabled: f.Referral.Enabled, ReferrerPoints: unread.whole("referral.referrer_points", f.Referral.ReferrerPoints),
		Friend: loyalty.FriendDiscount{
			Kind: f.Referral.Kind, Value: f.Referral.Value, MinimumSubtotal: f.Referral.MinimumSubtotal,
			ValidDays: int(unread.whole("referral.friend.valid_days", f.Referral.ValidDays)),
		},
	}
	p.ReviewRequest = loyalty.ReviewRequest{
		Enabled: f.Review.Enabled, After: f.Review.After, Every: f.Review.Every, URL: f.Review.URL,
		Reminders: int(unread.whole("review_request.reminders", f.Review.Reminders)),
	}
	at := func(list []string, i int) string {
		if i < len(list) {
			return strings.TrimSpace(list[i])
		}
		return ""
	}
	rows := programRows{}

	names, thresholds, bases := params["tier_name"], params["tier_threshold"], params["tier_basis"]
	periods, multipliers, removed := params["tier_period"], params["tier_multiplier"], params["tier_remove"]
	for i := range min(len(names), maxTierRows+1) {
		row := tierRow{Name: at(names, i), Threshold: at(thresholds, i), Basis: at(bases, i), Period: at(periods, i), Multiplier: at(multipliers, i)}
		if slices.Contains(removed, strconv.Itoa(i)) {
			continue
		}
		f.Tiers = append(f.Tiers, row)
		if row.Name == "" && row.Threshold == "" {
			continue
		}
		rows["tiers"] = append(rows["tiers"], len(f.Tiers)-1)
		p.Tiers = append(p.Tiers, loyalty.Tier{Name: row.Name, Threshold: number(row.Threshold), Basis: row.Basis, Period: row.Period, Multiplier: number(firstOf(row.Multiplier, "1"))})
	}

	names, removed = params["action_name"], params["action_remove"]
	ons, events, points, limits, pers := params["action_on"], params["action_event"], params["action_points"], params["action_limit"], params["action_per"]
	for i := range min(len(names), maxActionRows+1) {
		row := actionRow{Name: at(names, i), On: at(ons, i), Event: at(events, i), Points: at(points, i), Limit: at(limits, i), Per: at(pers, i)}
		if slices.Contains(removed, strconv.Itoa(i)) {
			continue
		}
		f.Actions = append(f.Actions, row)
		if row.Name == "" && row.Points == "" && row.Event == "" {
			continue
		}
		n := len(f.Actions) - 1
		rows["actions"] = append(rows["actions"], n)
		p.Actions = append(p.Actions, loyalty.Action{
			Name: row.Name, On: row.On, Event: row.Event, Per: row.Per,
			Points: unread.whole(fmt.Sprintf("actions[%d].points", n), row.Points),
			Limit:  int(unread.whole(fmt.Sprintf("actions[%d].limit", n), row.Limit)),
		})
	}

	names, removed = params["milestone_name"], params["milestone_remove"]
	orders, spends := params["milestone_orders"], params["milestone_spend"]
	for i := range min(len(names), maxMilestoneRows+1) {
		row := milestoneRow{Name: at(names, i), Orders: at(orders, i), Spend: at(spends, i)}
		if slices.Contains(removed, strconv.Itoa(i)) {
			continue
		}
		f.Milestones = append(f.Milestones, row)
		if row.Name == "" && row.Orders == "" && row.Spend == "" {
			continue
		}
		n := len(f.Milestones) - 1
		rows["milestones"] = append(rows["milestones"], n)
		p.Milestones = append(p.Milestones, loyalty.Milestone{
			Name:   row.Name,
			Orders: unread.whole(fmt.Sprintf("milestones[%d].orders", n), row.Orders),
			Spend:  unread.decimal(fmt.Sprintf("milestones[%d].spend", n), row.Spend),
		})
	}
	return f, p, rows, unread
}

// number reads a form's number; what does not read is NaN.
func number(s string) float64 {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(n, 0) {
		return math.NaN()
	}
	return n
}

var indexedField = regexp.MustCompile(`^(tiers|actions|milestones|expiry_reminders)\[(\d+)\](.*)$`)

// programFieldsByRow moves the API's refusals of tiers[i], actions[i] and
// milestones[i] to the form row each came from, and gathers the
// reminders' under the one field.
func programFieldsByRow(fields map[string]string, rows programRows) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		m := indexedField.FindStringSubmatch(k)
		if m == nil {
			out[k] = v
			continue
		}
		i, _ := strconv.Atoi(m[2]) // the pattern matched digits
		switch list := rows[m[1]]; {
		case m[1] == "expiry_reminders":
			out["expiry_reminders"] = fmt.Sprintf("reminder %d %s", i+1, v)
		case i < len(list):
			out[fmt.Sprintf("%s[%d]%s", m[1], list[i], m[3])] = v
		}
	}
	return out
}
