package handlers

import (
	"context"
	"errors"
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
	// Steps are a cart sequence's, as the API set them; shown, kept on
	// save. AttributionWindow goes with them.
	Steps             []ruleStepRow
	AttributionWindow string
}

type ruleStepRow struct {
	N                                              int
	Delay, Template, Language, Variables, Discount string
}

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
		}
	}
	return form, nil
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
	if err := h.cartSequenceRows(c.Request().Context(), m.ID, &form); err != nil {
		return err
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
	for _, t := range list {
		if t.Name == form.Template && (form.Language == "" || strings.EqualFold(t.Language, form.Language)) {
			form.Mismatch = app.TemplateMismatch(t, form.Variables)
			return
		}
	}
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
	for _, v := range params["var"] {
		if v = strings.TrimSpace(v); v != "" {
			form.Variables = append(form.Variables, v)
		}
	}
	return form, c.FormValue("op")
}

// applyVariableOp moves, removes or adds a variable, as the row buttons
// ask: they work without script, as plain submits.
func applyVariableOp(form *ruleForm, op, added string) bool {
	verb, arg, _ := strings.Cut(op, ":")
	i, err := strconv.Atoi(arg)
	vars := form.Variables
	switch {
	case verb == "add":
		if added = strings.TrimSpace(added); added == "" && len(form.Choices) > 0 {
			added = form.Choices[0].Path
		}
		if added != "" {
			form.Variables = append(vars, added)
		}
	case err != nil || i < 0 || i >= len(vars):
		return false
	case verb == "up" && i > 0:
		vars[i-1], vars[i] = vars[i], vars[i-1]
	case verb == "down" && i < len(vars)-1:
		vars[i+1], vars[i] = vars[i], vars[i+1]
	case verb == "remove":
		form.Variables = slices.Delete(vars, i, i+1)
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
		applyVariableOp(&form, op, c.FormValue("new_var"))
		form.Unsaved = true
		return h.renderRule(c, http.StatusOK, *s.merchant, form)
	}
	if op == "save" {
		// The most common failed send: a template given the wrong number
		// of variables. Say so before saving.
		check := form
		h.providerTemplates(c.Request().Context(), *s.merchant, &check)
		if check.Mismatch != "" {
			form.ConfirmSave, form.Unsaved = true, true
			return h.renderRule(c, http.StatusOK, *s.merchant, form)
		}
	}
	enabled := form.Enabled
	in := app.RuleInput{
		Enabled: &enabled, Mode: form.Mode, Category: form.Category, Template: form.Template,
		Language: form.Language, Variables: form.Variables, Delay: form.Delay,
	}
	// The form does not edit a cart sequence's steps: saving keeps them.
	if err := h.keepCartSteps(c.Request().Context(), s.merchant.ID, event, &in); err != nil {
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

// cartSequenceRows shows the stored steps of a cart.abandoned rule.
func (h *Handlers) cartSequenceRows(ctx context.Context, merchantID string, form *ruleForm) error {
	if form.Event.Type != app.EventCartAbandoned {
		return nil
	}
	rules, err := h.svc.Rules(ctx, merchantID)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Event != form.Event.Type || len(r.Steps) == 0 {
			continue
		}
		for i, st := range r.Steps {
			row := ruleStepRow{N: i + 1, Delay: st.Delay.String(), Template: st.Template, Language: st.Language, Variables: strings.Join(st.Variables, ", ")}
			if d := st.Discount; d != nil {
				row.Discount = d.Value + "%"
				if d.Type == app.CartDiscountFixed {
					row.Discount = d.Value + " off"
				}
				row.Discount += ", for " + d.ExpiresIn.String()
			}
			form.Steps = append(form.Steps, row)
		}
		form.AttributionWindow = "168h0m0s"
		if r.AttributionWindow > 0 {
			form.AttributionWindow = r.AttributionWindow.String()
		}
	}
	return nil
}
