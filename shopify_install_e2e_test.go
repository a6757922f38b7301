package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

const (
	e2eShop       = "asha-naturals.myshopify.com"
	e2eShopifyKey = "e2e0c1b2a3d4e5f60718293a"
	e2eAppURL     = "https://storebridge.example.in"
	e2eHost       = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYXNoYS1uYXR1cmFscw"
)

type fakeOrder struct {
	updated time.Time
	node    string // as the GraphQL Admin API answers it
}

// fakeShopify checks what Shopify checks: the app's client id and secret,
// single-use codes, session tokens of this app and shop for the token
// exchange, the expiring flag, the shop in the Host header, the
// access token on every Admin call, the GraphQL body, the versioned REST
// path. What it refuses is recorded in fails.
type fakeShopify struct {
	// orderPages counts orders queries answered; throttledOnce answers
	// the first THROTTLED, as a busy shop's bucket would.
	orderPages    int
	throttledOnce bool

	mu       sync.Mutex
	codes    map[string]string // code → scope granted
	access   string
	refresh  string
	gen      int
	requests int
	// exchanges counts session tokens traded; shopReads the shop queries.
	exchanges int
	shopReads int
	subs      map[string]string // topic enum → uri
	creates   map[string]int
	lists     int
	orders    []fakeOrder
	fails     []string
}

func newFakeShopify(t *testing.T) (*httptest.Server, *fakeShopify) {
	f := &fakeShopify{
		codes:   map[string]string{"code-install": "read_orders,read_customers", "code-reinstall": "read_orders,read_customers", "code-narrow": "read_orders"},
		subs:    map[string]string{},
		creates: map[string]int{},
	}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return srv, f
}

func (f *fakeShopify) fail(w http.ResponseWriter, status int, format string, args ...any) {
	f.fails = append(f.fails, fmt.Sprintf(format, args...))
	w.WriteHeader(status)
	io.WriteString(w, `{"errors":"refused by the fake"}`)
}

func (f *fakeShopify) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if r.Host != e2eShop {
		f.fail(w, http.StatusNotFound, "request for host %q", r.Host)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/admin/oauth/access_token":
		f.token(w, r)
	case r.URL.Path == "/admin/api/"+app.ShopifyAPIVersion+"/graphql.json" && r.Method == http.MethodPost:
		if r.Header.Get("X-Shopify-Access-Token") != f.access || f.access == "" {
			f.fail(w, http.StatusUnauthorized, "graphql: wrong access token")
			return
		}
		f.graphQL(w, r)
	default:
		f.fail(w, http.StatusNotFound, "unexpected %s %s", r.Method, r.URL.Path)
	}
}

func (f *fakeShopify) token(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.fail(w, http.StatusBadRequest, "token: body is not JSON: %v", err)
		return
	}
	if body["client_id"] != e2eShopifyKey || body["client_secret"] != e2eShopifySecret {
		f.fail(w, http.StatusUnauthorized, "token: wrong client credentials")
		return
	}
	if body["grant_type"] == shopifyTokenExchange {
		f.exchange(w, r.Host, body)
		return
	}
	scope, ok := f.codes[body["code"]]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_request","error_description":"The authorization code was not found or was already used"}`)
		return
	}
	if body["expiring"] != "1" {
		f.fail(w, http.StatusBadRequest, "token: expiring is %q; want \"1\"", body["expiring"])
		return
	}
	delete(f.codes, body["code"])
	f.gen++
	f.access, f.refresh = fmt.Sprintf("shpat_e2e_%d", f.gen), fmt.Sprintf("shprt_e2e_%d", f.gen)
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": f.access, "scope": scope, "expires_in": 3600,
		"refresh_token": f.refresh, "refresh_token_expires_in": 7776000,
	})
}

// The token exchange grant, as Shopify names its parts.
const (
	shopifyTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	shopifyIDTokenType   = "urn:ietf:params:oauth:token-type:id_token"
	shopifyOfflineType   = "urn:shopify:params:oauth:token-type:offline-access-token"
)

