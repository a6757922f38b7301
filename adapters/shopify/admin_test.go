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
		if !strings.Contains(req.Query, "shop {") || !strings.Contains(req.Query, "ianaTimezone") || !strings.Contains(req.Query, "countryCodeV2") || !strings.Contains(req.Query, "currencyCode") {
			t.Errorf("query = %q; want the shop's name, time zone and country", req.Query)
		}
		io.WriteString(w, `{"data":{"shop":{"name":"Kesar Kitchen — केसर","ianaTimezone":"Asia/Kolkata","currencyCode":"INR","billingAddress":{"countryCodeV2":"IN"}}}}`)
	})
	got, err := newTestAdmin(t, srv).Shop(context.Background(), testShop, testToken)
	if want := (app.ShopifyShop{Name: "Kesar Kitchen — केसर", Country: "IN", Timezone: "Asia/Kolkata", Currency: "INR"}); err != nil || got != want {
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
