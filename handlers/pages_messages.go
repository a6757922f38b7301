package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type messagesRow struct {
	Event app.EventInfo
	Rule  *app.Rule
}

// messagesPage lists every event type with its rule.
func (h *Handlers) messagesPage(c echo.Context) error {
	s := sessionOf(c)
	rules, err := h.svc.Rules(c.Request().Context(), s.merchant.ID)
	if err != nil {
		return err
	}
	byEvent := map[string]app.Rule{}
	for _, r := range rules {
		byEvent[r.Event] = r
	}
	var rows []messagesRow
	for _, info := range app.EventCatalog() {
		row := messagesRow{Event: info}
		if r, ok := byEvent[info.Type]; ok {
			row.Rule = &r
			delete(byEvent, info.Type)
		}
		rows = append(rows, row)
	}
	// Rules for other names: unmapped statuses, events pushed in.
	for _, r := range rules {
		if _, ok := byEvent[r.Event]; ok {
			r := r
			rows = append(rows, messagesRow{Event: app.EventInfo{Type: r.Event, Label: r.Event}, Rule: &r})
		}
	}
	p := h.newPage(c, "Messages", "/admin/messages")
	p.Subtitle = "What each store event sends, and in which template."
	p.Data = rows
	return h.render(c, http.StatusOK, "messages", p)
}

// ruleForm is the rule being edited, as the form holds it (saved or not).
type ruleForm struct {
	Event     app.EventInfo
	Enabled   bool
	Mode      string
	Category  string
	Template  string
	Language  string
	Delay     string
	Variables []string
	Choices   []app.VariableInfo
	Preview   []string
	Unsaved   bool
	// Templates are the provider's approved ones, when it can list them.
	Templates      []app.ProviderTemplate
	TemplatesNote  string
	Mismatch       string
	ConfirmSave    bool
	TestPhone      string
	TestResult     *app.Delivery
	PhoneCheckPath string
	// Sequence says the form edits a cart.abandoned rule's steps (at most
	// MaxSteps) and its attribution window.
	Sequence          bool
	Steps             []stepForm
	AttributionWindow string
	MaxSteps          int
}

// stepForm is one step of a cart sequence as the form holds it.
type stepForm struct {
	Delay, Template, Language string
	Variables                 []string
	// DiscountType is "" for a step without a code.
	DiscountType, DiscountValue, DiscountExpires string
	Preview                                      []string
	// Mismatch warns that the step's template takes another number of
	// variables, when the provider lists it.
	Mismatch string
}

// varPicker is the ordered-variables editor, for the rule or for one
// step: its inputs' names, the op prefix of its buttons, its ids.
type varPicker struct {
	Name, NewName, Op, ID, NewID, Field string
	// Of ends the buttons' labels: "" or " of step 2".
	Of      string
	Vars    []string
	Choices []app.VariableInfo
}

// Picker is the rule's own variable editor.
func (f ruleForm) Picker() varPicker {
	return varPicker{Name: "var", NewName: "new_var", ID: "var", NewID: "new_var", Field: "variables", Vars: f.Variables, Choices: f.Choices}
}

// StepPicker is step i's variable editor.
func (f ruleForm) StepPicker(i int) varPicker {
	p := stepPrefix(i)
	return varPicker{Name: p + "var", NewName: p + "new_var", Op: p, ID: fmt.Sprintf("step%d-var", i), NewID: fmt.Sprintf("step%d-new_var", i),
		Field: fmt.Sprintf("steps[%d].variables", i), Of: fmt.Sprintf(" of step %d", i+1), Vars: f.Steps[i].Variables, Choices: f.Choices}
}

func stepPrefix(i int) string { return fmt.Sprintf("step%d.", i) }

// maxFormSteps is how many steps the form offers: the API's bound.
const maxFormSteps = 3

// defaultStepDelays are a new step's delay at its place, as the API's.
var defaultStepDelays = [maxFormSteps]string{"30m", "24h", "72h"}

func (h *Handlers) rulePage(c echo.Context) error {
	s := sessionOf(c)
	event := c.Param("event")
	form, err := h.storedRuleForm(c.Request().Context(), *s.merchant, event)
	if err != nil {
		return err
	}
	return h.renderRule(c, http.StatusOK, *s.merchant, form)
}