// exchange answers the token exchange grant as Shopify does for an
// embedded app: the subject token must be a session token of this app
// (HS256 under the client secret, aud the client id, in its time) for the
// shop the request is addressed to; the answer is an expiring offline
// token when expiring is "1".
func (f *fakeShopify) exchange(w http.ResponseWriter, shop string, body map[string]string) {
	if body["subject_token_type"] != shopifyIDTokenType || body["requested_token_type"] != shopifyOfflineType {
		f.fail(w, http.StatusBadRequest, "exchange: subject_token_type %q, requested_token_type %q", body["subject_token_type"], body["requested_token_type"])
		return
	}
	if body["expiring"] != "1" {
		f.fail(w, http.StatusBadRequest, "exchange: expiring is %q; want \"1\"", body["expiring"])
		return
	}
	var claims struct {
		Dest string `json:"dest"`
		jwt.RegisteredClaims
	}
	_, err := jwt.ParseWithClaims(body["subject_token"], &claims, func(*jwt.Token) (any, error) { return []byte(e2eShopifySecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(e2eShopifyKey), jwt.WithExpirationRequired(), jwt.WithLeeway(10*time.Second))
	if err != nil || claims.Dest != "https://"+shop || claims.Issuer != "https://"+shop+"/admin" {
		f.fail(w, http.StatusBadRequest, "exchange: subject token for %q refused: %v", claims.Dest, err)
		return
	}
	f.exchanges++
	f.gen++
	f.access, f.refresh = fmt.Sprintf("shpat_e2e_%d", f.gen), fmt.Sprintf("shprt_e2e_%d", f.gen)
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": f.access, "scope": "read_orders,read_customers", "expires_in": 3600,
		"refresh_token": f.refresh, "refresh_token_expires_in": 7776000,
	})
}

func (f *fakeShopify) graphQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
		f.fail(w, http.StatusBadRequest, "graphql: body is not JSON")
		return
	}
	switch {
	case strings.Contains(req.Query, "webhookSubscriptionCreate("):
		topic, _ := req.Variables["topic"].(string)
		sub, _ := req.Variables["webhookSubscription"].(map[string]any)
		uri, _ := sub["uri"].(string)
		if topic == "" || topic != strings.ToUpper(topic) || uri == "" || sub["callbackUrl"] != nil {
			f.fail(w, http.StatusOK, "graphql: create with topic %q and input %v", topic, sub)
			return
		}
		if f.subs[topic] == uri {
			io.WriteString(w, `{"data":{"webhookSubscriptionCreate":{"webhookSubscription":null,"userErrors":[{"field":["webhookSubscription","uri"],"message":"Address for this topic has already been taken"}]}}}`)
			return
		}
		f.subs[topic] = uri
		f.creates[topic]++
		fmt.Fprintf(w, `{"data":{"webhookSubscriptionCreate":{"webhookSubscription":{"id":"gid://shopify/WebhookSubscription/%d","topic":%q,"uri":%q},"userErrors":[]}}}`, len(f.subs), topic, uri)
	case strings.Contains(req.Query, "shop {"):
		f.shopReads++
		io.WriteString(w, `{"data":{"shop":{"name":"Asha Naturals","ianaTimezone":"Asia/Kolkata","billingAddress":{"countryCodeV2":"IN"}}}}`)
	case strings.Contains(req.Query, "orders("):
		f.listOrders(w, req.Query, req.Variables)
	case strings.Contains(req.Query, "webhookSubscriptions("):
		f.lists++
		var nodes []map[string]string
		for topic, uri := range f.subs {
			nodes = append(nodes, map[string]string{"id": "gid://shopify/WebhookSubscription/" + topic, "topic": topic, "uri": uri})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"webhookSubscriptions": map[string]any{
			"nodes": nodes, "pageInfo": map[string]any{"hasNextPage": false, "endCursor": nil},
		}}})
	default:
		f.fail(w, http.StatusOK, "graphql: unexpected query %q", req.Query)
	}
}

