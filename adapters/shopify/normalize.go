package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	goshopify "github.com/bold-commerce/go-shopify/v4"

	"github.com/storebridge/storebridge/app"
)

// Sentinel errors of Normalize and ParseCompliance.
var (
	// ErrUnknownTopic is returned for a topic this package does not turn
	// into events; the caller counts it and answers 200.
	ErrUnknownTopic = errors.New("shopify: unknown topic")
	// ErrUnusable wraps every payload that cannot be decoded or lacks its
	// id: retrying will not help, so the caller keeps it for inspection.
	ErrUnusable = errors.New("shopify: unusable payload")
)

// DefaultCODGateway is the payment method name Shopify reserves for cash on
// delivery (shopify.md §3.3).
const DefaultCODGateway = "Cash on Delivery (COD)"

// Options are the merchant's settings that shape the events.
type Options struct {
	// Country (ISO alpha-2) reads phone numbers written without a country
	// code when the address has no country.
	Country string
	// CODGateways are the payment_gateway_names that mean cash on
	// delivery, matched case-insensitively; empty means DefaultCODGateway.
	CODGateways []string
	// ShopName fills shop.name.
	ShopName string
}

// Result is what one webhook says. Subject, UpdatedAt, CustomerID and
// OrderID describe the payload even when it implies no event, so the caller
// can order deliveries and index data for the compliance topics.
type Result struct {
	// Events are ready but for ID and Merchant, which the caller sets.
	Events     []app.Event
	Subject    string    // "order:<id>" or "cart:<token>"
	UpdatedAt  time.Time // the payload's updated_at (or newest time it has)
	CustomerID string
	OrderID    string
}

// Normalize decodes the body of a webhook of topic into events:
//
//	orders/create                   order.placed (+ cod.confirmation_requested for an unpaid COD order)
//	orders/paid                     order.paid
//	orders/cancelled                order.cancelled
//	orders/fulfilled, …/partially_fulfilled   order.shipped, tracking of the latest fulfillment
//	orders/updated                  what the state implies: order.cancelled, order.paid, order.refunded
//	fulfillments/create             order.shipped
//	fulfillments/update             by shipment_status: order.shipped, order.out_for_delivery,
//	                                order.delivered, or order.status.<status> for the others
//	refunds/create                  order.refunded
//	checkouts/create, …/update      cart.abandoned while open, cart.recovered once completed
//	customers/create                customer.created (the loyalty engine's signup)
//
// Repeats are expected: the app's exactly-once layer drops a type already
// sent for the same subject. Other topics return ErrUnknownTopic; a body
// that does not decode or has no id returns an error wrapping ErrUnusable.
func Normalize(topic string, body []byte, opts Options) (Result, error) {
	switch topic {
	case "orders/create", "orders/paid", "orders/cancelled", "orders/fulfilled",
		"orders/partially_fulfilled", "orders/updated":
		var o order
		if err := decode(body, &o); err != nil {
			return Result{}, err
		}
		if o.Id == 0 {
			return Result{}, fmt.Errorf("%w: order without id", ErrUnusable)
		}
		return normalizeOrder(topic, &o, opts), nil
	case "fulfillments/create", "fulfillments/update":
		var f fulfillment
		if err := decode(body, &f); err != nil {
			return Result{}, err
		}
		if f.Id == 0 || f.OrderId == 0 {
			return Result{}, fmt.Errorf("%w: fulfillment without id or order_id", ErrUnusable)
		}
		return normalizeFulfillment(topic, &f, opts), nil
	case "refunds/create":
		var r refund
		if err := decode(body, &r); err != nil {
			return Result{}, err
		}
		if r.Id == 0 || r.OrderId == 0 {
			return Result{}, fmt.Errorf("%w: refund without id or order_id", ErrUnusable)
		}
		return normalizeRefund(&r, opts), nil
	case "customers/create":
		var c goshopify.Customer
		if err := decode(body, &c); err != nil {
			return Result{}, err
		}
		if c.Id == 0 {
			return Result{}, fmt.Errorf("%w: customer without id", ErrUnusable)
		}
		return normalizeCustomerCreated(&c, opts), nil
	case "checkouts/create", "checkouts/update":
		var c checkout
		if err := decode(body, &c); err != nil {
			return Result{}, err
		}
		if c.Id == 0 && c.Token == "" {
			return Result{}, fmt.Errorf("%w: checkout without id or token", ErrUnusable)
		}
		return normalizeCheckout(&c, opts), nil
	}
	return Result{}, fmt.Errorf("%w %q", ErrUnknownTopic, truncate(topic, 64))
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	return nil
}

