package woocommerce

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

func decodeTestOrder(t testing.TB, name string) Order {
	t.Helper()
	o, err := DecodeOrder(readTestdata(t, name))
	if err != nil {
		t.Fatalf("DecodeOrder(%s): %v", name, err)
	}
	return o
}

func inOpts() Options { return Options{Country: "IN", ShopName: "Asha Naturals"} }

func prop(t *testing.T, e app.Event, path string) any {
	t.Helper()
	v, ok := e.Lookup(path)
	if !ok {
		t.Fatalf("event %s has no property %s; properties %v", e.Type, path, e.Properties)
	}
	return v
}

func TestDefaultStatusMapIsFresh(t *testing.T) {
	m := DefaultStatusMap()
	m["completed"] = "changed"
	if DefaultStatusMap()["completed"] != app.EventOrderShipped {
		t.Error("DefaultStatusMap returned a shared map")
	}
}

func TestEventForStatus(t *testing.T) {
	merchant := map[string]string{
		"completed":      app.EventOrderDelivered,
		"shipped-custom": app.EventOrderShipped,
		"wc-dispatched":  app.EventOrderShipped,
		"processing":     "",
	}
	tests := []struct {
		status     string
		statusMap  map[string]string
		want       string
		wantMapped bool
	}{
		{"pending", nil, "", true},
		{"on-hold", nil, app.EventOrderPlaced, true},
		{"processing", nil, app.EventOrderPlaced, true},
		{"completed", nil, app.EventOrderShipped, true},
		{"cancelled", nil, app.EventOrderCancelled, true},
		{"refunded", nil, app.EventOrderRefunded, true},
		{"wc-refunded", nil, app.EventOrderRefunded, true},
		{"Completed", nil, app.EventOrderShipped, true},
		{"failed", nil, "order.status.failed", false},
		{"ready-for-pickup", nil, "order.status.ready-for-pickup", false},
		{"checkout-draft", nil, "", true},
		{"checkout-draft", map[string]string{"checkout-draft": app.EventOrderPlaced}, "", true},
		{"trash", nil, "", true},
		{"", nil, "", true},
		{"completed", merchant, app.EventOrderDelivered, true},
		{"processing", merchant, "", true},
		{"shipped-custom", merchant, app.EventOrderShipped, true},
		{"dispatched", merchant, app.EventOrderShipped, true},
		{"on-hold", merchant, app.EventOrderPlaced, true},
		{"awaiting-pickup", merchant, "order.status.awaiting-pickup", false},
		{"Très Spécial!", nil, "order.status.trs_spcial", false},
		{"ÆØÅ", nil, "", false},
	}
	for _, tt := range tests {
		got, mapped := EventForStatus(tt.status, tt.statusMap)
		if got != tt.want || mapped != tt.wantMapped {
			t.Errorf("EventForStatus(%q) = %q, %v; want %q, %v", tt.status, got, mapped, tt.want, tt.wantMapped)
		}
	}
}

func TestOrderEvents(t *testing.T) {
	tests := []struct {
		file       string
		statusMap  map[string]string
		want       []string
		wantMapped bool
		phone      string
	}{
		{"order_cod_onhold.json", nil, []string{app.EventOrderPlaced, app.EventCODConfirmationAsked}, true, "+919876543210"},
		{"order_processing_card.json", nil, []string{app.EventOrderPlaced, app.EventOrderPaid}, true, "+33612345678"},
		{"order_processing_card.json", map[string]string{"processing": app.EventOrderPaid}, []string{app.EventOrderPaid}, true, "+33612345678"},
		{"order_completed_us.json", nil, []string{app.EventOrderShipped}, true, "+12015550123"},
		{"order_large_custom_status.json", nil, []string{"order.status.dispatched"}, false, "+919876543210"},
		{"order_large_custom_status.json", map[string]string{"dispatched": app.EventOrderShipped}, []string{app.EventOrderShipped}, true, "+919876543210"},
		{"order_checkout_draft.json", nil, nil, true, ""},
	}
	for _, tt := range tests {
		o := decodeTestOrder(t, tt.file)
		events, mapped := OrderEvents(o, tt.statusMap, inOpts())
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
			if e.Customer.Phone != tt.phone {
				t.Errorf("%s: %s phone = %q (problem %q); want %q", tt.file, e.Type, e.Customer.Phone, e.Customer.PhoneProblem, tt.phone)
			}
		}
		if strings.Join(types, ",") != strings.Join(tt.want, ",") || mapped != tt.wantMapped {
			t.Errorf("OrderEvents(%s, %v) = %v, %v; want %v, %v", tt.file, tt.statusMap, types, mapped, tt.want, tt.wantMapped)
		}
	}

	// A COD order the customer confirmed (on-hold → processing) asks again;
	// the exactly-once layer drops the repeat. It is never "paid".
	o := decodeTestOrder(t, "order_cod_onhold.json")
	o.Status = "processing"
	events, _ := OrderEvents(o, nil, inOpts())
	if len(events) != 2 || events[0].Type != app.EventOrderPlaced || events[1].Type != app.EventCODConfirmationAsked {
		t.Errorf("COD processing events = %v", events)
	}
	o.Status = "cancelled"
	if events, _ := OrderEvents(o, nil, inOpts()); len(events) != 1 || events[0].Type != app.EventOrderCancelled {
		t.Errorf("COD cancelled events = %v; want order.cancelled only", events)
	}
}

