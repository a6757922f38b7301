package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/store/redistest"
)

// TestEndToEndSurvivesRedisRestart: Redis (append-only, fsync always) dies
// between webhooks. While it is down webhooks get 503, as Shopify needs to
// retry them; once it is back the workers resume on their own, and every
// order reaches the provider exactly once, those accepted before the crash
// included.
func TestEndToEndSurvivesRedisRestart(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{AppendOnly: true})
	interakt, sent := fakeInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"REDIS_URL": redis.URL(), "REDIS_PREFIX": "fault:", "SECRET_KEY": strings.Repeat("f4ult-", 7), "APP_URL": e2eAppURL,
		"ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": e2eShopifySecret,
		"ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": "asha-naturals.myshopify.com", "country": "IN"}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{"template": "order_placed", "variables": []string{"order.number"}}, 200)

	order := func(n int) (int, string) {
		body := []byte(strings.Replace(strings.Replace(e2eOrder, `"id":5923817263541`, fmt.Sprintf(`"id":%d`, 7000+n), 1), `"name":"#1042"`, fmt.Sprintf(`"name":"#%d"`, 7000+n), 1))
		return post(t, base+"/webhooks/shopify", map[string]string{
			"Content-Type": "application/json", "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "asha-naturals.myshopify.com",
			"X-Shopify-Event-Id": fmt.Sprintf("ev-fault-%d", n), "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body),
		}, body)
	}
	for n := range 20 {
		if status, answer := order(n); status != 200 {
			t.Fatalf("order %d before the crash = %d %s", n, status, answer)
		}
	}
	waitForSends(t, sent, 20)

	redis.Kill()
	var refused []int
	for n := 20; n < 25; n++ {
		if status, _ := order(n); status != http.StatusServiceUnavailable {
			t.Errorf("order %d with Redis down = %d; want 503 so the platform retries", n, status)
		}
		refused = append(refused, n)
	}
	time.Sleep(time.Second) // long enough for the workers to find the store gone
	redis.Restart(t)
	waitStatus(t, base+"/readyz", http.StatusOK)
	for _, n := range append(refused, 25, 26, 27, 28, 29) { // the platform's retries, then new orders
		if status, answer := order(n); status != 200 {
			t.Fatalf("order %d after the restart = %d %s", n, status, answer)
		}
	}
	// A retried delivery of an order accepted before the crash is a duplicate.
	if _, answer := order(3); !strings.Contains(answer, "duplicate") {
		t.Errorf("order 3 again after the restart = %s; want duplicate (its key survived the crash)", answer)
	}
	waitForSends(t, sent, 30)
	time.Sleep(300 * time.Millisecond)
	sends, _, _ := sent.snapshot()
	seen := map[string]int{}
	for _, s := range sends {
		number := fmt.Sprint(s["template"].(map[string]any)["bodyValues"])
		seen[number]++
	}
	if len(sends) != 30 || len(seen) != 30 {
		t.Errorf("provider got %d sends for %d orders; want 30 for 30\nlogs:\n%s", len(sends), len(seen), logs)
	}
	if !strings.Contains(logs.String(), "claiming jobs works again") {
		t.Errorf("the workers did not report recovering:\n%s", logs)
	}
}
