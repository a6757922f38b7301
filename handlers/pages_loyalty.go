package handlers

import (
	"crypto/rand"
	"encoding/base64"
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

// maxTierRows bounds the program form's tier rows (the engine takes 10).
const maxTierRows = 10

// loyaltyProgramForm is the program as the form shows it: as saved, or as
// typed when it was refused.
type loyaltyProgramForm struct {
	Enabled                     bool
	PointsPerUnit, On           string
	ExcludeShipping, ExcludeTax bool
	ApproveAfter, Expiry        string
	Reminders                   string
	Tiers                       []tierRow
}

// tierRow is one tier's row; blank rows add a tier.
type tierRow struct {
	Name, Threshold, Basis, Period, Multiplier string
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
	// NewestLink and OlderLink page through the ledger.
	NewestLink, OlderLink string
}

type loyaltyData struct {
	Program loyaltyProgramForm
	Lookup  loyaltyLookup
	Bases   []string
	Periods []string
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
	if c.QueryParam("done") == "adjusted" {
		p.Flash = "Points adjusted."
	}
	p.Data = loyaltyData{
		Program: form, Lookup: lookup,
		Bases:   []string{loyalty.BasisPoints, loyalty.BasisSpend},
		Periods: []string{loyalty.PeriodLifetime, loyalty.PeriodCalendarYear, loyalty.PeriodRollingYear},
	}
	return h.render(c, status, "loyalty", p)
}

// lookupCustomer reads the lookup's customer (the query's on a GET, the
// adjustment's on a refused POST) and their points.
func (h *Handlers) lookupCustomer(c echo.Context, m app.Merchant) (loyaltyLookup, map[string]string, error) {
	l := loyaltyLookup{Query: strings.TrimSpace(c.QueryParam("customer")), By: c.QueryParam("by"), Before: c.QueryParam("before")}
	if isFormPost(c) && c.Path() == "/admin/loyalty/adjust" {
		l.Query, l.By, l.Before = c.FormValue("customer"), "id", ""
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
// tier" shows the form again with one more blank row, saving nothing.
func (h *Handlers) saveLoyalty(c echo.Context) error {
	s := sessionOf(c)
	form, prog, rows := readProgramForm(c)
	if c.FormValue("action") == "add-tier" {
		if len(form.Tiers) < maxTierRows {
			form.Tiers = append(form.Tiers, tierRow{Basis: loyalty.BasisPoints, Period: loyalty.PeriodLifetime, Multiplier: "1"})
		}
		return h.renderLoyalty(c, http.StatusOK, form, nil)
	}
	_, err := h.loyalty.PutProgram(c.Request().Context(), s.merchant.ID, prog)
	if fields, ok := validationFields(err); ok {
		return h.renderLoyalty(c, http.StatusUnprocessableEntity, form, programFieldsByRow(fields, rows))
	}
	if err != nil {
		return err
	}
	return h.seeOther(c, "/admin/loyalty?done=saved")
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

// programForm is a saved program as the form shows it, with blank tier
// rows to add more.
func programForm(p loyalty.Program, blank int) loyaltyProgramForm {
	f := loyaltyProgramForm{
		Enabled: p.Enabled, PointsPerUnit: strconv.FormatFloat(p.Earn.PointsPerUnit, 'f', -1, 64), On: p.Earn.On,
		ExcludeShipping: p.Earn.ExcludeShipping, ExcludeTax: p.Earn.ExcludeTax,
		ApproveAfter: p.ApproveAfter, Expiry: p.Expiry, Reminders: strings.Join(p.ExpiryReminders, ", "),
	}
	for _, t := range p.Tiers {
		f.Tiers = append(f.Tiers, tierRow{
			Name: t.Name, Threshold: strconv.FormatFloat(t.Threshold, 'f', -1, 64), Basis: t.Basis, Period: t.Period,
			Multiplier: strconv.FormatFloat(t.Multiplier, 'f', -1, 64),
		})
	}
	for range blank {
		if len(f.Tiers) < maxTierRows {
			f.Tiers = append(f.Tiers, tierRow{Basis: loyalty.BasisPoints, Period: loyalty.PeriodLifetime, Multiplier: "1"})
		}
	}
	return f
}

// readProgramForm reads the posted form: as typed (to show again), as a
// program (to save), and which form row each of the program's tiers came
// from. A number that does not read is NaN, which the program's own
// validation refuses by field; a blank or removed row is no tier.
func readProgramForm(c echo.Context) (loyaltyProgramForm, loyalty.Program, []int) {
	params, _ := c.FormParams() // a body that does not parse reads as empty
	get := func(name string) string { return strings.TrimSpace(params.Get(name)) }
	f := loyaltyProgramForm{
		Enabled: get("enabled") != "", PointsPerUnit: get("points_per_unit"), On: get("earn_on"),
		ExcludeShipping: get("exclude_shipping") != "", ExcludeTax: get("exclude_tax") != "",
		ApproveAfter: get("approve_after"), Expiry: get("expiry"), Reminders: get("expiry_reminders"),
	}
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
	names, thresholds, bases := params["tier_name"], params["tier_threshold"], params["tier_basis"]
	periods, multipliers, removed := params["tier_period"], params["tier_multiplier"], params["tier_remove"]
	at := func(list []string, i int) string {
		if i < len(list) {
			return strings.TrimSpace(list[i])
		}
		return ""
	}
	var rows []int
	for i := range min(len(names), maxTierRows+1) {
		row := tierRow{Name: at(names, i), Threshold: at(thresholds, i), Basis: at(bases, i), Period: at(periods, i), Multiplier: at(multipliers, i)}
		if slices.Contains(removed, strconv.Itoa(i)) {
			continue
		}
		f.Tiers = append(f.Tiers, row)
		if row.Name == "" && row.Threshold == "" {
			continue
		}
		rows = append(rows, len(f.Tiers)-1)
		p.Tiers = append(p.Tiers, loyalty.Tier{Name: row.Name, Threshold: number(row.Threshold), Basis: row.Basis, Period: row.Period, Multiplier: number(firstOf(row.Multiplier, "1"))})
	}
	return f, p, rows
}

// number reads a form's number; what does not read is NaN.
func number(s string) float64 {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(n, 0) {
		return math.NaN()
	}
	return n
}

var indexedField = regexp.MustCompile(`^(tiers|expiry_reminders)\[(\d+)\](.*)$`)

// programFieldsByRow moves the API's refusals of tiers[i] to the form row
// the tier came from, and gathers the reminders' under the one field.
func programFieldsByRow(fields map[string]string, rows []int) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		m := indexedField.FindStringSubmatch(k)
		if m == nil {
			out[k] = v
			continue
		}
		i, _ := strconv.Atoi(m[2]) // the pattern matched digits
		switch {
		case m[1] == "expiry_reminders":
			out["expiry_reminders"] = fmt.Sprintf("reminder %d %s", i+1, v)
		case i < len(rows):
			out[fmt.Sprintf("tiers[%d]%s", rows[i], m[3])] = v
		}
	}
	return out
}
