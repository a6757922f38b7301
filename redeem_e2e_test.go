package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/redistest"
)

// storeCodes is what a fake store holds and was asked: codes by upper
// case (both platforms compare codes case-insensitively), the creates
// it saw, and the failures it answers the next creates with.
type storeCodes struct {
	mu         sync.Mutex
	codes      map[string]map[string]any
	creates    int
	failures   []func(w http.ResponseWriter)
	unexpected []string
}

func (s *storeCodes) nextFailure() func(w http.ResponseWriter) {
	if len(s.failures) == 0 {
		return nil
	}
	f := s.failures[0]
	s.failures = s.failures[1:]
	return f
}

func (s *storeCodes) failWith(f ...func(w http.ResponseWriter)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

func (s *storeCodes) state() (held, creates int, unexpected []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.codes), s.creates, append([]string(nil), s.unexpected...)
}

func (s *storeCodes) only() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.codes {
		return c
	}
	return nil
}

func unavailable(w http.ResponseWriter) {
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"errors":"Service Unavailable"}`)
}

// fakeShopifyDiscounts plays the GraphQL Admin API's code discounts for
// one shop: the versioned path, the shop's token, a JSON body; the
// required fields of discountCodeBasicCreate; unique codes (TAKEN);
// codeDiscountNodeByCode.
func fakeShopifyDiscounts(t *testing.T, shop, token string) (*httptest.Server, *storeCodes) {
	s := &storeCodes{codes: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.URL.Path != "/admin/api/"+app.ShopifyAPIVersion+"/graphql.json" || r.Host != shop || r.Header.Get("X-Shopify-Access-Token") != token {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`)
			return
		}
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch {
		case strings.Contains(req.Query, "discountCodeBasicCreate("):
			s.creates++
			if f := s.nextFailure(); f != nil {
				f(w)
				return
			}
			in, _ := req.Variables["basicCodeDiscount"].(map[string]any)
			for _, field := range []string{"title", "code", "startsAt", "customerGets", "context"} {
				if in[field] == nil || in[field] == "" {
					fmt.Fprintf(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount",%q],"message":"%s can't be blank","code":"BLANK"}]}}}`, field, field)
					return
				}
			}
			code := strings.ToUpper(in["code"].(string))
			if _, taken := s.codes[code]; taken {
				io.WriteString(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"message":"Code must be unique. Please try a different code.","code":"TAKEN"}]}}}`)
				return
			}
			s.codes[code] = in
			ends, _ := json.Marshal(in["endsAt"])
			fmt.Fprintf(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/%d","codeDiscount":{"endsAt":%s}},"userErrors":[]}}}`, 900+len(s.codes), ends)
		case strings.Contains(req.Query, "codeDiscountNodeByCode("):
			code, _ := req.Variables["code"].(string)
			in, ok := s.codes[strings.ToUpper(code)]
			if !ok {
				io.WriteString(w, `{"data":{"codeDiscountNodeByCode":null}}`)
				return
			}
			ends, _ := json.Marshal(in["endsAt"])
			value := in["customerGets"].(map[string]any)["value"].(map[string]any)
			if pct, ok := value["percentage"]; ok {
				fmt.Fprintf(w, `{"data":{"codeDiscountNodeByCode":{"id":"gid://shopify/DiscountCodeNode/901","codeDiscount":{"endsAt":%s,"customerGets":{"value":{"percentage":%v}}}}}}`, ends, pct)
				return
			}
			amount := value["discountAmount"].(map[string]any)["amount"]
			fmt.Fprintf(w, `{"data":{"codeDiscountNodeByCode":{"id":"gid://shopify/DiscountCodeNode/901","codeDiscount":{"endsAt":%s,"customerGets":{"value":{"amount":{"amount":%q,"currencyCode":"INR"}}}}}}}`, ends, amount)
		default:
			s.unexpected = append(s.unexpected, req.Query)
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// fakeWooCoupons plays a store's REST coupons: Basic auth with the key
// pair, /wp-json/wc/v3/coupons, code required, unique codes (in lower
// case, as WooCommerce keeps them) and GET ?code=.
func fakeWooCoupons(t *testing.T, ck, cs string) (*httptest.Server, *storeCodes) {
	s := &storeCodes{codes: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if user, pass, ok := r.BasicAuth(); !ok || user != ck || pass != cs {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"Invalid signature - provided signature does not match.","data":{"status":401}}`)
			return
		}
		if r.URL.Path != "/wp-json/wc/v3/coupons" {
			s.unexpected = append(s.unexpected, r.Method+" "+r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Method == http.MethodGet {
			found := []any{}
			if c, ok := s.codes[strings.ToUpper(r.URL.Query().Get("code"))]; ok {
				found = append(found, c)
			}
			json.NewEncoder(w).Encode(found)
			return
		}
		s.creates++
		if f := s.nextFailure(); f != nil {
			f(w)
			return
		}
		var in map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil || in["code"] == nil || in["code"] == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"rest_missing_callback_param","message":"Missing parameter(s): code","data":{"status":400}}`)
			return
		}
		code := strings.ToUpper(in["code"].(string))
		if _, taken := s.codes[code]; taken {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"woocommerce_rest_coupon_code_already_exists","message":"The coupon code already exists","data":{"status":400}}`)
			return
		}
		in["id"] = 700 + len(s.codes)
		in["code"] = strings.ToLower(code)
		s.codes[code] = in
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(in)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// answer is one call of the admin API: status, decoded body, headers.
func answer(t *testing.T, base, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer not JSON: %v", method, path, err)
	}
	return resp.StatusCode, out, resp.Header
}

// redeemBackends run the service on each store backend.
func redeemBackends(t *testing.T, name string) map[string]string {
	if name == "embedded" {
		return map[string]string{"DATA_DIR": t.TempDir()}
	}
	redis := redistest.Start(t, redistest.Options{AppendOnly: true})
	return map[string]string{"REDIS_URL": redis.URL(), "REDIS_PREFIX": "redeem:", "SECRET_KEY": strings.Repeat("r3deem-", 6), "APP_URL": e2eAppURL}
}

// redeemFlow is one platform's merchant, customer and fake store, set up
// with a program that redeems 100 points a rupee and a coupon_created
// rule on a fake Interakt.
type redeemFlow struct {
	base, id, customer string
	name               string // the customer's first name, in the message
	store              *storeCodes
	sent               *recorder
	logs               *syncBuffer
}

func startRedeem(t *testing.T, backend string, vars map[string]string, merchant map[string]any, earn string) redeemFlow {
	t.Helper()
	interakt, sent := fakeInterakt(t)
	for k, v := range redeemBackends(t, backend) {
		vars[k] = v
	}
	vars["ADMIN_TOKEN"], vars["ALLOW_INSECURE_OUTBOUND"] = e2eAdminToken, "true"
	base, logs, _ := startRun(t, vars)
	m := admin(t, base, "POST", "/api/admin/merchants", merchant, 201)
	id := m["id"].(string)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	program := admin(t, base, "PUT", "/api/admin/merchants/"+id+"/loyalty", map[string]any{
		"enabled": true, "earn": map[string]any{"points_per_unit": 2, "on": earn},
		"redeem": map[string]any{"enabled": true, "points_per_unit": 100, "min_points": 500, "expires_in": "30d"},
	}, 200)
	if r := program["redeem"].(map[string]any); r["max_points"] != 0.0 || r["expires_in"] != "30d" {
		t.Fatalf("saved redeem settings = %v", r)
	}
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/loyalty.coupon_created", map[string]any{
		"template": "coupon_created", "language": "en", "category": "transactional",
		"variables": []string{"customer.first_name", "coupon.code", "coupon.value", "points.balance"},
	}, 200)
	return redeemFlow{base: base, id: id, sent: sent, logs: logs}
}

// check runs the redemption scenarios the platforms share: a retried
// redemption (the store failing once retryably) makes one code and one
// message; a refused one gives the points back; too few points is 422.
func (f redeemFlow) check(t *testing.T, balance float64, refuse func(w http.ResponseWriter)) map[string]any {
	t.Helper()
	path := "/api/admin/merchants/" + f.id + "/customers/" + f.customer + "/points/redeem"
	f.store.failWith(unavailable)
	status, body, header := answer(t, f.base, "POST", path, map[string]any{"points": 1000, "key": "sf-1", "reason": "storefront"})
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" || !strings.Contains(fmt.Sprint(body["error"]), "retry with the same key") {
		t.Fatalf("redeem with the store down = %d %v; want 503 with Retry-After and a clear error\nlogs:\n%s", status, body, f.logs)
	}
	var first map[string]any
	for i := range 3 {
		status, body, _ := answer(t, f.base, "POST", path, map[string]any{"points": 1000, "key": "sf-1", "reason": "storefront"})
		if status != http.StatusOK {
			t.Fatalf("redeem retry %d = %d %v\nlogs:\n%s", i, status, body, f.logs)
		}
		if first == nil {
			first = body
		} else if fmt.Sprint(body) != fmt.Sprint(first) {
			t.Errorf("retry %d = %v; want the first answer %v", i, body, first)
		}
	}
	coupon := first["coupon"].(map[string]any)
	entry := first["entry"].(map[string]any)
	code, _ := coupon["code"].(string)
	if !strings.HasPrefix(code, "SB-") || coupon["value"] != "10.00" || coupon["kind"] != "fixed_amount" || entry["kind"] != "redeem" || entry["points"] != -1000.0 || entry["source"] != "redeem:sf-1" {
		t.Errorf("redeemed = %v; want an SB- code worth 10.00 and a -1000 redeem entry", first)
	}
	if held, creates, unexpected := f.store.state(); held != 1 || creates != 2 || len(unexpected) != 0 {
		t.Errorf("the store holds %d codes after %d creates (unexpected calls %v); want 1 after 2", held, creates, unexpected)
	}
	sends := waitForSends(t, f.sent, 1)
	time.Sleep(300 * time.Millisecond) // room for a wrong second send
	if all, _, _ := f.sent.snapshot(); len(all) != 1 {
		t.Fatalf("Interakt received %d sends; want 1: %v", len(all), all)
	}
	template, _ := sends[0]["template"].(map[string]any)
	wantValues := fmt.Sprint([]string{f.name, code, "₹10.00", fmt.Sprint(balance - 1000)})
	if template["name"] != "coupon_created" || fmt.Sprint(template["bodyValues"]) != wantValues {
		t.Errorf("send = %v; want coupon_created with %s", sends[0], wantValues)
	}

	// The store refuses: 502 with its reason, and the points come back.
	f.store.failWith(refuse)
	status, body, _ = answer(t, f.base, "POST", path, map[string]any{"points": 500, "key": "sf-2"})
	if status != http.StatusBadGateway || !strings.Contains(fmt.Sprint(body["error"]), "given back") {
		t.Errorf("refused redeem = %d %v; want 502 saying the points were given back", status, body)
	}
	points := admin(t, f.base, "GET", "/api/admin/merchants/"+f.id+"/customers/"+f.customer+"/points", nil, 200)
	entries := points["entries"].([]any)
	if points["balance"] != balance-1000 || len(entries) != 4 || entries[0].(map[string]any)["source"] != "redeem:sf-2:refund" {
		t.Errorf("points after the refusal = %v; want %v, the give-back newest of 4 entries", points, balance-1000)
	}

	// Too few points.
	status, body, _ = answer(t, f.base, "POST", path, map[string]any{"points": 100000})
	if fields, _ := body["fields"].(map[string]any); status != http.StatusUnprocessableEntity || !strings.Contains(fmt.Sprint(fields["points"]), "insufficient points") {
		t.Errorf("redeem of too many points = %d %v; want 422 on points", status, body)
	}
	if _, creates, _ := f.store.state(); creates != 3 {
		t.Errorf("the store was asked %d times; want 3 (no create for too few points)", creates)
	}
	return f.store.only()
}

// TestEndToEndRedeemShopify: a Shopify customer earns on a paid order and
// redeems through the admin API into one discountCodeBasicCreate code for
// them, however often the call is retried, on both store backends.
func TestEndToEndRedeemShopify(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			const shop, token = "asha-naturals.myshopify.com", "shpat_redeem_e2e"
			srv, store := fakeShopifyDiscounts(t, shop, token)
			f := startRedeem(t, backend, map[string]string{
				"SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": e2eShopifySecret, "SHOPIFY_ADMIN_BASE_URL": srv.URL,
			}, map[string]any{
				"platform": "shopify", "shop_domain": shop, "access_token": token, "name": "Asha Naturals", "country": "IN", "timezone": "Asia/Kolkata",
			}, "paid")
			f.store, f.customer, f.name = store, "7712398123", "Riya"
			body := []byte(e2eOrder)
			if status, answer := post(t, f.base+"/webhooks/shopify", map[string]string{
				"Content-Type": "application/json", "X-Shopify-Topic": "orders/paid", "X-Shopify-Shop-Domain": shop,
				"X-Shopify-Event-Id": "ev-redeem-1", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, body), "X-Shopify-API-Version": "2026-01",
			}, body); status != 200 {
				t.Fatalf("orders/paid = %d %s", status, answer)
			}
			waitForBalance(t, f, 2998)
			in := f.check(t, 2998, func(w http.ResponseWriter) {
				io.WriteString(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","minimumRequirement"],"message":"Minimum subtotal must be greater than 0","code":"GREATER_THAN"}]}}}`)
			})
			wantContext := `map[customers:map[add:[gid://shopify/Customer/7712398123]]]`
			gets := fmt.Sprint(in["customerGets"])
			if fmt.Sprint(in["context"]) != wantContext || in["usageLimit"] != 1.0 || in["appliesOncePerCustomer"] != true ||
				gets != "map[items:map[all:true] value:map[discountAmount:map[amount:10.00 appliesOnEachItem:false]]]" || in["endsAt"] == nil {
				t.Errorf("discountCodeBasicCreate input = %v; want ₹10 off once, for customer 7712398123, ending", in)
			}
		})
	}
}

