package shopify

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// graphQLOrder is an order as ordersQuery reads it. webhookBody writes it
// in the shape of an orders/* webhook body (the REST representation), for
// the one decoder and normaliser both paths share.
type graphQLOrder struct {
	ID                       string          `json:"id"`
	LegacyResourceID         string          `json:"legacyResourceId"`
	Name                     string          `json:"name"`
	Email                    string          `json:"email"`
	Phone                    string          `json:"phone"`
	Test                     bool            `json:"test"`
	CreatedAt                time.Time       `json:"createdAt"`
	UpdatedAt                time.Time       `json:"updatedAt"`
	ProcessedAt              *time.Time      `json:"processedAt"`
	CancelledAt              *time.Time      `json:"cancelledAt"`
	CancelReason             string          `json:"cancelReason"`
	DisplayFinancialStatus   string          `json:"displayFinancialStatus"`
	DisplayFulfillmentStatus string          `json:"displayFulfillmentStatus"`
	PaymentGatewayNames      []string        `json:"paymentGatewayNames"`
	StatusPageURL            string          `json:"statusPageUrl"`
	CurrencyCode             string          `json:"currencyCode"`
	PresentmentCurrencyCode  string          `json:"presentmentCurrencyCode"`
	TotalPriceSet            *gqlMoneyBag    `json:"totalPriceSet"`
	TotalOutstandingSet      *gqlMoneyBag    `json:"totalOutstandingSet"`
	TotalTaxSet              *gqlMoneyBag    `json:"totalTaxSet"`
	TotalShippingPriceSet    *gqlMoneyBag    `json:"totalShippingPriceSet"`
	Customer                 *gqlCustomer    `json:"customer"`
	ShippingAddress          *gqlAddress     `json:"shippingAddress"`
	BillingAddress           *gqlAddress     `json:"billingAddress"`
	LineItems                gqlLineItems    `json:"lineItems"`
	Fulfillments             []gqlFulfilment `json:"fulfillments"`
}

type gqlMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

type gqlMoneyBag struct {
	ShopMoney        gqlMoney  `json:"shopMoney"`
	PresentmentMoney *gqlMoney `json:"presentmentMoney"`
}

type gqlCustomer struct {
	LegacyResourceID    string `json:"legacyResourceId"`
	FirstName           string `json:"firstName"`
	LastName            string `json:"lastName"`
	DefaultEmailAddress *struct {
		EmailAddress string `json:"emailAddress"`
	} `json:"defaultEmailAddress"`
	DefaultPhoneNumber *struct {
		PhoneNumber string `json:"phoneNumber"`
	} `json:"defaultPhoneNumber"`
	DefaultAddress *gqlAddress `json:"defaultAddress"`
}

type gqlAddress struct {
	FirstName     string `json:"firstName"`
	LastName      string `json:"lastName"`
	Phone         string `json:"phone"`
	CountryCodeV2 string `json:"countryCodeV2"`
}

type gqlLineItems struct {
	Nodes []struct {
		Title        string `json:"title"`
		Name         string `json:"name"`
		VariantTitle string `json:"variantTitle"`
		Quantity     int    `json:"quantity"`
	} `json:"nodes"`
}

type gqlFulfilment struct {
	Status       string     `json:"status"`
	CreatedAt    *time.Time `json:"createdAt"`
	UpdatedAt    *time.Time `json:"updatedAt"`
	TrackingInfo []struct {
		Number  string `json:"number"`
		URL     string `json:"url"`
		Company string `json:"company"`
	} `json:"trackingInfo"`
}

// listed is the order for reconciliation: its REST id, times and body.
func (n graphQLOrder) listed() (app.ShopifyOrder, error) {
	id, err := strconv.ParseUint(n.LegacyResourceID, 10, 64)
	if err != nil || id == 0 || n.UpdatedAt.IsZero() {
		return app.ShopifyOrder{}, &app.ProviderError{Provider: Name, Status: http.StatusOK, Message: "a listed order lacks its id or updatedAt"}
	}
	body, err := json.Marshal(n.webhookBody(id))
	if err != nil {
		return app.ShopifyOrder{}, err
	}
	return app.ShopifyOrder{ID: n.LegacyResourceID, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt, Body: body}, nil
}

