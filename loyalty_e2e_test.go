package main

import (
	"fmt"
	"testing"
	"time"
)

// A Shopify orders/paid webhook, delivered twice under two event ids,
// earns points once and reaches the customer as one loyalty.points_earned
// message with the points, through the real run() and a fake Interakt.
func TestEndToEndShopifyOrderEarnsPoints(t *testing.T) {
	interakt, sent := fakeInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR":                t.TempDir(),
		"ADMIN_TOKEN":             e2eAdminToken,
		"SHOPIFY_API_KEY":         "e2e-key",
		"SHOPIFY_API_SECRET":      e2eShopifySecret,
		"ALLOW_INSECURE_OUTBOUND": "true",
		"DELIVERY_RETRY_SCHEDULE": "50ms,100ms",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "asha-naturals.myshopify.com", "access_token": "shpat_e2e", "name": "Asha Naturals", "country": "IN", "timezone": "Asia/Kolkata",
	}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", map[string]any{
		"enabled": true, "earn": map[string]any{"points_per_unit": 0.1, "on": "paid"},
		"approve_after": "0s", "expiry": "365d", "expiry_reminders": []string{"30d"}, "tiers": []any{},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_earned", map[string]any{
		"template": "points_earned", "language": "en", "category": "transactional",
		"variables": []string{"customer.first_name", "points.amount", "points.balance"},
	}, 200)

	body := []byte(e2eOrder)
	for _, event := range []string{"ev-1042-paid", "ev-1042-paid-again"} {
		headers := map[string]string{
			"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid",
			"X-Shopify-Shop-Domain": "asha-naturals.myshopify.com", "X-Shopify-Event-Id": event,
			"X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
		}
		if status, answer := post(t, base+"/webhooks/shopify", headers, body); status != 200 {
			t.Fatalf("POST orders/paid = %d %s", status, answer)
		}
	}
	waitForSends(t, sent, 1)
	time.Sleep(300 * time.Millisecond) // room for a wrong second send
	sends, _, _ := sent.snapshot()
	if len(sends) != 1 {
		t.Fatalf("Interakt received %d sends; want 1:\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	template, _ := sends[0]["template"].(map[string]any)
	if template["name"] != "points_earned" || fmt.Sprint(template["bodyValues"]) != "[Riya 149 149]" {
		t.Errorf("send = %v; want points_earned with [Riya 149 149]", sends[0])
	}
	points := admin(t, base, "GET", "/api/admin/merchants/"+id+"/customers/7712398123/points", nil, 200)
	if points["balance"] != 149.0 || len(points["entries"].([]any)) != 1 {
		t.Errorf("points = %v; want 149 in one entry", points)
	}
}
