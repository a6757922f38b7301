package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// maxAdminBody caps an Admin API answer read through go-shopify: a page
// of orders is larger than the 1 MiB the other clients allow.
const maxAdminBody = 16 << 20

// ordersPageSize keeps a page of full orders well under maxAdminBody.
const ordersPageSize = 50

// adminTransport sends go-shopify's requests to BaseURL when one is set
// (go-shopify has no base URL option; path and Host header are kept) and
// caps what is read of each answer.
type adminTransport struct {
	base *url.URL
	next http.RoundTripper
}

func (t adminTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.base != nil {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = t.base.Scheme, t.base.Host
		req.URL.Path = strings.TrimSuffix(t.base.Path, "/") + req.URL.Path
		req.URL.RawPath = ""
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = cappedBody{Reader: io.LimitReader(resp.Body, maxAdminBody), Closer: resp.Body}
	return resp, nil
}

type cappedBody struct {
	io.Reader
	io.Closer
}

// graphQL posts one GraphQL Admin API query and decodes its data into out.
// Errors: HTTP failures by status; THROTTLED is retryable, other GraphQL
// errors are permanent.
func (a *Admin) graphQL(ctx context.Context, shop, token, query string, variables map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return err
	}
	req, err := a.newRequest(ctx, http.MethodPost, shop, "/admin/api/"+app.ShopifyAPIVersion+"/graphql.json", body, "application/json")
	if err != nil {
		return err
	}
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := adapters.Do(a.client, Name, req)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return adapters.StatusError(Name, resp, "", "")
	}
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil {
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the GraphQL answer is not JSON", Err: err}
	}
	if len(answer.Errors) > 0 {
		e := answer.Errors[0]
		return &app.ProviderError{Provider: Name, Status: resp.Status, Code: e.Extensions.Code, Message: e.Message, Retryable: e.Extensions.Code == "THROTTLED"}
	}
	if err := json.Unmarshal(answer.Data, out); err != nil {
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the GraphQL data has an unexpected shape", Err: err}
	}
	return nil
}

const listSubscriptionsQuery = `query webhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}`