func TestOrderEvent(t *testing.T) {
	o := decodeTestOrder(t, "order_cod_onhold.json")
	e := OrderEvent(o, app.EventOrderPlaced, inOpts())
	if e.Type != app.EventOrderPlaced || e.Subject != "order:1042" || e.ID != "" || e.Merchant != "" {
		t.Errorf("event = %s %s %q %q", e.Type, e.Subject, e.ID, e.Merchant)
	}
	if want := time.Date(2026, 3, 14, 4, 45, 9, 0, time.UTC); !e.OccurredAt.Equal(want) {
		t.Errorf("OccurredAt = %v; want %v", e.OccurredAt, want)
	}
	c := e.Customer
	if c.Name() != "ज्योति शर्मा" || c.Email != "jyoti.sharma@example.in" || c.ID != "17" || c.Phone != "+919876543210" {
		t.Errorf("customer = %+v", c)
	}
	for path, want := range map[string]any{
		"order.id":              "1042",
		"order.number":          "#1042",
		"order.total":           "₹1,49,999.00",
		"order.total_amount":    "149999.00",
		"order.currency":        "INR",
		"order.items":           "2 × Kurta – Blue, M, 1 × Dupatta",
		"order.item_count":      3,
		"order.status":          "on hold",
		"order.platform_status": "on-hold",
		"order.payment_method":  "Cash on delivery",
		"order.cod":             true,
		"shop.name":             "Asha Naturals",
	} {
		if got := prop(t, e, path); got != want {
			t.Errorf("%s = %#v; want %#v", path, got, want)
		}
	}
	if _, ok := e.Lookup("order.tracking_number"); ok {
		t.Error("tracking_number set without tracking meta")
	}

	// Tracking from the Shipment Tracking plugin: the newest entry.
	e = OrderEvent(decodeTestOrder(t, "order_completed_us.json"), app.EventOrderShipped, Options{})
	for path, want := range map[string]any{
		"order.tracking_number":  "DLV123456789",
		"order.tracking_url":     "https://www.delhivery.com/track/package/DLV123456789",
		"order.tracking_company": "Delhivery",
		"order.total":            "$29.35",
		"order.items":            "2 × Woo Single #1, 1 × Ship Your Idea – Color: Black, Size: M",
	} {
		if got := prop(t, e, path); got != want {
			t.Errorf("%s = %#v; want %#v", path, got, want)
		}
	}
	if _, ok := e.Lookup("shop.name"); ok {
		t.Error("shop.name set without a shop name")
	}

	// 60 lines, plain tracking keys.
	e = OrderEvent(decodeTestOrder(t, "order_large_custom_status.json"), app.EventOrderShipped, inOpts())
	for path, want := range map[string]any{
		"order.items":            "1 × Herbal soap 1, 2 × Herbal soap 2, 3 × Herbal soap 3 … and 57 more",
		"order.item_count":       120,
		"order.total":            "₹14,875.00",
		"order.tracking_number":  "BD987654321IN",
		"order.tracking_company": "Blue Dart",
		"order.payment_method":   "UPI / Cards (Razorpay)",
	} {
		if got := prop(t, e, path); got != want {
			t.Errorf("%s = %#v; want %#v", path, got, want)
		}
	}
}

func TestOrderCustomerPhone(t *testing.T) {
	tests := []struct {
		name             string
		billing          Address
		shipping         Address
		opts             Options
		want             string
		problemHasFields []string
	}{
		{"indian national number", Address{Phone: "098765 43210", Country: "IN"}, Address{}, Options{}, "+919876543210", nil},
		{"billing first", Address{Phone: "+91 98765-43210"}, Address{Phone: "+1 201-555-0123"}, Options{}, "+919876543210", nil},
		{"invalid billing, valid shipping", Address{Phone: "(555) 555-5555", Country: "US"}, Address{Phone: "201-555-0123", Country: "US"}, Options{}, "+12015550123", nil},
		{"no country on the address, merchant's", Address{Phone: "9876543210"}, Address{}, Options{Country: "IN"}, "+919876543210", nil},
		{"shipping country for the billing phone", Address{Phone: "06 12 34 56 78"}, Address{Country: "FR"}, Options{Country: "IN"}, "+33612345678", nil},
		{"none", Address{}, Address{}, Options{Country: "IN"}, "", []string{"no phone number"}},
		{"all invalid", Address{Phone: "(555) 555-5555", Country: "US"}, Address{Phone: "12"}, Options{}, "", []string{"billing.phone", "shipping.phone"}},
	}
	for _, tt := range tests {
		c := orderCustomer(Order{ID: 1, Billing: tt.billing, Shipping: tt.shipping}, tt.opts)
		if c.Phone != tt.want {
			t.Errorf("%s: Phone = %q (problem %q); want %q", tt.name, c.Phone, c.PhoneProblem, tt.want)
		}
		for _, f := range tt.problemHasFields {
			if !strings.Contains(c.PhoneProblem, f) {
				t.Errorf("%s: PhoneProblem %q lacks %q", tt.name, c.PhoneProblem, f)
			}
		}
		if strings.Contains(c.PhoneProblem, "555-5555") {
			t.Errorf("%s: PhoneProblem %q repeats the number", tt.name, c.PhoneProblem)
		}
	}
}

