package handlers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// The statistics page shows the cart sequences' outcomes as the API
// counts them: carts, recovered, the revenue in its currency, and each
// step's sent and recovered.
func TestStatsPageShowsCartOutcomes(t *testing.T) {
	e, svc, st := pagesServerOn(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "asha-naturals.myshopify.com", Name: "Asha Naturals", Country: "IN"})
	c := func(outcome string) app.Counter {
		return app.Counter{Merchant: m.ID, Day: "2026-11-03", Subject: app.EventCartAbandoned, Outcome: outcome}
	}
	for n, counters := range map[int64][]app.Counter{
		1:      {c("cart.recovered"), c("cart.step.2.recovered"), c("cart.step.2.sent")},
		4:      {c("cart.carts"), c("cart.step.1.sent")},
		249850: {c("cart.revenue.INR")},
	} {
		if err := st.Incr(context.Background(), n, counters...); err != nil {
			t.Fatal(err)
		}
	}
	rec := signedIn(t, e, svc, m.ID).get("/admin/stats?from=2026-11-01&to=2026-11-30")
	if rec.Code != 200 {
		t.Fatalf("GET /admin/stats = %d\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<span class="n">4</span><span class="l">carts</span>`,
		`<span class="n">1</span><span class="l">recovered</span>`,
		`<span class="n">₹2,498.50</span><span class="l">recovered revenue, INR</span>`,
		`<tr><td>1</td><td class="num">4</td><td class="num">0</td></tr>`,
		`<tr><td>2</td><td class="num">1</td><td class="num">1</td></tr>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("stats page lacks %s", want)
		}
	}
}

// A cart.abandoned rule's page shows the sequence the API set as its
// form, and saving a form from before the sequence's fields (no
// "sequence" marker) keeps it.
func TestRulePageShowsAndKeepsTheCartSequence(t *testing.T) {
	e, svc := pagesServer(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "asha-naturals.myshopify.com", Name: "Asha Naturals", Country: "IN"})
	ctx := context.Background()
	if _, err := svc.PutRule(ctx, m.ID, app.EventCartAbandoned, app.RuleInput{AttributionWindow: "72h", Steps: []app.CartStepInput{
		{Template: "cart_1", Variables: []string{"cart.recovery_url"}},
		{Template: "cart_2", Variables: []string{"coupon.code"}, Discount: &app.CartDiscountInput{Type: "percent", Value: "10"}},
	}}); err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, e, svc, m.ID)
	rec := b.get("/admin/messages/cart.abandoned")
	for _, want := range []string{`id="cart-sequence"`, `name="steps" value="2"`, `name="step1.template" value="cart_2"`,
		`<option value="percent" selected>`, `name="step1.discount_value" value="10"`, `name="step1.discount_expires" value="48h"`,
		`name="step0.delay" value="30m"`, `name="step1.delay" value="24h"`, `name="attribution_window" value="72h"`, `<option value="coupon.code" selected>`, `id="step1-preview"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("rule page lacks %s", want)
		}
	}
	rec = b.post("/admin/messages/cart.abandoned", url.Values{"csrf": {b.csrf("/admin/messages/cart.abandoned")}, "op": {"save-anyway"}, "enabled": {"on"},
		"mode": {"template"}, "category": {"marketing"}, "template": {"cart_1"}, "language": {"en"}, "delay": {"0s"}, "var": {"cart.recovery_url"}})
	if rec.Code != 303 {
		t.Fatalf("save = %d\n%s", rec.Code, rec.Body)
	}
	rules, err := svc.Rules(ctx, m.ID)
	if err != nil || len(rules) != 1 || len(rules[0].Steps) != 2 || rules[0].AttributionWindow != 72*time.Hour {
		t.Fatalf("rules after saving the form = %+v, %v; want the two steps and the window kept", rules, err)
	}
}

// sequenceForm is the rule page's form with a sequence of steps, each
// given as its fields without the "stepN." prefix.
func sequenceForm(csrf, op, window string, steps ...map[string][]string) url.Values {
	v := url.Values{"csrf": {csrf}, "op": {op}, "enabled": {"on"}, "mode": {"template"}, "category": {"marketing"},
		"template": {"cart_1"}, "language": {"en"}, "delay": {"0s"}, "sequence": {"1"}, "steps": {strconv.Itoa(len(steps))},
		"attribution_window": {window}}
	for i, st := range steps {
		for k, vals := range st {
			v[fmt.Sprintf("step%d.%s", i, k)] = vals
		}
	}
	return v
}

