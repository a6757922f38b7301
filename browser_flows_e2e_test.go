package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// wooOrderWebhook posts wooBody's order as order (a status is news once
// per order), signed with e2eWooSecret as WooCommerce signs it.
func wooOrderWebhook(t *testing.T, base, merchantID, topic string, order int, status, modified string) {
	t.Helper()
	n := strconv.Itoa(order)
	body := []byte(strings.NewReplacer(`"id":727,`, `"id":`+n+`,`, `"number":"727"`, `"number":"`+n+`"`).Replace(string(wooBody(status, modified))))
	_, event, _ := strings.Cut(topic, ".")
	code, answer := post(t, base+"/webhooks/woocommerce/"+merchantID, map[string]string{
		"Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-ID": "31",
		"X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": event, "X-WC-Webhook-Source": "https://shop.chai-point.in/",
		"X-WC-Webhook-Signature": hmacBase64(e2eWooSecret, body),
	}, body)
	if code != 200 {
		t.Fatalf("WooCommerce webhook %s (order %d, %s) = %d %s", topic, order, status, code, answer)
	}
}

// checklist is the home page's steps, by title, done or not.
func checklist(b *tab) map[string]bool {
	b.t.Helper()
	steps := eval[[][]string](b, `Array.from(document.querySelectorAll(".checklist li"), li => [li.querySelector("strong").textContent.trim(), li.classList.contains("done") ? "done" : ""])`)
	out := map[string]bool{}
	for _, s := range steps {
		out[s[0]] = s[1] == "done"
	}
	return out
}