// storedRuleForm is the form of the rule as saved, or a new rule's.
func (h *Handlers) storedRuleForm(ctx context.Context, m app.Merchant, event string) (ruleForm, error) {
	if !validEventParam(event) {
		return ruleForm{}, echo.NewHTTPError(http.StatusNotFound, "no such event type")
	}
	form := ruleForm{Event: eventInfo(event), Enabled: true, Mode: app.ModeTemplate, Category: app.DefaultCategory(event), Language: "en", Delay: "0s"}
	rules, err := h.svc.Rules(ctx, m.ID)
	if err != nil {
		return ruleForm{}, err
	}
	for _, r := range rules {
		if r.Event == event {
			form.Enabled, form.Mode, form.Category = r.Enabled, r.Mode, r.Category
			form.Template, form.Language, form.Delay = r.Template, r.Language, r.Delay.String()
			form.Variables = slices.Clone(r.Variables)
			storedSteps(r, &form)
		}
	}
	if event == app.EventCartAbandoned {
		form.Sequence = true
	}
	return form, nil
}

// storedSteps puts a stored rule's sequence in the form.
func storedSteps(r app.Rule, form *ruleForm) {
	for _, st := range r.Steps {
		row := stepForm{Delay: shortDuration(st.Delay), Template: st.Template, Language: st.Language, Variables: slices.Clone(st.Variables)}
		if d := st.Discount; d != nil {
			row.DiscountType, row.DiscountValue, row.DiscountExpires = d.Type, d.Value, shortDuration(d.ExpiresIn)
		}
		form.Steps = append(form.Steps, row)
	}
	if r.AttributionWindow > 0 {
		form.AttributionWindow = shortDuration(r.AttributionWindow)
	}
}

// shortDuration writes a duration as a merchant types it: 24h, 1h30m,
// 45s, not 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func validEventParam(event string) bool {
	return len(event) <= 64 && strings.Count(event, ".") >= 1 && !strings.ContainsAny(event, "/ ")
}

func eventInfo(event string) app.EventInfo {
	for _, info := range app.EventCatalog() {
		if info.Type == event {
			return info
		}
	}
	return app.EventInfo{Type: event, Label: event}
}

// renderRule fills what the page computes (choices, preview, the
// provider's templates) and renders it.
func (h *Handlers) renderRule(c echo.Context, status int, m app.Merchant, form ruleForm) error {
	form.Choices = app.VariablesFor(form.Event.Type)
	form.Preview = app.PreviewValues(m, form.Event.Type, form.Variables, time.Now())
	form.PhoneCheckPath = "/admin/phone"
	form.MaxSteps = maxFormSteps
	for i := range form.Steps {
		form.Steps[i].Preview = app.PreviewValues(m, form.Event.Type, form.Steps[i].Variables, time.Now())
	}
	h.providerTemplates(c.Request().Context(), m, &form)
	p := h.newPage(c, form.Event.Label, "/admin/messages")
	p.Subtitle = form.Event.About
	if f, ok := c.Get(ruleFieldsKey).(map[string]string); ok {
		p.Fields = f
	}
	p.Data = form
	return h.render(c, status, "rule", p)
}

const ruleFieldsKey = "storebridge.rule-fields"

// providerTemplates offers the provider's approved templates, and warns
// when the chosen one takes another number of variables. A provider that
// cannot list them, or does not answer in time, leaves the name typed.
func (h *Handlers) providerTemplates(ctx context.Context, m app.Merchant, form *ruleForm) {
	if form.Mode != app.ModeTemplate || m.Provider.Name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	list, err := h.svc.ProviderTemplates(ctx, m.ID)
	if err != nil {
		reason := "your provider did not list its templates just now"
		var unsupported *app.TemplatesUnsupportedError
		if errors.As(err, &unsupported) {
			reason = unsupported.Reason
		}
		form.TemplatesNote = "Type the template's name exactly as your provider shows it (" + reason + ")."
		return
	}
	form.Templates = list
	form.Mismatch = templateMismatch(list, form.Template, form.Language, form.Variables)
	for i := range form.Steps {
		st := &form.Steps[i]
		st.Mismatch = templateMismatch(list, st.Template, cmp.Or(st.Language, form.Language), st.Variables)
	}
}

// templateMismatch is how the listed template of that name and language
// disagrees with the variables given, or "".
func templateMismatch(list []app.ProviderTemplate, name, language string, variables []string) string {
	for _, t := range list {
		if t.Name == name && (language == "" || strings.EqualFold(t.Language, language)) {
			return app.TemplateMismatch(t, variables)
		}
	}
	return ""
}

// anyMismatch reports whether the rule or one of its steps names a
// template with another number of variables.
func (f ruleForm) anyMismatch() bool {
	if f.Mismatch != "" {
		return true
	}
	for _, st := range f.Steps {
		if st.Mismatch != "" {
			return true
		}
	}
	return false
}

