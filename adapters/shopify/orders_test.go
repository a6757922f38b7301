package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// costBucket is Shopify's GraphQL rate limit: points that refill at rate a
// second up to max, on a clock that moves only when the client sleeps.
type costBucket struct {
	max, available, rate float64
}

func (b *costBucket) advance(d time.Duration) {
	b.available = min(b.max, b.available+d.Seconds()*b.rate)
}

func (b *costBucket) status() map[string]any {
	return map[string]any{"maximumAvailable": b.max, "currentlyAvailable": b.available, "restoreRate": b.rate}
}

// fakeOrdersAPI answers the orders query as Shopify does: by cursor, oldest
// update first, filtered by the search query, and within a cost bucket
// (requested cost: 2 + 30 an order asked for; over 1000 is refused as
// Shopify refuses a query costing more than a single query may).
type fakeOrdersAPI struct {
	mu        sync.Mutex
	t         *testing.T
	since     time.Time
	orders    []string // graphQLOrder nodes as JSON, oldest update first
	bucket    costBucket
	requests  int
	throttled int
	waits     []time.Duration
}

func (f *fakeOrdersAPI) serve(w http.ResponseWriter, req graphQLRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if !strings.Contains(req.Query, "orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT)") {
		f.t.Errorf("query = %q; want orders sorted by UPDATED_AT", req.Query)
	}
	if want := "updated_at:>='" + f.since.UTC().Format(time.RFC3339) + "'"; req.Variables["query"] != want {
		f.t.Errorf("search query = %v; want %s", req.Variables["query"], want)
	}
	first, _ := req.Variables["first"].(float64)
	cost := 2 + 30*first
	if first < 1 || cost > 1000 {
		fmt.Fprintf(w, `{"errors":[{"message":"Query cost is %.0f, which exceeds the single query max cost limit (1000).","extensions":{"code":"MAX_COST_EXCEEDED","cost":%.0f,"maxCost":1000}}]}`, cost, cost)
		return
	}
	if f.bucket.available < cost {
		f.throttled++
		answer, _ := json.Marshal(map[string]any{
			"errors":     []any{map[string]any{"message": "Throttled", "extensions": map[string]any{"code": "THROTTLED"}}},
			"extensions": map[string]any{"cost": map[string]any{"requestedQueryCost": cost, "actualQueryCost": nil, "throttleStatus": f.bucket.status()}},
		})
		w.Write(answer)
		return
	}
	start := 0
	if after, _ := req.Variables["after"].(string); after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "cursor-"))
		if err != nil {
			f.t.Errorf("after = %q; want a cursor this fake gave", after)
		}
		start = n
	}
	end := min(start+int(first), len(f.orders))
	f.bucket.available -= cost // the actual cost is the requested one here
	answer := fmt.Sprintf(`{"data":{"orders":{"nodes":[%s],"pageInfo":{"hasNextPage":%t,"endCursor":"cursor-%d"}}},"extensions":{"cost":`, strings.Join(f.orders[start:end], ","), end < len(f.orders), end)
	costJSON, _ := json.Marshal(map[string]any{"requestedQueryCost": cost, "actualQueryCost": cost, "throttleStatus": f.bucket.status()})
	io.WriteString(w, answer+string(costJSON)+"}}")
}

// newOrdersAdmin serves orders through a fake GraphQL Admin API whose
// clock moves by the client's waits.
func newOrdersAdmin(t *testing.T, f *fakeOrdersAPI) *Admin {
	f.t = t
	srv := graphQLEndpoint(t, f.serve)
	a := newTestAdmin(t, srv)
	a.sleep = func(_ context.Context, d time.Duration) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.waits = append(f.waits, d)
		f.bucket.advance(d)
		return nil
	}
	return a
}