// acceptDialogs accepts every window.confirm the tab's pages ask (the
// data-confirm buttons) from now on, and answers what they asked.
func (b *tab) acceptDialogs() func() []string {
	b.t.Helper()
	var mu sync.Mutex
	var asked []string
	dialogs := chromedp.Events(b.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			mu.Unlock()
			if _, err := chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				return // the tab is closing; the click waiting on it fails the test
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

// TestBrowserFreshInstall: a new user runs storebridge with nothing set,
// opens /admin, signs in with the operator token the service wrote into
// DATA_DIR, adds a WooCommerce store, opens it, picks the sandbox, turns
// on order.placed, sends a test, and sees the checklist fill; a real
// order's webhook completes it.
func TestBrowserFreshInstall(t *testing.T) {
	start := time.Now()
	dir := t.TempDir()
	base, logs, _ := startRun(t, map[string]string{"DATA_DIR": dir})
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs)
		}
	}()
	browser := newBrowser(t)
	b := newTab(t, browser)

	b.open(base+"/admin", "#secret")
	if loc := eval[string](b, `location.pathname`); loc != "/admin/login" {
		t.Errorf("/admin without a session lands on %s; want /admin/login", loc)
	}
	tokenFile := filepath.Join(dir, "admin.token")
	if got := b.text("#main"); !strings.Contains(got, tokenFile) {
		t.Errorf("sign-in page = %q; want it to name %s", got, tokenFile)
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatalf("reading the operator token: %v", err)
	}
	b.do("type the operator token", chromedp.SendKeys(chromedp.CSS("#secret"), strings.TrimSpace(string(raw))))
	b.click(`#main form button.primary`, 200, `form[action="/admin/merchants/new"]`)
	if loc := eval[string](b, `location.pathname`); loc != "/admin/merchants" {
		t.Errorf("signed in as the operator at %s; want /admin/merchants", loc)
	}

	// Add a WooCommerce store: its API key shows once.
	b.do("fill the WooCommerce store",
		chromedp.SendKeys(chromedp.CSS("#woo-name"), "Chai Point"),
		chromedp.SendKeys(chromedp.CSS("#woo-country"), "IN"),
		chromedp.SendKeys(chromedp.CSS("#woo-store_url"), "https://shop.chai-point.in"),
		chromedp.SendKeys(chromedp.CSS("#woo-consumer_key"), "ck_fresh_install"),
		chromedp.SendKeys(chromedp.CSS("#woo-consumer_secret"), "cs_fresh_install"),
		chromedp.SendKeys(chromedp.CSS("#woo-webhook_secret"), e2eWooSecret),
	)
	b.click(`form[action="/admin/merchants/new"]:has(#woo-name) button[type=submit]`, http.StatusCreated, "#added-key")
	apiKey := eval[string](b, `document.getElementById("added-key").value`)
	id := eval[string](b, `document.querySelector(".banner.success input[name=merchant]").value`)
	if len(apiKey) < 20 || id == "" {
		t.Fatalf("added store: API key %q, id %q; want both shown", apiKey, id)
	}
	if got := b.text(".banner.success button.primary"); got != "Open Chai Point" {
		t.Errorf("the added store's button = %q; want Open Chai Point", got)
	}
	b.click(`.banner.success button.primary`, 200, ".checklist")
	if got := b.text("header .shop"); got != "Chai Point" {
		t.Errorf("header shop = %q; want Chai Point", got)
	}
	if steps := checklist(b); len(steps) != 4 || steps["Connect your messaging provider"] || steps["Send yourself a test"] {
		t.Errorf("a new store's checklist = %v; want four steps, none done", steps)
	}
	// Reloading the stores page does not show the key again.
	b.open(base+"/admin/merchants", "#main table")
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, apiKey) {
		t.Errorf("the stores page shows the API key again")
	}
	b.open(base+"/admin", ".checklist")

	// Provider: the sandbox.
	b.click(`.checklist a[href^="/admin/provider"]`, 200, "#form-title")
	b.click(`#main a[href^="/admin/provider?provider=sandbox"]`, 200, `#main form button.primary`)
	if got := b.text("#form-title"); got != "Sandbox" {
		t.Errorf("provider form = %q; want Sandbox", got)
	}
	b.click(`#main form button.primary`, 200, `.banner.success`)

	// Messages: order.placed on, with a template and one variable.
	b.click(`header nav a[href^="/admin/messages"]`, 200, `a[href^="/admin/messages/order.placed"]`)
	b.click(`a[href^="/admin/messages/order.placed"]`, 200, "#rule-form")
	b.do("name the template", chromedp.SetValue(chromedp.CSS("#template"), "order_placed"), chromedp.SetValue(chromedp.CSS("#new_var"), "order.number"))
	b.click(`button[name=op][value=add]`, 200, "#var-0")
	if !eval[bool](b, `document.querySelector("input[name=enabled]").checked`) {
		b.do("turn the message on", chromedp.Click(chromedp.CSS("input[name=enabled]")))
	}
	b.click(`button[name=op][value=save]`, 200, ".banner.success")
	if !eval[bool](b, `document.querySelector("input[name=enabled]").checked`) {
		t.Errorf("order.placed saved off; want on")
	}

	// Send a test to a phone as dialled in India.
	b.do("type a local phone", chromedp.SendKeys(chromedp.CSS("#phone"), "098765 43210"))
	b.until("the phone shown as it will be sent", `document.getElementById("phone-hint").textContent === "Sends to +919876543210"`)
	b.click(`form[action$="/test"] button[type=submit]`, 200, ".test-result")
	if got := b.text(".test-result"); !strings.Contains(got, "sent") || !strings.Contains(got, "3210") || strings.Contains(got, "9876543210") {
		t.Errorf("test result = %q; want sent to a masked phone", got)
	}
	b.click(`header .brand a`, 200, ".checklist")
	steps := checklist(b)
	for _, title := range []string{"Connect your messaging provider", "Turn on the messages you want", "Send yourself a test"} {
		if !steps[title] {
			t.Errorf("after the sandbox, the rule and the test, %q is not done: %v", title, steps)
		}
	}
	if steps["First real message delivered"] {
		t.Errorf("the first real message is done before any order: %v", steps)
	}

	// The store's first order arrives.
	wooOrderWebhook(t, base, id, "order.created", 727, "processing", "2026-11-22T05:00:01")
	// Its message goes out from the queue: load home until the step shows.
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.open(base+"/admin", ".checklist")
		if steps = checklist(b); steps["First real message delivered"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an order, the checklist = %v; want the first real message done", steps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := b.text("#setup"); got != "You are all set" {
		t.Errorf("home heading = %q; want You are all set", got)
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}

