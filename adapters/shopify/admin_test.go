package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const testToken = "shpat_admin_test"

type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// graphQLEndpoint checks what Shopify checks of a GraphQL Admin call (the
// versioned path, the token header, a JSON body with a query) and hands
// the request to answer.
func graphQLEndpoint(t *testing.T, answer func(w http.ResponseWriter, req graphQLRequest)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/admin/api/"+app.ShopifyAPIVersion+"/graphql.json" || r.Method != http.MethodPost || r.Host != testShop {
			t.Errorf("GraphQL request %s %s on %s; want POST /admin/api/%s/graphql.json on %s", r.Method, r.URL.Path, r.Host, app.ShopifyAPIVersion, testShop)
		}
		if r.Header.Get("X-Shopify-Access-Token") != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`)
			return
		}
		var req graphQLRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Query == "" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"errors":{"query":"Required parameter missing or invalid"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		answer(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSubscriptionsPages(t *testing.T) {
	srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
		if !strings.Contains(req.Query, "webhookSubscriptions(") {
			t.Errorf("query = %q; want webhookSubscriptions", req.Query)
		}
		if req.Variables["after"] == nil {
			io.WriteString(w, `{"data":{"webhookSubscriptions":{"nodes":[{"id":"gid://shopify/WebhookSubscription/1","topic":"ORDERS_CREATE","uri":"https://sb.example/webhooks/shopify"}],"pageInfo":{"hasNextPage":true,"endCursor":"c1"}}}}`)
			return
		}
		if req.Variables["after"] != "c1" {
			t.Errorf("second page after = %v; want c1", req.Variables["after"])
		}
		io.WriteString(w, `{"data":{"webhookSubscriptions":{"nodes":[{"id":"gid://shopify/WebhookSubscription/2","topic":"ORDERS_PARTIALLY_FULFILLED","uri":"https://sb.example/webhooks/shopify"}],"pageInfo":{"hasNextPage":false,"endCursor":"c2"}}}}`)
	})
	got, err := newTestAdmin(t, srv).WebhookSubscriptions(context.Background(), testShop, testToken)
	want := []app.ShopifyWebhookSubscription{{Topic: "orders/create", URI: "https://sb.example/webhooks/shopify"}, {Topic: "orders/partially_fulfilled", URI: "https://sb.example/webhooks/shopify"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("WebhookSubscriptions() = %v, %v; want %v", got, err, want)
	}
}

func TestShop(t *testing.T) {
	srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
		if !strings.Contains(req.Query, "shop {") || !strings.Contains(req.Query, "ianaTimezone") || !strings.Contains(req.Query, "countryCodeV2") {
			t.Errorf("query = %q; want the shop's name, time zone and country", req.Query)
		}
		io.WriteString(w, `{"data":{"shop":{"name":"Kesar Kitchen — केसर","ianaTimezone":"Asia/Kolkata","billingAddress":{"countryCodeV2":"IN"}}}}`)
	})
	got, err := newTestAdmin(t, srv).Shop(context.Background(), testShop, testToken)
	if want := (app.ShopifyShop{Name: "Kesar Kitchen — केसर", Country: "IN", Timezone: "Asia/Kolkata"}); err != nil || got != want {
		t.Fatalf("Shop() = %+v, %v; want %+v", got, err, want)
	}
}

func TestCreateWebhookSubscription(t *testing.T) {
	tests := []struct {
		name          string
		token         string
		answer        string
		wantErr       bool
		wantRetryable bool
	}{
		{"created", testToken, `{"data":{"webhookSubscriptionCreate":{"webhookSubscription":{"id":"gid://shopify/WebhookSubscription/9","topic":"ORDERS_CREATE","uri":"https://sb.example/webhooks/shopify"},"userErrors":[]}}}`, false, false},
		{"made meanwhile", testToken, `{"data":{"webhookSubscriptionCreate":{"webhookSubscription":null,"userErrors":[{"field":["webhookSubscription","uri"],"message":"Address for this topic has already been taken"}]}}}`, false, false},
		{"user error", testToken, `{"data":{"webhookSubscriptionCreate":{"webhookSubscription":null,"userErrors":[{"field":["webhookSubscription","uri"],"message":"Address is invalid"}]}}}`, true, false},
		{"throttled", testToken, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}`, true, true},
		{"wrong token", "shpat_wrong", ``, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
				sub, _ := req.Variables["webhookSubscription"].(map[string]any)
				if !strings.Contains(req.Query, "webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription)") ||
					req.Variables["topic"] != "ORDERS_CREATE" || sub["uri"] != "https://sb.example/webhooks/shopify" || sub["format"] != "JSON" || sub["callbackUrl"] != nil {
					t.Errorf("mutation = %q with %v; want webhookSubscriptionCreate of ORDERS_CREATE with uri and format JSON", req.Query, req.Variables)
				}
				io.WriteString(w, tc.answer)
			})
			err := newTestAdmin(t, srv).CreateWebhookSubscription(context.Background(), testShop, tc.token,
				app.ShopifyWebhookSubscription{Topic: "orders/create", URI: "https://sb.example/webhooks/shopify"})
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("CreateWebhookSubscription() = %v; want nil", err)
				}
				return
			}
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tc.wantRetryable {
				t.Fatalf("CreateWebhookSubscription() = %v; want a ProviderError, retryable %v", err, tc.wantRetryable)
			}
		})
	}
}

