package woocommerce

import (
	"testing"

	"github.com/storebridge/storebridge/app"
)

func TestOrderEventCarriesShippingAndTax(t *testing.T) {
	o := decodeTestOrder(t, "order_cod_onhold.json")
	o.ShippingTotal, o.TotalTax = "99.00", "1620.50"
	e := OrderEvent(o, app.EventOrderPaid, inOpts())
	if got := prop(t, e, "order.shipping_amount"); got != "99.00" {
		t.Errorf("order.shipping_amount = %#v", got)
	}
	if got := prop(t, e, "order.tax_amount"); got != "1620.50" {
		t.Errorf("order.tax_amount = %#v", got)
	}
	o.ShippingTotal, o.TotalTax = "", ""
	if v, ok := OrderEvent(o, app.EventOrderPaid, inOpts()).Lookup("order.tax_amount"); ok {
		t.Errorf("order.tax_amount = %#v for an order that names none", v)
	}
}
