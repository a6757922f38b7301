package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeShopifyOrders plays the Admin GraphQL API for one order's COD
// write-back: fulfillment orders with holds, tags, cancel (recorded
// with the order it cancels).
type fakeShopifyOrders struct {
	mu      sync.Mutex
	token   string
	holds   map[string]string // hold id → handle
	calls   []string
	failure string
}

func (f *fakeShopifyOrders) handler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("X-Shopify-Access-Token") != f.token || !strings.HasSuffix(r.URL.Path, "/graphql.json") {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":"[API] Invalid API key or access token"}`)
		return
	}
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.failure = "body not JSON"
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	switch {
	case strings.Contains(req.Query, "fulfillmentOrders(first"):
		var holds []map[string]any
		for id, handle := range f.holds {
			holds = append(holds, map[string]any{"id": id, "handle": handle, "heldByRequestingApp": true})
		}
		status := "OPEN"
		if len(holds) > 0 {
			status = "ON_HOLD"
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"order": map[string]any{"fulfillmentOrders": map[string]any{
			"nodes": []any{map[string]any{"id": "gid://shopify/FulfillmentOrder/91", "status": status, "fulfillmentHolds": holds}},
		}}}})
	case strings.Contains(req.Query, "fulfillmentOrderHold("):
		hold := req.Variables["fulfillmentHold"].(map[string]any)
		f.calls = append(f.calls, fmt.Sprintf("hold %v %v", hold["handle"], hold["reason"]))
		f.holds["gid://shopify/FulfillmentHold/7"] = hold["handle"].(string)
		io.WriteString(w, `{"data":{"fulfillmentOrderHold":{"fulfillmentHold":{"id":"gid://shopify/FulfillmentHold/7","handle":"storebridge-cod"},"userErrors":[]}}}`)
	case strings.Contains(req.Query, "fulfillmentOrderReleaseHold("):
		f.calls = append(f.calls, fmt.Sprintf("release %v", req.Variables["holdIds"]))
		f.holds = map[string]string{}
		io.WriteString(w, `{"data":{"fulfillmentOrderReleaseHold":{"fulfillmentOrder":{"id":"gid://shopify/FulfillmentOrder/91","status":"OPEN"},"userErrors":[]}}}`)
	case strings.Contains(req.Query, "tagsAdd("), strings.Contains(req.Query, "tagsRemove("):
		verb := "add"
		if strings.Contains(req.Query, "tagsRemove(") {
			verb = "remove"
		}
		f.calls = append(f.calls, fmt.Sprintf("tags %s %v", verb, req.Variables["tags"]))
		io.WriteString(w, `{"data":{"tagsAdd":{"node":{"id":"gid://shopify/Order/1"},"userErrors":[]},"tagsRemove":{"node":{"id":"gid://shopify/Order/1"},"userErrors":[]}}}`)
	case strings.Contains(req.Query, "orderCancel("):
		f.calls = append(f.calls, fmt.Sprintf("cancel %v", req.Variables["orderId"]))
		io.WriteString(w, `{"data":{"orderCancel":{"job":{"id":"gid://shopify/Job/3","done":false},"orderCancelUserErrors":[]}}}`)
	default:
		f.failure = "unexpected query " + req.Query
		w.WriteHeader(http.StatusBadRequest)
	}
}

func (f *fakeShopifyOrders) state() ([]string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...), f.failure
}

// codE2E is a running server with a Shopify COD merchant on the Cloud
// API, whose order awaits the customer: held and tagged pending, the
// confirmation sent.
type codE2E struct {
	base, id string
	logs     *syncBuffer
	sent     *recorder
	orders   *fakeShopifyOrders
}

func startCODOrder(t *testing.T) codE2E {
	t.Helper()
	meta, sent := fakeMeta(t)
	orders := &fakeShopifyOrders{token: "shpat_cod_e2e", holds: map[string]string{}}
	shop := httptest.NewServer(http.HandlerFunc(orders.handler))
	t.Cleanup(shop.Close)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": e2eShopifySecret,
		"SHOPIFY_ADMIN_BASE_URL": shop.URL, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "kesar-kitchen.myshopify.com", "access_token": "shpat_cod_e2e", "country": "IN", "timezone": "Asia/Kolkata",
	}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "meta", "credentials": map[string]string{
			"access_token": e2eMetaToken, "phone_number_id": e2eMetaPhoneID, "app_secret": e2eMetaSecret, "verify_token": e2eMetaVerify, "base_url": meta.URL,
		},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/cod.confirmation_requested", map[string]any{"template": "cod_confirm", "language": "en", "variables": []string{"customer.first_name", "order.number", "order.total"}}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/cod.confirmed", map[string]any{"template": "cod_thanks", "language": "en", "variables": []string{"order.number"}}, 200)

	cod := strings.NewReplacer(`"financial_status":"paid"`, `"financial_status":"pending"`, `"payment_gateway_names":["razorpay"]`, `"payment_gateway_names":["Cash on Delivery (COD)"]`).Replace(e2eOrder)
	body := []byte(cod)
	if status, answer := post(t, base+"/webhooks/shopify", map[string]string{
		"X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "kesar-kitchen.myshopify.com",
		"X-Shopify-Event-Id": "ev-cod-1", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body),
	}, body); status != 200 {
		t.Fatalf("COD order = %d %s", status, answer)
	}
	sends := waitForSends(t, sent, 1)
	template := sends[0]["template"].(map[string]any)
	if template["name"] != "cod_confirm" {
		t.Fatalf("first message = %v; want the COD confirmation", sends[0])
	}
	components, _ := json.Marshal(template["components"])
	if !strings.Contains(string(components), `"payload":"cod:confirm:5923817263541"`) || !strings.Contains(string(components), `"payload":"cod:cancel:5923817263541"`) {
		t.Errorf("template components = %s; want quick replies carrying the order", components)
	}
	env := codE2E{base: base, id: id, logs: logs, sent: sent, orders: orders}
	env.waitForCalls(t, "[hold storebridge-cod OTHER tags add [cod:pending]]")
	return env
}