func normalizeOrder(topic string, o *order, opts Options) Result {
	res := Result{
		Subject:   "order:" + id(o.Id),
		OrderID:   id(o.Id),
		UpdatedAt: firstTime(o.UpdatedAt, o.ProcessedAt, o.CreatedAt),
	}
	cust := orderCustomer(o, opts)
	res.CustomerID = cust.ID
	cod := isCOD(o, opts)

	var types []string
	occurred := firstTime(o.UpdatedAt, o.ProcessedAt, o.CreatedAt)
	var tracking *goshopify.Fulfillment
	switch topic {
	case "orders/create":
		types = append(types, app.EventOrderPlaced)
		if cod && o.FinancialStatus == goshopify.OrderFinancialStatusPending {
			types = append(types, app.EventCODConfirmationAsked)
		}
		occurred = firstTime(o.ProcessedAt, o.CreatedAt, o.UpdatedAt)
	case "orders/paid":
		types = append(types, app.EventOrderPaid)
	case "orders/cancelled":
		types = append(types, app.EventOrderCancelled)
		occurred = firstTime(o.CancelledAt, o.UpdatedAt, o.CreatedAt)
	case "orders/fulfilled", "orders/partially_fulfilled":
		types = append(types, app.EventOrderShipped)
		tracking = latestFulfillment(o.Fulfillments)
	case "orders/updated":
		// A cancelled order gets no "paid" message, even if it was paid.
		switch {
		case o.CancelledAt != nil:
			types = append(types, app.EventOrderCancelled)
			if o.FinancialStatus == goshopify.OrderFinancialStatusRefunded {
				types = append(types, app.EventOrderRefunded)
			}
		case o.FinancialStatus == goshopify.OrderFinancialStatusPaid:
			types = append(types, app.EventOrderPaid)
		case o.FinancialStatus == goshopify.OrderFinancialStatusRefunded:
			types = append(types, app.EventOrderRefunded)
		}
	}

	props := map[string]any{"order": orderProps(o, cod, tracking)}
	addShop(props, opts)
	for _, t := range types {
		res.Events = append(res.Events, app.Event{
			Type:       t,
			Subject:    res.Subject,
			Customer:   cust,
			Properties: cloneProps(props),
			OccurredAt: occurred,
			Test:       o.Test,
		})
	}
	return res
}

// inCurrency is the amount of set in currency: its presentment money or
// its shop money, or shopAmount (in shopCurrency) when the set is absent.
func inCurrency(set *moneySet, shopAmount, shopCurrency, currency string) (string, bool) {
	if set != nil {
		for _, m := range []moneyEntry{set.PresentmentMoney, set.ShopMoney} {
			if m.Amount != "" && m.CurrencyCode == currency {
				return string(m.Amount), true
			}
		}
		return "", false
	}
	return shopAmount, shopAmount != "" && shopCurrency == currency
}

