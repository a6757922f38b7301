package woocommerce

import (
	"errors"
	"testing"
)

func TestDecodeCustomer(t *testing.T) {
	c, err := DecodeCustomer(readTestdata(t, "customer.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Contact(Options{Country: "IN"})
	if got.ID != "17" || got.Name() != "ज्योति शर्मा" || got.Email != "jyoti.sharma@example.in" || got.Phone != "+919876543210" {
		t.Errorf("Contact = %+v", got)
	}
	if c.Role != "customer" || c.DateCreatedGMT != "2026-01-10T06:30:00" || c.Shipping.Country != "IN" {
		t.Errorf("customer = %+v", c)
	}
	for _, body := range []string{`{}`, `{"id":"x"}`, `nope`} {
		if _, err := DecodeCustomer([]byte(body)); !errors.Is(err, ErrUnusable) {
			t.Errorf("DecodeCustomer(%q) error = %v; want ErrUnusable", body, err)
		}
	}
}

func TestDecodeCoupon(t *testing.T) {
	c, err := DecodeCoupon(readTestdata(t, "coupon.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != 811 || c.Code != "diwali10" || c.DiscountType != "percent" || c.DateExpiresGMT != "2026-04-13T18:30:00" ||
		c.UsageLimit == nil || *c.UsageLimit != 1 || c.MinimumAmount != "999.00" || len(c.EmailRestrictions) != 1 {
		t.Errorf("coupon = %+v", c)
	}
	for _, tt := range []struct {
		c    Coupon
		want string
	}{
		{c, "10%"},
		{Coupon{DiscountType: "percent", Amount: "12.50"}, "12.5%"},
		{Coupon{DiscountType: "fixed_cart", Amount: "1500.00"}, "₹1,500.00"},
		{Coupon{DiscountType: "fixed_product", Amount: "abc"}, "abc INR"},
	} {
		if got := tt.c.Value("INR"); got != tt.want {
			t.Errorf("Value(%+v) = %q; want %q", tt.c, got, tt.want)
		}
	}
	for _, body := range []string{`{"id":1}`, `{"code":"x"}`, `{"id":1,"code":"x","amount":10}`, `[]`} {
		if _, err := DecodeCoupon([]byte(body)); !errors.Is(err, ErrUnusable) {
			t.Errorf("DecodeCoupon(%q) error = %v; want ErrUnusable", body, err)
		}
	}
}
