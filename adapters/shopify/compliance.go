package shopify

import (
	"encoding/json"
	"fmt"
)

// Compliance is what a mandatory compliance webhook or app/uninstalled
// asks about. The phone is kept as Shopify sent it: match it after
// app.NormalizePhone with the merchant's country.
type Compliance struct {
	Topic         string
	ShopID        string
	ShopDomain    string // as in the payload; the X-Shopify-Shop-Domain header is authoritative
	CustomerID    string
	CustomerEmail string
	CustomerPhone string
	OrderIDs      []string // orders_requested or orders_to_redact
	DataRequestID string
}

type compliancePayload struct {
	ShopID     json.Number `json:"shop_id"`
	ShopDomain string      `json:"shop_domain"`
	Customer   *struct {
		ID    json.Number `json:"id"`
		Email string      `json:"email"`
		Phone string      `json:"phone"`
	} `json:"customer"`
	OrdersRequested []json.Number `json:"orders_requested"`
	OrdersToRedact  []json.Number `json:"orders_to_redact"`
	DataRequest     *struct {
		ID json.Number `json:"id"`
	} `json:"data_request"`

	// app/uninstalled sends the Shop object instead.
	ID              json.Number `json:"id"`
	MyshopifyDomain string      `json:"myshopify_domain"`
	Domain          string      `json:"domain"`
}

// ParseCompliance decodes customers/data_request, customers/redact,
// shop/redact and app/uninstalled. Other topics return ErrUnknownTopic; a
// body that does not decode, or a customer request that names no customer,
// an error wrapping ErrUnusable.
func ParseCompliance(topic string, body []byte) (Compliance, error) {
	switch topic {
	case "customers/data_request", "customers/redact", "shop/redact", "app/uninstalled":
	default:
		return Compliance{}, fmt.Errorf("%w %q", ErrUnknownTopic, truncate(topic, 64))
	}
	// Numbers are read as json.Number: shop and order ids pass 2^53 and must
	// not go through a float.
	var p compliancePayload
	if err := decode(body, &p); err != nil {
		return Compliance{}, err
	}
	c := Compliance{Topic: topic, ShopID: p.ShopID.String(), ShopDomain: p.ShopDomain}
	if topic == "app/uninstalled" {
		c.ShopID = p.ID.String()
		c.ShopDomain = firstNonEmpty(p.MyshopifyDomain, p.Domain)
		return c, nil
	}
	if p.Customer != nil {
		c.CustomerID = p.Customer.ID.String()
		c.CustomerEmail = p.Customer.Email
		c.CustomerPhone = p.Customer.Phone
	}
	for _, n := range append(p.OrdersRequested, p.OrdersToRedact...) {
		c.OrderIDs = append(c.OrderIDs, n.String())
	}
	if p.DataRequest != nil {
		c.DataRequestID = p.DataRequest.ID.String()
	}
	switch {
	case topic == "shop/redact" && c.ShopID == "" && c.ShopDomain == "":
		return Compliance{}, fmt.Errorf("%w: shop/redact names no shop", ErrUnusable)
	case topic != "shop/redact" && c.CustomerID == "" && c.CustomerEmail == "" && c.CustomerPhone == "":
		return Compliance{}, fmt.Errorf("%w: %s names no customer", ErrUnusable, topic)
	}
	return c, nil
}
