package woocommerce

import (
	"encoding/json"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// An order carries what the loyalty engine reads of a referral: the
// saved ?ref=, its coupon codes and the shipping address.
func TestOrderEventReferralFields(t *testing.T) {
	o := Order{ID: 77, Status: "processing", Total: "500.00", Currency: "INR",
		CouponLines: []CouponLine{{Code: "REF-ABCD"}, {Code: " welcome10 "}},
		MetaData:    []Meta{{Key: "_wc_other", Value: json.RawMessage(`7`)}, {Key: "_ref", Value: json.RawMessage(`"REF-XYZ"`)}},
		Shipping:    Address{Address1: "4 Lake View", City: "Mumbai", Postcode: "400001", Country: "IN"},
	}
	ev := OrderEvent(o, app.EventOrderPaid, Options{Country: "IN"})
	for path, want := range map[string]any{
		"order.discount_codes": "REF-ABCD,welcome10", "order.ref": "REF-XYZ",
		"order.shipping_address.address1": "4 Lake View", "order.shipping_address.zip": "400001",
	} {
		if got, _ := ev.Lookup(path); got != want {
			t.Errorf("%s = %v; want %v", path, got, want)
		}
	}
	bare := OrderEvent(Order{ID: 78, Status: "processing"}, app.EventOrderPaid, Options{})
	for _, path := range []string{"order.discount_codes", "order.ref", "order.shipping_address"} {
		if v, ok := bare.Lookup(path); ok {
			t.Errorf("%s = %v on an order without it; want absent", path, v)
		}
	}
}

// customer.created is the signup event of the new account.
func TestDecodeCustomerCreated(t *testing.T) {
	body := []byte(`{"id":42,"email":"riya@example.com","first_name":"Riya","billing":{"phone":"98765 43210","country":"IN"},"date_created_gmt":"2026-03-01T10:00:00"}`)
	got, err := Decode(app.Merchant{ID: "m1", Country: "IN"}, app.WebhookEnvelope{Topic: "customer.created", Body: body})
	if err != nil || len(got.Events) != 1 {
		t.Fatalf("Decode(customer.created) = %+v, %v; want one event", got, err)
	}
	ev := got.Events[0]
	if ev.Type != app.EventCustomerCreated || ev.Subject != "customer:42" || ev.Customer.Phone != "+919876543210" || ev.OccurredAt.IsZero() {
		t.Errorf("event = %+v; want customer.created of customer:42 with the phone and the creation time", ev)
	}
	if _, err := Decode(app.Merchant{ID: "m1"}, app.WebhookEnvelope{Topic: "customer.created", Body: []byte(`{"id":0}`)}); err == nil {
		t.Error("Decode(customer.created without id) = nil; want a permanent error")
	}
}