// listOrders answers the orders query: oldest update first from the
// search query's time, one order a page (so pages and cursors are used),
// within a cost bucket that throttles the first query.
func (f *fakeShopify) listOrders(w http.ResponseWriter, query string, vars map[string]any) {
	search, _ := vars["query"].(string)
	raw, ok := strings.CutPrefix(search, "updated_at:>='")
	since, err := time.Parse(time.RFC3339, strings.TrimSuffix(raw, "'"))
	first, _ := vars["first"].(float64)
	if !ok || err != nil || !strings.Contains(query, "sortKey: UPDATED_AT") || first < 1 || first > 25 {
		f.fail(w, http.StatusOK, "orders: query %q with %v", query, vars)
		return
	}
	cost := fmt.Sprintf(`{"requestedQueryCost":%d,"throttleStatus":{"maximumAvailable":1000,"currentlyAvailable":%%d,"restoreRate":1000}}`, 2+30*int(first))
	if !f.throttledOnce {
		f.throttledOnce = true
		fmt.Fprintf(w, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"extensions":{"cost":`+cost+`}}`, 500)
		return
	}
	f.orderPages++
	var nodes []string
	for _, o := range f.orders {
		if !o.updated.Before(since) {
			nodes = append(nodes, o.node)
		}
	}
	start := 0
	if after, _ := vars["after"].(string); after != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(after, "c"))
	}
	end := min(start+1, len(nodes))
	fmt.Fprintf(w, `{"data":{"orders":{"nodes":[%s],"pageInfo":{"hasNextPage":%t,"endCursor":"c%d"}}},"extensions":{"cost":`+cost+`}}`,
		strings.Join(nodes[start:end], ","), end < len(nodes), end, 1000-2-30*int(first))
}

func (f *fakeShopify) shopQueries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shopReads
}

func (f *fakeShopify) snapshot() (requests, lists int, creates map[string]int, subs map[string]string, fails []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	creates = map[string]int{}
	for k, v := range f.creates {
		creates[k] = v
	}
	subs = map[string]string{}
	for k, v := range f.subs {
		subs[k] = v
	}
	return f.requests, f.lists, creates, subs, slices.Clone(f.fails)
}

// shopifySign signs a redirect query as Shopify does: every parameter but
// hmac, sorted, joined k=v with &, hex HMAC-SHA256 under the client secret.
func shopifySign(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+q.Get(k))
	}
	mac := hmac.New(sha256.New, []byte(e2eShopifySecret))
	mac.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(mac.Sum(nil))
}

func signedShopifyQuery(q url.Values, age time.Duration) string {
	q.Set("timestamp", strconv.FormatInt(time.Now().Add(-age).Unix(), 10))
	q.Set("hmac", shopifySign(q))
	return q.Encode()
}

// browser does one request without following redirects, sending cookies.
func browser(t *testing.T, target string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func shopOrder(id, number int, created, updated time.Time) string {
	return fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Order/%d","name":"#%d","order_number":%d,"email":"riya.sharma@example.in","phone":null,"currency":"INR","presentment_currency":"INR","total_price":"1499.00","subtotal_price":"1499.00","financial_status":"paid","fulfillment_status":null,"payment_gateway_names":["razorpay"],"created_at":%q,"updated_at":%q,"processed_at":%q,"customer":{"id":7712398123,"first_name":"Riya","last_name":"Sharma","email":"riya.sharma@example.in","phone":"+919876543210"},"shipping_address":{"first_name":"Riya","last_name":"Sharma","country_code":"IN","phone":"+91 98765 43210"},"line_items":[{"id":1,"title":"Kurta","quantity":2,"price":"599.00"},{"id":2,"title":"Dupatta","quantity":1,"price":"301.00"}]}`,
		id, id, number, number, created.Format(time.RFC3339), updated.Format(time.RFC3339), created.Format(time.RFC3339))
}

