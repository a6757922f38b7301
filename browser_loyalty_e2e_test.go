package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLoyalty: the merchant saves a loyalty program on its page,
// with redemption and referrals on (a bad value first, refused next to
// its field), a paid Shopify order earns, the merchant looks the customer
// up, sees their referral code, adjusts their points, sees the ledger
// change, and redeems points into a discount code made in the (fake)
// Shopify store; the longer page fits a 360 px screen. The store's server
// then gets a customer token with its API key, and the customer's balance
// and referral code read with it, through the real run().
func TestBrowserLoyalty(t *testing.T) {
	start := time.Now()
	discounts, codes := fakeShopifyDiscounts(t, "asha-naturals.myshopify.com", "shpat_e2e")
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR":                t.TempDir(),
		"ADMIN_TOKEN":             e2eAdminToken,
		"SHOPIFY_API_KEY":         "e2e-key",
		"SHOPIFY_API_SECRET":      e2eShopifySecret,
		"SHOPIFY_ADMIN_BASE_URL":  discounts.URL,
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
	id, apiKey := m["id"].(string), m["api_key"].(string)

	browser := newBrowser(t)
	b := newTab(t, browser)
	b.signInAsOperator(base, e2eAdminToken)
	b.click(`header nav a[href^="/admin/loyalty"]`, 200, "#program-form")

	// A bad rate: refused next to its field, what was typed kept.
	b.do("fill the program",
		chromedp.Click(chromedp.CSS("#enabled")),
		chromedp.SetValue(chromedp.CSS("#points_per_unit"), "ten"),
		chromedp.SetValue(chromedp.CSS("#expiry"), "365d"),
		chromedp.SetValue(chromedp.CSS("#tier-name-0"), "Gold"),
		chromedp.SetValue(chromedp.CSS("#tier-threshold-0"), "1000"),
		chromedp.SetValue(chromedp.CSS("#tier-multiplier-0"), "1.5"),
		chromedp.Click(chromedp.CSS("#redeem-enabled")),
		chromedp.SetValue(chromedp.CSS("#redeem-min_points"), "100"),
		chromedp.SetValue(chromedp.CSS("#redeem-max_points"), "20"),
		chromedp.Click(chromedp.CSS("#referral-enabled")))
	b.click(`#program-form button.primary`, 422, "#points_per_unit[aria-invalid=true]")
	if got := b.text("#redeem-max-hint + .field-error"); !strings.Contains(got, "at least min_points") {
		t.Errorf("the reason next to the redemption maximum = %q; want it below the minimum", got)
	}
	if got := eval[string](b, `document.querySelector("#ppu-hint").nextElementSibling.textContent`); !strings.Contains(got, "must be between 0 and 10000") {
		t.Errorf("the reason next to the rate = %q; want the range", got)
	}
	if got := eval[[]string](b, `[document.querySelector("#expiry").value, document.querySelector("#tier-name-0").value, String(document.querySelector("#enabled").checked)]`); strings.Join(got, " ") != "365d Gold true" {
		t.Errorf("values kept after the refusal = %q; want 365d Gold true", got)
	}
	if got := eval[[]string](b, `[document.querySelector("#redeem-min_points").value, String(document.querySelector("#redeem-enabled").checked), String(document.querySelector("#referral-enabled").checked)]`); strings.Join(got, " ") != "100 true true" {
		t.Errorf("redemption and referral values kept after the refusal = %q; want 100 true true", got)
	}
	b.do("fix the rate and the maximum", chromedp.SetValue(chromedp.CSS("#points_per_unit"), "0.1"), chromedp.SetValue(chromedp.CSS("#redeem-max_points"), "0"))
	b.click(`#program-form button.primary`, 200, ".banner.success")
	prog := admin(t, base, "GET", "/api/admin/merchants/"+id+"/loyalty", nil, 200)
	redeem, referral := prog["redeem"].(map[string]any), prog["referral"].(map[string]any)
	if prog["enabled"] != true || prog["expiry"] != "365d" || prog["earn"].(map[string]any)["points_per_unit"] != 0.1 || len(prog["tiers"].([]any)) != 1 ||
		redeem["enabled"] != true || redeem["min_points"] != 100.0 || redeem["points_per_unit"] != 100.0 || referral["enabled"] != true {
		t.Fatalf("program after saving on the page = %v", prog)
	}

	// A paid order earns 149 points.
	body := []byte(e2eOrder)
	if status, answer := post(t, base+"/webhooks/shopify", map[string]string{
		"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": "asha-naturals.myshopify.com",
		"X-Shopify-Event-Id": "ev-loyalty-page", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
	}, body); status != 200 {
		t.Fatalf("POST orders/paid = %d %s", status, answer)
	}
	deadline := time.Now().Add(15 * time.Second)
	for admin(t, base, "GET", "/api/admin/merchants/"+id+"/customers/7712398123/points", nil, 200)["balance"] != 149.0 {
		if time.Now().After(deadline) {
			t.Fatal("the order earned no 149 points in 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	b.do("look up the customer", chromedp.SetValue(chromedp.CSS("#lookup-by"), "id"), chromedp.SendKeys(chromedp.CSS("#lookup-customer"), "7712398123"))
	b.click(`#lookup-form button`, 200, "#balance")
	if got := b.text("#balance"); got != "149" {
		t.Errorf("balance on the page = %q; want 149", got)
	}
	if rows := eval[[]string](b, `Array.from(document.querySelectorAll("#ledger tbody tr"), tr => tr.innerText)`); len(rows) != 1 || !strings.Contains(rows[0], "+149") {
		t.Errorf("ledger = %q; want the order's +149", rows)
	}
	b.do("adjust", chromedp.SendKeys(chromedp.CSS("#adjust-points"), "51"), chromedp.SendKeys(chromedp.CSS("#adjust-reason"), "birthday gift"))
	b.click(`#adjust-form button.primary`, 200, ".banner.success")
	if got := b.text("#balance"); got != "200" {
		t.Errorf("balance after adjusting = %q; want 200", got)
	}
	rows := eval[[]string](b, `Array.from(document.querySelectorAll("#ledger tbody tr"), tr => tr.innerText)`)
	if len(rows) != 2 || !strings.Contains(rows[0], "birthday gift") || !strings.Contains(rows[0], "+51") || !strings.Contains(rows[1], "+149") {
		t.Errorf("ledger after adjusting = %q; want the adjustment first, then the order", rows)
	}
	referralCode := b.text("#referral-code")
	if !strings.HasPrefix(referralCode, "REF-") {
		t.Errorf("referral code on the customer's view = %q; want a REF- code", referralCode)
	}

	// Redeeming 150 of the 200 points: a ₹1.50 code made in the store for
	// the customer, shown in the notice; the ledger shows the spend.
	b.do("redeem", chromedp.SendKeys(chromedp.CSS("#redeem-points"), "150"))
	b.click(`#redeem-form button.primary`, 200, "#redeemed-code")
	made := b.text("#redeemed-code")
	if value := b.text("#redeemed-value"); !strings.HasPrefix(made, "SB-") || value != "₹1.50" {
		t.Errorf("redeemed %q worth %q; want an SB- code worth ₹1.50", made, value)
	}
	if got := b.text("#balance"); got != "50" {
		t.Errorf("balance after redeeming = %q; want 50", got)
	}
	if held, creates, unexpected := codes.state(); held != 1 || creates != 1 || len(unexpected) != 0 {
		t.Errorf("the store holds %d codes after %d creates (unexpected %v); want 1 after 1", held, creates, unexpected)
	}
	if in := codes.only(); in == nil || !strings.EqualFold(in["code"].(string), made) || fmt.Sprint(in["context"]) != "map[customers:map[add:[gid://shopify/Customer/7712398123]]]" {
		t.Errorf("the store's code = %v; want %s for customer 7712398123", in, made)
	}
	if rows := eval[[]string](b, `Array.from(document.querySelectorAll("#ledger tbody tr"), tr => tr.innerText)`); len(rows) != 3 || !strings.Contains(rows[0], "-150") || !strings.Contains(rows[0], "redeem") {
		t.Errorf("ledger after redeeming = %q; want the -150 redemption first", rows)
	}

	// 360 px: no sideways scroll, the program and the customer both.
	b.do("a phone's width", chromedp.EmulateViewport(360, 780))
	for _, path := range []string{"/admin/loyalty", "/admin/loyalty?by=id&customer=7712398123"} {
		b.open(base+path, "#main")
		if w := eval[int](b, `document.documentElement.scrollWidth`); w > 360 {
			wide := eval[[]string](b, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > 361 && !(e.parentElement && e.parentElement.closest(".table-wrap"))).slice(0, 6).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`)
			t.Errorf("%s at 360 px is %d px wide; want no horizontal scroll: %q", path, w, wide)
		}
	}

	// The store's server trades its API key for a customer token; the
	// customer's page reads the balance with it.
	code, answer := post(t, base+"/api/v1/customer-tokens", map[string]string{"Authorization": "Bearer " + apiKey, "Content-Type": "application/json"}, []byte(`{"customer":"7712398123"}`))
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(answer), &tok); code != 201 || err != nil || tok.Token == "" {
		t.Fatalf("POST /api/v1/customer-tokens = %d %s", code, answer)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/customer/points", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Origin", "https://asha-naturals.myshopify.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pts map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&pts)
	resp.Body.Close()
	if resp.StatusCode != 200 || pts["balance"] != 50.0 || pts["referral_code"] != referralCode || resp.Header.Get("Access-Control-Allow-Origin") != "https://asha-naturals.myshopify.com" {
		t.Errorf("GET /api/v1/customer/points = %d %v (ACAO %q); want balance 50 and the referral code %s for the store's origin", resp.StatusCode, pts, resp.Header.Get("Access-Control-Allow-Origin"), referralCode)
	}
	if strings.Contains(logs.String(), tok.Token) || strings.Contains(logs.String(), apiKey) {
		t.Error("the logs hold the customer token or the API key")
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}
