package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserCartSequence: the merchant builds a cart.abandoned sequence
// on its rule page with the POST-back buttons only (add two steps, a
// variable to step 2, a discount), is refused a bad delay and value next
// to step 2's fields with everything typed kept, saves it fixed, reads it
// back through the admin API, removes step 1; the page fits 360 px.
func TestBrowserCartSequence(t *testing.T) {
	start := time.Now()
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "e2e-key", "SHOPIFY_API_SECRET": e2eShopifySecret,
		"ALLOW_INSECURE_OUTBOUND": "true",
	})
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs)
		}
	}()
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "asha-naturals.myshopify.com", "access_token": "shpat_e2e", "name": "Asha Naturals", "country": "IN", "timezone": "Asia/Kolkata",
	}, 201)
	id := m["id"].(string)
	interakt, _ := browserInterakt(t)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone", "credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)

	browser := newBrowser(t)
	b := newTab(t, browser)
	b.signInAsOperator(base, e2eAdminToken)
	b.open(base+"/admin/messages/cart.abandoned", "#cart-sequence")
	b.do("name the rule's template", chromedp.SetValue(chromedp.CSS("#template"), "cart_1"))
	b.click(`button[name=op][value=step-add]`, 200, "#step0-delay")
	if got := eval[[]string](b, `[document.querySelector("#step0-delay").value, document.querySelector("#step0-template").value]`); strings.Join(got, " ") != "30m cart_1" {
		t.Errorf("first step = %q; want 30m and the rule's template", got)
	}
	b.click(`button[name=op][value=step-add]`, 200, "#step1-delay")
	b.do("fill step 2",
		chromedp.SetValue(chromedp.CSS("#step1-delay"), "soon"),
		chromedp.SetValue(chromedp.CSS("#step1-template"), "cart_2"),
		chromedp.SetValue(chromedp.CSS("#step1-discount_type"), "percent"),
		chromedp.SetValue(chromedp.CSS("#step1-discount_value"), "ten"),
		chromedp.SetValue(chromedp.CSS("#attribution_window"), "96h"),
		chromedp.SetValue(chromedp.CSS("#step1-new_var"), "coupon.code"))
	b.click(`button[name=op][value="step1.add"]`, 200, "#step1-var-0")
	b.do("pick the cart's link", chromedp.SetValue(chromedp.CSS("#step1-new_var"), "cart.recovery_url"))
	b.click(`button[name=op][value="step1.add"]`, 200, "#step1-var-1")
	if got := eval[string](b, `document.querySelector("#step1-preview").textContent`); !strings.Contains(got, "CART-7QX2-K9") || !strings.Contains(got, "https://shop.example.com/checkouts/recover/") {
		t.Errorf("step 2's preview = %q; want its sample code and link", got)
	}

	b.click(`button[name=op][value=save]`, 422, "#step1-delay[aria-invalid=true]")
	errs := eval[[]string](b, `["#step1-delay-hint", "#step1-discount_value"].map(s => (document.querySelector(s).nextElementSibling || {}).textContent || "")`)
	if !strings.Contains(errs[0], "must be a duration") || !strings.Contains(errs[1], "must be a number") {
		t.Errorf("errors next to step 2's delay and value = %q", errs)
	}
	kept := eval[[]string](b, `["#step1-delay", "#step1-template", "#step1-discount_type", "#step1-discount_value", "#step1-var-0", "#attribution_window", "#step0-template"].map(s => document.querySelector(s).value)`)
	if strings.Join(kept, " ") != "soon cart_2 percent ten coupon.code 96h cart_1" {
		t.Errorf("values after the refusal = %q", kept)
	}
	// Step 1 named after a listed template that takes three variables:
	// the page asks before saving, with the warning at step 1.
	b.do("fix step 2", chromedp.SetValue(chromedp.CSS("#step1-delay"), "24h"), chromedp.SetValue(chromedp.CSS("#step1-discount_value"), "10"),
		chromedp.SetValue(chromedp.CSS("#step0-template"), "order_placed"))
	b.click(`button[name=op][value=save]`, 200, `button[name=op][value=save-anyway]`)
	if got := b.text("#step-1 .banner.warning"); !strings.Contains(got, "Step 1: the template order_placed (en) takes 3 variables; this rule gives none") {
		t.Errorf("step 1's warning = %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#step-2 .banner.warning").length`); n != 0 {
		t.Errorf("step 2 has %d warnings; want none (a template the provider does not list)", n)
	}
	if n := eval[int](b, `document.querySelectorAll("#templates option").length`); n != 2 {
		t.Errorf("the page offers %d provider templates; want Interakt's 2", n)
	}
	b.click(`button[name=op][value=save-anyway]`, 200, ".banner.success")

	type rule struct {
		Event             string `json:"event"`
		AttributionWindow string `json:"attribution_window"`
		Steps             []struct {
			Delay     string   `json:"delay"`
			Template  string   `json:"template"`
			Variables []string `json:"variables"`
			Discount  *struct {
				Type  string      `json:"type"`
				Value json.Number `json:"value"`
			} `json:"discount"`
		} `json:"steps"`
	}
	rules := func() rule {
		t.Helper()
		raw, _ := json.Marshal(admin(t, base, "GET", "/api/admin/merchants/"+id+"/rules", nil, 200)["rules"])
		var list []rule
		if err := json.Unmarshal(raw, &list); err != nil || len(list) != 1 {
			t.Fatalf("rules = %s, %v; want the one", raw, err)
		}
		return list[0]
	}
	r := rules()
	if r.AttributionWindow != "96h0m0s" || len(r.Steps) != 2 || r.Steps[0].Delay != "30m0s" || r.Steps[0].Template != "order_placed" || r.Steps[1].Delay != "24h0m0s" ||
		r.Steps[1].Template != "cart_2" || strings.Join(r.Steps[1].Variables, ",") != "coupon.code,cart.recovery_url" ||
		r.Steps[1].Discount == nil || r.Steps[1].Discount.Type != "percent" || r.Steps[1].Discount.Value != "10" || r.Steps[0].Discount != nil {
		t.Errorf("rule saved on the page = %+v", r)
	}

	// 360 px wide: the sequence fits without sideways scroll.
	b.do("a phone's width", chromedp.EmulateViewport(360, 780))
	b.open(base+"/admin/messages/cart.abandoned", "#step1-delay")
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
		wide := eval[[]string](b, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > 361).slice(0, 6).map(e => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`)
		t.Errorf("the rule page at 360 px is %d px wide; want no horizontal scroll: %q", w, wide)
	}

	b.click(`button[name=op][value="step-remove:0"]`, 200, ".banner.info")
	if got := eval[[]string](b, `[String(document.querySelectorAll("#cart-sequence > li").length), document.querySelector("#step0-template").value]`); strings.Join(got, " ") != "1 cart_2" {
		t.Errorf("after removing step 1 = %q; want one step, cart_2", got)
	}
	b.click(`button[name=op][value=save]`, 200, ".banner.success")
	if r := rules(); len(r.Steps) != 1 || r.Steps[0].Template != "cart_2" {
		t.Errorf("rule after removing step 1 = %+v", r)
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}
