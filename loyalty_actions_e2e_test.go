package main

import (
	"fmt"
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