// gqlOrderNode is an order as the GraphQL Admin API answers ordersQuery.
func gqlOrderNode(id int, updated time.Time) string {
	return fmt.Sprintf(`{"id":"gid://shopify/Order/%d","legacyResourceId":"%d","name":"#%d","email":"riya.sharma@example.in","phone":null,"test":false,
"createdAt":"2026-11-22T04:10:00Z","updatedAt":%q,"processedAt":"2026-11-22T04:10:00Z","cancelledAt":null,"cancelReason":null,
"displayFinancialStatus":"PENDING","displayFulfillmentStatus":"UNFULFILLED","paymentGatewayNames":["Cash on Delivery (COD)"],
"statusPageUrl":"https://asha-naturals.myshopify.com/7/orders/abc/authenticate?key=k","currencyCode":"INR","presentmentCurrencyCode":"INR",
"totalPriceSet":{"shopMoney":{"amount":"1499.0","currencyCode":"INR"},"presentmentMoney":{"amount":"1499.0","currencyCode":"INR"}},
"totalOutstandingSet":{"shopMoney":{"amount":"1499.0","currencyCode":"INR"}},
"customer":{"legacyResourceId":"7712398123","firstName":"Riya","lastName":"Sharma","defaultEmailAddress":{"emailAddress":"riya.sharma@example.in"},"defaultPhoneNumber":{"phoneNumber":"+919876543210"},"defaultAddress":{"firstName":"Riya","lastName":"Sharma","phone":"+919876543210","countryCodeV2":"IN"}},
"shippingAddress":{"firstName":"Riya","lastName":"Sharma","phone":"098765 43210","countryCodeV2":"IN"},"billingAddress":null,
"lineItems":{"nodes":[{"title":"Kurta","name":"Kurta - Blue / M","variantTitle":"Blue / M","quantity":2},{"title":"Dupatta","name":"Dupatta","variantTitle":null,"quantity":1}]},
"fulfillments":[]}`, id, id, id-5923817262500, updated.UTC().Format(time.RFC3339))
}

func TestOrdersUpdatedSincePages(t *testing.T) {
	since := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	f := &fakeOrdersAPI{since: since, bucket: costBucket{max: 2000, available: 2000, rate: 100}}
	for i := range 45 {
		f.orders = append(f.orders, gqlOrderNode(5923817263500+i, since.Add(time.Duration(i)*time.Minute)))
	}
	a := newOrdersAdmin(t, f)
	got, err := a.OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
	if err != nil {
		t.Fatalf("OrdersUpdatedSince() = %v", err)
	}
	if len(got) != 45 || f.requests != 3 || f.throttled != 0 {
		t.Fatalf("OrdersUpdatedSince() = %d orders in %d requests (%d throttled); want 45 in 3 pages of at most 20, none throttled", len(got), f.requests, f.throttled)
	}
	for i, o := range got {
		if want := strconv.Itoa(5923817263500 + i); o.ID != want || !o.UpdatedAt.Equal(since.Add(time.Duration(i)*time.Minute)) {
			t.Fatalf("order %d = %s updated %s; want %s, oldest update first", i, o.ID, o.UpdatedAt, want)
		}
	}
	// The body is an orders/* webhook body: the webhook normaliser reads it.
	res, err := Normalize("orders/create", got[0].Body, Options{Country: "IN", ShopName: "Asha Naturals"})
	if err != nil || len(res.Events) != 2 || res.Subject != "order:5923817263500" {
		t.Fatalf("Normalize(reconciled body) = %+v, %v; want order.placed and the COD request of order 5923817263500\nbody %s", res, err, got[0].Body)
	}
	if total, _ := res.Events[0].Lookup("order.total"); total != "₹1,499.00" {
		t.Errorf("order.total = %v; want ₹1,499.00", total)
	}

	f.requests = 0
	if limited, err := a.OrdersUpdatedSince(context.Background(), testShop, testToken, since, 5); err != nil || len(limited) != 5 || f.requests != 1 {
		t.Errorf("OrdersUpdatedSince(limit 5) = %d, %v in %d requests; want 5 in one", len(limited), err, f.requests)
	}
	_, err = a.OrdersUpdatedSince(context.Background(), testShop, "shpat_wrong", since, 10)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != http.StatusUnauthorized {
		t.Errorf("OrdersUpdatedSince(wrong token) = %v; want a permanent 401 ProviderError", err)
	}
}

