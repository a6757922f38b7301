package shopify

import (
	"fmt"
	"net/url"
	"strings"

	goshopify "github.com/bold-commerce/go-shopify/v4"
	"github.com/storebridge/storebridge/app"
)

// referralNoteNames are the cart attributes (note_attributes on the
// order) a storefront snippet may save the visitor's ?ref= under.
var referralNoteNames = []string{"ref", "referral", "referral_code"}

// addReferralFields gives the loyalty engine what an order says of a
// referral: order.ref (a note attribute above, else the ref query
// parameter of the landing_site the visitor arrived on),
// order.discount_codes (discount_codes[].code, comma-separated) and
// order.shipping_address (address1, address2, city, zip, country), for
// its fraud checks.
func addReferralFields(p map[string]any, o *order) {
	var codes []string
	for _, d := range o.DiscountCodes {
		if c := strings.TrimSpace(d.Code); c != "" {
			codes = append(codes, c)
		}
	}
	if len(codes) > 0 {
		p["discount_codes"] = strings.Join(codes, ",")
	}
	if ref := orderRef(o); ref != "" {
		p["ref"] = ref
	}
	if a := o.ShippingAddress; a != nil && strings.TrimSpace(a.Address1) != "" {
		p["shipping_address"] = map[string]any{
			"address1": a.Address1, "address2": a.Address2, "city": a.City, "zip": a.Zip, "country": a.CountryCode,
		}
	}
}

func orderRef(o *order) string {
	for _, n := range o.NoteAttributes {
		name := strings.ToLower(strings.TrimSpace(n.Name))
		for _, want := range referralNoteNames {
			if name == want && n.Value != nil {
				if v := strings.TrimSpace(fmt.Sprint(n.Value)); v != "" && len(v) <= 64 {
					return v
				}
			}
		}
	}
	if o.LandingSite == "" {
		return ""
	}
	u, err := url.Parse(o.LandingSite)
	if err != nil {
		return ""
	}
	if v := strings.TrimSpace(u.Query().Get("ref")); len(v) <= 64 {
		return v
	}
	return ""
}

// normalizeCustomerCreated is the customers/create topic: a new account,
// the loyalty engine's signup.
func normalizeCustomerCreated(c *goshopify.Customer, opts Options) Result {
	cust := app.Customer{ID: idOrEmpty(c.Id), FirstName: c.FirstName, LastName: c.LastName, Email: c.Email}
	def := ""
	if c.DefaultAddress != nil {
		def = c.DefaultAddress.CountryCode
	}
	cust.Phone, cust.PhoneProblem = app.PickPhone([]app.PhoneSource{
		{Field: "phone", Raw: c.Phone, Countries: []string{def}},
		{Field: "default_address.phone", Raw: custAddrPhone(c.DefaultAddress), Countries: []string{def}},
	}, opts.Country)
	cust.Consent, cust.ConsentSource = customerConsent(c)
	// Properties as every event has them: a template may greet the new
	// customer by the shop's name.
	props := map[string]any{"customer": map[string]any{"id": cust.ID}}
	addShop(props, opts)
	ev := app.Event{Type: app.EventCustomerCreated, Subject: "customer:" + cust.ID, Customer: cust, Properties: props}
	if c.CreatedAt != nil {
		ev.OccurredAt = *c.CreatedAt
	}
	return Result{Subject: ev.Subject, CustomerID: cust.ID, Events: []app.Event{ev}}
}
