package handlers

import (
	"context"
	"net/url"
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

// A cart.abandoned rule's page shows the sequence the API set, and saving
// the form there keeps it.
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
	for _, want := range []string{`id="cart-sequence"`, `<td class="mono">cart_2 (en)</td>`, `<td>10%, for 48h0m0s</td>`, `within 72h0m0s after a sent step`} {
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
