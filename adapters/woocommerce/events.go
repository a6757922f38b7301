package woocommerce

import (
	"html"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// Options are the merchant's settings that shape the events.
type Options struct {
	// Country (ISO alpha-2) reads phone numbers without a country code when
	// the addresses have no country.
	Country string
	// ShopName fills shop.name.
	ShopName string
}

// DefaultStatusMap maps WooCommerce's core statuses (without "wc-") to
// events; "" means the status sends nothing. The reasoning, from
// woocommerce.md §3 and §4:
//
//   - pending: created but unpaid (an abandoned payment page); nothing to
//     say yet.
//   - on-hold: awaiting payment confirmation (bank transfer, cheque) or a
//     COD order held for confirmation: the order is placed.
//   - processing: paid, or a COD order accepted, stock reduced; WooCommerce
//     sends no status before it for card payments, so this is where
//     "order placed" happens. OrderEvents adds order.paid for a paid order.
//   - completed: WooCommerce means "fulfilled", which for physical goods is
//     when the merchant ships, rarely when the parcel arrives: order.shipped
//     is true in both cases, order.delivered could be false. Merchants with
//     a delivered status of their own map it (and may map completed to
//     order.delivered).
//   - cancelled, refunded: their events.
//
// failed and ready-for-pickup stay unmapped on purpose: they arrive as
// order.status.failed and order.status.ready-for-pickup, which the admin
// pages list for the merchant to decide.
func DefaultStatusMap() map[string]string {
	return map[string]string{
		"pending":    "",
		"on-hold":    app.EventOrderPlaced,
		"processing": app.EventOrderPlaced,
		"completed":  app.EventOrderShipped,
		"cancelled":  app.EventOrderCancelled,
		"refunded":   app.EventOrderRefunded,
	}
}

// EventForStatus returns the event for an order status: the merchant's
// statusMap entry when there is one (an entry of "" silences a status),
// else the default map's. A status in neither, core or custom, gives
// order.status.<slug> with mapped false, so the caller can list it for the
// merchant. checkout-draft (block checkout in progress, woocommerce.md §1.1)
// and the internal draft statuses give "" with mapped true: they are never
// the customer's business. Statuses may carry the "wc-" prefix.
func EventForStatus(status string, statusMap map[string]string) (event string, mapped bool) {
	slug := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(status)), "wc-")
	switch slug {
	case "", "checkout-draft", "draft", "auto-draft", "new", "trash":
		return "", true
	}
	for _, key := range []string{slug, "wc-" + slug} {
		if ev, ok := statusMap[key]; ok {
			return ev, true
		}
	}
	if ev, ok := DefaultStatusMap()[slug]; ok {
		return ev, true
	}
	clean := app.StatusSlug(slug)
	if clean == "" {
		return "", false
	}
	return app.EventOrderStatusPrefix + clean, false
}

// IsCOD reports whether the order is paid by WooCommerce's cash on delivery
// gateway (id "cod"; its title is the merchant's to change).
func IsCOD(o Order) bool {
	return strings.EqualFold(strings.TrimSpace(o.PaymentMethod), "cod")
}

// OrderEvents returns the events an order webhook implies in its current
// state (the body shows the order now, not the transition, woocommerce.md
// §1.2) and whether its status was mapped:
//
//   - the status's event (EventForStatus);
//   - cod.confirmation_requested for a COD order still pending, on-hold or
//     processing: confirmation plugins hold COD orders in on-hold or
//     pending, core puts them straight in processing (§4);
//   - order.paid for a processing order with a payment date, not COD: so a
//     card order tells "placed" and "paid" like Shopify's, and a bank
//     transfer moving on-hold → processing tells "paid".
//
// Repeats are expected and dropped by the app's exactly-once layer.
func OrderEvents(o Order, statusMap map[string]string, opts Options) (events []app.Event, mapped bool) {
	ev, mapped := EventForStatus(o.Status, statusMap)
	if ev != "" {
		events = append(events, OrderEvent(o, ev, opts))
	}
	status := strings.TrimPrefix(strings.ToLower(o.Status), "wc-")
	if IsCOD(o) && (status == "pending" || status == "on-hold" || status == "processing") {
		events = append(events, OrderEvent(o, app.EventCODConfirmationAsked, opts))
	}
	if status == "processing" && !IsCOD(o) && strings.TrimSpace(o.DatePaidGMT) != "" && ev != app.EventOrderPaid {
		events = append(events, OrderEvent(o, app.EventOrderPaid, opts))
	}
	return events, mapped
}

