package shopify

import (
	"context"
	"net/http"
	"strings"

	"github.com/storebridge/storebridge/app"
)

var _ app.ShopifyOrders = (*Admin)(nil)

// fulfillmentOrdersQuery lists an order's fulfillment orders with their
// status and holds. heldByRequestingApp tells our holds from another
// app's: a handle is unique per app only, so two apps may use the same
// one. Twenty fulfillment orders are more than any order has (one per
// location and delivery method).
const fulfillmentOrdersQuery = `query fulfillmentOrders($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: 20) {
      nodes { id status fulfillmentHolds { id handle heldByRequestingApp } }
    }
  }
}`

// holdMutation puts one hold on a whole fulfillment order. Since 2025-01 a
// fulfillment order can carry several holds (at most 10 per app), told
// apart by handle; a second hold with the same handle is refused with
// DUPLICATE_FULFILLMENT_HOLD_HANDLE.
const holdMutation = `mutation fulfillmentOrderHold($id: ID!, $fulfillmentHold: FulfillmentOrderHoldInput!) {
  fulfillmentOrderHold(id: $id, fulfillmentHold: $fulfillmentHold) {
    fulfillmentHold { id handle }
    userErrors { field message code }
  }
}`

// releaseHoldMutation releases the named holds of a fulfillment order and
// leaves its other holds (the merchant's, other apps') in place.
const releaseHoldMutation = `mutation fulfillmentOrderReleaseHold($id: ID!, $holdIds: [ID!]) {
  fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds) {
    fulfillmentOrder { id status }
    userErrors { field message code }
  }
}`

// tagsAddMutation adds tags to the order, keeping its others: no
// read-modify-write race with the merchant, unlike REST's tags string.
const tagsAddMutation = `mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}`

// tagsRemoveMutation removes tags from the order, keeping its others.
const tagsRemoveMutation = `mutation tagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}`

// orderCancelMutation cancels the order. Since 2025-07 the refund is
// chosen with refundMethod (the boolean refund is deprecated, and later
// versions require refundMethod); a COD order was never paid, so nothing
// is refunded. The cancellation runs as an asynchronous job and cannot be
// undone; the deprecated userErrors field is not asked for.
const orderCancelMutation = `mutation orderCancel($orderId: ID!, $reason: OrderCancelReason!, $refundMethod: OrderCancelRefundMethodInput!, $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock, notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}`

// Fulfillment order statuses (FulfillmentOrderStatus).
const (
	foOpen      = "OPEN"
	foScheduled = "SCHEDULED"
	foOnHold    = "ON_HOLD"
)

type userError struct {
	Field   []string `json:"field"`
	Message string   `json:"message"`
	Code    string   `json:"code"`
}

// permanent is the error of a mutation's user error: Shopify refused the
// request itself, and sending it again would not change that.
func (e userError) permanent() error {
	code := e.Code
	if code == "" {
		code = "USER_ERROR"
	}
	return &app.ProviderError{Provider: Name, Status: http.StatusOK, Code: code, Message: e.Message}
}

type fulfillmentHold struct {
	ID                  string `json:"id"`
	Handle              string `json:"handle"`
	HeldByRequestingApp bool   `json:"heldByRequestingApp"`
}

type fulfillmentOrder struct {
	ID               string            `json:"id"`
	Status           string            `json:"status"`
	FulfillmentHolds []fulfillmentHold `json:"fulfillmentHolds"`
}

// ourHolds are the ids of the holds this app placed with handle.
func (fo fulfillmentOrder) ourHolds(handle string) []string {
	var ids []string
	for _, h := range fo.FulfillmentHolds {
		if h.HeldByRequestingApp && h.Handle == handle {
			ids = append(ids, h.ID)
		}
	}
	return ids
}

// orderGID is the GraphQL id of an order given by its numeric id (a GID is
// taken as is).
func orderGID(orderID string) (string, error) {
	if strings.HasPrefix(orderID, "gid://shopify/Order/") {
		return orderID, nil
	}
	if orderID == "" || strings.Trim(orderID, "0123456789") != "" {
		return "", &app.ProviderError{Provider: Name, Code: "INVALID_ORDER_ID", Message: "the order id " + strings.ToValidUTF8(orderID, "") + " is not numeric"}
	}
	return "gid://shopify/Order/" + orderID, nil
}

// fulfillmentOrders reads the order's fulfillment orders. An order Shopify
// does not show (deleted, or older than the 60 days read_orders gives) is
// a permanent NOT_FOUND.
func (a *Admin) fulfillmentOrders(ctx context.Context, shop, token, orderID string) ([]fulfillmentOrder, error) {
	gid, err := orderGID(orderID)
	if err != nil {
		return nil, err
	}
	var data struct {
		Order *struct {
			FulfillmentOrders struct {
				Nodes []fulfillmentOrder `json:"nodes"`
			} `json:"fulfillmentOrders"`
		} `json:"order"`
	}
	if err := a.graphQL(ctx, shop, token, fulfillmentOrdersQuery, map[string]any{"id": gid}, &data); err != nil {
		return nil, err
	}
	if data.Order == nil {
		return nil, &app.ProviderError{Provider: Name, Status: http.StatusOK, Code: "NOT_FOUND", Message: "order " + gid + " not found"}
	}
	return data.Order.FulfillmentOrders.Nodes, nil
}

