package shopify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func inOpts() Options { return Options{Country: "IN", ShopName: "Asha Naturals"} }

// prop reads a property path of an event, failing when it is missing.
func prop(t *testing.T, e app.Event, path string) any {
	t.Helper()
	v, ok := e.Lookup(path)
	if !ok {
		t.Fatalf("event %s has no property %s; properties %v", e.Type, path, e.Properties)
	}
	return v
}

func eventTypes(r Result) []string {
	var types []string
	for _, e := range r.Events {
		types = append(types, e.Type)
	}
	return types
}

func TestNormalizeEvents(t *testing.T) {
	tests := []struct {
		name      string
		topic     string
		file      string
		opts      Options
		wantTypes []string
		subject   string
		phone     string // E.164, or "" when a PhoneProblem is expected
		props     map[string]any
	}{
		{
			name: "cod order placed", topic: "orders/create", file: "order_cod_in.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderPlaced, app.EventCODConfirmationAsked},
			subject:   "order:5801234567890", phone: "+919876543210",
			props: map[string]any{
				"order.number":         "#1042",
				"order.id":             "5801234567890",
				"order.total":          "₹1,49,999.00",
				"order.total_amount":   "149999.00",
				"order.currency":       "INR",
				"order.items":          "2 × Kurta (Blue / M), 1 × Dupatta",
				"order.item_count":     3,
				"order.status":         "pending",
				"order.payment_method": "Cash on Delivery (COD)",
				"order.cod":            true,
				"order.outstanding":    "₹1,49,999.00",
				"order.status_url":     "https://asha-naturals.myshopify.com/6612345678/orders/1042/authenticate?key=k5801234567890",
				"shop.name":            "Asha Naturals",
			},
		},
		{
			name: "cod gateway named by the merchant", topic: "orders/create", file: "order_cod_in.json",
			opts:      Options{Country: "IN", CODGateways: []string{"Pay on delivery", "cash on delivery (cod)"}},
			wantTypes: []string{app.EventOrderPlaced, app.EventCODConfirmationAsked},
			subject:   "order:5801234567890", phone: "+919876543210",
		},
		{
			name: "cod list without the default", topic: "orders/create", file: "order_cod_in.json",
			opts:      Options{Country: "IN", CODGateways: []string{"Pay on delivery"}},
			wantTypes: []string{app.EventOrderPlaced},
			subject:   "order:5801234567890", phone: "+919876543210",
			props: map[string]any{"order.cod": false},
		},
		{
			name: "paid order in France, phone from the order", topic: "orders/paid", file: "order_paid_fr.json", opts: Options{Country: "IN"},
			wantTypes: []string{app.EventOrderPaid},
			subject:   "order:5801234567891", phone: "+33612345678",
			props: map[string]any{
				"order.total":  "€89.90",
				"order.items":  "1 × Foulard en soie (Rouge)",
				"order.status": "paid",
			},
		},
		{
			name: "prepaid order creates no cod request", topic: "orders/create", file: "order_paid_fr.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderPlaced},
			subject:   "order:5801234567891", phone: "+33612345678",
		},
		{
			name: "fictional shipping phone falls back to customer phone, presentment currency", topic: "orders/paid", file: "order_us_badphone.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderPaid},
			subject:   "order:5801234567892", phone: "+12015550123",
			props: map[string]any{
				"order.total":        "$99.95",
				"order.total_amount": "99.95",
				"order.currency":     "USD",
			},
		},
		{
			name: "large order, fulfilled: latest live fulfillment's tracking", topic: "orders/fulfilled", file: "order_large.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderShipped},
			subject:   "order:5801234567893", phone: "+919876543210",
			props: map[string]any{
				"order.items":            "1 × Herbal soap 1 (Neem), 2 × Herbal soap 2, 3 × Herbal soap 3 (Neem) … and 57 more",
				"order.item_count":       120,
				"order.total":            "₹14,875.00",
				"order.tracking_number":  "BD987654321IN",
				"order.tracking_url":     "https://www.bluedart.com/tracking?awb=BD987654321IN",
				"order.tracking_company": "Blue Dart",
				"order.status":           "fulfilled",
			},
		},
		{
			name: "partially fulfilled", topic: "orders/partially_fulfilled", file: "order_large.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderShipped},
			subject:   "order:5801234567893", phone: "+919876543210",
		},
		{
			name: "updated, paid", topic: "orders/updated", file: "order_paid_fr.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderPaid},
			subject:   "order:5801234567891", phone: "+33612345678",
		},
		{
			name: "updated, pending: nothing to say", topic: "orders/updated", file: "order_cod_in.json", opts: inOpts(),
			subject: "order:5801234567890",
		},
		{
			name: "updated, cancelled and refunded", topic: "orders/updated", file: "order_cancelled.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderCancelled, app.EventOrderRefunded},
			subject:   "order:5801234567894", phone: "+919876543210",
			props: map[string]any{"order.status": "cancelled", "order.cancel_reason": "customer"},
		},
		{
			name: "cancelled", topic: "orders/cancelled", file: "order_cancelled.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderCancelled},
			subject:   "order:5801234567894", phone: "+919876543210",
		},
		{
			name: "fulfillment created", topic: "fulfillments/create", file: "fulfillment_out_for_delivery.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderShipped},
			subject:   "order:5801234567890", phone: "+919876543210",
			props: map[string]any{
				"order.number":          "#1042",
				"order.tracking_number": "DLV123456789",
				"order.tracking_url":    "https://www.delhivery.com/track/package/DLV123456789",
				"order.items":           "2 × Kurta (Blue / M), 1 × Dupatta",
			},
		},
		{
			name: "fulfillment out for delivery", topic: "fulfillments/update", file: "fulfillment_out_for_delivery.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderOutForDelivery},
			subject:   "order:5801234567890", phone: "+919876543210",
			props: map[string]any{"order.status": "out for delivery", "order.tracking_company": "Delhivery"},
		},
		{
			name: "fulfillment with an unmapped shipment status", topic: "fulfillments/update", file: "fulfillment_attempted.json", opts: inOpts(),
			wantTypes: []string{"order.status.attempted_delivery"},
			subject:   "order:5801234567890", phone: "+919876543210",
		},
		{
			name: "refund", topic: "refunds/create", file: "refund.json", opts: inOpts(),
			wantTypes: []string{app.EventOrderRefunded},
			subject:   "order:5801234567894",
			props: map[string]any{
				"order.id":          "5801234567894",
				"refund.amount":     "₹2,499.00",
				"refund.amount_raw": "2499.00",
				"refund.items":      "1 × Kurta (Green / L)",
			},
		},
		{
			name: "open checkout", topic: "checkouts/create", file: "checkout_open.json", opts: inOpts(),
			wantTypes: []string{app.EventCartAbandoned},
			subject:   "cart:c1a2b3c4d5e6", phone: "+919876543210",
			props: map[string]any{
				"cart.recovery_url": "https://asha-naturals.myshopify.com/6612345678/checkouts/c1a2b3c4d5e6/recover?key=abc123",
				"cart.total":        "₹2,998.00",
				"cart.items":        "2 × Kurta (Blue / M)",
				"shop.name":         "Asha Naturals",
			},
		},
		{
			name: "completed checkout", topic: "checkouts/update", file: "checkout_completed.json", opts: inOpts(),
			wantTypes: []string{app.EventCartRecovered},
			subject:   "cart:c1a2b3c4d5e6", phone: "+919876543210",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Normalize(tt.topic, readTestdata(t, tt.file), tt.opts)
			if err != nil {
				t.Fatalf("Normalize(%s, %s) error: %v", tt.topic, tt.file, err)
			}
			if got := strings.Join(eventTypes(res), ","); got != strings.Join(tt.wantTypes, ",") {
				t.Fatalf("Normalize(%s, %s) types = %q; want %q", tt.topic, tt.file, got, tt.wantTypes)
			}
			if res.Subject != tt.subject {
				t.Errorf("Subject = %q; want %q", res.Subject, tt.subject)
			}
			if res.UpdatedAt.IsZero() {
				t.Error("UpdatedAt is zero")
			}
			for _, e := range res.Events {
				if e.Subject != tt.subject || e.ID != "" || e.Merchant != "" {
					t.Errorf("%s: Subject %q, ID %q, Merchant %q; want %q and the caller's ID and Merchant empty", e.Type, e.Subject, e.ID, e.Merchant, tt.subject)
				}
				if e.OccurredAt.IsZero() {
					t.Errorf("%s: OccurredAt is zero", e.Type)
				}
				if e.Customer.Phone != tt.phone {
					t.Errorf("%s: Phone = %q (problem %q); want %q", e.Type, e.Customer.Phone, e.Customer.PhoneProblem, tt.phone)
				}
				if (e.Customer.Phone == "") == (e.Customer.PhoneProblem == "") {
					t.Errorf("%s: Phone %q and PhoneProblem %q: want exactly one", e.Type, e.Customer.Phone, e.Customer.PhoneProblem)
				}
				for path, want := range tt.props {
					if got := prop(t, e, path); got != want {
						t.Errorf("%s: %s = %#v; want %#v", e.Type, path, got, want)
					}
				}
			}
		})
	}
}

