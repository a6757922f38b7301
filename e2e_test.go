package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

const (
	e2eAdminToken    = "operator-token-for-e2e-tests-0001"
	e2eShopifySecret = "shpss_e2e0c9b8a7f6e5d4c3b2a1908172635"
	e2eInteraktKey   = "SW50ZXJha3RUZXN0S2V5OnNlY3JldA=="
	e2eWatiToken     = "eyJhbGciOiJIUzI1NiJ9.e2e.wati"
	e2eWooSecret     = "Wc9xK2mQ7vL4pR8tZ3nB6yH1e2e"
)

// recorder is a fake provider's log of the sends it accepted.
type recorder struct {
	mu    sync.Mutex
	sends []map[string]any
	query []string
	fails []string
}

func (r *recorder) add(body map[string]any, query string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sends = append(r.sends, body)
	r.query = append(r.query, query)
}

func (r *recorder) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fails = append(r.fails, fmt.Sprintf(format, args...))
}

func (r *recorder) snapshot() ([]map[string]any, []string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.sends...), append([]string(nil), r.query...), append([]string(nil), r.fails...)
}

// fakeInterakt checks what Interakt checks: the key exactly as pasted
// behind "Basic ", the path, a JSON body.
func fakeInterakt(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic "+e2eInteraktKey {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"result":false,"message":"Invalid API key"}`)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			rec.fail("interakt: %s with content type %q", r.Method, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/v1/public/apis/users/":
			io.WriteString(w, `{"result":true,"data":{"customers":[]}}`)
		case "/v1/public/message/", "/v1/public/track/events/":
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				rec.fail("interakt: body: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rec.add(body, r.URL.Path)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"result":true,"message":"Message created successfully","id":"9f8e-interakt-msg"}`)
		default:
			rec.fail("interakt: unexpected path %s", r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// fakeWati checks the bearer token, the v2 send path with the number in
// the query, and answers as Wati v2 does.
func fakeWati(t *testing.T) (*httptest.Server, *recorder) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+e2eWatiToken {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/getMessageTemplates":
			io.WriteString(w, `{"result":"success","messageTemplates":[{"elementName":"order_confirmed"}]}`)
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/sendTemplateMessage":
			var body map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				rec.fail("wati: body: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			rec.add(body, r.URL.RawQuery)
			io.WriteString(w, `{"result":true,"phone_number":"919876543210","template_name":"order_confirmed","receivers":[{"localMessageId":"lm-77","waId":"919876543210","isValidWhatsAppNumber":true,"errors":[]}]}`)
		default:
			rec.fail("wati: unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// admin calls the operator API and decodes the answer.
func admin(t *testing.T, base, method, path string, body any, wantStatus int) map[string]any {
	t.Helper()
	var reader io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		reader = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, reader)
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s = %d %s; want %d", method, path, resp.StatusCode, raw, wantStatus)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer %s is not JSON: %v", method, path, raw, err)
	}
	return out
}

func hmacBase64(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func post(t *testing.T, url string, headers map[string]string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func waitForSends(t *testing.T, rec *recorder, want int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sends, _, fails := rec.snapshot()
		if len(fails) > 0 {
			t.Fatalf("the fake provider refused requests: %v", fails)
		}
		if len(sends) >= want {
			return sends
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider received %d sends; want %d", len(sends), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const e2eOrder = `{"id":5923817263541,"admin_graphql_api_id":"gid://shopify/Order/5923817263541","name":"#1042","order_number":1042,"email":"riya.sharma@example.in","phone":null,"currency":"INR","presentment_currency":"INR","total_price":"1499.00","subtotal_price":"1499.00","financial_status":"paid","fulfillment_status":null,"payment_gateway_names":["razorpay"],"created_at":"2026-11-22T10:15:00+05:30","updated_at":"2026-11-22T10:15:02+05:30","processed_at":"2026-11-22T10:15:00+05:30","customer":{"id":7712398123,"first_name":"Riya","last_name":"Sharma","email":"riya.sharma@example.in","phone":"+919876543210"},"shipping_address":{"first_name":"Riya","last_name":"Sharma","address1":"14 MG Road","city":"Bengaluru","province":"Karnataka","country":"India","country_code":"IN","zip":"560001","phone":"+91 98765 43210"},"billing_address":{"country_code":"IN","phone":"098765 43210"},"line_items":[{"id":1,"title":"Kurta","variant_title":"Blue / M","quantity":2,"price":"599.00"},{"id":2,"title":"Dupatta — हाथ से बुना","quantity":1,"price":"301.00"}]}`

// TestEndToEndShopifyToInterakt: a signed orders/create in, exactly one
// Interakt template call with the rule's values in order out, however
// often Shopify repeats itself.
func TestEndToEndShopifyToInterakt(t *testing.T) {
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
	if m["api_key"] == "" || strings.Contains(fmt.Sprint(m["secrets"]), "shpat_e2e") {
		t.Fatalf("created merchant = %v; want an api key once and no secret shown", m)
	}
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": "wrong-key", "base_url": interakt.URL},
	}, 422)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_placed", "language": "en", "variables": []string{"user_name", "order.number", "order.total"},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.paid", map[string]any{
		"template": "order_placed", "variables": []string{"no.such.variable"},
	}, 422)

	body := []byte(e2eOrder)
	headers := func(topic, event string) map[string]string {
		return map[string]string{
			"Content-Type": "application/json", "X-Shopify-Topic": topic,
			"X-Shopify-Shop-Domain": "asha-naturals.myshopify.com", "X-Shopify-Event-Id": event,
			"X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
		}
	}
	for range 3 { // Shopify's retries of one delivery
		if status, answer := post(t, base+"/webhooks/shopify", headers("orders/create", "ev-1042-create"), body); status != 200 {
			t.Fatalf("POST orders/create = %d %s", status, answer)
		}
	}
	// The same order again under other topics: no second order.placed.
	post(t, base+"/webhooks/shopify", headers("orders/updated", "ev-1042-upd"), body)
	post(t, base+"/webhooks/shopify", headers("orders/paid", "ev-1042-paid"), body)

	waitForSends(t, sent, 1)
	time.Sleep(300 * time.Millisecond) // room for a wrong second send to show up
	sends, _, _ := sent.snapshot()
	if len(sends) != 1 {
		t.Fatalf("Interakt received %d sends; want exactly 1:\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	got := sends[0]
	template, _ := got["template"].(map[string]any)
	if got["countryCode"] != "+91" || got["phoneNumber"] != "9876543210" || got["type"] != "Template" ||
		template["name"] != "order_placed" || template["languageCode"] != "en" ||
		fmt.Sprint(template["bodyValues"]) != "[Riya #1042 ₹1,499.00]" {
		t.Errorf("Interakt send = %v; want +91 9876543210, template order_placed with [Riya #1042 ₹1,499.00]", got)
	}
	deliveries := admin(t, base, "GET", "/api/admin/merchants/"+id+"/deliveries", nil, 200)["deliveries"].([]any)
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %v; want 1", deliveries)
	}
	d := deliveries[0].(map[string]any)
	if d["status"] != "sent" || d["phone"] != "+91******3210" || got["callbackData"] != d["id"] {
		t.Errorf("delivery = %v; want sent, masked phone, and its id as Interakt's callbackData (%v)", d, got["callbackData"])
	}
	stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
	placed := stats["events"].(map[string]any)["order.placed"].(map[string]any)
	inputs := stats["inputs"].(map[string]any)
	if placed["sent"] != 1.0 || placed["received"] != 1.0 || inputs["accepted"] != 3.0 || inputs["duplicate"] != 2.0 {
		t.Errorf("stats = %v; want order.placed received 1 sent 1, inputs 3 accepted 2 duplicate", stats)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`storebridge_provider_request_duration_seconds_count{outcome="ok",provider="interakt"} 1`,
		// The message is due now, so the webhook's own job sends it.
		`storebridge_jobs_total{kind="shopify.webhook",outcome="done"}`,
		`storebridge_webhooks_total{outcome="accepted",platform="shopify"} 3`,
		`storebridge_webhooks_total{outcome="duplicate",platform="shopify"} 2`,
		`storebridge_http_request_duration_seconds_count{method="POST",route="/webhooks/shopify",status="200"}`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func wooBody(status, modified string) []byte {
	return []byte(fmt.Sprintf(`{"id":727,"parent_id":0,"number":"727","order_key":"wc_order_Xk2","created_via":"checkout","status":%q,"currency":"INR","date_created_gmt":"2026-11-22T05:00:00","date_modified_gmt":%q,"total":"849.00","customer_id":0,"payment_method":"cod","payment_method_title":"Cash on delivery","billing":{"first_name":"Anaïs","last_name":"D'Souza","address_1":"21 Carter Road","city":"Mumbai","state":"MH","postcode":"400050","country":"IN","email":"anais@example.in","phone":"098765 43210"},"shipping":{"first_name":"Anaïs","last_name":"D'Souza","country":"IN","phone":""},"line_items":[{"id":1,"name":"Masala Chai 250g","quantity":3,"subtotal":"849.00","total":"849.00","price":283}],"meta_data":[]}`, status, modified))
}

// TestEndToEndWooCommerceToWati: a signed order.created in, exactly one
// Wati template call out; merged and repeated deliveries of the same state
// send nothing more.
func TestEndToEndWooCommerceToWati(t *testing.T) {
	wati, sent := fakeWati(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR":                t.TempDir(),
		"ADMIN_TOKEN":             e2eAdminToken,
		"ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://shop.chai-point.in", "consumer_key": "ck_e2e", "consumer_secret": "cs_e2e",
		"webhook_secret": e2eWooSecret, "country": "IN", "name": "Chai Point",
	}, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "wati", "credentials": map[string]string{"api_token": "Bearer " + e2eWatiToken, "server_url": wati.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_confirmed", "variables": []string{"customer.first_name", "order.number", "order.total"},
	}, 200)

	url := base + "/webhooks/woocommerce/" + id
	send := func(topic string, body []byte) {
		t.Helper()
		status, answer := post(t, url, map[string]string{
			"Content-Type": "application/json", "X-WC-Webhook-Topic": topic, "X-WC-Webhook-ID": "31",
			"X-WC-Webhook-Signature": hmacBase64(e2eWooSecret, body),
		}, body)
		if status != 200 {
			t.Fatalf("POST %s = %d %s", topic, status, answer)
		}
	}
	if status, _ := post(t, url, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte("webhook_id=31")); status != 200 {
		t.Fatalf("ping = %d; want exactly 200", status)
	}
	send("order.created", wooBody("processing", "2026-11-22T05:00:01"))
	send("order.updated", wooBody("processing", "2026-11-22T05:00:01")) // the same state
	send("order.updated", wooBody("processing", "2026-11-22T05:03:00")) // an address edit
	send("order.updated", wooBody("pending", "2026-11-22T04:59:00"))    // stale, out of order

	waitForSends(t, sent, 1)
	time.Sleep(300 * time.Millisecond)
	sends, queries, _ := sent.snapshot()
	if len(sends) != 1 {
		t.Fatalf("Wati received %d sends; want exactly 1:\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	got := sends[0]
	var values []string
	for _, p := range got["parameters"].([]any) {
		param := p.(map[string]any)
		if name := param["name"].(string); name == "1" || name == "2" || name == "3" {
			values = append(values, param["value"].(string))
		}
	}
	if got["template_name"] != "order_confirmed" || queries[0] != "whatsappNumber=919876543210" || fmt.Sprint(values) != "[Anaïs #727 ₹849.00]" {
		t.Errorf("Wati send = %v (query %s); want order_confirmed to 919876543210 with [Anaïs #727 ₹849.00]", got, queries[0])
	}
	view := admin(t, base, "GET", "/api/admin/merchants/"+id+"/status-map", nil, 200)
	if view["status_map"].(map[string]any)["processing"] != "order.placed" {
		t.Errorf("status map = %v; want the defaults in force", view)
	}
}

// TestEndToEndEventsAPIToInteraktJourney: a loyalty platform pushes
// "points earned" with the merchant's API key, as Nector does; Interakt gets
// one tracked event for its journeys, however often the push is retried.
func TestEndToEndEventsAPIToInteraktJourney(t *testing.T) {
	interakt, sent := fakeInterakt(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "ALLOW_INSECURE_OUTBOUND": "true",
	})
	m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": "kesar-kitchen.myshopify.com", "country": "IN", "timezone": "Asia/Kolkata"}, 201)
	id, apiKey := m["id"].(string), m["api_key"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/settings", map[string]any{"quiet_hours": "off"}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone", "credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.points_earned", map[string]any{"mode": "event", "variables": []string{}}, 200)

	push := func(key string, body string) (int, string) {
		return post(t, base+"/api/v1/events", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + key}, []byte(body))
	}
	event := `{"id":"nector-txn-88123","event":"loyalty.points_earned","customer":{"first_name":"Riya","phone":"98765 43210","email":"riya@example.in"},"properties":{"amount":100,"points":{"balance":1250}}}`
	if status, answer := push(apiKey, event); status != 202 || !strings.Contains(answer, `"outcome":"accepted"`) {
		t.Fatalf("POST /api/v1/events = %d %s; want 202 accepted", status, answer)
	}
	if status, answer := push(apiKey, event); status != 200 || !strings.Contains(answer, `"outcome":"duplicate"`) {
		t.Errorf("the same event again = %d %s; want 200 duplicate", status, answer)
	}
	if status, _ := push("sbk_not-a-key", event); status != 401 {
		t.Errorf("wrong API key = %d; want 401", status)
	}
	if status, answer := push(apiKey, `{"event":"loyalty.points_earned","customer":{"phone":"+919876543210"}}`); status != 422 || !strings.Contains(answer, `"id"`) {
		t.Errorf("event without id = %d %s; want 422 naming id", status, answer)
	}
	waitForSends(t, sent, 1)
	time.Sleep(200 * time.Millisecond)
	sends, paths, _ := sent.snapshot()
	if len(sends) != 1 || paths[0] != "/v1/public/track/events/" {
		t.Fatalf("Interakt got %d calls (%v); want one tracked event\nlogs:\n%s", len(sends), paths, logs)
	}
	traits, _ := sends[0]["traits"].(map[string]any)
	if sends[0]["event"] != "loyalty.points_earned" || sends[0]["phoneNumber"] != "9876543210" || traits["points.amount"] != "100" || traits["points.balance"] != "1250" {
		t.Errorf("tracked event = %v; want loyalty.points_earned for 9876543210 with points.amount 100 and points.balance 1250", sends[0])
	}
}