func TestTopicEnumsRoundTrip(t *testing.T) {
	for _, topic := range app.ShopifySubscriptionTopics() {
		enum := EnumOfTopic(topic)
		if strings.ContainsAny(enum, "/abcdefghijklmnopqrstuvwxyz") || TopicOfEnum(enum) != topic {
			t.Errorf("EnumOfTopic(%q) = %q, back %q; want an upper-case enum that maps back", topic, enum, TopicOfEnum(enum))
		}
	}
	if got := EnumOfTopic("orders/partially_fulfilled"); got != "ORDERS_PARTIALLY_FULFILLED" {
		t.Errorf("EnumOfTopic(orders/partially_fulfilled) = %q", got)
	}
}

// ordersEndpoint answers the REST order list as Shopify does: the token
// header, the versioned path, filters on the first page only and a
// page_info cursor in the Link header.
func ordersEndpoint(t *testing.T, since time.Time, pages [][]string) (*httptest.Server, *[]string) {
	t.Helper()
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Path != "/admin/api/"+app.ShopifyAPIVersion+"/orders.json" || r.Host != testShop {
			t.Errorf("orders request %s on %s; want /admin/api/%s/orders.json on %s", r.URL.Path, r.Host, app.ShopifyAPIVersion, testShop)
		}
		if r.Header.Get("X-Shopify-Access-Token") != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`)
			return
		}
		q := r.URL.Query()
		page := 0
		if info := q.Get("page_info"); info != "" {
			if len(q) != 2 || q.Get("limit") != "50" {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errors":{"page_info":"page_info cannot be used with other filters"}}`)
				return
			}
			fmt.Sscanf(info, "p%d", &page)
		} else {
			min, err := time.Parse(time.RFC3339, q.Get("updated_at_min"))
			if err != nil || !min.Equal(since) || q.Get("status") != "any" || q.Get("limit") != "50" || q.Get("order") != "updated_at asc" || len(q["order"]) != 1 {
				t.Errorf("first page query = %s; want updated_at_min=%s, status=any, limit=50, order=updated_at asc", r.URL.RawQuery, since.Format(time.RFC3339))
			}
		}
		if page+1 < len(pages) {
			w.Header().Set("Link", fmt.Sprintf(`<https://%s/admin/api/%s/orders.json?limit=50&page_info=p%d>; rel="next"`, testShop, app.ShopifyAPIVersion, page+1))
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"orders":[`+strings.Join(pages[page], ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

func TestOrdersUpdatedSince(t *testing.T) {
	since := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	order := func(id int, updated string) string {
		return fmt.Sprintf(`{"id":%d,"name":"#%d","created_at":"2026-11-22T09:40:00+05:30","updated_at":%q,"total_outstanding":"1499.00","payment_gateway_names":["Cash on Delivery (COD)"]}`, id, id, updated)
	}
	srv, queries := ordersEndpoint(t, since, [][]string{
		{order(5923817263541, "2026-11-22T09:45:00+05:30"), order(5923817263542, "2026-11-22T09:50:00+05:30")},
		{order(5923817263543, "2026-11-22T10:05:00+05:30")},
	})
	a := newTestAdmin(t, srv)
	got, err := a.OrdersUpdatedSince(context.Background(), testShop, testToken, since, 100)
	if err != nil {
		t.Fatalf("OrdersUpdatedSince() = %v", err)
	}
	if len(got) != 3 || len(*queries) != 2 {
		t.Fatalf("OrdersUpdatedSince() = %d orders in %d requests; want 3 in 2", len(got), len(*queries))
	}
	first := got[0]
	if first.ID != "5923817263541" || !first.UpdatedAt.Equal(time.Date(2026, 11, 22, 4, 15, 0, 0, time.UTC)) || !first.CreatedAt.Equal(time.Date(2026, 11, 22, 4, 10, 0, 0, time.UTC)) {
		t.Errorf("first order = %s created %s updated %s", first.ID, first.CreatedAt, first.UpdatedAt)
	}
	if !strings.Contains(string(first.Body), `"total_outstanding":"1499.00"`) {
		t.Errorf("order body = %s; want the raw JSON, fields go-shopify lacks included", first.Body)
	}

	limited, err := a.OrdersUpdatedSince(context.Background(), testShop, testToken, since, 1)
	if err != nil || len(limited) != 1 {
		t.Errorf("OrdersUpdatedSince(limit 1) = %d, %v; want 1", len(limited), err)
	}

	_, err = a.OrdersUpdatedSince(context.Background(), testShop, "shpat_wrong", since, 10)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != http.StatusUnauthorized {
		t.Errorf("OrdersUpdatedSince(wrong token) = %v; want a permanent 401 ProviderError", err)
	}
}

func TestOrdersUpdatedSinceErrors(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantRetryable bool
	}{
		{"throttled", 429, `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`, true},
		{"server error", 500, `{"errors":"Internal Server Error"}`, true},
		{"proxy page", 502, `<html>Bad Gateway</html>`, true},
		{"not found", 404, `{"errors":"Not Found"}`, false},
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
}