// TestOrdersUpdatedSinceCostLimits: pages are paced by the bucket the last
// answer reported, a THROTTLED answer is waited out for as long as
// currentlyAvailable and restoreRate say, and a wait too long for a job is
// left to the job's retry.
func TestOrdersUpdatedSinceCostLimits(t *testing.T) {
	since := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	orders := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, gqlOrderNode(5923817263600+i, since.Add(time.Duration(i)*time.Second)))
		}
		return out
	}
	const pageCost = 2 + 30*ordersPageSize // 602

	t.Run("paced between pages", func(t *testing.T) {
		f := &fakeOrdersAPI{since: since, orders: orders(30), bucket: costBucket{max: 1000, available: 700, rate: 50}}
		got, err := newOrdersAdmin(t, f).OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
		// After page 1, 98 points are left: (602-98)/50 = 10.08 s.
		if err != nil || len(got) != 30 || f.throttled != 0 || len(f.waits) != 1 || f.waits[0] != 10080*time.Millisecond {
			t.Fatalf("OrdersUpdatedSince() = %d, %v; throttled %d, waits %v; want 30 orders, never throttled, one wait of 10.08s", len(got), err, f.throttled, f.waits)
		}
	})
	t.Run("throttled, then waited out", func(t *testing.T) {
		f := &fakeOrdersAPI{since: since, orders: orders(10), bucket: costBucket{max: 1000, available: 100, rate: 50}}
		got, err := newOrdersAdmin(t, f).OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
		// A page of 20 asked for costs 602: (602-100)/50 = 10.04 s.
		if err != nil || len(got) != 10 || f.throttled != 1 || fmt.Sprint(f.waits) != "[10.04s]" {
			t.Fatalf("OrdersUpdatedSince() = %d, %v; throttled %d, waits %v; want 10 orders after one THROTTLED and a wait of 10.04s", len(got), err, f.throttled, f.waits)
		}
	})
	t.Run("throttled for longer than a job waits", func(t *testing.T) {
		f := &fakeOrdersAPI{since: since, orders: orders(30), bucket: costBucket{max: 1000, available: 2, rate: 1}}
		_, err := newOrdersAdmin(t, f).OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || pe.Code != "THROTTLED" || len(f.waits) != 0 || f.requests != 1 {
			t.Fatalf("OrdersUpdatedSince() = %v after %d requests, waits %v; want a retryable THROTTLED error at once (600 s is the job's to wait)", err, f.requests, f.waits)
		}
	})
	t.Run("throttled every time", func(t *testing.T) {
		// A bucket smaller than the page: each wait refills it, never enough.
		f := &fakeOrdersAPI{since: since, orders: orders(5), bucket: costBucket{max: 500, available: 0, rate: 100}}
		_, err := newOrdersAdmin(t, f).OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || f.requests != maxThrottleTries || len(f.waits) != maxThrottleTries-1 {
			t.Fatalf("OrdersUpdatedSince() = %v after %d requests, waits %v; want a retryable error after %d tries", err, f.requests, f.waits, maxThrottleTries)
		}
	})
	t.Run("single query cost limit", func(t *testing.T) {
		f := &fakeOrdersAPI{since: since, orders: orders(5), bucket: costBucket{max: 1000, available: 1000, rate: 50}}
		a := newOrdersAdmin(t, f)
		var data struct{}
		err := a.graphQL(context.Background(), testShop, testToken, ordersQuery, map[string]any{"first": 100, "after": nil, "query": "updated_at:>='" + since.Format(time.RFC3339) + "'"}, &data)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || pe.Retryable || pe.Code != "MAX_COST_EXCEEDED" {
			t.Fatalf("a query over the cost limit = %v; want a permanent MAX_COST_EXCEEDED", err)
		}
	})
}