// signInAsOperator signs the tab in with the operator token and opens
// the only store.
func (b *tab) signInAsOperator(base, token string) {
	b.t.Helper()
	b.open(base+"/admin/login", "#secret")
	b.do("type the operator token", chromedp.SendKeys(chromedp.CSS("#secret"), token))
	b.click(`#main form button.primary`, 200, `#main table`)
	b.click(`#main table form button[type=submit]`, 200, ".checklist")
}

// TestBrowserCODQueue: a Shopify COD order waits for its customer; the
// merchant confirms it from the queue on the COD page, and Shopify hears
// of it once; a second order is cancelled there, after the page asks.
func TestBrowserCODQueue(t *testing.T) {
	start := time.Now()
	env := startCODOrder(t)
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", env.logs)
		}
	}()
	browser := newBrowser(t)
	b := newTab(t, browser)
	asked := b.acceptDialogs()
	b.signInAsOperator(env.base, e2eAdminToken)
	b.click(`header nav a[href^="/admin/cod"]`, 200, "#queue")
	rows := eval[[]string](b, `Array.from(document.querySelectorAll("#main table tbody tr"), tr => tr.innerText)`)
	if len(rows) != 1 || !strings.Contains(rows[0], "#1042") || !strings.Contains(rows[0], "awaiting") || !strings.Contains(rows[0], "3210") || strings.Contains(rows[0], "9876543210") {
		t.Fatalf("COD queue = %q; want order #1042 awaiting, its phone masked", rows)
	}
	b.click(`button[aria-label="Confirm order #1042"]`, 200, ".banner.success")
	if got := b.text(".banner.success"); !strings.Contains(got, "Order confirmed") {
		t.Errorf("after Confirm the notice = %q; want the order confirmed", got)
	}
	if got := b.text("#main table tbody tr"); !strings.Contains(got, "confirmed") || !strings.Contains(got, "by you") {
		t.Errorf("the confirmed order's row = %q; want confirmed, by you", got)
	}
	if n := eval[int](b, `document.querySelectorAll("#main table button").length`); n != 0 {
		t.Errorf("the confirmed order still has %d buttons; want none", n)
	}
	orders := "/api/admin/merchants/" + env.id + "/cod/orders"
	list := admin(t, env.base, "GET", orders, nil, 200)["orders"].([]any)
	if o := list[0].(map[string]any); len(list) != 1 || o["state"] != "confirmed" || o["decided_by"] != "merchant" {
		t.Errorf("COD orders = %v; want #1042 confirmed by the merchant", list)
	}
	env.waitForCalls(t, codConfirmedCalls)

	// A second COD order, cancelled after the page's confirm dialog.
	second := strings.NewReplacer(`"financial_status":"paid"`, `"financial_status":"pending"`, `"payment_gateway_names":["razorpay"]`, `"payment_gateway_names":["Cash on Delivery (COD)"]`,
		"5923817263541", "5923817263542", `"name":"#1042"`, `"name":"#1043"`, `"order_number":1042`, `"order_number":1043`).Replace(e2eOrder)
	body := []byte(second)
	if status, answer := post(t, env.base+"/webhooks/shopify", map[string]string{
		"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "kesar-kitchen.myshopify.com",
		"X-Shopify-Event-Id": "ev-cod-2", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body),
	}, body); status != 200 {
		t.Fatalf("second COD order = %d %s", status, answer)
	}
	held := codConfirmedCalls[:len(codConfirmedCalls)-1] + " hold storebridge-cod OTHER tags add [cod:pending]]"
	env.waitForCalls(t, held)
	b.open(env.base+"/admin/cod", `button[aria-label="Cancel order #1043"]`)
	b.click(`button[aria-label="Cancel order #1043"]`, 200, ".banner.success")
	if got := asked(); len(got) != 1 || !strings.Contains(got[0], "Cancel order #1043?") {
		t.Errorf("dialogs asked = %q; want one asking to cancel #1043", got)
	}
	if got := b.text(".banner.success"); !strings.Contains(got, "Order cancelled") {
		t.Errorf("after Cancel the notice = %q; want the order cancelled", got)
	}
	rows = eval[[]string](b, `Array.from(document.querySelectorAll("#main table tbody tr"), tr => tr.innerText)`)
	if len(rows) != 2 || !strings.Contains(strings.Join(rows, "|"), "cancelled") {
		t.Errorf("COD queue = %q; want both orders, #1043 cancelled", rows)
	}
	byID := map[string]string{}
	for _, o := range admin(t, env.base, "GET", orders, nil, 200)["orders"].([]any) {
		byID[o.(map[string]any)["id"].(string)] = o.(map[string]any)["state"].(string)
	}
	if byID["5923817263541"] != "confirmed" || byID["5923817263542"] != "cancelled" {
		t.Errorf("COD order states = %v; want #1042 confirmed, #1043 cancelled", byID)
	}
	env.waitForCalls(t, held[:len(held)-1]+" tags add [cod:cancelled] tags remove [cod:pending] cancel gid://shopify/Order/5923817263542]")
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}