// OrderEvent builds the event of type eventType for o, with the same
// properties as the Shopify adapter's. ID and Merchant are left to the
// caller.
func OrderEvent(o Order, eventType string, opts Options) app.Event {
	id := strconv.FormatInt(o.ID, 10)
	items := make([]app.LineItem, 0, len(o.LineItems))
	for _, li := range o.LineItems {
		// Product names come HTML-escaped ("Kurta &ndash; Blue").
		items = append(items, app.LineItem{Name: html.UnescapeString(strings.TrimSpace(li.Name)), Quantity: li.Quantity})
	}
	summary, count := app.SummarizeItems(items)
	status := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(o.Status)), "wc-")
	op := map[string]any{
		"id":              id,
		"number":          orderNumber(o),
		"total":           app.FormatMoney(o.Total, o.Currency),
		"total_amount":    o.Total,
		"currency":        o.Currency,
		"items":           summary,
		"item_count":      count,
		"status":          strings.ReplaceAll(status, "-", " "),
		"platform_status": status,
		"payment_method":  html.UnescapeString(firstNonEmpty(o.PaymentMethodTitle, o.PaymentMethod)),
		"cod":             IsCOD(o),
	}
	// Shipping and tax, for a loyalty program that earns on the goods alone.
	if o.ShippingTotal != "" {
		op["shipping_amount"] = o.ShippingTotal
	}
	if o.TotalTax != "" {
		op["tax_amount"] = o.TotalTax
	}
	if token := o.CartToken(); token != "" {
		// The cart storebridge's plugin captured: this order recovers it.
		op["checkout_token"] = token
	}
	if tr := o.Tracking(); tr != (Tracking{}) {
		if tr.Number != "" {
			op["tracking_number"] = tr.Number
		}
		if tr.URL != "" {
			op["tracking_url"] = tr.URL
		}
		if tr.Provider != "" {
			op["tracking_company"] = tr.Provider
		}
	}
	addReferralFields(op, o)
	props := map[string]any{"order": op}
	if opts.ShopName != "" {
		props["shop"] = map[string]any{"name": opts.ShopName}
	}
	return app.Event{
		Type:       eventType,
		Subject:    "order:" + id,
		Customer:   orderCustomer(o, opts),
		Properties: props,
		OccurredAt: o.ModifiedAt(),
	}
}

// orderNumber shows the number the way WooCommerce's own emails do
// ("#727"); a numbering plugin's own format ("WC-2026-0042") is kept.
func orderNumber(o Order) string {
	n := strings.TrimSpace(o.Number)
	if n == "" {
		n = strconv.FormatInt(o.ID, 10)
	}
	if _, err := strconv.ParseUint(n, 10, 64); err == nil {
		return "#" + n
	}
	return n
}

// orderCustomer takes the billing phone first: it is the contact field
// checkout asks for, and the one woocommerce.md (§2.5) and the WhatsApp
// plugins it cites read; the shipping phone (WooCommerce 5.6+) is optional
// and may be a gift recipient's, so it comes second. A national number is
// read with its own address's country, then the other address's, then the
// merchant's.
func orderCustomer(o Order, opts Options) app.Customer {
	name := o.Billing
	if strings.TrimSpace(name.FirstName+name.LastName) == "" {
		name = o.Shipping
	}
	c := app.Customer{
		FirstName: strings.TrimSpace(name.FirstName),
		LastName:  strings.TrimSpace(name.LastName),
		Email:     strings.TrimSpace(o.Billing.Email),
	}
	if o.CustomerID > 0 {
		c.ID = strconv.FormatInt(o.CustomerID, 10)
	}
	c.Phone, c.PhoneProblem = app.PickPhone([]app.PhoneSource{
		{Field: "billing.phone", Raw: o.Billing.Phone, Countries: []string{o.Billing.Country, o.Shipping.Country}},
		{Field: "shipping.phone", Raw: o.Shipping.Phone, Countries: []string{o.Shipping.Country, o.Billing.Country}},
	}, opts.Country)
	c.Consent = o.WhatsAppConsent()
	if c.Consent != "" {
		c.ConsentSource = "woocommerce checkout"
	}
	return c
}
