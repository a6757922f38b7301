package app

import (
	"context"
	"fmt"
)

// ShopifyDiscounts is the Admin API call that makes a discount code in a
// Shopify shop (GraphQL discountCodeBasicCreate). Asked again for a code
// the shop holds, it answers that code.
type ShopifyDiscounts interface {
	CreateDiscountCode(ctx context.Context, shop, token string, r DiscountRequest) (DiscountCode, error)
}

// WooCoupons is the REST call that makes a coupon in a WooCommerce store
// (POST /wc/v3/coupons). Asked again for a code the store holds, it
// answers that coupon.
type WooCoupons interface {
	CreateCoupon(ctx context.Context, store WooCredentials, r DiscountRequest) (DiscountCode, error)
}

var (
	_ DiscountCreator = (*ShopifyInstaller)(nil)
	_ DiscountCreator = (*WooConnector)(nil)
)

// CreateDiscount makes r's code in the merchant's Shopify shop with the
// shop's Admin token (refreshed when it expires). A shop without a token
// cannot be asked: ErrNoDiscounts, permanent.
func (i *ShopifyInstaller) CreateDiscount(ctx context.Context, m Merchant, r DiscountRequest) (DiscountCode, error) {
	if _, ok := m.Secrets["access_token"]; i.opts.Discounts == nil || !ok {
		return DiscountCode{}, Permanent(fmt.Errorf("%w: no Admin API access to the shop", ErrNoDiscounts))
	}
	token, err := i.accessToken(ctx, m)
	if err != nil {
		return DiscountCode{}, err
	}
	return i.opts.Discounts.CreateDiscountCode(ctx, m.Domain, token, r)
}

// CreateDiscount makes r's code as a coupon in the merchant's WooCommerce
// store with its REST keys. A store without keys cannot be asked:
// ErrNoDiscounts, permanent.
func (c *WooConnector) CreateDiscount(ctx context.Context, m Merchant, r DiscountRequest) (DiscountCode, error) {
	_, hasKey := m.Secrets["consumer_key"]
	_, hasSecret := m.Secrets["consumer_secret"]
	if c.opts.Coupons == nil || !hasKey || !hasSecret {
		return DiscountCode{}, Permanent(fmt.Errorf("%w: no REST API keys for the store", ErrNoDiscounts))
	}
	ck, err := c.svc.MerchantSecret(m, "consumer_key")
	if err != nil {
		return DiscountCode{}, Permanent(err)
	}
	cs, err := c.svc.MerchantSecret(m, "consumer_secret")
	if err != nil {
		return DiscountCode{}, Permanent(err)
	}
	return c.opts.Coupons.CreateCoupon(ctx, WooCredentials{StoreURL: m.StoreURL, ConsumerKey: ck, ConsumerSecret: cs}, r)
}