func orderProps(o *order, cod bool, tracking *goshopify.Fulfillment) map[string]any {
	total, currency := string(o.TotalPrice), o.Currency
	// The customer paid in the presentment currency, which is what they saw
	// at checkout; the shop's currency may differ.
	if set := o.TotalPriceSet; set != nil && set.PresentmentMoney.CurrencyCode != "" && set.PresentmentMoney.Amount != "" {
		total, currency = string(set.PresentmentMoney.Amount), set.PresentmentMoney.CurrencyCode
	}
	items := make([]app.LineItem, 0, len(o.LineItems))
	for _, li := range o.LineItems {
		items = append(items, lineItem(li))
	}
	summary, count := app.SummarizeItems(items)
	p := map[string]any{
		// The checkout the order came from: its cart is recovered.
		"checkout_token":     o.CheckoutToken,
		"id":                 id(o.Id),
		"number":             orderNumber(o),
		"total":              app.FormatMoney(total, currency),
		"total_amount":       total,
		"currency":           currency,
		"items":              summary,
		"item_count":         count,
		"status":             orderStatus(o),
		"financial_status":   string(o.FinancialStatus),
		"fulfillment_status": string(o.FulfillmentStatus),
		"payment_method":     strings.Join(o.PaymentGatewayNames, ", "),
		"cod":                cod,
	}
	if o.OrderStatusUrl != "" {
		p["status_url"] = o.OrderStatusUrl
	}
	if o.CancelReason != "" {
		p["cancel_reason"] = string(o.CancelReason)
	}
	if o.TotalOutstanding != "" {
		p["outstanding"] = app.FormatMoney(string(o.TotalOutstanding), o.Currency)
	}
	// Shipping and tax in the total's own currency, for a loyalty program
	// that earns on the goods alone.
	if v, ok := inCurrency(o.TotalShippingPriceSet, "", o.Currency, currency); ok {
		p["shipping_amount"] = v
	}
	if v, ok := inCurrency(o.TotalTaxSet, string(o.TotalTax), o.Currency, currency); ok {
		p["tax_amount"] = v
	}
	if tracking != nil {
		addTracking(p, tracking)
	}
	addReferralFields(p, o)
	return p
}

// orderStatus is a short readable state for order.status.
func orderStatus(o *order) string {
	switch {
	case o.CancelledAt != nil:
		return "cancelled"
	case o.FulfillmentStatus == goshopify.OrderFulfillmentStatusFulfilled:
		return "fulfilled"
	case o.FulfillmentStatus == goshopify.OrderFulfillmentStatusPartial:
		return "partially fulfilled"
	case o.FinancialStatus != "":
		return strings.ReplaceAll(string(o.FinancialStatus), "_", " ")
	}
	return "open"
}

func orderNumber(o *order) string {
	if o.Name != "" {
		return o.Name
	}
	if o.OrderNumber != 0 {
		return "#" + strconv.Itoa(o.OrderNumber)
	}
	return id(o.Id)
}

// isCOD matches the order's payment methods (and the legacy gateway field of
// old payloads) against the merchant's cash-on-delivery names.
func isCOD(o *order, opts Options) bool {
	names := opts.CODGateways
	if len(names) == 0 {
		names = []string{DefaultCODGateway}
	}
	gateways := append([]string{o.Gateway}, o.PaymentGatewayNames...)
	for _, g := range gateways {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(g, strings.TrimSpace(n)) {
				return true
			}
		}
	}
	return false
}

// latestFulfillment is the one updated or created last; on a tie, the later
// in the list.
func latestFulfillment(fs []goshopify.Fulfillment) *goshopify.Fulfillment {
	var best *goshopify.Fulfillment
	var bestAt time.Time
	for i := range fs {
		f := &fs[i]
		if f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
			continue
		}
		at := firstTime(f.UpdatedAt, f.CreatedAt)
		if best == nil || !at.Before(bestAt) {
			best, bestAt = f, at
		}
	}
	return best
}

func addTracking(p map[string]any, f *goshopify.Fulfillment) {
	number, url, company := f.TrackingNumber, f.TrackingUrl, f.TrackingCompany
	if number == "" && len(f.TrackingNumbers) > 0 {
		number = f.TrackingNumbers[0]
	}
	if url == "" && len(f.TrackingUrls) > 0 {
		url = f.TrackingUrls[0]
	}
	if number != "" {
		p["tracking_number"] = number
	}
	if url != "" {
		p["tracking_url"] = url
	}
	if company != "" {
		p["tracking_company"] = company
	}
}

