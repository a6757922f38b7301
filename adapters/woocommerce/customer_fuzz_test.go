package woocommerce

import (
	"errors"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// FuzzDecodeCustomer: a customer webhook body either is ErrUnusable or
// gives a customer with a positive id whose contact carries a valid phone
// or the reason there is none.
func FuzzDecodeCustomer(f *testing.F) {
	f.Add(readTestdata(f, "customer.json"))
	f.Add([]byte(`{"id":7,"first_name":" ","billing":{"first_name":"Asha","phone":"98765 43210","country":"in"},"shipping":{"phone":"+1 201 555 0123"}}`))
	f.Add([]byte(`{"id":0,"email":"a@b.c"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeCustomer(body)
		if err != nil {
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("error %v does not wrap ErrUnusable", err)
			}
			return
		}
		contact := c.Contact(inOpts())
		if c.ID <= 0 || contact.ID == "" {
			t.Fatalf("customer id %d, contact %+v", c.ID, contact)
		}
		// The contact is an event's customer: hold it to the same checks.
		adapterstest.CheckEvent(t, app.Event{Type: "loyalty.customer_seen", Subject: "customer:" + contact.ID, Customer: contact, Properties: map[string]any{}})
	})
}

// FuzzDecodeCoupon: a coupon webhook body either is ErrUnusable or gives a
// coupon with a positive id and a code, whose value renders in any
// currency.
func FuzzDecodeCoupon(f *testing.F) {
	f.Add(readTestdata(f, "coupon.json"))
	f.Add([]byte(`{"id":1,"code":"TEN","amount":"10.500","discount_type":"percent"}`))
	f.Add([]byte(`{"id":1,"code":"x","amount":"."}`))
	f.Add([]byte(`{"id":1,"code":" ","amount":"10"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeCoupon(body)
		if err != nil {
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("error %v does not wrap ErrUnusable", err)
			}
			return
		}
		if c.ID <= 0 || strings.TrimSpace(c.Code) == "" {
			t.Fatalf("coupon id %d, code %q", c.ID, c.Code)
		}
		for _, currency := range []string{"INR", "JPY", "KWD", ""} {
			if v := c.Value(currency); c.DiscountType == "percent" && !strings.HasSuffix(v, "%") {
				t.Fatalf("percent coupon value %q", v)
			}
		}
	})
}