func TestNormalizeCustomer(t *testing.T) {
	res, err := Normalize("orders/create", readTestdata(t, "order_cod_in.json"), inOpts())
	if err != nil {
		t.Fatal(err)
	}
	c := res.Events[0].Customer
	if c.FirstName != "ज्योति" || c.Name() != "ज्योति शर्मा" || c.Email != "jyoti.sharma@example.in" || c.ID != "72000000001" {
		t.Errorf("customer = %+v; want ज्योति शर्मा, jyoti.sharma@example.in, id 72000000001", c)
	}
	if res.CustomerID != "72000000001" || res.OrderID != "5801234567890" {
		t.Errorf("CustomerID, OrderID = %q, %q", res.CustomerID, res.OrderID)
	}
	want := time.Date(2026, 3, 14, 4, 45, 0, 0, time.UTC)
	if !res.Events[0].OccurredAt.Equal(want) {
		t.Errorf("OccurredAt = %v; want created_at %v", res.Events[0].OccurredAt, want)
	}

	// The events of one payload must not share their property maps.
	res.Events[0].Properties["order"].(map[string]any)["number"] = "changed"
	if got := prop(t, res.Events[1], "order.number"); got != "#1042" {
		t.Errorf("second event's order.number = %v after changing the first", got)
	}

	// A guest order (no customer object) still gets names from the address.
	res, err = Normalize("orders/paid", readTestdata(t, "order_large.json"), inOpts())
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Events[0].Customer; c.Name() != "Ravi Kumar" || c.ID != "" {
		t.Errorf("guest customer = %+v; want Ravi Kumar without id", c)
	}
}