// shopOrderNode is shopOrder as the GraphQL Admin API answers it.
func shopOrderNode(id, number int, created, updated time.Time) string {
	return fmt.Sprintf(`{"id":"gid://shopify/Order/%d","legacyResourceId":"%d","name":"#%d","email":"riya.sharma@example.in","phone":null,"test":false,"createdAt":%q,"updatedAt":%q,"processedAt":%q,"cancelledAt":null,"cancelReason":null,"displayFinancialStatus":"PAID","displayFulfillmentStatus":"UNFULFILLED","paymentGatewayNames":["razorpay"],"statusPageUrl":null,"currencyCode":"INR","presentmentCurrencyCode":"INR","totalPriceSet":{"shopMoney":{"amount":"1499.0","currencyCode":"INR"},"presentmentMoney":{"amount":"1499.0","currencyCode":"INR"}},"totalOutstandingSet":{"shopMoney":{"amount":"0.0","currencyCode":"INR"}},"customer":{"legacyResourceId":"7712398123","firstName":"Riya","lastName":"Sharma","defaultEmailAddress":{"emailAddress":"riya.sharma@example.in"},"defaultPhoneNumber":{"phoneNumber":"+919876543210"},"defaultAddress":null},"shippingAddress":{"firstName":"Riya","lastName":"Sharma","phone":"+91 98765 43210","countryCodeV2":"IN"},"billingAddress":null,"lineItems":{"nodes":[{"title":"Kurta","name":"Kurta","variantTitle":null,"quantity":2},{"title":"Dupatta","name":"Dupatta","variantTitle":null,"quantity":1}]},"fulfillments":[]}`,
		id, id, number, created.UTC().Format(time.RFC3339), updated.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339))
}

// install runs the browser side of an install: our redirect with its
// cookie, then Shopify's signed callback. It returns the callback's answer.
func e2eInstall(t *testing.T, base, code string) *http.Response {
	t.Helper()
	resp := browser(t, base+"/shopify/install?"+signedShopifyQuery(url.Values{"shop": {e2eShop}, "host": {e2eHost}}, 0))
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /shopify/install = %d %s; want 302", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	var state *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "sb_shopify_state" {
			state = c
		}
	}
	if loc.Host != e2eShop || loc.Query().Get("client_id") != e2eShopifyKey || state == nil || !state.HttpOnly || !state.Secure || state.SameSite != http.SameSiteLaxMode {
		t.Fatalf("install redirect = %s with cookie %+v; want the shop's authorize page and an HttpOnly, Secure, Lax state cookie", loc, state)
	}
	callback := url.Values{"code": {code}, "shop": {e2eShop}, "state": {loc.Query().Get("state")}, "host": {e2eHost}}
	return browser(t, base+"/shopify/callback?"+signedShopifyQuery(callback, 0), state)
}

