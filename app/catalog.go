package app

import (
	"cmp"
	"strings"
	"time"
)

// EventInfo describes an event type for the merchant choosing its rule.
type EventInfo struct {
	Type, Label, About string
}

// EventCatalog lists the event types of the contract, in the order a
// merchant thinks of them: the order's life, COD, carts, loyalty.
func EventCatalog() []EventInfo {
	return []EventInfo{
		{EventOrderPlaced, "Order placed", "A new order, paid or not."},
		{EventOrderPaid, "Order paid", "Payment was captured."},
		{EventOrderShipped, "Order shipped", "A shipment left, with its tracking."},
		{EventOrderOutForDelivery, "Out for delivery", "The carrier is on the way today."},
		{EventOrderDelivered, "Order delivered", "The carrier delivered the order."},
		{EventOrderCancelled, "Order cancelled", "The order was cancelled."},
		{EventOrderRefunded, "Order refunded", "Money went back to the customer."},
		{EventCODConfirmationAsked, "COD: confirm the order", "Asks a Cash-on-Delivery customer to confirm, with Confirm and Cancel buttons."},
		{EventCODReminder, "COD: reminder", "Asks again when the customer has not answered."},
		{EventCODConfirmed, "COD: confirmed", "Thanks the customer who confirmed."},
		{EventCODCancelled, "COD: cancelled", "Tells the customer the order is cancelled."},
		{EventCartAbandoned, "Cart abandoned", "A checkout left without an order, with the link back to it."},
		{EventCartRecovered, "Cart recovered", "The abandoned cart became an order."},
		{EventPointsEarned, "Points earned", "The customer earned loyalty points."},
		{EventPointsReversed, "Points reversed", "Points taken back after a cancellation or refund."},
		{EventPointsExpiring, "Points expiring", "Points will expire soon."},
		{EventCouponCreated, "Coupon created", "Points became a discount code."},
		{EventReferralCompleted, "Referral completed", "A friend the customer referred bought."},
		{EventReviewRequested, "Review requested", "Asks for a review after delivery."},
		{EventMilestoneReached, "Milestone reached", "The customer reached a tier or milestone."},
	}
}

// VariableInfo describes a property path a rule can send.
type VariableInfo struct {
	Path, About string
}

// variableCatalog is every property path events carry, with what it holds.
// knownVariable admits exactly these.
var variableCatalog = []VariableInfo{
	{"customer.first_name", "Customer's first name"},
	{"customer.last_name", "Customer's last name"},
	{"customer.name", "Customer's full name"},
	{"customer.email", "Customer's email"},
	{"customer.phone", "Customer's phone (E.164)"},
	{"order.id", "Order id in the store"},
	{"order.number", "Order number as the customer sees it (#1042)"},
	{"order.total", "Order total with currency (₹1,299.00)"},
	{"order.total_amount", "Order total as a number (1299.00)"},
	{"order.currency", "Order currency (INR)"},
	{"order.items", "Items in short (Face wash × 2, …)"},
	{"order.item_count", "Number of items"},
	{"order.status", "Store's order status"},
	{"order.payment_method", "Payment method"},
	{"order.tracking_number", "Tracking number"},
	{"order.tracking_url", "Tracking link"},
	{"order.tracking_company", "Carrier"},
	{"order.status_url", "Order status page"},
	{"cart.recovery_url", "Link back to the cart"},
	{"cart.total", "Cart total with currency"},
	{"cart.items", "Cart items in short"},
	{"points.amount", "Points in this event"},
	{"points.balance", "Points balance"},
	{"points.expires_on", "When the points expire"},
	{"coupon.code", "Discount code"},
	{"coupon.value", "What the code is worth"},
	{"coupon.expires_on", "When the code expires"},
	{"referral.friend_name", "Referred friend's name"},
	{"referral.reward", "Referral reward"},
	{"referral.code", "Customer's own referral code"},
	{"review.url", "Review link"},
	{"review.product", "Product to review"},
	{"milestone.name", "Tier or milestone reached"},
	{"tier.name", "Customer's loyalty tier"},
	{"milestone.reward", "Milestone reward"},
	{"shop.name", "Store name"},
	{"shop.url", "Store address"},
}

var variableIndex = func() map[string]bool {
	idx := make(map[string]bool, len(variableCatalog))
	for _, v := range variableCatalog {
		idx[v.Path] = true
	}
	return idx
}()