func TestIsCOD(t *testing.T) {
	for pm, want := range map[string]bool{"cod": true, "COD": true, "bacs": false, "": false, "cash_on_delivery": false} {
		if got := IsCOD(Order{PaymentMethod: pm, PaymentMethodTitle: "Cash on delivery"}); got != want {
			t.Errorf("IsCOD(payment_method %q) = %v; want %v", pm, got, want)
		}
	}
}

func TestDecodeOrderErrors(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `{"id":0}`, `{"number":"727"}`, `{"id":"727"}`, `{"id":1,"total":29.35}`, `<html>`} {
		_, err := DecodeOrder([]byte(body))
		if !errors.Is(err, ErrUnusable) || !strings.HasPrefix(err.Error(), "woocommerce: ") {
			t.Errorf("DecodeOrder(%q) error = %v; want ErrUnusable", body, err)
		}
	}
	// order.deleted sends only the id.
	if o, err := DecodeOrder([]byte(`{"id":727}`)); err != nil || o.ID != 727 {
		t.Errorf("DecodeOrder(deleted) = %+v, %v", o, err)
	}
}

func TestOrderNumber(t *testing.T) {
	for _, tt := range []struct {
		o    Order
		want string
	}{
		{Order{ID: 727, Number: "727"}, "#727"},
		{Order{ID: 727}, "#727"},
		{Order{ID: 727, Number: "WC-2026-0042"}, "WC-2026-0042"},
	} {
		if got := orderNumber(tt.o); got != tt.want {
			t.Errorf("orderNumber(%+v) = %q; want %q", tt.o, got, tt.want)
		}
	}
}

// storebridge's checkout opt-in is an order meta entry: yes grants, no
// refuses, absent says nothing.
func TestOrderWhatsAppConsent(t *testing.T) {
	o := decodeTestOrder(t, "order_cod_onhold.json")
	if got := OrderEvent(o, app.EventOrderPlaced, inOpts()).Customer.Consent; got != "" {
		t.Errorf("consent without the meta = %q; want none", got)
	}
	for value, want := range map[string]string{`"yes"`: app.ConsentGranted, `"no"`: app.ConsentDenied, `"maybe"`: ""} {
		o.MetaData = []Meta{{Key: MetaWhatsAppConsent, Value: []byte(value)}}
		if c := OrderEvent(o, app.EventOrderPlaced, inOpts()).Customer; c.Consent != want {
			t.Errorf("consent with %s = %q; want %q", value, c.Consent, want)
		}
	}
}

// The plugin's _storebridge_cart meta becomes order.checkout_token, the
// cart flow's token of the captured cart, so the order ends its reminder.
func TestOrderCarriesTheCapturedCart(t *testing.T) {
	o := decodeTestOrder(t, "order_processing_cart.json")
	events, _ := OrderEvents(o, nil, inOpts())
	if len(events) == 0 {
		t.Fatal("no events")
	}
	for _, e := range events {
		if got, _ := e.Lookup("order.checkout_token"); got != "woo:c9f1e2a7b3" {
			t.Errorf("%s order.checkout_token = %v; want woo:c9f1e2a7b3", e.Type, got)
		}
		if e.Customer.Consent != app.ConsentGranted || e.Customer.Phone != "+919876543210" {
			t.Errorf("%s customer = %+v; want the opt-in and the phone in E.164", e.Type, e.Customer)
		}
	}
	plain := decodeTestOrder(t, "order_processing_card.json")
	if _, ok := OrderEvent(plain, app.EventOrderPlaced, inOpts()).Lookup("order.checkout_token"); ok {
		t.Error("an order without the meta has a checkout_token")
	}
	for _, value := range []string{`""`, `"  "`, `42`, `{"id":"x"}`} {
		plain.MetaData = []Meta{{Key: MetaCart, Value: []byte(value)}}
		if _, ok := OrderEvent(plain, app.EventOrderPlaced, inOpts()).Lookup("order.checkout_token"); ok {
			t.Errorf("meta %s gave a checkout_token", value)
		}
	}
}