func orderCustomer(o *order, opts Options) app.Customer {
	var c app.Customer
	var defAddr *goshopify.CustomerAddress
	custPhone := ""
	if cu := o.Customer; cu != nil {
		c.ID = idOrEmpty(cu.Id)
		c.FirstName, c.LastName, c.Email = cu.FirstName, cu.LastName, cu.Email
		custPhone, defAddr = cu.Phone, cu.DefaultAddress
	}
	for _, a := range []*goshopify.Address{o.ShippingAddress, o.BillingAddress} {
		if c.FirstName == "" && c.LastName == "" && a != nil {
			c.FirstName, c.LastName = a.FirstName, a.LastName
		}
	}
	if c.FirstName == "" && c.LastName == "" && defAddr != nil {
		c.FirstName, c.LastName = defAddr.FirstName, defAddr.LastName
	}
	c.Email = firstNonEmpty(o.Email, o.ContactEmail, c.Email)
	c.Consent, c.ConsentSource = customerConsent(o.Customer)

	ship, bill, def := addrCountry(o.ShippingAddress), addrCountry(o.BillingAddress), ""
	if defAddr != nil {
		def = defAddr.CountryCode
	}
	cands := []app.PhoneSource{
		{Field: "shipping_address.phone", Raw: addrPhone(o.ShippingAddress), Countries: []string{ship}},
		{Field: "phone", Raw: o.Phone, Countries: []string{ship, bill, def}},
		{Field: "customer.phone", Raw: custPhone, Countries: []string{def, ship, bill}},
		{Field: "billing_address.phone", Raw: addrPhone(o.BillingAddress), Countries: []string{bill}},
		{Field: "customer.default_address.phone", Raw: custAddrPhone(defAddr), Countries: []string{def}},
	}
	c.Phone, c.PhoneProblem = app.PickPhone(cands, opts.Country)
	return c
}

// customerConsent reads a customer's SMS marketing consent, the one Shopify
// keeps for phone messages and the nearest to WhatsApp it has. Payloads
// from API 2025-01 on leave it out of the embedded customer (shopify.md
// §0.6): the customers_marketing_consent/update topic brings it instead.
func customerConsent(c *goshopify.Customer) (state, source string) {
	if c == nil || c.SMSMarketingConsent == nil {
		return "", ""
	}
	switch strings.ToLower(c.SMSMarketingConsent.State) {
	case "subscribed":
		return app.ConsentGranted, "shopify customer (SMS marketing)"
	case "unsubscribed", "redacted":
		return app.ConsentDenied, "shopify customer (SMS marketing)"
	}
	return "", "" // not_subscribed, pending: no word either way
}

func normalizeFulfillment(topic string, f *fulfillment, opts Options) Result {
	res := Result{
		Subject:   "order:" + id(f.OrderId),
		OrderID:   id(f.OrderId),
		UpdatedAt: firstTime(f.UpdatedAt, f.CreatedAt),
	}
	var c app.Customer
	c.Email = f.Email
	if d := f.Destination; d != nil {
		c.FirstName, c.LastName = d.FirstName, d.LastName
		c.Phone, c.PhoneProblem = app.PickPhone([]app.PhoneSource{{Field: "destination.phone", Raw: d.Phone, Countries: []string{d.CountryCode}}}, opts.Country)
	} else {
		c.Phone, c.PhoneProblem = app.PickPhone(nil, opts.Country)
	}

	if f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
		return res // a fulfillment that did not happen ships nothing
	}
	eventType := app.EventOrderShipped
	status := "shipped"
	if topic == "fulfillments/update" {
		eventType, status = shipmentEvent(f.ShipmentStatus)
	}

	items := make([]app.LineItem, 0, len(f.LineItems))
	for _, li := range f.LineItems {
		items = append(items, lineItem(li))
	}
	summary, count := app.SummarizeItems(items)
	op := map[string]any{
		"id":                 id(f.OrderId),
		"number":             fulfillmentOrderNumber(f.Name),
		"items":              summary,
		"item_count":         count,
		"status":             status,
		"fulfillment_name":   f.Name,
		"shipment_status":    f.ShipmentStatus,
		"fulfillment_status": f.Status,
	}
	addTracking(op, &f.Fulfillment)
	props := map[string]any{"order": op}
	addShop(props, opts)
	res.Events = []app.Event{{
		Type:       eventType,
		Subject:    res.Subject,
		Customer:   c,
		Properties: props,
		OccurredAt: firstTime(f.UpdatedAt, f.CreatedAt),
	}}
	return res
}

