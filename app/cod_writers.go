package app

import (
	"context"
	"fmt"
)

// Tags the COD flow puts on Shopify orders, so merchants can filter them.
const (
	tagCODPending     = "cod:pending"
	tagCODConfirmed   = "cod:confirmed"
	tagCODCancelled   = "cod:cancelled"
	tagCODUnconfirmed = "cod:unconfirmed"
)

// WriteCOD writes a COD decision back to a Shopify order: a hold on its
// fulfillment while it waits, released when the customer confirms, the
// order cancelled (restocked) when they decline, and tags throughout.
func (i *ShopifyInstaller) WriteCOD(ctx context.Context, m Merchant, orderID, action string) error {
	orders := i.opts.Orders
	if _, ok := m.Secrets["access_token"]; orders == nil || !ok {
		i.svc.log.Info("cod decision not written back: no access to the shop's orders", "merchant", m.ID, "order", orderID, "action", action)
		return nil
	}
	token, err := i.accessToken(ctx, m)
	if err != nil {
		return err
	}
	switch action {
	case CODHold:
		if err := orders.HoldFulfillment(ctx, m.Domain, token, orderID, CODHoldHandle, "Awaiting the customer's cash-on-delivery confirmation on WhatsApp"); err != nil {
			return err
		}
		return orders.Tag(ctx, m.Domain, token, orderID, []string{tagCODPending}, nil)
	case CODConfirm:
		if err := orders.ReleaseFulfillment(ctx, m.Domain, token, orderID, CODHoldHandle); err != nil {
			return err
		}
		return orders.Tag(ctx, m.Domain, token, orderID, []string{tagCODConfirmed}, []string{tagCODPending})
	case CODCancel:
		if err := orders.Tag(ctx, m.Domain, token, orderID, []string{tagCODCancelled}, []string{tagCODPending}); err != nil {
			return err
		}
		return orders.CancelOrder(ctx, m.Domain, token, orderID, "Cancelled by storebridge: the customer declined cash on delivery, or did not confirm in time")
	case CODUnconfirmed:
		// The hold stays: the merchant decides whether to ship.
		return orders.Tag(ctx, m.Domain, token, orderID, []string{tagCODUnconfirmed}, []string{tagCODPending})
	}
	return Permanent(fmt.Errorf("unknown cod action %q", action))
}

// WriteCOD writes a COD decision back to a WooCommerce order: on-hold
// while it waits, processing once confirmed, cancelled (WooCommerce puts
// the stock back) when declined, with a private note each time.
func (c *WooConnector) WriteCOD(ctx context.Context, m Merchant, orderID, action string) error {
	orders := c.opts.Orders
	_, hasKey := m.Secrets["consumer_key"]
	_, hasSecret := m.Secrets["consumer_secret"]
	if orders == nil || !hasKey || !hasSecret {
		c.svc.log.Info("cod decision not written back: no REST keys for the store", "merchant", m.ID, "order", orderID, "action", action)
		return nil
	}
	store, _, err := c.credentials(m)
	if err != nil {
		return err
	}
	status, note := "", ""
	switch action {
	case CODHold:
		status, note = "on-hold", "storebridge: waiting for the customer to confirm cash on delivery on WhatsApp."
	case CODConfirm:
		status, note = "processing", "storebridge: the customer confirmed cash on delivery on WhatsApp."
	case CODCancel:
		status, note = "cancelled", "storebridge: cancelled; the customer declined cash on delivery, or did not confirm in time."
	case CODUnconfirmed:
		note = "storebridge: the customer did not confirm cash on delivery in time; the order is left for you to decide."
	default:
		return Permanent(fmt.Errorf("unknown cod action %q", action))
	}
	if status != "" {
		if err := orders.SetOrderStatus(ctx, store, orderID, status); err != nil {
			return err
		}
	}
	return orders.AddOrderNote(ctx, store, orderID, note)
}