// TestEndToEndRedeemWooCommerce: a guest earns on a completed order (by
// phone) and redeems into one coupon limited to their email.
func TestEndToEndRedeemWooCommerce(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			const ck, cs = "ck_redeem_e2e_0123456789abcdef", "cs_redeem_e2e_0123456789abcdef"
			srv, store := fakeWooCoupons(t, ck, cs)
			f := startRedeem(t, backend, map[string]string{}, map[string]any{
				"platform": "woocommerce", "store_url": srv.URL, "consumer_key": ck, "consumer_secret": cs,
				"webhook_secret": e2eWooSecret, "country": "IN", "name": "Chai Point",
			}, "fulfilled")
			f.store, f.customer, f.name = store, "+919876543210", "Anaïs"
			body := wooBody("completed", "2026-11-22T06:00:00")
			if status, answer := post(t, f.base+"/webhooks/woocommerce/"+f.id, map[string]string{
				"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-ID": "31",
				"X-WC-Webhook-Signature": hmacBase64(e2eWooSecret, body),
			}, body); status != 200 {
				t.Fatalf("order.updated = %d %s", status, answer)
			}
			waitForBalance(t, f, 1698)
			in := f.check(t, 1698, func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":"woocommerce_rest_invalid_coupon","message":"Invalid coupon amount.","data":{"status":400}}`)
			})
			if in["discount_type"] != "fixed_cart" || in["amount"] != "10.00" || fmt.Sprint(in["email_restrictions"]) != "[anais@example.in]" ||
				in["usage_limit"] != 1.0 || in["usage_limit_per_user"] != 1.0 || in["individual_use"] != true || in["date_expires_gmt"] == nil {
				t.Errorf("coupon = %v; want ₹10 fixed_cart, once, for anais@example.in, expiring", in)
			}
		})
	}
}

func waitForBalance(t *testing.T, f redeemFlow, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		points := admin(t, f.base, "GET", "/api/admin/merchants/"+f.id+"/customers/"+f.customer+"/points", nil, 200)
		if points["balance"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("points = %v; want a balance of %v\nlogs:\n%s", points, want, f.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