// WebhookSubscriptions lists the shop's subscriptions made by this app.
func (a *Admin) WebhookSubscriptions(ctx context.Context, shop, token string) ([]app.ShopifyWebhookSubscription, error) {
	var subs []app.ShopifyWebhookSubscription
	vars := map[string]any{"after": nil}
	for page := 0; page < 20; page++ {
		var data struct {
			WebhookSubscriptions struct {
				Nodes []struct {
					ID    string `json:"id"`
					Topic string `json:"topic"`
					URI   string `json:"uri"`
				} `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"webhookSubscriptions"`
		}
		if err := a.graphQL(ctx, shop, token, listSubscriptionsQuery, vars, &data); err != nil {
			return nil, err
		}
		for _, n := range data.WebhookSubscriptions.Nodes {
			subs = append(subs, app.ShopifyWebhookSubscription{Topic: TopicOfEnum(n.Topic), URI: n.URI})
		}
		if !data.WebhookSubscriptions.PageInfo.HasNextPage {
			break
		}
		vars["after"] = data.WebhookSubscriptions.PageInfo.EndCursor
	}
	return subs, nil
}

const shopQuery = `query shop { shop { name ianaTimezone billingAddress { countryCodeV2 } } }`

// Shop reads the shop's name, country and time zone.
func (a *Admin) Shop(ctx context.Context, shop, token string) (app.ShopifyShop, error) {
	var data struct {
		Shop struct {
			Name           string `json:"name"`
			IanaTimezone   string `json:"ianaTimezone"`
			BillingAddress struct {
				CountryCodeV2 string `json:"countryCodeV2"`
			} `json:"billingAddress"`
		} `json:"shop"`
	}
	if err := a.graphQL(ctx, shop, token, shopQuery, nil, &data); err != nil {
		return app.ShopifyShop{}, err
	}
	return app.ShopifyShop{Name: data.Shop.Name, Country: data.Shop.BillingAddress.CountryCodeV2, Timezone: data.Shop.IanaTimezone}, nil
}

// createSubscriptionMutation uses uri, which replaced callbackUrl in
// 2025-10.
const createSubscriptionMutation = `mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`

// CreateWebhookSubscription subscribes the shop's topic to sub.URI, in
// JSON. A subscription that already exists counts as created.
func (a *Admin) CreateWebhookSubscription(ctx context.Context, shop, token string, sub app.ShopifyWebhookSubscription) error {
	var data struct {
		Create struct {
			UserErrors []struct {
				Field   []string `json:"field"`
				Message string   `json:"message"`
			} `json:"userErrors"`
		} `json:"webhookSubscriptionCreate"`
	}
	vars := map[string]any{
		"topic":               EnumOfTopic(sub.Topic),
		"webhookSubscription": map[string]any{"uri": sub.URI, "format": "JSON"},
	}
	if err := a.graphQL(ctx, shop, token, createSubscriptionMutation, vars, &data); err != nil {
		return err
	}
	for _, e := range data.Create.UserErrors {
		if strings.Contains(strings.ToLower(e.Message), "already been taken") {
			continue // made meanwhile, by another run
		}
		return &app.ProviderError{Provider: Name, Status: http.StatusOK, Code: "USER_ERROR", Message: e.Message}
	}
	return nil
}

// EnumOfTopic is the GraphQL name of a webhook topic: orders/create is
// ORDERS_CREATE.
func EnumOfTopic(topic string) string {
	return strings.ToUpper(strings.ReplaceAll(topic, "/", "_"))
}

// TopicOfEnum is the webhook topic of a GraphQL topic name: the app's own
// topic of that name, else the first underscore is the slash
// (ORDERS_PARTIALLY_FULFILLED is orders/partially_fulfilled; only
// CUSTOMERS_MARKETING_CONSENT_UPDATE has a resource of two words).
func TopicOfEnum(enum string) string {
	for _, topic := range app.ShopifyTopics() {
		if EnumOfTopic(topic) == enum {
			return topic
		}
	}
	return strings.Replace(strings.ToLower(enum), "_", "/", 1)
}

// OrdersUpdatedSince lists up to limit orders (any status) updated at or
// after since, oldest update first, through the REST Admin API with
// go-shopify. REST, not GraphQL: a REST order is exactly the body of an
// orders/* webhook, so reconciled orders go through the webhook decoder
// unchanged. The raw JSON is kept, so fields go-shopify lacks
// (total_outstanding) survive.
func (a *Admin) OrdersUpdatedSince(ctx context.Context, shop, token string, since time.Time, limit int) ([]app.ShopifyOrder, error) {
	if !app.ValidShopDomain(shop) {
		return nil, &app.ProviderError{Provider: Name, Message: "refused: not a myshopify.com domain"}
	}
	client, err := goshopify.NewClient(goshopify.App{ApiKey: a.opts.APIKey, ApiSecret: a.opts.APISecret}, shop, token,
		goshopify.WithVersion(app.ShopifyAPIVersion), goshopify.WithHTTPClient(a.rest))
	if err != nil {
		return nil, &app.ProviderError{Provider: Name, Message: "client", Err: err}
	}
	var options any = goshopify.OrderListOptions{
		ListOptions: goshopify.ListOptions{Limit: ordersPageSize, UpdatedAtMin: since.UTC()},
		Status:      goshopify.OrderStatusAny,
		Order:       "updated_at asc",
	}
	var orders []app.ShopifyOrder
	for len(orders) < limit {
		var page struct {
			Orders []json.RawMessage `json:"orders"`
		}
		pagination, err := client.ListWithPagination(ctx, "orders.json", &page, options)
		if err != nil {
			return nil, goshopifyError(err)
		}
		for _, raw := range page.Orders {
			o, err := listedOrder(raw)
			if err != nil {
				return nil, err
			}
			orders = append(orders, o)
			if len(orders) == limit {
				break
			}
		}
		if pagination == nil || pagination.NextPageOptions == nil {
			break
		}
		// A page_info cursor carries the filters; Shopify refuses them
		// repeated beside it.
		options = pagination.NextPageOptions
	}
	return orders, nil
}

func listedOrder(raw json.RawMessage) (app.ShopifyOrder, error) {
	var head struct {
		ID        json.Number `json:"id"`
		CreatedAt time.Time   `json:"created_at"`
		UpdatedAt time.Time   `json:"updated_at"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" || head.UpdatedAt.IsZero() {
		return app.ShopifyOrder{}, &app.ProviderError{Provider: Name, Status: http.StatusOK, Message: "a listed order lacks id or updated_at", Err: err}
	}
	return app.ShopifyOrder{ID: head.ID.String(), CreatedAt: head.CreatedAt, UpdatedAt: head.UpdatedAt, Body: raw}, nil
}

// goshopifyError maps go-shopify's errors to the app's.
func goshopifyError(err error) error {
	var limited goshopify.RateLimitError
	var resp goshopify.ResponseError
	switch {
	case errors.As(err, &limited):
		return &app.ProviderError{Provider: Name, Status: http.StatusTooManyRequests, Message: limited.Message, Retryable: true}
	case errors.As(err, &resp):
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: resp.Message, Retryable: adapters.RetryableStatus(resp.Status)}
	}
	var decoding goshopify.ResponseDecodingError
	if errors.As(err, &decoding) {
		// An error page that is not JSON (a proxy's 502): judged by status.
		return &app.ProviderError{Provider: Name, Status: decoding.Status, Message: "undecodable answer", Retryable: adapters.RetryableStatus(decoding.Status)}
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &app.ProviderError{Provider: Name, Message: "undecodable answer (or larger than the cap)", Err: err}
	}
	// Transport failures: the connection, a timeout, a cancelled context.
	return adapters.TransportError(Name, err)
}