// TestEndToEndShopifyInstall installs the app through the real service
// against a fake Shopify: refusals first, then the install (subscribed by
// shopify.app.toml, so no subscription is made through the Admin API), a
// reinstall, and reconciliation through the GraphQL Admin API (paginated,
// throttled once): an order that came by webhook first is not sent again,
// and a missed order is sent once, also when its webhook comes late.
func TestEndToEndShopifyInstall(t *testing.T) {
	shopify, fake := newFakeShopify(t)
	interakt, sent := fakeInterakt(t)
	dataDir := t.TempDir()
	vars := func() map[string]string {
		return map[string]string{
			"DATA_DIR":                dataDir,
			"SECRET_KEY":              strings.Repeat("e2e-install-", 4),
			"ADMIN_TOKEN":             e2eAdminToken,
			"APP_URL":                 e2eAppURL,
			"SHOPIFY_API_KEY":         e2eShopifyKey,
			"SHOPIFY_API_SECRET":      e2eShopifySecret,
			"SHOPIFY_SCOPES":          "read_orders,read_customers",
			"SHOPIFY_ADMIN_BASE_URL":  shopify.URL,
			"ALLOW_INSECURE_OUTBOUND": "true",
			"DELIVERY_RETRY_SCHEDULE": "50ms,100ms",
		}
	}
	base, logs, stop := startRun(t, vars())

	// Refusals, none of which may reach Shopify.
	stale := url.Values{"code": {"code-install"}, "shop": {e2eShop}, "state": {"x"}, "host": {e2eHost}}
	badHMAC, _ := url.ParseQuery(signedShopifyQuery(url.Values{"shop": {e2eShop}}, 0))
	badHMAC.Set("hmac", strings.Repeat("0f", 32))
	refusals := []struct {
		name   string
		target string
		want   int
	}{
		{"foreign shop on install", "/shopify/install?shop=" + url.QueryEscape("attacker.com/?"), 400},
		{"foreign shop on callback", "/shopify/callback?" + signedShopifyQuery(url.Values{"code": {"code-install"}, "shop": {"attacker.com/?"}, "state": {"x"}}, 0), 400},
		{"bad hmac", "/shopify/install?" + badHMAC.Encode(), 401},
		{"stale timestamp", "/shopify/callback?" + signedShopifyQuery(stale, 10*time.Minute), 401},
		{"no state cookie", "/shopify/callback?" + signedShopifyQuery(stale, 0), 401},
	}
	for _, tc := range refusals {
		if resp := browser(t, base+tc.target); resp.StatusCode != tc.want {
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("%s: GET %s = %d %s; want %d", tc.name, tc.target, resp.StatusCode, body, tc.want)
		}
	}
	// A state from an install of this shop, but not this one's.
	first := browser(t, base+"/shopify/install?shop="+e2eShop)
	wrongState := url.Values{"code": {"code-install"}, "shop": {e2eShop}, "state": {strings.Repeat("a", 64)}, "host": {e2eHost}}
	if resp := browser(t, base+"/shopify/callback?"+signedShopifyQuery(wrongState, 0), first.Cookies()...); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("callback with a wrong state = %d; want 401", resp.StatusCode)
	}
	if requests, _, _, _, _ := fake.snapshot(); requests != 0 {
		t.Fatalf("refused requests reached Shopify %d times; want none", requests)
	}
	if resp := e2eInstall(t, base, "code-narrow"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("install with a scope not granted = %d; want 403", resp.StatusCode)
	} else if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), "read_customers") {
		t.Errorf("403 answer = %s; want the missing scope named", body)
	}

	// The install.
	resp := e2eInstall(t, base, "code-install")
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/admin/?merchant=")
	if resp.StatusCode != http.StatusFound || !ok || id == "" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("callback = %d %s (Location %q); want 302 to /admin/?merchant=…\nlogs:\n%s", resp.StatusCode, body, loc, logs)
	}
	m := admin(t, base, "GET", "/api/admin/merchants/"+id, nil, 200)
	if m["platform"] != "shopify" || m["shop_domain"] != e2eShop || m["status"] != "active" || strings.Contains(fmt.Sprint(m), "shpat_e2e") {
		t.Errorf("merchant = %v; want an active shopify merchant of %s, token masked", m, e2eShop)
	}

	// shopify.app.toml subscribes the public app's shops: the subscription
	// job makes none through the Admin API, and syncs the shop's details.
	waitFor(t, "the shop sync", func() bool { return fake.shopQueries() > 0 })
	if _, _, creates, _, _ := fake.snapshot(); len(creates) != 0 {
		t.Errorf("subscribed %v through the Admin API; the app's configuration subscribes a public app's shops", creates)
	}

	// A reinstall revives the same merchant and runs the subscription job
	// again, which again makes nothing.
	reads := fake.shopQueries()
	if resp := e2eInstall(t, base, "code-reinstall"); resp.Header.Get("Location") != loc {
		t.Fatalf("reinstall Location = %q; want %q (the same merchant)", resp.Header.Get("Location"), loc)
	}
	waitFor(t, "the second subscription run", func() bool { return fake.shopQueries() > reads })
	if _, _, creates, _, _ := fake.snapshot(); len(creates) != 0 {
		t.Fatalf("the second run subscribed %v; want nothing", creates)
	}

	// The merchant's provider and rule.
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": interakt.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_placed", "language": "en", "variables": []string{"user_name", "order.number", "order.total"},
	}, 200)

	// Order 1042 arrives by webhook; order 1043 is never delivered.
	now := time.Now().Truncate(time.Second)
	delivered := shopOrder(5923817263542, 1042, now, now)
	missed := shopOrder(5923817263543, 1043, now.Add(time.Second), now.Add(time.Second))
	fake.mu.Lock()
	fake.orders = []fakeOrder{
		{now, shopOrderNode(5923817263542, 1042, now, now)},
		{now.Add(time.Second), shopOrderNode(5923817263543, 1043, now.Add(time.Second), now.Add(time.Second))},
	}
	fake.mu.Unlock()
	status, answer := post(t, base+"/webhooks/shopify", map[string]string{
		"Content-Type": "application/json", "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": e2eShop,
		"X-Shopify-Event-Id": "ev-1042-create", "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, []byte(delivered)),
	}, []byte(delivered))
	if status != 200 {
		t.Fatalf("POST orders/create = %d %s", status, answer)
	}
	waitForSends(t, sent, 1)

	// Fifteen minutes later: stop, make the reconcile turn due now in the
	// store, start again.
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	st, err := embedded.Open(filepath.Join(dataDir, "storebridge.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dataDir, "storebridge.db"))
	if strings.Contains(string(raw), "shpat_e2e") || strings.Contains(string(raw), "shprt_e2e") {
		t.Error("the store holds a Shopify token in plain text")
	}
	ctx := context.Background()
	if cancelled, err := st.Cancel(ctx, id, "shopify:reconcile"); err != nil || !cancelled {
		t.Fatalf("Cancel(reconcile) = %v, %v; want the scheduled reconcile job", cancelled, err)
	}
	if err := st.Enqueue(ctx, app.Job{ID: app.NewID(time.Now()), Merchant: id, Kind: app.JobShopifyReconcile, Key: "shopify:reconcile", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	base, logs, _ = startRun(t, vars())

	waitForSends(t, sent, 2)
	time.Sleep(500 * time.Millisecond) // room for a wrong third send
	sends, _, _ := sent.snapshot()
	if len(sends) != 2 {
		t.Fatalf("Interakt received %d sends; want 2, one per order:\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	template, _ := sends[1]["template"].(map[string]any)
	if fmt.Sprint(template["bodyValues"]) != "[Riya #1043 ₹1,499.00]" {
		t.Errorf("second send = %v; want the missed order #1043", sends[1])
	}
	fake.mu.Lock()
	pages, throttled := fake.orderPages, fake.throttledOnce
	fake.mu.Unlock()
	if pages < 2 || !throttled {
		t.Errorf("reconciliation read %d pages of orders, throttled %v; want every page after a THROTTLED answer", pages, throttled)
	}

	// Order 1043's webhook arrives late, after reconciliation sent it: the
	// same event, not sent again.
	if status, answer := post(t, base+"/webhooks/shopify", map[string]string{
		"Content-Type": "application/json", "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": e2eShop,
		"X-Shopify-Event-Id": "ev-1043-create", "X-Shopify-API-Version": app.ShopifyAPIVersion, "X-Shopify-Hmac-Sha256": hmacBase64(e2eShopifySecret, []byte(missed)),
	}, []byte(missed)); status != 200 || !strings.Contains(string(answer), "accepted") {
		t.Fatalf("POST late orders/create = %d %s; want accepted", status, answer)
	}
	waitFor(t, "the late webhook's order.placed counted a duplicate", func() bool {
		stats := admin(t, base, "GET", "/api/admin/merchants/"+id+"/stats", nil, 200)
		placed, _ := stats["events"].(map[string]any)["order.placed"].(map[string]any)
		skipped, _ := placed["skipped"].(map[string]any)
		n, _ := skipped["duplicate"].(float64)
		return n >= 2 // 1042 reconciled after its webhook, 1043's webhook after reconciling
	})
	if sends, _, _ := sent.snapshot(); len(sends) != 2 {
		t.Fatalf("Interakt received %d sends after the late webhook; want still 2:\n%v", len(sends), sends)
	}
	if _, _, _, _, fails := fake.snapshot(); len(fails) > 0 {
		t.Fatalf("the fake Shopify refused requests: %v", fails)
	}
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
