package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndNectorWalletRewardToInteraktTemplate: a merchant who keeps
// Nector points its outbound events at the inbox address the merchant
// view shows; Nector's walletreward_create, retried, reaches Interakt once
// as the merchant's loyalty.points_earned template, with the customer's
// first name, the coins from Nector's own fields, and a field the contract
// has no name for (nector.business_coin_name).
func TestEndToEndNectorWalletRewardToInteraktTemplate(t *testing.T) {
	interakt, sent := fakeInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": "kesar-kitchen.myshopify.com", "name": "Kesar Kitchen", "country": "IN", "timezone": "Asia/Kolkata"}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone", "credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_earned", map[string]any{
		"template": "coins_earned", "language": "en", "variables": []string{"customer.first_name", "points.amount", "points.balance", "nector.business_coin_name"},
	}, 200)

	webhooks, _ := admin(t, base, "GET", "/api/admin/merchants/"+id, nil, 200)["webhooks"].(map[string]any)
	shown, _ := webhooks["nector"].(string)
	inbox, err := url.Parse(shown)
	if err != nil || inbox.Path != "/webhooks/nector/"+id || inbox.Query().Get("token") == "" {
		t.Fatalf("merchant view webhooks = %v; want the Nector inbox with its token", webhooks)
	}
	address := base + inbox.RequestURI()

	body, err := os.ReadFile(filepath.Join("adapters", "nector", "testdata", "walletreward_create.json"))
	if err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{"Content-Type": "application/json", "X-Nector-Topic": "walletreward_create", "X-Nector-Delivery-Id": "ndl_5f2a91"}
	if status, answer := post(t, base+inbox.Path+"?token=not-the-token", headers, body); status != 401 {
		t.Fatalf("POST with a wrong token = %d %s; want 401", status, answer)
	}
	for i := range 3 { // Nector's retries of one delivery
		status, answer := post(t, address, headers, body)
		want := map[bool]string{true: `"outcome":"accepted"`, false: `"outcome":"duplicate"`}[i == 0]
		if status != 200 || !strings.Contains(answer, want) {
			t.Fatalf("POST #%d = %d %s; want 200 %s", i+1, status, answer, want)
		}
	}
	waitForSends(t, sent, 1)
	time.Sleep(300 * time.Millisecond) // room for a wrong second send
	sends, paths, _ := sent.snapshot()
	if len(sends) != 1 || paths[0] != "/v1/public/message/" {
		t.Fatalf("Interakt got %d calls (%v); want one template message\nlogs:\n%s", len(sends), paths, logs)
	}
	got := sends[0]
	template, _ := got["template"].(map[string]any)
	if got["countryCode"] != "+91" || got["phoneNumber"] != "9876543210" || got["type"] != "Template" ||
		template["name"] != "coins_earned" || template["languageCode"] != "en" ||
		fmt.Sprint(template["bodyValues"]) != "[Riya 100 1250 Kesar Coins]" {
		t.Errorf("Interakt send = %v; want +91 9876543210, template coins_earned with [Riya 100 1250 Kesar Coins]", got)
	}
	deliveries := admin(t, base, "GET", "/api/admin/merchants/"+id+"/deliveries", nil, 200)["deliveries"].([]any)
	if len(deliveries) != 1 || deliveries[0].(map[string]any)["event"] != "loyalty.points_earned" {
		t.Errorf("deliveries = %v; want one loyalty.points_earned", deliveries)
	}
}
