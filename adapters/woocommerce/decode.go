// Package woocommerce turns WooCommerce webhooks into the app's events: it
// decodes orders, customers and coupons (the REST v3 shapes, money as
// strings) and maps order statuses to events through the merchant's status
// map. Signatures and the ping are checked on the way in, by app.
package woocommerce

import (
	"errors"
	"strconv"

	"github.com/storebridge/storebridge/app"
)

// Decode reads a queued WooCommerce webhook for the worker
// (app.WebhookDecoder). Order bodies carry the order's state at delivery
// time, not the change, so they come back as a state report: the service
// compares it with the last status it saw.
func Decode(m app.Merchant, env app.WebhookEnvelope) (app.DecodedWebhook, error) {
	opts := Options{Country: m.Country, ShopName: m.Name}
	switch env.Topic {
	case "order.created", "order.updated", "order.restored":
		o, err := DecodeOrder(env.Body)
		if err != nil {
			if errors.Is(err, ErrUnusable) {
				return app.DecodedWebhook{}, app.Permanent(err)
			}
			return app.DecodedWebhook{}, err
		}
		return app.DecodedWebhook{State: &app.StateReport{
			Key:     "order:" + strconv.FormatInt(o.ID, 10),
			Version: o.ModifiedAt().UnixMilli(),
			Status:  o.Status,
			Events: func(statusMap map[string]string) ([]app.Event, bool) {
				return OrderEvents(o, statusMap, opts)
			},
		}}, nil
	case "customer.created":
		// A new account: the loyalty engine's signup.
		c, err := DecodeCustomer(env.Body)
		if err != nil {
			return app.DecodedWebhook{}, app.Permanent(err)
		}
		return app.DecodedWebhook{Events: []app.Event{CustomerCreatedEvent(c, opts)}}, nil
	case "order.deleted", "coupon.created", "customer.updated":
		// Known, and nothing to tell a customer: trashing an order sends
		// no message; coupons and customer changes feed nothing yet.
		return app.DecodedWebhook{}, nil
	}
	return app.DecodedWebhook{}, app.Permanent(errors.New("woocommerce: unknown topic " + strconv.Quote(env.Topic)))
}