// HoldFulfillment puts a hold with handle on every open or scheduled
// fulfillment order of the order, and on those already held by someone
// else (their holds may be released before ours). A fulfillment order that
// already carries our hold with handle is skipped; one that is closed,
// cancelled, incomplete or in progress is left alone, so an order already
// fulfilled is not an error. The hold's reason is OTHER with note as its
// notes, and the merchant is not notified.
func (a *Admin) HoldFulfillment(ctx context.Context, shop, token, orderID, handle, note string) error {
	fos, err := a.fulfillmentOrders(ctx, shop, token, orderID)
	if err != nil {
		return err
	}
	for _, fo := range fos {
		switch fo.Status {
		case foOpen, foScheduled, foOnHold:
		default:
			continue
		}
		if len(fo.ourHolds(handle)) > 0 {
			continue
		}
		var data struct {
			Hold struct {
				UserErrors []userError `json:"userErrors"`
			} `json:"fulfillmentOrderHold"`
		}
		vars := map[string]any{
			"id": fo.ID,
			"fulfillmentHold": map[string]any{
				"reason": "OTHER", "reasonNotes": note, "handle": handle, "notifyMerchant": false,
			},
		}
		if err := a.graphQL(ctx, shop, token, holdMutation, vars, &data); err != nil {
			return err
		}
		for _, e := range data.Hold.UserErrors {
			if alreadyHeld(e) {
				continue // held meanwhile, by another run
			}
			return e.permanent()
		}
	}
	return nil
}

// alreadyHeld tells the user error of a hold whose handle this app already
// uses on the fulfillment order: by its code, or by its message when
// Shopify gives no code.
func alreadyHeld(e userError) bool {
	if e.Code == "DUPLICATE_FULFILLMENT_HOLD_HANDLE" {
		return true
	}
	if e.Code != "" {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "handle") && strings.Contains(m, "already")
}

// ReleaseFulfillment releases this app's holds with handle on the order's
// fulfillment orders; other holds stay. Nothing to release is not an
// error.
func (a *Admin) ReleaseFulfillment(ctx context.Context, shop, token, orderID, handle string) error {
	fos, err := a.fulfillmentOrders(ctx, shop, token, orderID)
	if err != nil {
		return err
	}
	for _, fo := range fos {
		ids := fo.ourHolds(handle)
		if len(ids) == 0 {
			continue
		}
		var data struct {
			Release struct {
				UserErrors []userError `json:"userErrors"`
			} `json:"fulfillmentOrderReleaseHold"`
		}
		if err := a.graphQL(ctx, shop, token, releaseHoldMutation, map[string]any{"id": fo.ID, "holdIds": ids}, &data); err != nil {
			return err
		}
		if len(data.Release.UserErrors) > 0 {
			return data.Release.UserErrors[0].permanent()
		}
	}
	return nil
}

// Tag adds the tags add to the order, then removes the tags remove; an
// empty list makes no call.
func (a *Admin) Tag(ctx context.Context, shop, token, orderID string, add, remove []string) error {
	gid, err := orderGID(orderID)
	if err != nil {
		return err
	}
	steps := []struct {
		mutation, field string
		tags            []string
	}{
		{tagsAddMutation, "tagsAdd", add},
		{tagsRemoveMutation, "tagsRemove", remove},
	}
	for _, s := range steps {
		if len(s.tags) == 0 {
			continue
		}
		var data map[string]struct {
			UserErrors []userError `json:"userErrors"`
		}
		if err := a.graphQL(ctx, shop, token, s.mutation, map[string]any{"id": gid, "tags": s.tags}, &data); err != nil {
			return err
		}
		if errs := data[s.field].UserErrors; len(errs) > 0 {
			return errs[0].permanent()
		}
	}
	return nil
}

// CancelOrder cancels the order with reason CUSTOMER, restocking its items,
// refunding nothing (a COD order was never paid) and notifying the
// customer, with staffNote for the merchant. An order already cancelled
// counts as cancelled. Shopify runs the cancellation as a job: a nil error
// means it was accepted.
func (a *Admin) CancelOrder(ctx context.Context, shop, token, orderID, staffNote string) error {
	gid, err := orderGID(orderID)
	if err != nil {
		return err
	}
	var data struct {
		Cancel struct {
			UserErrors []userError `json:"orderCancelUserErrors"`
		} `json:"orderCancel"`
	}
	vars := map[string]any{
		"orderId": gid, "reason": "CUSTOMER", "refundMethod": map[string]any{"originalPaymentMethodsRefund": false}, "restock": true,
		"notifyCustomer": true, "staffNote": staffNote,
	}
	if err := a.graphQL(ctx, shop, token, orderCancelMutation, vars, &data); err != nil {
		return err
	}
	for _, e := range data.Cancel.UserErrors {
		if alreadyCancelled(e) {
			continue
		}
		return e.permanent()
	}
	return nil
}

// alreadyCancelled tells the user error of an order cancelled before.
// OrderCancelUserErrorCode has no code of its own for it (Shopify answers
// INVALID), so the message decides.
func alreadyCancelled(e userError) bool {
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "already") && (strings.Contains(m, "cancelled") || strings.Contains(m, "canceled"))
}