// ruleFormFromRequest reads the posted form: the variables in the order
// posted, then the button's operation on them.
func ruleFormFromRequest(c echo.Context, event string) (ruleForm, string) {
	form := ruleForm{
		Event: eventInfo(event), Enabled: c.FormValue("enabled") == "on", Mode: c.FormValue("mode"),
		Category: c.FormValue("category"), Template: strings.TrimSpace(c.FormValue("template")),
		Language: strings.TrimSpace(c.FormValue("language")), Delay: strings.TrimSpace(c.FormValue("delay")),
		TestPhone: strings.TrimSpace(c.FormValue("phone")),
	}
	params, _ := c.FormParams()
	form.Variables = postedVariables(params["var"])
	// A form without the sequence's fields (an older page) leaves the
	// stored sequence as it is: see keepCartSteps.
	if event == app.EventCartAbandoned && c.FormValue("sequence") == "1" {
		form.Sequence = true
		form.AttributionWindow = strings.TrimSpace(c.FormValue("attribution_window"))
		n, _ := strconv.Atoi(c.FormValue("steps"))
		for i := 0; i < min(max(n, 0), maxFormSteps); i++ {
			p := stepPrefix(i)
			st := stepForm{
				Delay: strings.TrimSpace(c.FormValue(p + "delay")), Template: strings.TrimSpace(c.FormValue(p + "template")),
				Language: strings.TrimSpace(c.FormValue(p + "language")), Variables: postedVariables(params[p+"var"]),
				DiscountType: strings.TrimSpace(c.FormValue(p + "discount_type")), DiscountValue: strings.TrimSpace(c.FormValue(p + "discount_value")),
				DiscountExpires: strings.TrimSpace(c.FormValue(p + "discount_expires")),
			}
			if st.DiscountType == "none" {
				st.DiscountType = ""
			}
			form.Steps = append(form.Steps, st)
		}
	}
	return form, c.FormValue("op")
}

func postedVariables(posted []string) []string {
	var vars []string
	for _, v := range posted {
		if v = strings.TrimSpace(v); v != "" {
			vars = append(vars, v)
		}
	}
	return vars
}

// applyFormOp applies a button's operation: a step added or removed, or a
// variable op on the rule's variables or a step's ("step1.up:0").
func applyFormOp(c echo.Context, form *ruleForm, op string) {
	verb, arg, _ := strings.Cut(op, ":")
	switch verb {
	case "step-add":
		if len(form.Steps) >= maxFormSteps {
			return
		}
		st := stepForm{Delay: defaultStepDelays[len(form.Steps)], Template: form.Template, Language: form.Language, Variables: slices.Clone(form.Variables)}
		if n := len(form.Steps); n > 0 {
			prev := form.Steps[n-1]
			st.Template, st.Language, st.Variables = prev.Template, prev.Language, slices.Clone(prev.Variables)
		}
		form.Steps = append(form.Steps, st)
		return
	case "step-remove":
		if i, err := strconv.Atoi(arg); err == nil && i >= 0 && i < len(form.Steps) {
			form.Steps = slices.Delete(form.Steps, i, i+1)
		}
		return
	}
	for i := range form.Steps {
		p := stepPrefix(i)
		if rest, ok := strings.CutPrefix(op, p); ok {
			applyVariableOp(&form.Steps[i].Variables, form.Choices, rest, c.FormValue(p+"new_var"))
			return
		}
	}
	applyVariableOp(&form.Variables, form.Choices, op, c.FormValue("new_var"))
}

// applyVariableOp moves, removes or adds a variable, as the row buttons
// ask: they work without script, as plain submits.
func applyVariableOp(list *[]string, choices []app.VariableInfo, op, added string) bool {
	verb, arg, _ := strings.Cut(op, ":")
	i, err := strconv.Atoi(arg)
	vars := *list
	switch {
	case verb == "add":
		if added = strings.TrimSpace(added); added == "" && len(choices) > 0 {
			added = choices[0].Path
		}
		if added != "" {
			*list = append(vars, added)
		}
	case err != nil || i < 0 || i >= len(vars):
		return false
	case verb == "up" && i > 0:
		vars[i-1], vars[i] = vars[i], vars[i-1]
	case verb == "down" && i < len(vars)-1:
		vars[i+1], vars[i] = vars[i], vars[i+1]
	case verb == "remove":
		*list = slices.Delete(vars, i, i+1)
	default:
		return false
	}
	return true
}

