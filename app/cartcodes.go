package app

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// errNoCartCode is why a step goes without its code: the store refused it
// for good, or kept failing through the whole retry schedule.
var errNoCartCode = errors.New("the step's discount code could not be made")

// cartCoupon is the code a step offers, as its message shows it.
type cartCoupon struct {
	Code  string
	Value string // "10%", "₹100.00"
}

// cartCode makes step p.Step's code for the cart, once: the code is kept in
// the cart's record before the store is asked, so a rerun asks for the
// same code (the creators are idempotent on it) and the store holds one.
// A retryable failure is tried again on the delivery retry schedule.
func (s *Service) cartCode(ctx context.Context, m Merchant, p cartStepPayload, d CartDiscount, e Event) (cartCoupon, error) {
	i := p.Step - 1
	currency := ""
	if v, ok := e.Lookup("cart.currency"); ok {
		currency = strings.ToUpper(formatValue(v))
	}
	value := d.Value + "%"
	if d.Type == CartDiscountFixed {
		value = FormatMoney(d.Value, currency)
	}
	if s.cartDiscounts == nil {
		s.log.Warn("a cart step's discount is not made: no discount maker", "merchant", m.ID, "step", p.Step)
		return cartCoupon{}, errNoCartCode
	}
	c, _, err := s.updateCart(ctx, m, p.Token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		if !exists || c.Steps[i].Code != "" {
			return nil, false
		}
		c.Steps[i].Code = s.cartDiscounts.CodeFor(m, "CART", p.Token+":"+strconv.Itoa(p.Step))
		c.Steps[i].CodeEnds = s.now().Add(d.ExpiresIn).UTC().Truncate(time.Second)
		return nil, true
	})
	if err != nil {
		return cartCoupon{}, err
	}
	st := c.Steps[i]
	if st.Code == "" {
		return cartCoupon{}, ErrNotFound // redacted meanwhile
	}
	if st.CodeMade {
		return cartCoupon{Code: st.Code, Value: st.CodeValue}, nil
	}
	kind := DiscountPercentage
	if d.Type == CartDiscountFixed {
		kind = DiscountFixedAmount
	}
	_, createErr := s.cartDiscounts.CreateDiscount(ctx, m, DiscountRequest{
		Code: st.Code, Title: "storebridge cart reminder, step " + strconv.Itoa(p.Step),
		Kind: kind, Value: d.Value, Currency: currency, Customer: e.Customer, EndsAt: st.CodeEnds,
	})
	tries := 0
	_, _, err = s.updateCart(ctx, m, p.Token, cartStateTTL, func(c *cartRecord, exists bool) ([]Job, bool) {
		if !exists || c.Steps[i].CodeMade {
			return nil, false
		}
		if createErr == nil {
			c.Steps[i].CodeMade, c.Steps[i].CodeValue = true, value
		} else if isRetryableJobError(createErr) {
			c.Steps[i].CodeTries++
			tries = c.Steps[i].CodeTries
		} else {
			return nil, false
		}
		return nil, true
	})
	switch {
	case err != nil:
		return cartCoupon{}, err
	case createErr == nil:
		return cartCoupon{Code: st.Code, Value: value}, nil
	case isRetryableJobError(createErr) && tries < s.retry.Attempts():
		return cartCoupon{}, RetryAt(s.now().Add(s.retry.Delay(tries)), "the store did not make the step's code: "+createErr.Error())
	}
	s.log.Warn("a cart step goes without its discount code", "merchant", m.ID, "step", p.Step, "err", createErr)
	return cartCoupon{}, errNoCartCode
}

// namesCoupon reports whether a step's message shows its code.
func namesCoupon(variables []string) bool {
	for _, v := range variables {
		if strings.HasPrefix(v, "coupon.") {
			return true
		}
	}
	return false
}

// withCoupon puts the step's code in the event, for coupon.code and
// coupon.value, and in the recovery link, which applies it: Shopify's
// discount link, or the WooCommerce plugin's restore link with the code.
func withCoupon(m Merchant, e *Event, c cartCoupon) {
	e.Properties["coupon"] = map[string]any{"code": c.Code, "value": c.Value}
	cart, _ := e.Properties["cart"].(map[string]any)
	raw, ok := cart["recovery_url"].(string)
	if !ok {
		return
	}
	switch {
	case m.Platform == PlatformShopify && m.Domain != "":
		cart["recovery_url"] = shopifyDiscountURL(m.Domain, raw, c.Code)
	case m.Platform == PlatformWooCommerce:
		cart["recovery_url"] = wooCouponURL(raw, c.Code)
	}
}

// wooRestoreCouponParam is the query parameter of the plugin's restore
// link that names a code to apply once the cart is back. It is outside
// what the store signs (storebridge does not hold the store's secret): the
// signature still decides which cart is restored, and a code put in by
// hand gets what typing it in the coupon box gets, WooCommerce's own
// checks (the step's code is the customer's email's only, single-use).
const wooRestoreCouponParam = "sb_coupon"

// wooCouponURL is the plugin's restore link carrying the code; another
// link (not the plugin's) is left as it is.
func wooCouponURL(recovery, code string) string {
	u, err := url.Parse(recovery)
	if err != nil || !u.Query().Has("storebridge_restore") {
		return recovery
	}
	q := u.RawQuery
	// Keep the signed parameters byte for byte; only the code is added
	// (or replaces one a capture carried).
	var kept []string
	for _, part := range strings.Split(q, "&") {
		if name, _, _ := strings.Cut(part, "="); name != wooRestoreCouponParam && part != "" {
			kept = append(kept, part)
		}
	}
	u.RawQuery = strings.Join(append(kept, wooRestoreCouponParam+"="+url.QueryEscape(code)), "&")
	return u.String()
}

// shopifyDiscountURL is Shopify's shareable discount link: it applies the
// code, then goes on to the checkout's own recovery link (path and query).
func shopifyDiscountURL(shop, recovery, code string) string {
	u, err := url.Parse(recovery)
	if err != nil || u.Path == "" {
		return recovery
	}
	redirect := u.EscapedPath()
	if u.RawQuery != "" {
		redirect += "?" + u.RawQuery
	}
	return "https://" + shop + "/discount/" + url.PathEscape(code) + "?redirect=" + url.QueryEscape(redirect)
}

// moneyMinor is a decimal amount in minor units of currency (paise,
// cents), rounded as FormatMoney rounds; false for what is not an amount.
func moneyMinor(amount, currency string) (int64, bool) {
	neg, whole, frac, ok := moneyParse(strings.TrimSpace(amount))
	if !ok || neg {
		return 0, false
	}
	whole, frac = moneyRound(whole, frac, moneyMinorUnits(currency))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

// formatMinor writes minor units of currency as a plain decimal ("12.50").
func formatMinor(n int64, currency string) string {
	scale := moneyMinorUnits(currency)
	digits := strconv.FormatInt(n, 10)
	if scale == 0 {
		return digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}
