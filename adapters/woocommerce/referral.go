package woocommerce

import (
	"encoding/json"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// referralMetaKeys are the order meta keys a storefront snippet (or a
// referral plugin) may save the visitor's ?ref= under.
var referralMetaKeys = []string{"ref", "_ref", "referral_code", "_referral_code"}

// addReferralFields gives the loyalty engine what an order says of a
// referral: order.ref (the order meta above), order.discount_codes (the
// coupon_lines codes, comma-separated) and order.shipping_address
// (address1, address2, city, zip, country), for its fraud checks.
func addReferralFields(op map[string]any, o Order) {
	var codes []string
	for _, c := range o.CouponLines {
		if code := strings.TrimSpace(c.Code); code != "" {
			codes = append(codes, code)
		}
	}
	if len(codes) > 0 {
		op["discount_codes"] = strings.Join(codes, ",")
	}
	for _, m := range o.MetaData {
		key := strings.ToLower(strings.TrimSpace(m.Key))
		var v string
		if !containsKey(referralMetaKeys, key) || json.Unmarshal(m.Value, &v) != nil || strings.TrimSpace(v) == "" {
			continue
		}
		op["ref"] = strings.TrimSpace(v)
		break
	}
	if a := o.Shipping; strings.TrimSpace(a.Address1) != "" {
		op["shipping_address"] = map[string]any{
			"address1": a.Address1, "address2": a.Address2, "city": a.City, "zip": a.Postcode, "country": a.Country,
		}
	}
}

func containsKey(keys []string, k string) bool {
	for _, v := range keys {
		if v == k {
			return true
		}
	}
	return false
}

// CustomerCreatedEvent is the customer.created event of a new account:
// the loyalty engine's signup.
func CustomerCreatedEvent(c Customer, opts Options) app.Event {
	who := c.Contact(opts)
	props := map[string]any{"customer": map[string]any{"id": who.ID}}
	if opts.ShopName != "" {
		props["shop"] = map[string]any{"name": opts.ShopName}
	}
	return app.Event{
		Type: app.EventCustomerCreated, Subject: "customer:" + who.ID, Customer: who,
		Properties: props, OccurredAt: parseGMT(c.DateCreatedGMT),
	}
}