// saveRule takes the rule form: a row button changes the variables and
// shows the form again unsaved; Save saves through the API's PutRule.
func (h *Handlers) saveRule(c echo.Context) error {
	s := sessionOf(c)
	event := c.Param("event")
	if !validEventParam(event) {
		return echo.NewHTTPError(http.StatusNotFound, "no such event type")
	}
	form, op := ruleFormFromRequest(c, event)
	if op != "save" && op != "save-anyway" {
		form.Choices = app.VariablesFor(event)
		applyFormOp(c, &form, op)
		form.Unsaved = true
		return h.renderRule(c, http.StatusOK, *s.merchant, form)
	}
	if op == "save" {
		// The most common failed send: a template given the wrong number
		// of variables. Say so before saving.
		check := form
		check.Steps = slices.Clone(form.Steps)
		h.providerTemplates(c.Request().Context(), *s.merchant, &check)
		if check.anyMismatch() {
			form.ConfirmSave, form.Unsaved = true, true
			return h.renderRule(c, http.StatusOK, *s.merchant, form)
		}
	}
	enabled := form.Enabled
	in := app.RuleInput{
		Enabled: &enabled, Mode: form.Mode, Category: form.Category, Template: form.Template,
		Language: form.Language, Variables: form.Variables, Delay: form.Delay,
	}
	if form.Sequence {
		in.Steps, in.AttributionWindow = form.stepInputs(), form.AttributionWindow
	} else if err := h.keepCartSteps(c.Request().Context(), s.merchant.ID, event, &in); err != nil {
		return err
	}
	_, err := h.svc.PutRule(c.Request().Context(), s.merchant.ID, event, in)
	if fields, ok := validationFields(err); ok {
		c.Set(ruleFieldsKey, fields)
		form.Unsaved = true
		return h.renderRule(c, http.StatusUnprocessableEntity, *s.merchant, form)
	}
	if err != nil {
		return err
	}
	return h.seeOther(c, "/admin/messages/"+event+"?done=saved")
}

// testRule sends a test of the saved rule to the merchant's phone and
// shows what became of it.
func (h *Handlers) testRule(c echo.Context) error {
	s := sessionOf(c)
	event := c.Param("event")
	form, err := h.storedRuleForm(c.Request().Context(), *s.merchant, event)
	if err != nil {
		return err
	}
	form.TestPhone = strings.TrimSpace(c.FormValue("phone"))
	d, err := h.svc.SendTestEvent(c.Request().Context(), s.merchant.ID, app.TestEventInput{Event: event, Phone: form.TestPhone})
	if fields, ok := validationFields(err); ok {
		c.Set(ruleFieldsKey, fields)
		return h.renderRule(c, http.StatusUnprocessableEntity, *s.merchant, form)
	}
	if err != nil {
		return err
	}
	form.TestResult = &d
	return h.renderRule(c, http.StatusOK, *s.merchant, form)
}

// phoneCheck answers how a typed number reads for the store's country,
// for the phone fields' hint as the merchant types.
func (h *Handlers) phoneCheck(c echo.Context) error {
	s := sessionOf(c)
	raw := c.QueryParam("phone")
	if len(raw) > 40 {
		return c.JSON(http.StatusOK, map[string]string{"reason": "too long for a phone number"})
	}
	e164, err := app.NormalizePhone(raw, s.merchant.Country)
	if err != nil {
		return c.JSON(http.StatusOK, map[string]string{"reason": "not a phone number yet: give it with its country code, like +91 98765 43210"})
	}
	return c.JSON(http.StatusOK, map[string]string{"e164": e164})
}

// keepCartSteps carries a stored rule's steps and attribution window into
// in, as the API set them.
func (h *Handlers) keepCartSteps(ctx context.Context, merchantID, event string, in *app.RuleInput) error {
	if event != app.EventCartAbandoned {
		return nil
	}
	rules, err := h.svc.Rules(ctx, merchantID)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Event != event {
			continue
		}
		for _, st := range r.Steps {
			step := app.CartStepInput{Delay: st.Delay.String(), Template: st.Template, Language: st.Language, Variables: st.Variables}
			if d := st.Discount; d != nil {
				step.Discount = &app.CartDiscountInput{Type: d.Type, Value: d.Value, ExpiresIn: d.ExpiresIn.String()}
			}
			in.Steps = append(in.Steps, step)
		}
		if r.AttributionWindow > 0 {
			in.AttributionWindow = r.AttributionWindow.String()
		}
	}
	return nil
}

// stepInputs are the form's steps as the API takes them.
func (f ruleForm) stepInputs() []app.CartStepInput {
	var in []app.CartStepInput
	for _, st := range f.Steps {
		step := app.CartStepInput{Delay: st.Delay, Template: st.Template, Language: st.Language, Variables: st.Variables}
		if st.DiscountType != "" || st.DiscountValue != "" {
			step.Discount = &app.CartDiscountInput{Type: st.DiscountType, Value: st.DiscountValue, ExpiresIn: st.DiscountExpires}
		}
		in = append(in, step)
	}
	return in
}