func TestOrdersUpdatedSinceErrors(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantRetryable bool
	}{
		{"rate limited", 429, `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`, true},
		{"server error", 500, `{"errors":"Internal Server Error"}`, true},
		{"proxy page", 502, `<html>Bad Gateway</html>`, true},
		{"not found", 404, `{"errors":"Not Found"}`, false},
		{"access denied", 200, `{"errors":[{"message":"Access denied for orders field.","extensions":{"code":"ACCESS_DENIED"}}],"data":null}`, false},
		{"not JSON", 200, `<html>`, false},
		{"a node without its id", 200, `{"data":{"orders":{"nodes":[{"id":"gid://shopify/Order/1","updatedAt":"2026-11-22T04:00:00Z"}],"pageInfo":{"hasNextPage":false}}}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			_, err := newTestAdmin(t, srv).OrdersUpdatedSince(context.Background(), testShop, testToken, time.Now(), 10)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tc.wantRetryable || pe.Provider != "shopify" {
				t.Fatalf("OrdersUpdatedSince() = %v; want a shopify ProviderError, retryable %v", err, tc.wantRetryable)
			}
		})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Close() // nothing listens: a transport failure
	_, err := newTestAdmin(t, srv).OrdersUpdatedSince(context.Background(), testShop, testToken, time.Now(), 10)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || !pe.Retryable || strings.Contains(err.Error(), testToken) {
		t.Fatalf("OrdersUpdatedSince(server gone) = %v; want a retryable ProviderError without the token", err)
	}
	adapterstest.NoAddress(t, err, srv.URL)
	if _, err := newTestAdmin(t, srv).OrdersUpdatedSince(context.Background(), "attacker.com/?", testToken, time.Now(), 10); err == nil {
		t.Error("OrdersUpdatedSince(a shop that is not a myshopify.com domain) succeeded; want refused")
	}
}

// TestReconciledOrderNormalisesAsItsWebhook: the same order read through
// the GraphQL Admin API and sent as an orders/* webhook becomes the same
// events (type, subject, customer, properties, time), so the exactly-once
// layer, keyed on type and subject, sends it once whichever comes first.
func TestReconciledOrderNormalisesAsItsWebhook(t *testing.T) {
	webhook := `{"id":5923817263541,"admin_graphql_api_id":"gid://shopify/Order/5923817263541","name":"#1042","order_number":1042,
"email":"riya.sharma@example.in","phone":null,"test":false,"currency":"INR","presentment_currency":"USD",
"total_price":"1499.00","total_price_set":{"shop_money":{"amount":"1499.00","currency_code":"INR"},"presentment_money":{"amount":"18.20","currency_code":"USD"}},
"total_tax":"228.66","total_tax_set":{"shop_money":{"amount":"228.66","currency_code":"INR"},"presentment_money":{"amount":"2.78","currency_code":"USD"}},
"total_shipping_price_set":{"shop_money":{"amount":"99.00","currency_code":"INR"},"presentment_money":{"amount":"1.20","currency_code":"USD"}},
"total_outstanding":"0.00","financial_status":"paid","fulfillment_status":"partial","payment_gateway_names":["razorpay"],
"order_status_url":"https://asha-naturals.myshopify.com/7/orders/abc/authenticate?key=k",
"created_at":"2026-11-22T09:40:00+05:30","updated_at":"2026-11-22T11:05:00+05:30","processed_at":"2026-11-22T09:40:00+05:30","cancelled_at":null,"cancel_reason":null,
"customer":{"id":7712398123,"first_name":"Riya","last_name":"Sharma","email":"riya.sharma@example.in","phone":"+919876543210",
 "default_address":{"first_name":"Riya","last_name":"Sharma","phone":"+919876543210","country_code":"IN"}},
"shipping_address":{"first_name":"Riya","last_name":"Sharma","phone":"098765 43210","country_code":"IN"},
"billing_address":{"first_name":"Riya","last_name":"Sharma","phone":null,"country_code":"IN"},
"line_items":[{"id":1,"title":"Kurta","name":"Kurta - Blue / M","variant_title":"Blue / M","quantity":2,"price":"599.00"},{"id":2,"title":"Dupatta","name":"Dupatta","variant_title":null,"quantity":1,"price":"301.00"}],
"fulfillments":[{"id":9,"order_id":5923817263541,"status":"success","created_at":"2026-11-22T11:00:00+05:30","updated_at":"2026-11-22T11:05:00+05:30","tracking_number":"DL123456789IN","tracking_url":"https://www.delhivery.com/track/package/DL123456789IN","tracking_company":"Delhivery"}]}`
	node := `{"id":"gid://shopify/Order/5923817263541","legacyResourceId":"5923817263541","name":"#1042","email":"riya.sharma@example.in","phone":null,"test":false,
"createdAt":"2026-11-22T04:10:00Z","updatedAt":"2026-11-22T05:35:00Z","processedAt":"2026-11-22T04:10:00Z","cancelledAt":null,"cancelReason":null,
"displayFinancialStatus":"PAID","displayFulfillmentStatus":"PARTIALLY_FULFILLED","paymentGatewayNames":["razorpay"],
"statusPageUrl":"https://asha-naturals.myshopify.com/7/orders/abc/authenticate?key=k","currencyCode":"INR","presentmentCurrencyCode":"USD",
"totalPriceSet":{"shopMoney":{"amount":"1499.0","currencyCode":"INR"},"presentmentMoney":{"amount":"18.2","currencyCode":"USD"}},
"totalOutstandingSet":{"shopMoney":{"amount":"0.0","currencyCode":"INR"}},
"totalTaxSet":{"shopMoney":{"amount":"228.66","currencyCode":"INR"},"presentmentMoney":{"amount":"2.78","currencyCode":"USD"}},
"totalShippingPriceSet":{"shopMoney":{"amount":"99.0","currencyCode":"INR"},"presentmentMoney":{"amount":"1.2","currencyCode":"USD"}},
"customer":{"legacyResourceId":"7712398123","firstName":"Riya","lastName":"Sharma","defaultEmailAddress":{"emailAddress":"riya.sharma@example.in"},"defaultPhoneNumber":{"phoneNumber":"+919876543210"},"defaultAddress":{"firstName":"Riya","lastName":"Sharma","phone":"+919876543210","countryCodeV2":"IN"}},
"shippingAddress":{"firstName":"Riya","lastName":"Sharma","phone":"098765 43210","countryCodeV2":"IN"},
"billingAddress":{"firstName":"Riya","lastName":"Sharma","phone":null,"countryCodeV2":"IN"},
"lineItems":{"nodes":[{"title":"Kurta","name":"Kurta - Blue / M","variantTitle":"Blue / M","quantity":2},{"title":"Dupatta","name":"Dupatta","variantTitle":null,"quantity":1}]},
"fulfillments":[{"status":"SUCCESS","createdAt":"2026-11-22T05:30:00Z","updatedAt":"2026-11-22T05:35:00Z","trackingInfo":[{"number":"DL123456789IN","url":"https://www.delhivery.com/track/package/DL123456789IN","company":"Delhivery"}]}]}`
	var n graphQLOrder
	if err := json.Unmarshal([]byte(node), &n); err != nil {
		t.Fatal(err)
	}
	listed, err := n.listed()
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Country: "IN", ShopName: "Asha Naturals"}
	for _, topic := range []string{"orders/create", "orders/updated", "orders/paid", "orders/partially_fulfilled"} {
		fromWebhook, err := Normalize(topic, []byte(webhook), opts)
		if err != nil {
			t.Fatal(err)
		}
		fromGraphQL, err := Normalize(topic, listed.Body, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(fromWebhook.Events) == 0 || len(fromWebhook.Events) != len(fromGraphQL.Events) || fromWebhook.Subject != fromGraphQL.Subject ||
			fromWebhook.CustomerID != fromGraphQL.CustomerID || !fromWebhook.UpdatedAt.Equal(fromGraphQL.UpdatedAt) {
			t.Fatalf("%s: webhook %+v; GraphQL %+v; want the same result", topic, fromWebhook, fromGraphQL)
		}
		for i, w := range fromWebhook.Events {
			g := fromGraphQL.Events[i]
			if tax, _ := g.Lookup("order.tax_amount"); tax != "2.78" {
				t.Errorf("%s %s: order.tax_amount from GraphQL = %#v; want \"2.78\"", topic, g.Type, tax)
			}
			if ship, _ := g.Lookup("order.shipping_amount"); ship != "1.20" {
				t.Errorf("%s %s: order.shipping_amount from GraphQL = %#v; want \"1.20\"", topic, g.Type, ship)
			}
			if !w.OccurredAt.Equal(g.OccurredAt) {
				t.Errorf("%s %s: occurred %s from the webhook, %s from GraphQL", topic, w.Type, w.OccurredAt, g.OccurredAt)
			}
			w.OccurredAt, g.OccurredAt = time.Time{}, time.Time{}
			if !reflect.DeepEqual(w, g) {
				t.Errorf("%s: from the webhook\n%+v\nfrom GraphQL\n%+v", topic, w, g)
			}
		}
	}
}