// shipmentEvent maps a fulfillment's shipment_status (shopify.md §3.4) to
// an event. Statuses that are neither "on the way" nor the two we name get
// order.status.<status>, the contract's name for an unmapped platform
// status, so a merchant can still attach a rule (attempted_delivery,
// failure, ready_for_pickup …).
func shipmentEvent(s string) (eventType, status string) {
	switch s {
	case "", "confirmed", "in_transit", "carrier_picked_up", "label_printed", "label_purchased":
		return app.EventOrderShipped, "shipped"
	case "out_for_delivery":
		return app.EventOrderOutForDelivery, "out for delivery"
	case "delivered":
		return app.EventOrderDelivered, "delivered"
	}
	slug := app.StatusSlug(s)
	if slug == "" {
		return app.EventOrderShipped, "shipped"
	}
	return app.EventOrderStatusPrefix + slug, strings.ReplaceAll(slug, "_", " ")
}

// fulfillmentOrderNumber drops the ".1" Shopify appends to the order's name
// to name a fulfillment ("#1001.1" → "#1001").
func fulfillmentOrderNumber(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

func normalizeRefund(r *refund, opts Options) Result {
	res := Result{
		Subject:   "order:" + id(r.OrderId),
		OrderID:   id(r.OrderId),
		UpdatedAt: firstTime(r.ProcessedAt, r.CreatedAt),
	}
	currency := ""
	items := make([]app.LineItem, 0, len(r.RefundLineItems))
	for _, rli := range r.RefundLineItems {
		if rli.SubTotalSet != nil && currency == "" {
			currency = firstNonEmpty(rli.SubTotalSet.PresentmentMoney.CurrencyCode, rli.SubTotalSet.ShopMoney.CurrencyCode)
		}
		if rli.LineItem != nil {
			it := lineItem(*rli.LineItem)
			it.Quantity = rli.Quantity
			items = append(items, it)
		}
	}
	// Several refund transactions add up; big.Rat keeps the sum exact.
	sum := new(big.Rat)
	summed, scale := false, 0
	for _, t := range r.Transactions {
		if t.Kind != "refund" || (t.Status != "" && t.Status != "success") {
			continue
		}
		v, ok := new(big.Rat).SetString(string(t.Amount))
		if !ok || strings.ContainsAny(string(t.Amount), "eE/") {
			continue
		}
		sum.Add(sum, v)
		summed = true
		if _, frac, found := strings.Cut(string(t.Amount), "."); found {
			scale = max(scale, min(len(frac), 6))
		}
		if currency == "" {
			currency = t.Currency
		}
	}
	rp := map[string]any{"id": id(r.Id)}
	if summed {
		raw := sum.FloatString(scale)
		rp["amount"] = app.FormatMoney(raw, currency)
		rp["amount_raw"] = raw
	}
	if len(items) > 0 {
		rp["items"], rp["item_count"] = app.SummarizeItems(items)
	}
	props := map[string]any{
		"order":  map[string]any{"id": id(r.OrderId), "status": "refunded"},
		"refund": rp,
	}
	addShop(props, opts)
	res.Events = []app.Event{{
		Type:    app.EventOrderRefunded,
		Subject: res.Subject,
		// A refund carries no customer: the caller fills the contact in
		// from the order it already knows, or the event records why not.
		Customer:   app.Customer{PhoneProblem: "refund payload has no customer contact"},
		Properties: props,
		OccurredAt: firstTime(r.ProcessedAt, r.CreatedAt),
	}}
	return res
}

func normalizeCheckout(c *checkout, opts Options) Result {
	token := c.Token
	if token == "" {
		token = id(c.Id)
	}
	res := Result{
		Subject:   "cart:" + token,
		UpdatedAt: firstTime(c.UpdatedAt, c.CreatedAt),
	}
	var cust app.Customer
	var defAddr *goshopify.CustomerAddress
	custPhone := ""
	if cu := c.Customer; cu != nil {
		cust.ID = idOrEmpty(cu.Id)
		cust.FirstName, cust.LastName, cust.Email = cu.FirstName, cu.LastName, cu.Email
		custPhone, defAddr = cu.Phone, cu.DefaultAddress
	}
	if defAddr == nil {
		defAddr = c.DefaultAddress
	}
	for _, a := range []*goshopify.Address{c.ShippingAddress, c.BillingAddress} {
		if cust.FirstName == "" && cust.LastName == "" && a != nil {
			cust.FirstName, cust.LastName = a.FirstName, a.LastName
		}
	}
	cust.Email = firstNonEmpty(c.Email, cust.Email)
	cust.Consent, cust.ConsentSource = customerConsent(c.Customer)
	if c.BuyerAcceptsSmsMarketing {
		// Ticked at this checkout: the newest word there is.
		cust.Consent, cust.ConsentSource = app.ConsentGranted, "shopify checkout (SMS marketing)"
	}
	res.CustomerID = cust.ID
	ship, bill, def := addrCountry(c.ShippingAddress), addrCountry(c.BillingAddress), ""
	if defAddr != nil {
		def = defAddr.CountryCode
	}
	cust.Phone, cust.PhoneProblem = app.PickPhone([]app.PhoneSource{
		{Field: "shipping_address.phone", Raw: addrPhone(c.ShippingAddress), Countries: []string{ship}},
		{Field: "phone", Raw: c.Phone, Countries: []string{ship, bill, def}},
		{Field: "sms_marketing_phone", Raw: c.SmsMarketingPhone, Countries: []string{ship, bill, def}},
		{Field: "customer.phone", Raw: custPhone, Countries: []string{def, ship, bill}},
		{Field: "billing_address.phone", Raw: addrPhone(c.BillingAddress), Countries: []string{bill}},
		{Field: "customer.default_address.phone", Raw: custAddrPhone(defAddr), Countries: []string{def}},
	}, opts.Country)

	currency := firstNonEmpty(c.PresentmentCurrency, c.Currency)
	items := make([]app.LineItem, 0, len(c.LineItems))
	for _, li := range c.LineItems {
		items = append(items, lineItem(li))
	}
	summary, count := app.SummarizeItems(items)
	cp := map[string]any{
		"token":        token,
		"total":        app.FormatMoney(string(c.TotalPrice), currency),
		"total_amount": string(c.TotalPrice),
		"currency":     currency,
		"items":        summary,
		"item_count":   count,
	}
	if c.AbandonedCheckoutUrl != "" {
		cp["recovery_url"] = c.AbandonedCheckoutUrl
	}
	props := map[string]any{"cart": cp}
	addShop(props, opts)

	ev := app.Event{
		Type:       app.EventCartAbandoned,
		Subject:    res.Subject,
		Customer:   cust,
		Properties: props,
		OccurredAt: firstTime(c.UpdatedAt, c.CreatedAt),
	}
	if c.CompletedAt != nil {
		ev.Type = app.EventCartRecovered
		ev.OccurredAt = *c.CompletedAt
	}
	res.Events = []app.Event{ev}
	return res
}

func addShop(props map[string]any, opts Options) {
	if opts.ShopName != "" {
		props["shop"] = map[string]any{"name": opts.ShopName}
	}
}

// cloneProps copies the nested maps so that events built from one payload
// do not share them: a caller may add to one event's properties.
func cloneProps(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if m, ok := v.(map[string]any); ok {
			v = cloneProps(m)
		}
		out[k] = v
	}
	return out
}

func id(n uint64) string { return strconv.FormatUint(n, 10) }

func idOrEmpty(n uint64) string {
	if n == 0 {
		return ""
	}
	return id(n)
}

func firstTime(ts ...*time.Time) time.Time {
	for _, t := range ts {
		if t != nil && !t.IsZero() {
			return *t
		}
	}
	return time.Time{}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

func addrPhone(a *goshopify.Address) string {
	if a == nil {
		return ""
	}
	return a.Phone
}

func addrCountry(a *goshopify.Address) string {
	if a == nil {
		return ""
	}
	return a.CountryCode
}

func custAddrPhone(a *goshopify.CustomerAddress) string {
	if a == nil {
		return ""
	}
	return a.Phone
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