// The rule page edits a cart sequence: three steps with a discount are
// saved as the API's; a bad delay comes back 422 next to its step with
// every value kept; removing a step and adding one are plain submits,
// unsaved until Save.
func TestRulePageEditsTheCartSequence(t *testing.T) {
	e, svc := pagesServer(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformShopify, Domain: "asha-naturals.myshopify.com", Name: "Asha Naturals", Country: "IN"})
	ctx := context.Background()
	b := signedIn(t, e, svc, m.ID)
	const path = "/admin/messages/cart.abandoned"
	steps := []map[string][]string{
		{"delay": {"30m"}, "template": {"cart_1"}, "language": {"en"}, "var": {"customer.first_name", "cart.recovery_url"}, "discount_type": {"none"}},
		{"delay": {"24h"}, "template": {"cart_2"}, "language": {"hi"}, "var": {"coupon.code", "cart.recovery_url"},
			"discount_type": {"percent"}, "discount_value": {"10"}, "discount_expires": {"72h"}},
		{"delay": {"72h"}, "template": {"cart_3"}, "language": {"en"}, "var": {"coupon.value"}, "discount_type": {"fixed"}, "discount_value": {"150"}},
	}
	rec := b.post(path, sequenceForm(b.csrf(path), "save-anyway", "96h", steps...))
	if rec.Code != 303 {
		t.Fatalf("save = %d\n%s", rec.Code, rec.Body)
	}
	rules, err := svc.Rules(ctx, m.ID)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules = %+v, %v", rules, err)
	}
	r := rules[0]
	got := fmt.Sprintf("%v %v", r.AttributionWindow, r.Steps)
	if r.AttributionWindow != 96*time.Hour || len(r.Steps) != 3 || r.Steps[0].Discount != nil || r.Steps[1].Language != "hi" ||
		fmt.Sprint(r.Steps[1].Variables) != "[coupon.code cart.recovery_url]" || r.Steps[2].Delay != 72*time.Hour {
		t.Fatalf("saved = %s; want the three steps as posted", got)
	}
	if d := r.Steps[1].Discount; d == nil || d.Type != "percent" || d.Value != "10" || d.ExpiresIn != 72*time.Hour {
		t.Errorf("step 2's discount = %+v; want 10 percent for 72h", d)
	}
	if d := r.Steps[2].Discount; d == nil || d.Type != "fixed" || d.Value != "150" || d.ExpiresIn != 48*time.Hour {
		t.Errorf("step 3's discount = %+v; want 150 off for the default 48h", d)
	}

	// A bad delay at step 2 and a bad value at step 3: 422, each error at
	// its step, the values as typed, nothing saved.
	bad := sequenceForm(b.csrf(path), "save-anyway", "96h", steps...)
	bad.Set("step1.delay", "tomorrow")
	bad.Set("step2.discount_value", "-5")
	rec = b.post(path, bad)
	body := rec.Body.String()
	if rec.Code != 422 {
		t.Fatalf("bad delay = %d; want 422", rec.Code)
	}
	for _, want := range []string{
		`name="step1.delay" value="tomorrow" spellcheck="false" aria-describedby="step1-delay-hint" aria-invalid="true">`,
		`name="step2.discount_value" value="-5" aria-invalid="true">`,
		`name="step0.template" value="cart_1"`, `name="step1.language" value="hi"`, `name="attribution_window" value="96h"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("422 page lacks %s", want)
		}
	}
	step2 := body[strings.Index(body, `id="step-2"`):strings.Index(body, `id="step-3"`)]
	if !strings.Contains(step2, "must be a duration like 30m, 24h or 72h") {
		t.Errorf("step 2 lacks its delay's error:\n%s", step2)
	}
	if step3 := body[strings.Index(body, `id="step-3"`):]; !strings.Contains(step3, `must be a number like 10 or 49.50`) {
		t.Errorf("step 3 lacks its value's error")
	}
	if rules, _ := svc.Rules(ctx, m.ID); rules[0].Steps[1].Delay != 24*time.Hour {
		t.Errorf("a refused form changed the rule: %+v", rules[0].Steps[1])
	}

	// Remove step 1: the page shows two steps, unsaved; Save stores them.
	rec = b.post(path, sequenceForm(b.csrf(path), "step-remove:0", "96h", steps...))
	body = rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "Not saved yet.") || !strings.Contains(body, `name="steps" value="2"`) ||
		!strings.Contains(body, `name="step0.template" value="cart_2"`) || !strings.Contains(body, `value="cart_3"`) {
		t.Fatalf("remove = %d; want two steps left, unsaved\n%s", rec.Code, body)
	}
	if rules, _ := svc.Rules(ctx, m.ID); len(rules[0].Steps) != 3 {
		t.Errorf("removing a step saved it: %d steps", len(rules[0].Steps))
	}
	rec = b.post(path, sequenceForm(b.csrf(path), "save-anyway", "96h", steps[1:]...))
	if rec.Code != 303 {
		t.Fatalf("save two = %d\n%s", rec.Code, rec.Body)
	}
	if rules, _ := svc.Rules(ctx, m.ID); len(rules[0].Steps) != 2 || rules[0].Steps[0].Template != "cart_2" {
		t.Errorf("after removing step 1 = %+v; want cart_2 and cart_3", rules[0].Steps)
	}

	// Add a step (offered only under three) and a variable to it.
	rec = b.post(path, sequenceForm(b.csrf(path), "step-add", "", steps[1:]...))
	body = rec.Body.String()
	if !strings.Contains(body, `name="steps" value="3"`) || !strings.Contains(body, `name="step2.delay" value="72h"`) || strings.Contains(body, `value="step-add"`) {
		t.Errorf("add = %d; want a third step at 72h and no more Add button", rec.Code)
	}
	add := sequenceForm(b.csrf(path), "step1.add", "", steps[1:]...)
	add.Set("step1.new_var", "cart.total")
	rec = b.post(path, add)
	if body = rec.Body.String(); !strings.Contains(body, `id="step1-var-1" name="step1.var"`) || !strings.Contains(body, `<option value="cart.total" selected>`) {
		t.Errorf("step variable add = %d; want cart.total as step 2's second variable", rec.Code)
	}
	// Every step removed: the rule is its own one message again.
	rec = b.post(path, sequenceForm(b.csrf(path), "save-anyway", ""))
	if rules, _ := svc.Rules(ctx, m.ID); rec.Code != 303 || len(rules[0].Steps) != 0 {
		t.Errorf("save with no steps = %d, %d steps; want none", rec.Code, len(rules[0].Steps))
	}
}