// failingInterakt is browserInterakt behind a switch: while failing, every
// send is refused as Interakt refuses a template it does not know.
func failingInterakt(t *testing.T) (*httptest.Server, *recorder, *atomic.Bool) {
	interakt, sent := browserInterakt(t)
	target, err := url.Parse(interakt.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	failing := &atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path == "/v1/public/message/" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"result":false,"message":"Template order_placed is not approved for this account"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, sent, failing
}

// deliveryStatusesOf is the merchant's deliveries' statuses, newest
// first, as the API lists them.
func deliveryStatusesOf(t *testing.T, base, id string) []string {
	t.Helper()
	var out []string
	for _, d := range admin(t, base, "GET", "/api/admin/merchants/"+id+"/deliveries", nil, 200)["deliveries"].([]any) {
		out = append(out, d.(map[string]any)["status"].(string))
	}
	return out
}

// waitStatuses waits until the deliveries' statuses, newest first, are want.
func waitStatuses(t *testing.T, base, id string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := deliveryStatusesOf(t, base, id)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery statuses = %v; want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBrowserDeliveriesRetry: three order messages fail at the provider
// and show as failed with the provider's words; once the provider is
// fixed the merchant retries one, then the rest with Retry all matching
// on the failed filter.
func TestBrowserDeliveriesRetry(t *testing.T) {
	start := time.Now()
	interakt, sent, failing := failingInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs)
		}
	}()
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://shop.chai-point.in", "consumer_key": "ck_browser", "consumer_secret": "cs_browser",
		"webhook_secret": e2eWooSecret, "country": "IN", "name": "Chai Point",
	}, 201)
	id, apiKey := m["id"].(string), m["api_key"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone", "credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_placed", "language": "en", "variables": []string{"customer.first_name", "order.number", "order.total"},
	}, 200)
	failing.Store(true)
	for order := 801; order <= 803; order++ {
		wooOrderWebhook(t, base, id, "order.created", order, "processing", "2026-11-22T05:00:01")
		waitStatuses(t, base, id, slices.Repeat([]string{"failed"}, order-800)...)
	}

	browser := newBrowser(t)
	b := newTab(t, browser)
	asked := b.acceptDialogs()
	b.open(base+"/admin/deliveries", "#secret")
	b.do("type the API key", chromedp.SendKeys(chromedp.CSS("#secret"), apiKey))
	b.click(`#main form button.primary`, 200, "#main tbody tr")
	rows := eval[[]string](b, `Array.from(document.querySelectorAll("#main tbody tr"), tr => tr.innerText)`)
	if len(rows) != 3 {
		t.Fatalf("deliveries rows = %q; want the three orders' messages", rows)
	}
	for _, r := range rows {
		if !strings.Contains(r, "failed") || !strings.Contains(r, "Template order_placed is not approved") || !strings.Contains(r, "Retry") {
			t.Errorf("delivery row %q; want failed, with Interakt's reason, and a Retry button", r)
		}
	}

	// The merchant fixes the template at Interakt, and retries the newest.
	failing.Store(false)
	b.click(`#main tbody tr:first-child form[action$="/retry"] button`, 200, ".banner.success")
	if got := b.text(".banner.success"); got != "Queued again." {
		t.Errorf("after Retry the notice = %q; want Queued again.", got)
	}
	waitStatuses(t, base, id, "sent", "failed", "failed")
	if sends := waitForSends(t, sent, 1); fmt.Sprint(sends[0]["template"].(map[string]any)["bodyValues"]) != "[Anaïs #803 ₹849.00]" {
		t.Errorf("the retried message = %v; want order #803's values", sends[0])
	}

	// The rest, by the failed filter.
	b.do("filter failed", chromedp.SetValue(chromedp.CSS("#f-status"), "failed"))
	b.click(`#main form.filters button[type=submit]`, 200, `form[action="/admin/deliveries/retry"] button`)
	if n := eval[int](b, `document.querySelectorAll("#main tbody tr").length`); n != 2 {
		t.Errorf("the failed filter shows %d deliveries; want 2", n)
	}
	b.click(`form[action="/admin/deliveries/retry"] button`, 200, ".banner.success")
	if got := asked(); len(got) != 1 || got[0] != "Send every matching message again?" {
		t.Errorf("dialogs asked = %q; want the one of Retry all matching", got)
	}
	if got := b.text(".banner.success"); got != "Queued 2 again." {
		t.Errorf("after Retry all matching the notice = %q; want Queued 2 again.", got)
	}
	waitStatuses(t, base, id, "sent", "sent", "sent")
	waitForSends(t, sent, 3)
	b.open(base+"/admin/deliveries", "#main tbody tr")
	if got := eval[string](b, `document.querySelector("#main tbody").innerText`); strings.Contains(got, "failed") || strings.Count(got, "sent") < 3 {
		t.Errorf("deliveries after the retries = %q; want all three sent", got)
	}
	if _, _, fails := sent.snapshot(); len(fails) > 0 {
		t.Errorf("the fake Interakt refused: %v", fails)
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserSignInLink: the WordPress plugin asks for a sign-in link with
// the store's API key; the merchant's browser opens it and is signed in at
// home; the same link opened again, in a fresh browser profile, is refused
// with the reason.
func TestBrowserSignInLink(t *testing.T) {
	start := time.Now()
	base, logs, _ := startRun(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken})
	defer func() {
		if t.Failed() {
			t.Logf("service logs:\n%s", logs)
		}
	}()
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://shop.chai-point.in", "webhook_secret": e2eWooSecret, "country": "IN", "name": "Chai Point",
	}, 201)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/sign-in-links", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m["api_key"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var link signInLinkAnswer
	err = json.NewDecoder(resp.Body).Decode(&link)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/sign-in-links = %d, %v", resp.StatusCode, err)
	}
	u, err := url.Parse(link.URL)
	if err != nil || u.Path != "/admin/sign-in" || u.Query().Get("token") == "" {
		t.Fatalf("sign-in link %q (%v); want /admin/sign-in?token=…", link.URL, err)
	}

	browser := newBrowser(t)
	b := newTab(t, browser)
	b.open(link.URL, ".checklist")
	if loc := eval[string](b, `location.pathname`); loc != "/admin" {
		t.Errorf("the sign-in link lands on %s; want /admin", loc)
	}
	if got := b.text("header .shop"); got != "Chai Point" {
		t.Errorf("signed in as %q; want Chai Point", got)
	}
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, "Switch store") {
		t.Errorf("a merchant's link signed in as the operator")
	}

	// Used: a fresh profile (no session cookie) opening it again.
	other := newTab(t, newBrowser(t))
	if status := other.load("open the used link", chromedp.Navigate(link.URL)); status != http.StatusUnauthorized {
		t.Errorf("the used link answered %d; want 401", status)
	}
	other.do("the sign-in page", chromedp.WaitVisible(chromedp.CSS("#secret")))
	if got := other.text("[role=alert]"); !strings.Contains(got, "expired or was used already") {
		t.Errorf("the used link's page says %q; want the reason", got)
	}
	if n := eval[int](other, `document.querySelectorAll(".checklist").length`); n != 0 {
		t.Errorf("the used link signed in")
	}
	t.Logf("browser flow took %s", time.Since(start).Round(time.Millisecond))
}

type signInLinkAnswer struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}
