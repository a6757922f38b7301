package woocommerce

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/storebridge/storebridge/app"
)

var _ app.WooOrders = (*REST)(nil)

// restOrderID is an order id as the REST routes take it: a positive
// integer, at most 19 digits so it fits the int64 WooCommerce stores.
var restOrderID = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)

// restStatusSlug is an order status as the REST API shows it, without the
// "wc-" prefix: WordPress limits post status names to 20 characters, so
// the slug has at most 17 (woocommerce.md §3).
var restStatusSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,16}$`)

// restOrder is the part of an order's answer we read back.
type restOrder struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
}

// restOrderStatus is the body of a status change: the status alone, so no
// other field of the order is touched.
type restOrderStatus struct {
	Status string `json:"status"`
}

// restOrderNote is a note as POST orders/{id}/notes takes it. A customer
// note is emailed to the customer; ours are always private.
type restOrderNote struct {
	Note         string `json:"note"`
	CustomerNote bool   `json:"customer_note"`
	AddedByUser  bool   `json:"added_by_user"`
}

// SetOrderStatus moves the order to status with PUT orders/{id}
// (woocommerce.md §2.4). WooCommerce sets the status last, so its
// transition hooks (stock, emails, its own "status changed" note) fire.
// A plugin may veto or redirect the change: an answer with another status
// is a permanent error naming the status the order kept.
func (c *REST) SetOrderStatus(ctx context.Context, store app.WooCredentials, orderID, status string) error {
	if err := checkOrderID(orderID); err != nil {
		return err
	}
	// The admin and some plugins show statuses with the post status
	// prefix; the REST API takes and answers the bare slug.
	slug := strings.TrimPrefix(status, "wc-")
	if !restStatusSlug.MatchString(slug) {
		return &app.ProviderError{Provider: Name, Message: fmt.Sprintf("order %s: %q is not an order status slug", orderID, status)}
	}
	var order restOrder
	resp, err := c.call(ctx, store, http.MethodPut, "orders/"+orderID, nil, restOrderStatus{Status: slug}, &order)
	if err != nil {
		return err
	}
	if order.Status != slug {
		kept := fmt.Sprintf("kept status %q", order.Status)
		if order.Status == "" {
			kept = "answered without a status"
		}
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: fmt.Sprintf("order %s: asked for status %q, WooCommerce %s", orderID, slug, kept)}
	}
	return nil
}

// AddOrderNote adds a private note to the order with POST
// orders/{id}/notes: customer_note false, so nothing is emailed to the
// customer, and added_by_user false, so it shows as a system note.
func (c *REST) AddOrderNote(ctx context.Context, store app.WooCredentials, orderID, note string) error {
	if err := checkOrderID(orderID); err != nil {
		return err
	}
	if strings.TrimSpace(note) == "" {
		// WooCommerce refuses an empty note with a 400; say so before asking.
		return &app.ProviderError{Provider: Name, Message: fmt.Sprintf("order %s: the note is empty", orderID)}
	}
	var created struct {
		ID int64 `json:"id"`
	}
	_, err := c.call(ctx, store, http.MethodPost, "orders/"+orderID+"/notes", nil, restOrderNote{Note: note}, &created)
	return err
}

// checkOrderID refuses an id that is not a REST order id before any call:
// it goes into the request path.
func checkOrderID(orderID string) error {
	if !restOrderID.MatchString(orderID) {
		return &app.ProviderError{Provider: Name, Message: fmt.Sprintf("%q is not a WooCommerce order id", orderID)}
	}
	return nil
}
