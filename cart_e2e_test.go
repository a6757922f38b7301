package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestEndToEndShopifyCartSequence: a signed checkouts/create in, the
// sequence's steps to Interakt at their delays, the order from that
// checkout stopping the rest and credited to the last step sent, and the
// statistics (JSON and CSV) saying so.
func TestEndToEndShopifyCartSequence(t *testing.T) {
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
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/cart.abandoned", map[string]any{
		"attribution_window": "24h",
		"steps": []map[string]any{
			{"delay": "1s", "template": "cart_1", "variables": []string{"customer.first_name", "cart.recovery_url"}},
			{"delay": "2s", "template": "cart_2", "variables": []string{"cart.recovery_url"}},
			{"delay": "8s", "template": "cart_3", "variables": []string{"cart.recovery_url"}},
		},
	}, 200)

	signed := func(topic, event string, body []byte) {
		t.Helper()
		status, answer := post(t, base+"/webhooks/shopify", map[string]string{
			"Content-Type": "application/json", "X-Shopify-Topic": topic,
			"X-Shopify-Shop-Domain": "asha-naturals.myshopify.com", "X-Shopify-Event-Id": event,
			"X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
		}, body)
		if status != 200 {
			t.Fatalf("POST %s = %d %s", topic, status, answer)
		}
	}
	checkout, err := os.ReadFile("adapters/shopify/testdata/checkout_open.json")
	if err != nil {
		t.Fatal(err)
	}
	checkoutAt := time.Now()
	now := checkoutAt.UTC().Format(time.RFC3339)
	checkout = []byte(strings.Replace(string(checkout), `"updated_at": "2026-03-14T09:05:00+05:30"`, `"updated_at": "`+now+`"`, 1))
	signed("checkouts/create", "ev-checkout-create", checkout)
	signed("checkouts/create", "ev-checkout-create", checkout) // Shopify's retry

	sends := waitForSends(t, sent, 2)
	names := func(sends []map[string]any) []string {
		var out []string
		for _, s := range sends {
			out = append(out, fmt.Sprint(s["template"].(map[string]any)["name"]))
		}
		return out
	}
	first := sends[0]["template"].(map[string]any)
	if fmt.Sprint(names(sends)) != "[cart_1 cart_2]" || sends[0]["phoneNumber"] != "9876543210" ||
		fmt.Sprint(first["bodyValues"]) != "[Anaïs https://asha-naturals.myshopify.com/6612345678/checkouts/c1a2b3c4d5e6/recover?key=abc123]" {
		t.Fatalf("Interakt sends = %v; want cart_1 (name, recovery link) then cart_2 to 9876543210\nlogs:\n%s", sends, logs)
	}

	// The order from that checkout, a moment later (Shopify's times count
	// whole seconds): step 3 never goes.
	time.Sleep(time.Second)
	placed := time.Now().UTC().Format(time.RFC3339)
	order := strings.NewReplacer(`"created_at":"2026-11-22T10:15:00+05:30"`, `"created_at":"`+placed+`","checkout_token":"c1a2b3c4d5e6"`,
		`"processed_at":"2026-11-22T10:15:00+05:30"`, `"processed_at":"`+placed+`"`).Replace(e2eOrder)
	signed("orders/create", "ev-order-create", []byte(order))
	time.Sleep(time.Until(checkoutAt.Add(9 * time.Second))) // past step 3's 8s
	if all, _, _ := sent.snapshot(); len(all) != 2 {
		t.Fatalf("Interakt sends = %v; want only steps 1 and 2: the order stopped the sequence", names(all))
	}

	stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
	outcomes := fmt.Sprint(stats["outcomes"].(map[string]any)["cart.abandoned"])
	if want := "map[by_step:map[1:map[recovered:0 sent:1] 2:map[recovered:1 sent:1]] carts:1 recovered:1 revenue:map[INR:1499.00]]"; outcomes != want {
		t.Errorf("cart outcomes = %s; want %s", outcomes, want)
	}
	cart := stats["events"].(map[string]any)["cart.abandoned"].(map[string]any)
	if cart["sent"] != 2.0 || cart["skipped"].(map[string]any)["recovered"] != 1.0 || cart["skipped"].(map[string]any)["duplicate"] != 0.0 {
		t.Errorf("cart.abandoned stats = %v; want 2 sent, 1 skipped as recovered, the retried webhook not processed twice", cart)
	}
	req, _ := http.NewRequest("GET", base+"/api/admin/merchants/"+id+"/stats?format=csv", nil)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]string{}
	for _, rec := range records[1:] {
		if rec[1] == "cart.abandoned" {
			for i, col := range records[0] {
				row[col] = rec[i]
			}
		}
	}
	if row["carts"] != "1" || row["recovered"] != "1" || row["step_2_recovered"] != "1" || row["revenue_INR"] != "1499.00" || row["sent"] != "2" {
		t.Errorf("CSV cart.abandoned row = %v; want what the JSON says", row)
	}
}
