package shopify

import (
	"testing"

	"github.com/storebridge/storebridge/app"
)

// An order carries what the loyalty engine reads of a referral: a note
// attribute or the landing page's ?ref=, the discount codes, and the
// shipping address.
func TestOrderReferralFields(t *testing.T) {
	cases := []struct {
		name, body string
		want       map[string]any
	}{
		{"note attribute first", `{"id":1,"financial_status":"paid","total_price":"10.00",
			"discount_codes":[{"code":"REF-AB12","amount":"1.00","type":"percentage"},{"code":"SALE"}],
			"note_attributes":[{"name":"gift","value":"yes"},{"name":"Referral_Code","value":"REF-NOTE"}],
			"landing_site":"/products/kurta?ref=REF-LAND",
			"shipping_address":{"address1":"4 Lake View","city":"Mumbai","zip":"400001","country_code":"IN"}}`,
			map[string]any{"order.discount_codes": "REF-AB12,SALE", "order.ref": "REF-NOTE",
				"order.shipping_address.address1": "4 Lake View", "order.shipping_address.country": "IN"}},
		{"landing site", `{"id":2,"financial_status":"paid","total_price":"10.00","landing_site":"/?utm_source=wa&ref=REF-LAND"}`,
			map[string]any{"order.ref": "REF-LAND"}},
	}
	for _, c := range cases {
		res, err := Normalize("orders/paid", []byte(c.body), Options{Country: "IN"})
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("%s: Normalize = %+v, %v", c.name, res, err)
		}
		for path, want := range c.want {
			if got, _ := res.Events[0].Lookup(path); got != want {
				t.Errorf("%s: %s = %v; want %v", c.name, path, got, want)
			}
		}
	}
	res, err := Normalize("orders/paid", []byte(`{"id":3,"financial_status":"paid","total_price":"1.00"}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"order.discount_codes", "order.ref", "order.shipping_address"} {
		if v, ok := res.Events[0].Lookup(path); ok {
			t.Errorf("%s = %v on a plain order; want absent", path, v)
		}
	}
}

// customers/create is the signup event of the new customer.
func TestNormalizeCustomerCreated(t *testing.T) {
	body := `{"id":7712398123,"email":"riya@example.com","first_name":"Riya","phone":"+919876543210","created_at":"2026-03-01T10:00:00+05:30"}`
	res, err := Normalize("customers/create", []byte(body), Options{Country: "IN"})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("Normalize(customers/create) = %+v, %v", res, err)
	}
	ev := res.Events[0]
	if ev.Type != app.EventCustomerCreated || ev.Subject != "customer:7712398123" || ev.Customer.Phone != "+919876543210" || ev.OccurredAt.IsZero() {
		t.Errorf("event = %+v; want customer.created of the customer with their phone", ev)
	}
	if _, err := Normalize("customers/create", []byte(`{"email":"x@example.com"}`), Options{}); err == nil {
		t.Error("Normalize(customers/create without id) = nil; want an error")
	}
}
