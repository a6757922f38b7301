package woocommerce

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// ErrUnusable wraps every body that cannot be decoded or lacks its id:
// retrying will not help, so the caller keeps it for inspection.
var ErrUnusable = errors.New("woocommerce: unusable payload")

// Order is the REST v3 order a webhook carries (woocommerce.md §2.5). Money
// stays in the strings WooCommerce sends; dates ending in _gmt are UTC
// without a zone.
type Order struct {
	ID                 int64          `json:"id"`
	ParentID           int64          `json:"parent_id"`
	Number             string         `json:"number"`
	OrderKey           string         `json:"order_key"`
	CreatedVia         string         `json:"created_via"`
	Status             string         `json:"status"`
	Currency           string         `json:"currency"`
	Total              string         `json:"total"`
	TotalTax           string         `json:"total_tax"`
	ShippingTotal      string         `json:"shipping_total"`
	DiscountTotal      string         `json:"discount_total"`
	DateCreatedGMT     string         `json:"date_created_gmt"`
	DateModifiedGMT    string         `json:"date_modified_gmt"`
	DatePaidGMT        string         `json:"date_paid_gmt"`
	DateCompletedGMT   string         `json:"date_completed_gmt"`
	CustomerID         int64          `json:"customer_id"`
	CustomerNote       string         `json:"customer_note"`
	Billing            Address        `json:"billing"`
	Shipping           Address        `json:"shipping"`
	PaymentMethod      string         `json:"payment_method"`
	PaymentMethodTitle string         `json:"payment_method_title"`
	TransactionID      string         `json:"transaction_id"`
	PaymentURL         string         `json:"payment_url"`
	LineItems          []LineItem     `json:"line_items"`
	ShippingLines      []ShippingLine `json:"shipping_lines"`
	CouponLines        []CouponLine   `json:"coupon_lines"`
	MetaData           []Meta         `json:"meta_data"`
}

// Address is a billing or shipping address. Email is billing only; the
// shipping phone exists since WooCommerce 5.6. Phone is free text.
type Address struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Company   string `json:"company"`
	Address1  string `json:"address_1"`
	Address2  string `json:"address_2"`
	City      string `json:"city"`
	State     string `json:"state"`
	Postcode  string `json:"postcode"`
	Country   string `json:"country"` // ISO alpha-2
	Email     string `json:"email"`
	Phone     string `json:"phone"`
}

// LineItem is one product line. Price is a JSON number in the REST API, the
// other amounts strings.
type LineItem struct {
	ID          int64       `json:"id"`
	Name        string      `json:"name"`
	ProductID   int64       `json:"product_id"`
	VariationID int64       `json:"variation_id"`
	Quantity    int         `json:"quantity"`
	SKU         string      `json:"sku"`
	Price       json.Number `json:"price"`
	Subtotal    string      `json:"subtotal"`
	Total       string      `json:"total"`
	MetaData    []Meta      `json:"meta_data"`
}

// ShippingLine is one shipping method of an order.
type ShippingLine struct {
	MethodID    string `json:"method_id"`
	MethodTitle string `json:"method_title"`
	Total       string `json:"total"`
}

// CouponLine is one coupon applied to an order.
type CouponLine struct {
	Code     string `json:"code"`
	Discount string `json:"discount"`
}

// Meta is one meta_data entry; plugins put any JSON in Value.
type Meta struct {
	ID    int64           `json:"id"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// DecodeOrder decodes an order webhook body (order.created, order.updated,
// and the {"id":N} of order.deleted). Errors wrap ErrUnusable.
func DecodeOrder(body []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(body, &o); err != nil {
		return Order{}, fmt.Errorf("%w: order: %v", ErrUnusable, err)
	}
	if o.ID <= 0 {
		return Order{}, fmt.Errorf("%w: order without id", ErrUnusable)
	}
	return o, nil
}

// ModifiedAt is date_modified_gmt (else date_created_gmt) as a UTC time,
// zero when neither parses.
func (o Order) ModifiedAt() time.Time {
	if t := parseGMT(o.DateModifiedGMT); !t.IsZero() {
		return t
	}
	return parseGMT(o.DateCreatedGMT)
}

func parseGMT(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse("2006-01-02T15:04:05", s); err == nil {
		return t.UTC()
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// MetaWhatsAppConsent is the order meta key storebridge's checkout field
// writes: "yes" when the customer ticked the WhatsApp opt-in, "no" when
// they left it clear.
const MetaWhatsAppConsent = "_storebridge_whatsapp_optin"

// WhatsAppConsent is the customer's answer to the checkout's WhatsApp
// opt-in, app.ConsentGranted or app.ConsentDenied; empty when the order
// does not say.
func (o Order) WhatsAppConsent() string {
	for _, m := range o.MetaData {
		if m.Key != MetaWhatsAppConsent {
			continue
		}
		switch strings.ToLower(metaString(m.Value)) {
		case "yes", "1", "true", "on":
			return app.ConsentGranted
		case "no", "0", "false", "off":
			return app.ConsentDenied
		}
	}
	return ""
}

// MetaCart is the order meta key storebridge's WordPress plugin writes at
// checkout: the id of the cart it captured, which the order recovers.
const MetaCart = "_storebridge_cart"

// CartToken is the cart flow's token of the captured cart the order came
// from (app.WooCartToken of the _storebridge_cart meta); empty when the
// order names none.
func (o Order) CartToken() string {
	for _, m := range o.MetaData {
		if m.Key != MetaCart {
			continue
		}
		if id := strings.TrimSpace(metaString(m.Value)); id != "" {
			return app.WooCartToken(id)
		}
	}
	return ""
}

// Tracking is the shipment an order's meta data names.
type Tracking struct {
	Number   string
	URL      string
	Provider string
}

// Tracking reads the shipment from meta_data. Core WooCommerce has no
// tracking fields (woocommerce.md says nothing of them); plugins add them:
// WooCommerce Shipment Tracking and Advanced Shipment Tracking keep a list
// in "_wc_shipment_tracking_items" (the last entry is the newest), others
// plain "_tracking_number"/"_tracking_url"/"_tracking_provider" keys.
func (o Order) Tracking() Tracking {
	var t Tracking
	for _, m := range o.MetaData {
		switch m.Key {
		case "_wc_shipment_tracking_items":
			var items []struct {
				Number         string `json:"tracking_number"`
				Provider       string `json:"tracking_provider"`
				CustomProvider string `json:"custom_tracking_provider"`
				CustomLink     string `json:"custom_tracking_link"`
				FormattedLink  string `json:"formatted_tracking_link"`
				ASTLink        string `json:"ast_tracking_link"`
			}
			if json.Unmarshal(m.Value, &items) != nil || len(items) == 0 {
				continue
			}
			it := items[len(items)-1]
			return Tracking{
				Number:   strings.TrimSpace(it.Number),
				URL:      firstNonEmpty(it.CustomLink, it.FormattedLink, it.ASTLink),
				Provider: firstNonEmpty(it.CustomProvider, it.Provider),
			}
		case "_tracking_number", "tracking_number":
			t.Number = firstNonEmpty(t.Number, metaString(m.Value))
		case "_tracking_url", "tracking_url":
			t.URL = firstNonEmpty(t.URL, metaString(m.Value))
		case "_tracking_provider", "tracking_provider":
			t.Provider = firstNonEmpty(t.Provider, metaString(m.Value))
		}
	}
	return t
}

func metaString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