func TestNormalizePhoneProblem(t *testing.T) {
	body := []byte(`{"id":77,"name":"#77","currency":"USD","total_price":"5.00","financial_status":"paid",
		"shipping_address":{"first_name":"Sam","phone":"(555) 555-5555","country_code":"US"},
		"customer":{"id":9,"phone":"555-555-SHIP"}}`)
	res, err := Normalize("orders/paid", body, Options{Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Events[0].Customer
	if c.Phone != "" || !strings.Contains(c.PhoneProblem, "shipping_address.phone") || !strings.Contains(c.PhoneProblem, "customer.phone") {
		t.Fatalf("customer = %+v; want no phone and a problem naming both fields", c)
	}
	if strings.Contains(c.PhoneProblem, "555-5555") || strings.Contains(c.PhoneProblem, "5555555") {
		t.Errorf("PhoneProblem %q repeats the number", c.PhoneProblem)
	}

	res, err = Normalize("orders/paid", []byte(`{"id":78}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Events[0].Customer.PhoneProblem; got != "no phone number in the payload" {
		t.Errorf("PhoneProblem = %q", got)
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name, topic string
		body        string
		want        error
	}{
		{"unknown topic", "products/create", `{"id":1}`, ErrUnknownTopic},
		{"compliance topic", "customers/redact", `{"shop_id":1}`, ErrUnknownTopic},
		{"empty topic", "", `{"id":1}`, ErrUnknownTopic},
		{"not json", "orders/create", `<html>`, ErrUnusable},
		{"empty body", "orders/create", ``, ErrUnusable},
		{"null", "orders/create", `null`, ErrUnusable},
		{"array", "orders/paid", `[{"id":1}]`, ErrUnusable},
		{"order without id", "orders/create", `{"name":"#1001"}`, ErrUnusable},
		{"id of the wrong type", "orders/create", `{"id":"abc"}`, ErrUnusable},
		{"fulfillment without order", "fulfillments/create", `{"id":5}`, ErrUnusable},
		{"refund without order", "refunds/create", `{"id":5}`, ErrUnusable},
		{"checkout without id", "checkouts/create", `{"email":"a@b.c"}`, ErrUnusable},
		{"bad time", "orders/create", `{"id":1,"created_at":"yesterday"}`, ErrUnusable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Normalize(tt.topic, []byte(tt.body), inOpts())
			if !errors.Is(err, tt.want) {
				t.Fatalf("Normalize(%q, %q) error = %v; want %v", tt.topic, tt.body, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "shopify: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if len(res.Events) != 0 {
				t.Errorf("events alongside an error: %v", res.Events)
			}
		})
	}
}

func TestFulfillmentOrderNumber(t *testing.T) {
	for in, want := range map[string]string{"#1042.1": "#1042", "#1042.12": "#1042", "#1042": "#1042", "#10.42.x": "#10.42.x", "": "", ".1": ".1", "#9.": "#9."} {
		if got := fulfillmentOrderNumber(in); got != want {
			t.Errorf("fulfillmentOrderNumber(%q) = %q; want %q", in, got, want)
		}
	}
}

// eventTopics are the topics Normalize turns into events.
func eventTopics() []string {
	return []string{
		"orders/create", "orders/paid", "orders/cancelled", "orders/fulfilled", "orders/partially_fulfilled", "orders/updated",
		"fulfillments/create", "fulfillments/update", "refunds/create", "checkouts/create", "checkouts/update",
	}
}
