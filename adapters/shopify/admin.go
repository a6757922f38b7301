package shopify

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// GraphQL cost limits (https://shopify.dev/docs/api/usage/limits): each
// query costs points from a bucket that refills at restoreRate a second.
// A THROTTLED answer says how far the bucket is from the query's cost; the
// call waits that long and tries again, a few times and never long: past
// that the error is retryable and the job's own schedule takes over.
const (
	maxThrottleTries = 4
	maxThrottleWait  = 20 * time.Second
)

// queryCost is extensions.cost of a GraphQL answer.
type queryCost struct {
	RequestedQueryCost float64 `json:"requestedQueryCost"`
	ThrottleStatus     struct {
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

// waitFor is how long until the bucket holds cost points; 0 when it does
// or when the answer said nothing of the bucket.
func (c queryCost) waitFor(cost float64) time.Duration {
	t := c.ThrottleStatus
	if t.RestoreRate <= 0 || t.CurrentlyAvailable >= cost {
		return 0
	}
	return time.Duration((cost - t.CurrentlyAvailable) / t.RestoreRate * float64(time.Second)).Round(time.Millisecond)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// graphQL posts one GraphQL Admin API query and decodes its data into out.
// Errors: HTTP failures by status; THROTTLED is waited out (see
// maxThrottleTries), then retryable; other GraphQL errors are permanent.
func (a *Admin) graphQL(ctx context.Context, shop, token, query string, variables map[string]any, out any) error {
	_, err := a.graphQLCost(ctx, shop, token, query, variables, out)
	return err
}

// graphQLCost is graphQL that also answers the query's cost and the
// bucket after it, so a caller with more pages can pace itself.
func (a *Admin) graphQLCost(ctx context.Context, shop, token, query string, variables map[string]any, out any) (queryCost, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		return queryCost{}, err
	}
	for try := 1; ; try++ {
		cost, wait, err := a.postGraphQL(ctx, shop, token, body, out)
		if wait == 0 || try == maxThrottleTries || wait > maxThrottleWait {
			return cost, err
		}
		if err := a.sleep(ctx, wait); err != nil {
			return cost, adapters.TransportError(Name, err)
		}
	}
}

// postGraphQL makes one call. A THROTTLED answer returns its error and how
// long to wait before the query fits the bucket, as its throttleStatus
// says (0 when it says nothing).
func (a *Admin) postGraphQL(ctx context.Context, shop, token string, body []byte, out any) (queryCost, time.Duration, error) {
	req, err := a.newRequest(ctx, http.MethodPost, shop, "/admin/api/"+app.ShopifyAPIVersion+"/graphql.json", body, "application/json")
	if err != nil {
		return queryCost{}, 0, err
	}
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := adapters.Do(a.client, Name, req)
	if err != nil {
		return queryCost{}, 0, err
	}
	if resp.Status != http.StatusOK {
		return queryCost{}, 0, adapters.StatusError(Name, resp, "", "")
	}
	var answer struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string `json:"message"`
			Extensions struct {
				Code string `json:"code"`
			} `json:"extensions"`
		} `json:"errors"`
		Extensions struct {
			Cost queryCost `json:"cost"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil {
		return queryCost{}, 0, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the GraphQL answer is not JSON", Err: err}
	}
	cost := answer.Extensions.Cost
	if len(answer.Errors) > 0 {
		e := answer.Errors[0]
		throttled := e.Extensions.Code == "THROTTLED"
		var wait time.Duration
		if throttled {
			// Without a bucket to go by, the job's schedule waits instead.
			wait = cost.waitFor(cost.RequestedQueryCost)
		}
		return cost, wait, &app.ProviderError{Provider: Name, Status: resp.Status, Code: e.Extensions.Code, Message: e.Message, Retryable: throttled}
	}
	if err := json.Unmarshal(answer.Data, out); err != nil {
		return cost, 0, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the GraphQL data has an unexpected shape", Err: err}
	}
	return cost, 0, nil
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

const shopQuery = `query shop { shop { name ianaTimezone currencyCode billingAddress { countryCodeV2 } } }`

// Shop reads the shop's name, country, time zone and currency.
func (a *Admin) Shop(ctx context.Context, shop, token string) (app.ShopifyShop, error) {
	var data struct {
		Shop struct {
			Name           string `json:"name"`
			IanaTimezone   string `json:"ianaTimezone"`
			CurrencyCode   string `json:"currencyCode"`
			BillingAddress struct {
				CountryCodeV2 string `json:"countryCodeV2"`
			} `json:"billingAddress"`
		} `json:"shop"`
	}
	if err := a.graphQL(ctx, shop, token, shopQuery, nil, &data); err != nil {
		return app.ShopifyShop{}, err
	}
	return app.ShopifyShop{Name: data.Shop.Name, Country: data.Shop.BillingAddress.CountryCodeV2, Timezone: data.Shop.IanaTimezone, Currency: data.Shop.CurrencyCode}, nil
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

// ordersPageSize keeps one page's requested cost (about 30 points an
// order, with its line items) well under the 1000 a single query may cost.
const ordersPageSize = 20

// ordersQuery reads orders updated since a time, oldest update first, with
// what the webhook normaliser uses of an order (see webhookOrder).
const ordersQuery = `query orders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes {
      id legacyResourceId name email phone test
      createdAt updatedAt processedAt cancelledAt cancelReason
      displayFinancialStatus displayFulfillmentStatus paymentGatewayNames statusPageUrl
      currencyCode presentmentCurrencyCode
      totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      totalOutstandingSet { shopMoney { amount currencyCode } }
      totalTaxSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      totalShippingPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      customer {
        legacyResourceId firstName lastName
        defaultEmailAddress { emailAddress }
        defaultPhoneNumber { phoneNumber }
        defaultAddress { firstName lastName phone countryCodeV2 }
      }
      shippingAddress { firstName lastName phone countryCodeV2 }
      billingAddress { firstName lastName phone countryCodeV2 }
      lineItems(first: 20) { nodes { title name variantTitle quantity } }
      fulfillments(first: 5) { status createdAt updatedAt trackingInfo(first: 1) { number url company } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`

// OrdersUpdatedSince lists up to limit orders (any status) updated at or
// after since, oldest update first, through the GraphQL Admin API. Each
// is written in the shape of an orders/* webhook body (webhookOrder), so a
// reconciled order goes through the webhook decoder and becomes the same
// events as its webhook: the exactly-once layer then sends it once,
// whichever comes first. Pages are paced by the cost bucket.
func (a *Admin) OrdersUpdatedSince(ctx context.Context, shop, token string, since time.Time, limit int) ([]app.ShopifyOrder, error) {
	vars := map[string]any{
		"first": min(ordersPageSize, limit),
		"after": nil,
		"query": "updated_at:>='" + since.UTC().Format(time.RFC3339) + "'",
	}
	var orders []app.ShopifyOrder
	for len(orders) < limit {
		var data struct {
			Orders struct {
				Nodes    []graphQLOrder `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"orders"`
		}
		cost, err := a.graphQLCost(ctx, shop, token, ordersQuery, vars, &data)
		if err != nil {
			return nil, err
		}
		for _, n := range data.Orders.Nodes {
			o, err := n.listed()
			if err != nil {
				return nil, err
			}
			orders = append(orders, o)
			if len(orders) == limit {
				break
			}
		}
		if !data.Orders.PageInfo.HasNextPage || data.Orders.PageInfo.EndCursor == "" || len(orders) == limit {
			break
		}
		vars["after"] = data.Orders.PageInfo.EndCursor
		// Wait for the next page's cost rather than be throttled for it.
		if wait := cost.waitFor(cost.RequestedQueryCost); wait > 0 {
			if err := a.sleep(ctx, min(wait, maxThrottleWait)); err != nil {
				return nil, adapters.TransportError(Name, err)
			}
		}
	}
	return orders, nil
}