// webhookBody maps the GraphQL names and enums onto the webhook's:
// camelCase to snake_case, PARTIALLY_PAID to partially_paid, gids to the
// numeric ids, MoneyBag to total_price_set. Only what the normaliser reads
// is carried; absent values are left out, as null would be.
func (n graphQLOrder) webhookBody(id uint64) map[string]any {
	o := map[string]any{
		"id":                    id,
		"admin_graphql_api_id":  n.ID,
		"name":                  n.Name,
		"test":                  n.Test,
		"created_at":            n.CreatedAt,
		"updated_at":            n.UpdatedAt,
		"financial_status":      strings.ToLower(n.DisplayFinancialStatus),
		"payment_gateway_names": n.PaymentGatewayNames,
		"currency":              n.CurrencyCode,
		"presentment_currency":  n.PresentmentCurrencyCode,
	}
	setIf(o, "email", n.Email)
	setIf(o, "phone", n.Phone)
	setIf(o, "order_status_url", n.StatusPageURL)
	setIf(o, "cancel_reason", strings.ToLower(n.CancelReason))
	if n.ProcessedAt != nil {
		o["processed_at"] = *n.ProcessedAt
	}
	if n.CancelledAt != nil {
		o["cancelled_at"] = *n.CancelledAt
	}
	// REST names only these three; the other display statuses
	// (UNFULFILLED, ON_HOLD, …) are its null.
	switch n.DisplayFulfillmentStatus {
	case "FULFILLED":
		o["fulfillment_status"] = "fulfilled"
	case "PARTIALLY_FULFILLED":
		o["fulfillment_status"] = "partial"
	case "RESTOCKED":
		o["fulfillment_status"] = "restocked"
	}
	if set := n.TotalPriceSet; set != nil {
		o["total_price"] = restAmount(set.ShopMoney.Amount)
		o["total_price_set"] = restMoneyBag(set)
	}
	if set := n.TotalTaxSet; set != nil {
		o["total_tax"] = restAmount(set.ShopMoney.Amount)
		o["total_tax_set"] = restMoneyBag(set)
	}
	if set := n.TotalShippingPriceSet; set != nil {
		o["total_shipping_price_set"] = restMoneyBag(set)
	}
	if set := n.TotalOutstandingSet; set != nil && set.ShopMoney.Amount != "" {
		o["total_outstanding"] = restAmount(set.ShopMoney.Amount)
	}
	if c := n.Customer; c != nil {
		cust := map[string]any{"first_name": c.FirstName, "last_name": c.LastName}
		if cid, err := strconv.ParseUint(c.LegacyResourceID, 10, 64); err == nil {
			cust["id"] = cid
		}
		if c.DefaultEmailAddress != nil {
			setIf(cust, "email", c.DefaultEmailAddress.EmailAddress)
		}
		if c.DefaultPhoneNumber != nil {
			setIf(cust, "phone", c.DefaultPhoneNumber.PhoneNumber)
		}
		if c.DefaultAddress != nil {
			cust["default_address"] = restAddress(*c.DefaultAddress)
		}
		o["customer"] = cust
	}
	if n.ShippingAddress != nil {
		o["shipping_address"] = restAddress(*n.ShippingAddress)
	}
	if n.BillingAddress != nil {
		o["billing_address"] = restAddress(*n.BillingAddress)
	}
	items := make([]map[string]any, 0, len(n.LineItems.Nodes))
	for _, li := range n.LineItems.Nodes {
		items = append(items, map[string]any{"title": li.Title, "name": li.Name, "variant_title": li.VariantTitle, "quantity": li.Quantity})
	}
	o["line_items"] = items
	fulfillments := make([]map[string]any, 0, len(n.Fulfillments))
	for _, f := range n.Fulfillments {
		rf := map[string]any{"status": strings.ToLower(f.Status)}
		if f.CreatedAt != nil {
			rf["created_at"] = *f.CreatedAt
		}
		if f.UpdatedAt != nil {
			rf["updated_at"] = *f.UpdatedAt
		}
		if len(f.TrackingInfo) > 0 {
			t := f.TrackingInfo[0]
			setIf(rf, "tracking_number", t.Number)
			setIf(rf, "tracking_url", t.URL)
			setIf(rf, "tracking_company", t.Company)
		}
		fulfillments = append(fulfillments, rf)
	}
	o["fulfillments"] = fulfillments
	return o
}

func setIf(m map[string]any, key, value string) {
	if value != "" {
		m[key] = value
	}
}

func restAddress(a gqlAddress) map[string]any {
	out := map[string]any{"first_name": a.FirstName, "last_name": a.LastName}
	setIf(out, "phone", a.Phone)
	setIf(out, "country_code", a.CountryCodeV2)
	return out
}

func restMoneyBag(set *gqlMoneyBag) map[string]any {
	bag := map[string]any{"shop_money": restMoney(set.ShopMoney)}
	if set.PresentmentMoney != nil {
		bag["presentment_money"] = restMoney(*set.PresentmentMoney)
	}
	return bag
}

func restMoney(m gqlMoney) map[string]any {
	return map[string]any{"amount": restAmount(m.Amount), "currency_code": m.CurrencyCode}
}

// restAmount writes a GraphQL Decimal ("1499.0") as REST does ("1499.00"),
// so a reconciled order's order.total_amount reads as its webhook's.
func restAmount(s string) string {
	if s == "" {
		return s
	}
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 2 {
		frac += "0"
	}
	return whole + "." + frac
}