// waitForCalls waits until the fake Shopify has seen exactly want.
func (env codE2E) waitForCalls(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, failure := env.orders.state()
		if failure != "" {
			t.Fatalf("fake Shopify: %s", failure)
		}
		if fmt.Sprint(calls) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Shopify calls = %v; want %s\nlogs:\n%s", calls, want, env.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tapConfirm is the customer tapping Confirm on the template's quick reply.
func (env codE2E) tapConfirm(t *testing.T) {
	t.Helper()
	tap := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":%q},"contacts":[{"wa_id":"919876543210","profile":{"name":"Riya"}}],"messages":[{"from":"919876543210","id":"wamid.tap1","timestamp":"%d","type":"button","button":{"payload":"cod:confirm:5923817263541","text":"Confirm order"},"context":{"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgS"}}]}}]}]}`, e2eMetaPhoneID, time.Now().Unix()))
	if status, _ := post(t, env.base+"/webhooks/providers/meta/"+env.id, map[string]string{"Content-Type": "application/json", "X-Hub-Signature-256": metaSignature(tap)}, tap); status != 200 {
		t.Fatalf("button tap webhook = %d; want 200", status)
	}
}

const codConfirmedCalls = "[hold storebridge-cod OTHER tags add [cod:pending] release [gid://shopify/FulfillmentHold/7] tags add [cod:confirmed] tags remove [cod:pending]]"

// TestEndToEndCODConfirmedOnWhatsApp: a COD order arrives from Shopify;
// its fulfillment is held and tagged, the customer gets the confirmation
// template with Confirm/Cancel quick replies through the Cloud API, taps
// Confirm, and the hold is released, the order tagged confirmed, and the
// customer thanked.
func TestEndToEndCODConfirmedOnWhatsApp(t *testing.T) {
	env := startCODOrder(t)
	env.tapConfirm(t)
	sends := waitForSends(t, env.sent, 2)
	if sends[1]["template"].(map[string]any)["name"] != "cod_thanks" {
		t.Errorf("second message = %v; want the confirmation thanks", sends[1])
	}
	env.waitForCalls(t, codConfirmedCalls)
}

// TestEndToEndCODConfirmedByTheMerchant: the merchant confirms the order
// from the admin API before the customer answers; Shopify sees the
// write-back once, the customer's late tap and a second decision change
// nothing.
func TestEndToEndCODConfirmedByTheMerchant(t *testing.T) {
	env := startCODOrder(t)
	orders := "/api/admin/merchants/" + env.id + "/cod/orders"
	queue := admin(t, env.base, "GET", orders+"?state=pending", nil, 200)
	list, _ := queue["orders"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != "5923817263541" || list[0].(map[string]any)["phone"] != "+91******3210" {
		t.Fatalf("the queue = %v; want the order awaiting, its phone masked", queue)
	}
	decided := admin(t, env.base, "POST", orders+"/5923817263541/decision", map[string]string{"decision": "confirm"}, 200)
	if decided["state"] != "confirmed" || decided["decided_by"] != "merchant" {
		t.Fatalf("decision = %v; want confirmed by the merchant", decided)
	}
	env.waitForCalls(t, codConfirmedCalls)
	sends := waitForSends(t, env.sent, 2)
	if sends[1]["template"].(map[string]any)["name"] != "cod_thanks" {
		t.Errorf("second message = %v; want the confirmation thanks", sends[1])
	}

	env.tapConfirm(t)
	conflict := admin(t, env.base, "POST", orders+"/5923817263541/decision", map[string]string{"decision": "cancel"}, 409)
	if !strings.Contains(fmt.Sprint(conflict["error"]), "already confirmed") {
		t.Errorf("a second decision = %v; want the order's state", conflict)
	}
	time.Sleep(300 * time.Millisecond) // room for a second write-back, were there one
	env.waitForCalls(t, codConfirmedCalls)
	if sends, _, _ := env.sent.snapshot(); len(sends) != 2 {
		t.Errorf("the customer got %d messages; want the request and one thanks", len(sends))
	}
}
