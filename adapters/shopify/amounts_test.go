package shopify

import (
	"encoding/json"
	"testing"
)

// An order's shipping and tax reach the event in the total's own currency,
// so a loyalty program can earn on the goods alone.
func TestOrderShippingAndTaxInTheTotalsCurrency(t *testing.T) {
	var body map[string]any
	if err := json.Unmarshal(readTestdata(t, "order_us_badphone.json"), &body); err != nil {
		t.Fatal(err)
	}
	set := func(shop, presented string) map[string]any {
		return map[string]any{
			"shop_money":        map[string]any{"amount": shop, "currency_code": "INR"},
			"presentment_money": map[string]any{"amount": presented, "currency_code": "USD"},
		}
	}
	body["total_tax"] = "830.00"
	body["total_tax_set"] = set("830.00", "9.99")
	body["total_shipping_price_set"] = set("415.00", "5.00")
	raw, _ := json.Marshal(body)

	res, err := Normalize("orders/paid", raw, inOpts())
	if err != nil || len(res.Events) == 0 {
		t.Fatalf("Normalize: %v, %d events", err, len(res.Events))
	}
	e := res.Events[0]
	for path, want := range map[string]any{
		"order.total_amount": "99.95", "order.currency": "USD",
		"order.tax_amount": "9.99", "order.shipping_amount": "5.00",
	} {
		if got := prop(t, e, path); got != want {
			t.Errorf("%s = %#v; want %#v", path, got, want)
		}
	}

	// Without the sets, the shop-currency total_tax is used only when the
	// customer paid in the shop's currency.
	delete(body, "total_tax_set")
	delete(body, "total_shipping_price_set")
	raw, _ = json.Marshal(body)
	res, _ = Normalize("orders/paid", raw, inOpts())
	if v, ok := res.Events[0].Lookup("order.tax_amount"); ok {
		t.Errorf("order.tax_amount = %v from the shop currency on a USD order", v)
	}
	cod, _ := Normalize("orders/create", readTestdata(t, "order_cod_in.json"), inOpts())
	if got := prop(t, cod.Events[0], "order.tax_amount"); got != "0.00" {
		t.Errorf("INR order tax = %#v; want \"0.00\"", got)
	}
}
