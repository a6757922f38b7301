package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	e2eMetaToken   = "EAAG-e2e-system-user-token"
	e2eMetaPhoneID = "109876543210123"
	e2eMetaSecret  = "4f1c2a9b7e6d5c3b2a190817f6e5d4c3"
	e2eMetaVerify  = "verify-me-e2e"
)

// fakeMeta answers as the Cloud API does: the phone number for Verify, a
// wamid for each template message.
func fakeMeta(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+e2eMetaToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}`)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/"+e2eMetaPhoneID:
			io.WriteString(w, `{"display_phone_number":"+91 80 4000 1234","verified_name":"Asha Naturals","id":"`+e2eMetaPhoneID+`"}`)
		case r.Method == http.MethodPost && r.URL.Path == "/"+e2eMetaPhoneID+"/messages":
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				rec.fail("meta: body: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rec.add(body, "")
			fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgS","message_status":"accepted"}]}`, body["to"], body["to"])
		default:
			rec.fail("meta: unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func metaSignature(body []byte) string {
	mac := hmac.New(sha256.New, []byte(e2eMetaSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func metaStatus(status string, ts int64) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"918040001234","phone_number_id":%q},"statuses":[{"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgS","status":%q,"timestamp":"%d","recipient_id":"919876543210"}]}}]}]}`, e2eMetaPhoneID, status, ts))
}

// TestEndToEndMetaStatusesAndReplies: a message through the Cloud API, then
// Meta's webhooks: the subscription handshake, signed statuses arriving out
// of order, and a STOP reply that opts the customer out of marketing.
func TestEndToEndMetaStatusesAndReplies(t *testing.T) {
	meta, sent := fakeMeta(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "k",
		"SHOPIFY_API_SECRET": e2eShopifySecret, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": "asha-naturals.myshopify.com", "country": "IN"}, 201)
	id := m["id"].(string)
	view := admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "meta", "credentials": map[string]string{
			"access_token": e2eMetaToken, "phone_number_id": e2eMetaPhoneID, "app_secret": e2eMetaSecret,
			"verify_token": e2eMetaVerify, "base_url": meta.URL,
		},
	}, 200)
	statusURL := view["provider"].(map[string]any)["status_url"].(string)
	if !strings.HasPrefix(statusURL, "http://localhost:") || !strings.Contains(statusURL, "/webhooks/providers/meta/"+id+"?token=") {
		t.Fatalf("status_url = %q; want the merchant's provider webhook address with its token", statusURL)
	}
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{"template": "order_placed", "language": "en_US", "variables": []string{"customer.first_name", "order.number"}}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_expiring", map[string]any{"template": "points_expiring", "variables": []string{"amount"}}, 200)

	hook := base + "/webhooks/providers/meta/" + id
	// Meta's subscription check.
	resp, err := http.Get(hook + "?hub.mode=subscribe&hub.verify_token=" + e2eMetaVerify + "&hub.challenge=1158201444")
	if err != nil {
		t.Fatal(err)
	}
	challenge, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(challenge) != "1158201444" {
		t.Errorf("handshake = %d %q; want 200 with the challenge", resp.StatusCode, challenge)
	}
	if resp, _ := http.Get(hook + "?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"); resp.StatusCode != 401 {
		t.Errorf("handshake with a wrong verify token = %d; want 401", resp.StatusCode)
	}

	body := []byte(e2eOrder)
	post(t, base+"/webhooks/shopify", map[string]string{
		"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "asha-naturals.myshopify.com",
		"X-Shopify-Event-Id": "ev-meta-1", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body),
	}, body)
	sends := waitForSends(t, sent, 1)
	template := sends[0]["template"].(map[string]any)
	if sends[0]["to"] != "919876543210" || template["name"] != "order_placed" {
		t.Errorf("Cloud API send = %v; want order_placed to 919876543210", sends[0])
	}

	// The statuses below are about a send the service has recorded; a
	// status that outruns the record is covered in app's tests.
	deadline := time.Now().Add(5 * time.Second)
	for {
		list := admin(t, base, "GET", "/api/admin/merchants/"+id+"/deliveries", nil, 200)["deliveries"].([]any)
		if len(list) == 1 && list[0].(map[string]any)["status"] == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries = %v; want one sent", list)
		}
		time.Sleep(10 * time.Millisecond)
	}
	signed := func(payload []byte, signature string) int {
		t.Helper()
		status, _ := post(t, hook, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": signature}, payload)
		return status
	}
	now := time.Now().Unix()
	if got := signed(metaStatus("read", now), metaSignature(metaStatus("read", now))); got != 200 {
		t.Fatalf("signed read status = %d; want 200", got)
	}
	if got := signed(metaStatus("delivered", now-5), metaSignature(metaStatus("delivered", now-5))); got != 200 {
		t.Fatalf("signed delivered status = %d; want 200", got)
	}
	if got := signed(metaStatus("failed", now), "sha256=00"); got != 401 {
		t.Errorf("status with a wrong signature = %d; want 401", got)
	}
	if got := signed(metaStatus("failed", now), ""); got != 401 {
		t.Errorf("unsigned status without the URL token = %d; want 401", got)
	}
	d := admin(t, base, "GET", "/api/admin/merchants/"+id+"/deliveries", nil, 200)["deliveries"].([]any)[0].(map[string]any)
	if d["status"] != "read" {
		t.Errorf("delivery after read then (older) delivered = %v; want read: statuses never move back", d["status"])
	}

	stop := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":%q},"contacts":[{"wa_id":"919876543210","profile":{"name":"Riya"}}],"messages":[{"from":"919876543210","id":"wamid.in1","timestamp":"%d","type":"text","text":{"body":"STOP"}}]}}]}]}`, e2eMetaPhoneID, now))
	if got := signed(stop, metaSignature(stop)); got != 200 {
		t.Fatalf("STOP reply = %d; want 200", got)
	}
	test := admin(t, base, "POST", "/api/admin/merchants/"+id+"/test-events", map[string]any{"event": "loyalty.points_expiring", "phone": "+919876543210", "properties": map[string]any{"amount": 100}}, 200)
	if test["status"] != "skipped" || !strings.Contains(test["error"].(string), "opted out") {
		t.Errorf("marketing test send after STOP = %v; want skipped as opted out\nlogs:\n%s", test, logs)
	}
	stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
	placed := stats["events"].(map[string]any)["order.placed"].(map[string]any)
	if placed["read"] != 1.0 || placed["delivered"] != 0.0 {
		t.Errorf("order.placed stats = %v; want read 1 (the late delivered did not count)", placed)
	}
}
