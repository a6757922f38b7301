package handlers

import (
	"context"
	"strings"
	"testing"

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
