package woocommerce

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/app"
)

// Customer is the REST v3 customer of the customer.created and
// customer.updated webhooks.
type Customer struct {
	ID               int64   `json:"id"`
	Email            string  `json:"email"`
	FirstName        string  `json:"first_name"`
	LastName         string  `json:"last_name"`
	Role             string  `json:"role"`
	Username         string  `json:"username"`
	Billing          Address `json:"billing"`
	Shipping         Address `json:"shipping"`
	IsPayingCustomer bool    `json:"is_paying_customer"`
	DateCreatedGMT   string  `json:"date_created_gmt"`
	DateModifiedGMT  string  `json:"date_modified_gmt"`
	MetaData         []Meta  `json:"meta_data"`
}

// DecodeCustomer decodes a customer webhook body. Errors wrap ErrUnusable.
func DecodeCustomer(body []byte) (Customer, error) {
	var c Customer
	if err := json.Unmarshal(body, &c); err != nil {
		return Customer{}, fmt.Errorf("%w: customer: %v", ErrUnusable, err)
	}
	if c.ID <= 0 {
		return Customer{}, fmt.Errorf("%w: customer without id", ErrUnusable)
	}
	return c, nil
}

// Contact is the customer as an event's Customer, the phone read like an
// order's (billing first).
func (c Customer) Contact(opts Options) app.Customer {
	out := app.Customer{
		ID:        strconv.FormatInt(c.ID, 10),
		FirstName: firstNonEmpty(c.FirstName, c.Billing.FirstName),
		LastName:  firstNonEmpty(c.LastName, c.Billing.LastName),
		Email:     firstNonEmpty(c.Email, c.Billing.Email),
	}
	if strings.TrimSpace(c.FirstName+c.LastName) != "" {
		out.FirstName, out.LastName = strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName)
	}
	out.Phone, out.PhoneProblem = app.PickPhone([]app.PhoneSource{
		{Field: "billing.phone", Raw: c.Billing.Phone, Countries: []string{c.Billing.Country, c.Shipping.Country}},
		{Field: "shipping.phone", Raw: c.Shipping.Phone, Countries: []string{c.Shipping.Country, c.Billing.Country}},
	}, opts.Country)
	return out
}

// Coupon is the REST v3 coupon of the coupon.created webhook. Amounts are
// strings; Amount is a percentage when DiscountType is "percent".
type Coupon struct {
	ID                int64    `json:"id"`
	Code              string   `json:"code"`
	Amount            string   `json:"amount"`
	DiscountType      string   `json:"discount_type"` // percent, fixed_cart, fixed_product
	Description       string   `json:"description"`
	DateExpiresGMT    string   `json:"date_expires_gmt"`
	DateCreatedGMT    string   `json:"date_created_gmt"`
	DateModifiedGMT   string   `json:"date_modified_gmt"`
	UsageCount        int      `json:"usage_count"`
	UsageLimit        *int     `json:"usage_limit"`
	UsageLimitPerUser *int     `json:"usage_limit_per_user"`
	IndividualUse     bool     `json:"individual_use"`
	FreeShipping      bool     `json:"free_shipping"`
	MinimumAmount     string   `json:"minimum_amount"`
	MaximumAmount     string   `json:"maximum_amount"`
	EmailRestrictions []string `json:"email_restrictions"`
	MetaData          []Meta   `json:"meta_data"`
}

// DecodeCoupon decodes a coupon webhook body. Errors wrap ErrUnusable.
func DecodeCoupon(body []byte) (Coupon, error) {
	var c Coupon
	if err := json.Unmarshal(body, &c); err != nil {
		return Coupon{}, fmt.Errorf("%w: coupon: %v", ErrUnusable, err)
	}
	if c.ID <= 0 || strings.TrimSpace(c.Code) == "" {
		return Coupon{}, fmt.Errorf("%w: coupon without id or code", ErrUnusable)
	}
	return c, nil
}

// Value is the coupon's value for coupon.value: "10%" for a percentage,
// else the amount formatted in currency (the shop's; a coupon has none).
func (c Coupon) Value(currency string) string {
	if c.DiscountType == "percent" {
		a := strings.TrimSpace(c.Amount)
		if strings.Contains(a, ".") {
			a = strings.TrimRight(strings.TrimRight(a, "0"), ".")
		}
		return a + "%"
	}
	return app.FormatMoney(c.Amount, currency)
}
