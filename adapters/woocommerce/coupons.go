package woocommerce

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

var _ app.WooCoupons = (*REST)(nil)

// codeExists is WooCommerce's error code for a coupon code in use.
const codeExists = "woocommerce_rest_coupon_code_already_exists"

// restCoupon is the REST coupon shape, as sent and as answered.
type restCoupon struct {
	ID                int64    `json:"id,omitempty"`
	Code              string   `json:"code"`
	DiscountType      string   `json:"discount_type"`
	Amount            string   `json:"amount"`
	Description       string   `json:"description,omitempty"`
	DateExpiresGMT    *string  `json:"date_expires_gmt"`
	IndividualUse     bool     `json:"individual_use"`
	UsageLimit        *int     `json:"usage_limit"`
	UsageLimitPerUser *int     `json:"usage_limit_per_user"`
	EmailRestrictions []string `json:"email_restrictions"`
	MinimumAmount     string   `json:"minimum_amount,omitempty"`
}

// couponBody is the POST /coupons body of r: single use, once per user,
// not combined with other coupons, limited to the customer's email when
// known, expiring at r.EndsAt (GMT, so the site's time zone does not
// move it).
func couponBody(r app.DiscountRequest) (restCoupon, error) {
	one := 1
	c := restCoupon{
		Code: r.Code, Amount: r.Value, Description: r.Title, IndividualUse: true,
		UsageLimit: &one, UsageLimitPerUser: &one, EmailRestrictions: []string{}, MinimumAmount: r.MinimumSubtotal,
	}
	switch r.Kind {
	case app.DiscountFixedAmount:
		c.DiscountType = "fixed_cart"
	case app.DiscountPercentage:
		c.DiscountType = "percent"
	default:
		return restCoupon{}, &app.ProviderError{Provider: Name, Message: "unknown discount kind " + r.Kind}
	}
	if email := strings.TrimSpace(r.Customer.Email); email != "" {
		c.EmailRestrictions = []string{strings.ToLower(email)}
	}
	if !r.EndsAt.IsZero() {
		at := r.EndsAt.UTC().Format(restGMTLayout)
		c.DateExpiresGMT = &at
	}
	return c, nil
}

// CreateCoupon creates r's coupon in the store. A code the store holds
// already (a retry after a lost answer) is read back and answered.
func (c *REST) CreateCoupon(ctx context.Context, store app.WooCredentials, r app.DiscountRequest) (app.DiscountCode, error) {
	body, err := couponBody(r)
	if err != nil {
		return app.DiscountCode{}, err
	}
	var created restCoupon
	_, err = c.call(ctx, store, http.MethodPost, "coupons", nil, body, &created)
	var pe *app.ProviderError
	if errors.As(err, &pe) && pe.Code == codeExists {
		return c.couponByCode(ctx, store, r)
	}
	if err != nil {
		return app.DiscountCode{}, err
	}
	return created.discount(r), nil
}

func (c *REST) couponByCode(ctx context.Context, store app.WooCredentials, r app.DiscountRequest) (app.DiscountCode, error) {
	var found []restCoupon
	if _, err := c.call(ctx, store, http.MethodGet, "coupons", url.Values{"code": {r.Code}}, nil, &found); err != nil {
		return app.DiscountCode{}, err
	}
	for _, f := range found {
		if strings.EqualFold(f.Code, r.Code) {
			return f.discount(r), nil
		}
	}
	// In use, yet not listed: in the trash, which still holds its code.
	return app.DiscountCode{}, &app.ProviderError{Provider: Name, Status: http.StatusBadRequest, Code: codeExists,
		Message: "the coupon code " + r.Code + " is in use but not listed (a coupon in the trash?)"}
}

// discount is the coupon as the app sees it; the code keeps r's case
// (WooCommerce compares codes case-insensitively and stores them in
// lower case).
func (rc restCoupon) discount(r app.DiscountRequest) app.DiscountCode {
	out := app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, Currency: r.Currency, EndsAt: r.EndsAt}
	if rc.ID != 0 {
		out.PlatformID = strconv.FormatInt(rc.ID, 10)
	}
	switch rc.DiscountType {
	case "fixed_cart":
		out.Kind = app.DiscountFixedAmount
	case "percent":
		out.Kind = app.DiscountPercentage
	}
	if rc.Amount != "" {
		out.Value = rc.Amount
	}
	if rc.DateExpiresGMT != nil {
		if at, err := time.Parse(restGMTLayout, *rc.DateExpiresGMT); err == nil {
			out.EndsAt = at.UTC()
		}
	}
	return out
}
