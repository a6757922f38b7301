package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Custom events pushed to /api/v1/events earn a merchant's fixed-point
// action through the real run(): twice a day at most, once per event id
// however often it is pushed, each earn one loyalty.points_earned
// message carrying the customer's referral.code.
func TestEndToEndPushedActionsEarnWithinCaps(t *testing.T) {
	interakt, sent := fakeInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "ALLOW_INSECURE_OUTBOUND": "true",
		"DELIVERY_RETRY_SCHEDULE": "50ms,100ms",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "kesar-kitchen.myshopify.com", "country": "IN", "timezone": "Asia/Kolkata",
	}, 201)
	id, apiKey := m["id"].(string), m["api_key"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	program := map[string]any{
		"enabled": true, "earn": map[string]any{"points_per_unit": 1, "on": "paid"},
		"approve_after": "0s", "expiry": "none", "expiry_reminders": []string{}, "tiers": []any{},
		"actions": []any{
			map[string]any{"name": "quiz", "on": "custom", "event": "quiz.completed", "points": 25, "limit": 2, "per": "day"},
			map[string]any{"name": "review", "on": "review", "points": 40, "limit": 1, "per": "month"},
		},
		"referral": map[string]any{"enabled": true, "referrer_points": 300,
			"friend": map[string]any{"kind": "percentage", "value": "10", "valid_days": 30}},
	}
	bad := map[string]any{}
	for k, v := range program {
		bad[k] = v
	}
	bad["actions"] = []any{map[string]any{"name": "x", "on": "tweet", "points": 5}}
	if got := admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", bad, 422); fmt.Sprint(got) == "" || !strings.Contains(fmt.Sprint(got), "actions[0].on") {
		t.Errorf("PUT a program with a bad action = %v; want 422 naming actions[0].on", got)
	}
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", program, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_earned", map[string]any{
		"template": "points_earned", "language": "en", "category": "transactional",
		"variables": []string{"points.amount", "points.balance", "referral.code"},
	}, 200)

	push := func(eventID, eventType string) {
		t.Helper()
		body := fmt.Sprintf(`{"id":%q,"event":%q,"customer":{"id":"c-77","first_name":"Riya","phone":"98765 43210"},"properties":{"review":{"order_id":"1001"}}}`, eventID, eventType)
		status, answer := post(t, base+"/api/v1/events", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + apiKey}, []byte(body))
		if status != 202 && status != 200 {
			t.Fatalf("POST /api/v1/events %s = %d %s", eventID, status, answer)
		}
	}
	push("quiz-1", "quiz.completed")
	push("quiz-1", "quiz.completed") // the sender retries: a duplicate
	push("quiz-2", "quiz.completed")
	push("quiz-3", "quiz.completed") // over the day's cap
	push("rev-1", "review.submitted")
	push("rev-2", "review.submitted") // over the month's cap
	waitForSends(t, sent, 3)
	time.Sleep(400 * time.Millisecond) // room for a wrong fourth send
	sends, _, _ := sent.snapshot()
	if len(sends) != 3 {
		t.Fatalf("Interakt received %d sends; want 3 (two quizzes, one review):\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	points := admin(t, base, "GET", "/api/admin/merchants/"+id+"/customers/c-77/points", nil, 200)
	code, _ := points["referral_code"].(string)
	if points["balance"] != 90.0 || len(points["entries"].([]any)) != 3 || !strings.HasPrefix(code, "REF-") {
		t.Fatalf("points = %v; want 25+25+40 in three entries and a referral code", points)
	}
	for _, s := range sends {
		template, _ := s["template"].(map[string]any)
		values, _ := template["bodyValues"].([]any)
		if template["name"] != "points_earned" || len(values) != 3 || values[2] != code {
			t.Errorf("send = %v; want points_earned with the referral code %s last", s, code)
		}
	}
}

// shopifyOrder is e2eOrder with the changes given, as a friend's order.
func shopifyOrder(t *testing.T, change func(o map[string]any)) []byte {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal([]byte(e2eOrder), &o); err != nil {
		t.Fatal(err)
	}
	change(o)
	body, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// A friend's first paid Shopify order that landed with ?ref= completes
// the referral once however often Shopify delivers it: the referrer gets
// their points and one loyalty.referral_completed message naming the
// friend. A friend shipping to the referrer's address is turned down
// and counted in the merchant's stats.
func TestEndToEndShopifyReferral(t *testing.T) {
	interakt, sent := fakeInterakt(t)
	// The friend's welcome code is made in the shop.
	shop, codes := fakeShopifyDiscounts(t, "asha-naturals.myshopify.com", "shpat_e2e")
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "e2e-key",
		"SHOPIFY_API_SECRET": e2eShopifySecret, "ALLOW_INSECURE_OUTBOUND": "true", "DELIVERY_RETRY_SCHEDULE": "50ms,100ms",
		"SHOPIFY_ADMIN_BASE_URL": shop.URL,
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "asha-naturals.myshopify.com", "access_token": "shpat_e2e", "name": "Asha Naturals", "country": "IN", "timezone": "Asia/Kolkata",
	}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", map[string]any{
		"enabled": true, "earn": map[string]any{"points_per_unit": 0.1, "on": "paid"},
		"approve_after": "0s", "expiry": "none", "expiry_reminders": []string{}, "tiers": []any{},
		"referral": map[string]any{"enabled": true, "referrer_points": 300,
			"friend": map[string]any{"kind": "percentage", "value": "10", "valid_days": 30}},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.referral_completed", map[string]any{
		"template": "referral_done", "language": "en", "category": "transactional",
		"variables": []string{"customer.first_name", "referral.friend_name", "points.amount"},
	}, 200)
	deliver := func(event string, body []byte) {
		t.Helper()
		headers := map[string]string{
			"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
			"X-Shopify-Shop-Domain": "asha-naturals.myshopify.com", "X-Shopify-Event-Id": event,
			"X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
		}
		if status, answer := post(t, base+"/webhooks/shopify", headers, body); status != 200 {
			t.Fatalf("POST orders/paid %s = %d %s", event, status, answer)
		}
	}
	points := func(customer string) map[string]any {
		return admin(t, base, "GET", "/api/admin/merchants/"+id+"/customers/"+customer+"/points", nil, 200)
	}
	deliver("ev-riya", []byte(e2eOrder)) // the referrer's own order: 149 points
	deadline := time.Now().Add(5 * time.Second)
	for points("7712398123")["balance"] != 149.0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, _ := points("7712398123")["referral_code"].(string)
	if !strings.HasPrefix(code, "REF-") {
		t.Fatalf("referrer's points = %v; want a referral code", points("7712398123"))
	}
	kabir := shopifyOrder(t, func(o map[string]any) {
		o["id"], o["name"], o["email"] = 6000000000001, "#1043", "kabir@example.in"
		o["landing_site"] = "/products/kurta?utm_source=whatsapp&ref=" + code
		o["customer"] = map[string]any{"id": 8800000001, "first_name": "Kabir", "email": "kabir@example.in", "phone": "+919811111111"}
		o["shipping_address"] = map[string]any{"first_name": "Kabir", "address1": "7 Park Street", "city": "Kolkata", "country_code": "IN", "zip": "700016", "phone": "+919811111111"}
	})
	same := shopifyOrder(t, func(o map[string]any) {
		o["id"], o["name"], o["email"] = 6000000000002, "#1044", "meera@example.in"
		o["note_attributes"] = []any{map[string]any{"name": "ref", "value": code}}
		o["customer"] = map[string]any{"id": 8800000002, "first_name": "Meera", "email": "meera@example.in", "phone": "+919822222222"}
		sa := o["shipping_address"].(map[string]any)
		sa["phone"] = "+919822222222"
	})
	deliver("ev-kabir", kabir)
	waitForSends(t, sent, 1)
	waitQueueIdle(t, base) // the referral recorded as rewarded
	// Shopify delivers the order again once the referral is rewarded.
	deliver("ev-kabir-again", kabir)
	deliver("ev-meera", same)
	time.Sleep(400 * time.Millisecond) // room for a wrong second send or code
	sends, _, _ := sent.snapshot()
	if len(sends) != 1 {
		t.Fatalf("Interakt received %d sends; want 1:\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	// A redelivered order asks the shop for nothing more.
	if held, creates, unexpected := codes.state(); held != 1 || creates != 1 || len(unexpected) > 0 {
		t.Errorf("shop holds %d codes after %d creates (unexpected calls %q); want Kabir's one welcome code", held, creates, unexpected)
	} else if in := codes.only(); !strings.HasPrefix(fmt.Sprint(in["code"]), "FRIEND-") || fmt.Sprint(in["usageLimit"]) != "1" {
		t.Errorf("friend's code = %v; want a single-use referral code", in)
	}
	template, _ := sends[0]["template"].(map[string]any)
	if template["name"] != "referral_done" || fmt.Sprint(template["bodyValues"]) != "[Riya Kabir 300]" {
		t.Errorf("send = %v; want referral_done with [Riya Kabir 300]", sends[0])
	}
	if b := points("7712398123")["balance"]; b != 449.0 {
		t.Errorf("referrer's balance = %v; want 149 + 300", b)
	}
	stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
	events, _ := stats["events"].(map[string]any)
	referrals, _ := events["loyalty.referral_completed"].(map[string]any)
	skipped, _ := referrals["skipped"].(map[string]any)
	if skipped["referral_same_address"] != 1.0 {
		t.Errorf("stats = %v; want loyalty.referral_completed skipped referral_same_address once", stats["events"])
	}
}

// A WooCommerce customer.created webhook earns the signup action once,
// however often WooCommerce delivers it, and reaches the new customer as
// one loyalty.points_earned message through a fake Wati.
func TestEndToEndWooCommerceSignupEarns(t *testing.T) {
	wati, sent := fakeWati(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://shop.chai-point.in", "consumer_key": "ck_e2e", "consumer_secret": "cs_e2e",
		"webhook_secret": e2eWooSecret, "country": "IN", "name": "Chai Point",
	}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "wati", "credentials": map[string]string{"api_token": "Bearer " + e2eWatiToken, "server_url": wati.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", map[string]any{
		"enabled": true, "actions": []any{map[string]any{"name": "welcome", "on": "signup", "points": 200}},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_earned", map[string]any{
		"template": "welcome_points", "category": "transactional", "variables": []string{"customer.first_name", "points.amount"},
	}, 200)
	body := []byte(`{"id":42,"email":"meera@example.in","first_name":"Meera","last_name":"Iyer","role":"customer","billing":{"phone":"098765 43210","country":"IN"},"shipping":{},"date_created_gmt":"2026-11-22T05:00:00","meta_data":[]}`)
	for range 2 {
		status, answer := post(t, base+"/webhooks/woocommerce/"+id, map[string]string{
			"Content-Type": "application/json", "X-WC-Webhook-Topic": "customer.created", "X-WC-Webhook-ID": "32",
			"X-WC-Webhook-Signature": hmacBase64(e2eWooSecret, body),
		}, body)
		if status != 200 {
			t.Fatalf("POST customer.created = %d %s", status, answer)
		}
	}
	waitForSends(t, sent, 1)
	time.Sleep(300 * time.Millisecond)
	sends, _, _ := sent.snapshot()
	if len(sends) != 1 || sends[0]["template_name"] != "welcome_points" {
		t.Fatalf("Wati received %v; want one welcome_points send\nlogs:\n%s", sends, logs)
	}
	if p := admin(t, base, "GET", "/api/admin/merchants/"+id+"/customers/42/points", nil, 200); p["balance"] != 200.0 {
		t.Errorf("points = %v; want 200", p)
	}
}

// waitQueueIdle waits until the process's queue has no job ready or
// running, as its /metrics says (open in development).
func waitQueueIdle(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		if strings.Contains(body, `storebridge_queue_jobs{state="ready"} 0`) && strings.Contains(body, `storebridge_queue_jobs{state="running"} 0`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue never went idle:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
