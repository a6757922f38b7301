package app

import "context"

// ShopifyOrders are the Admin API calls the COD flow makes on a Shopify
// order: holds on its fulfillment orders, tags, and cancelling it. The
// order is named by its numeric id; the token is the shop's access token.
type ShopifyOrders interface {
	// HoldFulfillment puts a hold with handle on every open fulfillment
	// order of the order, so the merchant does not ship before the
	// customer confirms. An order already held under handle is left as is.
	HoldFulfillment(ctx context.Context, shop, token, orderID, handle, note string) error
	// ReleaseFulfillment releases the holds with handle (ours only).
	ReleaseFulfillment(ctx context.Context, shop, token, orderID, handle string) error
	// Tag adds tags to the order and removes others, in that order.
	Tag(ctx context.Context, shop, token, orderID string, add, remove []string) error
	// CancelOrder cancels the order with reason "customer", restocking it,
	// refunding nothing (a COD order was never paid) and notifying the
	// customer as the shop's settings say.
	CancelOrder(ctx context.Context, shop, token, orderID, staffNote string) error
}

// WooOrders are the REST calls the COD flow makes on a WooCommerce order.
type WooOrders interface {
	// SetOrderStatus moves the order to status ("on-hold", "processing",
	// "cancelled"); WooCommerce runs its own status hooks (stock, emails).
	SetOrderStatus(ctx context.Context, store WooCredentials, orderID, status string) error
	// AddOrderNote adds a private note for the merchant.
	AddOrderNote(ctx context.Context, store WooCredentials, orderID, note string) error
}
