package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/web"
)

// sharedFixtures is the workspace's folder of public platform payloads; a
// clone of the repository alone does not have it.
const sharedFixtures = "../shared/fixtures"

// TestReplayPlatformPayloads signs every payload of ../shared/fixtures
// (Shopify's and WooCommerce's documentation samples) as the platform
// would and sends it through the real HTTP path and workers: each is
// accepted (or counted as a topic we do not use), none is unusable, and
// the uninstall at the end is carried out. Without that folder it replays
// the samples embedded for the demo, so the test always checks something.
func TestReplayPlatformPayloads(t *testing.T) {
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "k",
		"SHOPIFY_API_SECRET": e2eShopifySecret, "LOG_LEVEL": "warn",
	})
	shopify, woo := replaySets(t)
	t.Logf("replaying %d Shopify sets and %d WooCommerce payloads", len(shopify), len(woo))
	for i, set := range shopify {
		shop := fmt.Sprintf("replay-%d.myshopify.com", i)
		m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": shop, "country": "US"}, 201)
		id := m["id"].(string)
		admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{"template": "order_placed", "variables": []string{"order.number"}}, 200)
		sent := 0
		for _, p := range set {
			status, answer := post(t, base+"/webhooks/shopify", map[string]string{
				"Content-Type": "application/json", "X-Shopify-Topic": p.topic, "X-Shopify-Shop-Domain": shop,
				"X-Shopify-Event-Id": fmt.Sprintf("replay-%d-%s", i, p.name), "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, p.body),
			}, p.body)
			want := `"outcome":"accepted"`
			if !slices.Contains(app.ShopifyTopics(), p.topic) {
				want = `"outcome":"unknown_topic"`
			} else {
				sent++
			}
			if status != 200 || !strings.Contains(answer, want) {
				t.Errorf("%s (%s) = %d %s; want 200 with %s", p.name, p.topic, status, answer, want)
			}
		}
		waitUninstalled(t, base, id)
		stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)["inputs"].(map[string]any)
		if stats["accepted"] != float64(sent) || stats["invalid"] != 0.0 {
			t.Errorf("shop %d inputs = %v; want %d accepted and none invalid\nlogs:\n%s", i, stats, sent, logs)
		}
	}

	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://replay.example.com", "webhook_secret": e2eWooSecret, "country": "US",
	}, 201)
	id := m["id"].(string)
	for _, p := range woo {
		status, answer := post(t, base+"/webhooks/woocommerce/"+id, map[string]string{
			"Content-Type": "application/json", "X-WC-Webhook-Topic": p.topic, "X-WC-Webhook-ID": "9",
			"X-WC-Webhook-Signature": hmacBase64(e2eWooSecret, p.body),
		}, p.body)
		if status != 200 || !strings.Contains(answer, `"outcome":"accepted"`) {
			t.Errorf("%s (%s) = %d %s; want 200 accepted", p.name, p.topic, status, answer)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
		inputs := stats["inputs"].(map[string]any)
		if inputs["invalid"] != 0.0 {
			t.Fatalf("WooCommerce inputs = %v; want none invalid\nlogs:\n%s", inputs, logs)
		}
		if _, ok := stats["events"].(map[string]any)["order.placed"]; ok || time.Now().After(deadline) {
			if !ok {
				t.Fatalf("no order.placed from the WooCommerce orders; stats %v", stats)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type payload struct {
	name, topic string
	body        []byte
}

// replaySets returns the Shopify payloads grouped by API version (each
// ends with the uninstall) and the WooCommerce ones.
func replaySets(t *testing.T) (shopify [][]payload, woo []payload) {
	t.Helper()
	versions, err := filepath.Glob(filepath.Join(sharedFixtures, "shopify", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range versions {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		var set []payload
		for _, f := range files {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			set = append(set, payload{name: filepath.Base(dir) + "/" + name, topic: shopifyTopicOf(name), body: body})
		}
		shopify = append(shopify, uninstallLast(set))
	}
	for _, name := range []string{"order_processing", "order_completed", "coupon", "customer"} {
		body, err := os.ReadFile(filepath.Join(sharedFixtures, "woocommerce", name+".json"))
		if err != nil {
			continue
		}
		topic := map[string]string{"order_processing": "order.created", "order_completed": "order.updated", "coupon": "coupon.created", "customer": "customer.created"}[name]
		woo = append(woo, payload{name: name, topic: topic, body: body})
	}
	if len(shopify) > 0 && len(woo) > 0 {
		return shopify, woo
	}
	// No shared folder: the demo's own samples, plus an uninstall.
	samples, _ := web.Samples.ReadDir("samples")
	var set []payload
	for _, entry := range samples {
		body, _ := web.Samples.ReadFile("samples/" + entry.Name())
		name := strings.TrimSuffix(entry.Name(), ".json")
		if platform, rest, _ := strings.Cut(name, "_"); platform == "shopify" {
			set = append(set, payload{name: name, topic: shopifyTopicOf(rest), body: body})
		} else {
			topic := "order.created"
			if strings.Contains(rest, "completed") {
				topic = "order.updated"
			}
			woo = append(woo, payload{name: name, topic: topic, body: body})
		}
	}
	set = append(set, payload{name: "uninstall", topic: "app/uninstalled", body: []byte(`{"id":69000001,"name":"Kesar Kitchen","domain":"kesar-kitchen.myshopify.com"}`)})
	sort.SliceStable(woo, func(i, j int) bool { return woo[i].topic < woo[j].topic })
	return [][]payload{uninstallLast(set)}, woo
}

// shopifyTopicOf turns "orders_partially_fulfilled" into its topic by
// trying each underscore as the slash.
func shopifyTopicOf(name string) string {
	known := append(app.ShopifyTopics(), "fulfillment_orders/placed_on_hold", "fulfillment_orders/hold_released")
	for i := range len(name) {
		if name[i] == '_' && slices.Contains(known, name[:i]+"/"+name[i+1:]) {
			return name[:i] + "/" + name[i+1:]
		}
	}
	return strings.Replace(name, "_", "/", 1)
}

// uninstallLast orders a set so the uninstall, then the shop's redaction,
// come after everything else, as they would in a shop's life.
func uninstallLast(set []payload) []payload {
	rank := func(topic string) int {
		switch topic {
		case "app/uninstalled":
			return 1
		case "shop/redact":
			return 2
		}
		return 0
	}
	sort.SliceStable(set, func(i, j int) bool { return rank(set[i].topic) < rank(set[j].topic) })
	return set
}

func waitUninstalled(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := admin(t, base, "GET", "/api/admin/merchants/"+id, nil, 200)
		if m["status"] == "uninstalled" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("merchant %s = %v after app/uninstalled; want uninstalled", id, m["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