// VariablesFor lists the paths that make sense for an event type, the
// ones its events carry first: customer and shop for all, order paths for
// order and COD events, cart paths for carts, loyalty paths for loyalty.
func VariablesFor(eventType string) []VariableInfo {
	family, _, _ := strings.Cut(eventType, ".")
	var out []VariableInfo
	for _, v := range variableCatalog {
		group, _, _ := strings.Cut(v.Path, ".")
		switch {
		case group == "customer", group == "shop",
			group == "order" && (family == "order" || family == "cod" || eventType == EventPointsEarned || eventType == EventPointsReversed),
			group == "cart" && family == "cart",
			// A cart step's code (withCoupon): its code and value, no date.
			eventType == EventCartAbandoned && (v.Path == "coupon.code" || v.Path == "coupon.value"),
			family == "loyalty" && (group == "points" || group == "coupon" || group == "referral" || group == "review" || group == "milestone" || group == "tier"):
			out = append(out, v)
		}
	}
	return out
}

// SampleProperties are a realistic event's properties for an event type,
// in the merchant's currency and with the store's name: what a preview
// fills a template with, and what a test send carries when it gives none.
func SampleProperties(m Merchant, eventType string, now time.Time) map[string]any {
	currency := cmp.Or(m.Synced.Currency, sampleCurrency(m.Country))
	in30 := now.AddDate(0, 0, 30).Format("2 Jan 2006")
	props := map[string]any{
		"customer": map[string]any{"first_name": "Priya", "last_name": "Sharma", "email": "priya@example.com"},
		"shop":     map[string]any{"name": cmp.Or(m.Name, "Your store"), "url": cmp.Or(m.StoreURL, "https://"+cmp.Or(m.Domain, "shop.example.com"))},
	}
	family, _, _ := strings.Cut(eventType, ".")
	switch family {
	case "order", "cod":
		props["order"] = map[string]any{
			"id": "5012345678901", "number": "#1042", "total": FormatMoney("1299.00", currency), "total_amount": "1299.00",
			"currency": currency, "items": "Neem face wash × 2, Aloe gel × 1", "item_count": 3,
			"status": "processing", "payment_method": "Cash on Delivery", "tracking_number": "1234567890123",
			"tracking_url": "https://track.example.com/1234567890123", "tracking_company": "Delhivery",
			"status_url": "https://shop.example.com/orders/1042",
		}
	case "cart":
		props["cart"] = map[string]any{
			"recovery_url": "https://shop.example.com/checkouts/recover/abc123", "total": FormatMoney("849.00", currency),
			"items": "Neem face wash × 1, Sunscreen × 1",
		}
		if eventType == EventCartAbandoned {
			props["coupon"] = map[string]any{"code": "CART-7QX2-K9", "value": "10%"}
		}
	case "loyalty":
		props["points"] = map[string]any{"amount": 120, "balance": 1250, "expires_on": in30}
		props["coupon"] = map[string]any{"code": "SAVE100", "value": FormatMoney("100", currency), "expires_on": in30}
		props["referral"] = map[string]any{"friend_name": "Rahul", "reward": "200 points", "code": "PRIYA100"}
		props["review"] = map[string]any{"url": "https://shop.example.com/products/neem-face-wash#reviews", "product": "Neem face wash"}
		props["milestone"] = map[string]any{"name": "Gold", "reward": "1.5× points"}
		props["tier"] = map[string]any{"name": "Gold"}
	}
	return props
}

// PreviewValues are a rule's variables filled from the sample event, in
// template order; a path the sample lacks shows as a note in brackets.
func PreviewValues(m Merchant, eventType string, variables []string, now time.Time) []string {
	e := Event{Type: eventType, Properties: SampleProperties(m, eventType, now),
		Customer: Customer{FirstName: "Priya", LastName: "Sharma", Phone: "+919876543210"}}
	enrichProperties(&e, m)
	out := make([]string, len(variables))
	for i, path := range variables {
		v, ok := e.Lookup(CanonicalVariable(path))
		if s := formatValue(v); ok && v != nil && s != "" {
			out[i] = s
			continue
		}
		out[i] = "[" + path + ": not in this event]"
	}
	return out
}

func sampleCurrency(country string) string {
	switch strings.ToUpper(country) {
	case "US":
		return "USD"
	case "GB":
		return "GBP"
	case "AE":
		return "AED"
	case "SA":
		return "SAR"
	case "ID":
		return "IDR"
	case "BR":
		return "BRL"
	case "", "IN":
		return "INR"
	}
	return "USD"
}
