package shopify

import (
	"encoding/json"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"
)

// The payloads are decoded with go-shopify's types, embedded in our own
// where v4.7.0 lacks a field or decodes one in a way we cannot use:
//   - money: the library decodes amounts into decimals, which drop trailing
//     zeros ("1499.00" → "1499") and refuse a number where a string is
//     expected; amount keeps the exact text and FormatMoney does the rest;
//   - Order has no total_outstanding (added after v4.7.0), which tells a
//     COD order still unpaid;
//   - Fulfillment has no email, destination (the shipping address, with the
//     phone) or name ("#1001.1");
//   - AbandonedCheckout has no line_items;
//   - Refund has no processed_at.
// go-shopify's LineItem has its own UnmarshalJSON, so it is never embedded
// (its method would be promoted and swallow our extra fields).

// amount is a decimal amount as the platform wrote it. It accepts a JSON
// string, a number or null.
type amount string

func (a *amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = amount(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*a = amount(n.String())
	return nil
}

type moneyEntry struct {
	Amount       amount `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

type moneySet struct {
	ShopMoney        moneyEntry `json:"shop_money"`
	PresentmentMoney moneyEntry `json:"presentment_money"`
}

type order struct {
	goshopify.Order
	TotalPrice            amount    `json:"total_price"`
	TotalPriceSet         *moneySet `json:"total_price_set"`
	TotalOutstanding      amount    `json:"total_outstanding"`
	TotalTax              amount    `json:"total_tax"`
	TotalTaxSet           *moneySet `json:"total_tax_set"`
	TotalShippingPriceSet *moneySet `json:"total_shipping_price_set"`
}

type fulfillment struct {
	goshopify.Fulfillment
	Name        string             `json:"name"`
	Email       string             `json:"email"`
	Destination *goshopify.Address `json:"destination"`
}

type checkout struct {
	goshopify.AbandonedCheckout
	TotalPrice amount               `json:"total_price"`
	LineItems  []goshopify.LineItem `json:"line_items"`
}

type refund struct {
	goshopify.Refund
	ProcessedAt  *time.Time          `json:"processed_at"`
	Transactions []refundTransaction `json:"transactions"`
}

type refundTransaction struct {
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	Amount   amount `json:"amount"`
	Currency string `json:"currency"`
}
