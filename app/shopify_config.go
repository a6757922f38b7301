package app

import (
	"slices"
	"strings"
)

// The public app's addresses under APP_URL, as the routes serve them and
// shopify.app.toml names them.
const (
	// ShopifyAppPath is the App URL: the embedded admin Shopify opens.
	ShopifyAppPath = "/admin"
	// ShopifyCallbackPath is the OAuth redirect URL.
	ShopifyCallbackPath = "/shopify/callback"
	// ShopifyWebhookPath takes every topic.
	ShopifyWebhookPath = "/webhooks/shopify"
	// ShopifyAppProxyPath is the App Proxy's url ([app_proxy]): Shopify
	// forwards the storefront's /apps/loyalty/... here, signed.
	ShopifyAppProxyPath = "/proxy/loyalty"
	// ShopifyAppProxyPrefix and ShopifyAppProxySubpath are where the
	// storefront reaches it: https://{shop}/apps/loyalty/….
	ShopifyAppProxyPrefix  = "apps"
	ShopifyAppProxySubpath = "loyalty"
)

// ShopifyComplianceTopics are the mandatory privacy topics, which Shopify
// takes only from the app's configuration (compliance_topics), never from
// the Admin API.
func ShopifyComplianceTopics() []string {
	return []string{"customers/data_request", "customers/redact", "shop/redact"}
}

// shopifyTopicScopes is the access scope each subscribed topic needs
// (Shopify's webhook reference); "" for none. A topic added to
// ShopifyTopics without an entry here fails TestShopifyScopesCoverTopics.
var shopifyTopicScopes = map[string]string{
	"orders/create": "read_orders", "orders/updated": "read_orders", "orders/paid": "read_orders",
	"orders/fulfilled": "read_orders", "orders/partially_fulfilled": "read_orders", "orders/cancelled": "read_orders",
	"checkouts/create": "read_orders", "checkouts/update": "read_orders",
	"refunds/create":      "read_orders",
	"fulfillments/create": "read_fulfillments", "fulfillments/update": "read_fulfillments",
	"customers_marketing_consent/update": "read_customers",
	"customers/create":                   "read_customers",
	"app/uninstalled":                    "",
}

// ShopifyTopicScope is the access scope a topic needs, and whether the
// topic is known.
func ShopifyTopicScope(topic string) (string, bool) {
	scope, ok := shopifyTopicScopes[topic]
	return scope, ok
}

// ShopifyScopes are the access scopes the app asks for (the default of
// SHOPIFY_SCOPES and shopify.app.toml's [access_scopes]): the subscribed
// topics' read scopes, plus what the Admin calls need:
//   - write_orders: the COD tags (tagsAdd, tagsRemove) and orderCancel;
//     it covers read_orders, which the orders query of reconciliation and
//     the orders and checkouts topics need;
//   - write_merchant_managed_fulfillment_orders: holding and releasing a
//     COD order's fulfillment orders (fulfillmentOrderHold, …ReleaseHold);
//   - read_customers: the customers_marketing_consent/update and
//     customers/create (the loyalty signup action) topics;
//   - write_discounts: the loyalty redemptions' discount codes
//     (discountCodeBasicCreate, codeDiscountNodeByCode);
//   - write_app_proxy: the [app_proxy] the storefront's loyalty calls
//     come through.
func ShopifyScopes() []string {
	set := map[string]bool{"write_orders": true, "write_merchant_managed_fulfillment_orders": true, "write_discounts": true, "write_app_proxy": true}
	for _, topic := range ShopifySubscriptionTopics() {
		if scope := shopifyTopicScopes[topic]; scope != "" {
			set[scope] = true
		}
	}
	// A write scope implies its read scope; Shopify grants only the write.
	for scope := range set {
		if read, ok := strings.CutPrefix(scope, "read_"); ok && set["write_"+read] {
			delete(set, scope)
		}
	}
	scopes := make([]string, 0, len(set))
	for scope := range set {
		scopes = append(scopes, scope)
	}
	slices.Sort(scopes)
	return scopes
}
