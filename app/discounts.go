package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Discount kinds a store can create.
const (
	DiscountFixedAmount = "fixed_amount"
	DiscountPercentage  = "percentage"
)

// DiscountRequest asks a store for one single-use discount code. Code is
// chosen by the caller (DiscountCodes.CodeFor) before the store is asked,
// and kept with the caller's record, so that a retried request names the
// same code and the store holds at most one.
type DiscountRequest struct {
	Code  string
	Title string // what the merchant sees in the store's discount list
	Kind  string // DiscountFixedAmount or DiscountPercentage
	// Value is a decimal string: an amount in Currency, or a percentage.
	Value    string
	Currency string
	// Customer limits the code to one customer where the platform allows
	// it: Shopify by customer id, WooCommerce by email.
	Customer Customer
	// MinimumSubtotal, when not empty, is the order subtotal the code
	// needs.
	MinimumSubtotal string
	// StartsAt is when the code becomes usable (zero: now); EndsAt when
	// it stops (zero: never).
	StartsAt time.Time
	EndsAt   time.Time
}

// DiscountCode is a code the store holds.
type DiscountCode struct {
	Code       string    `json:"code"`
	Kind       string    `json:"kind"`
	Value      string    `json:"value"`
	Currency   string    `json:"currency,omitempty"`
	EndsAt     time.Time `json:"ends_at"`
	PlatformID string    `json:"platform_id,omitempty"` // the store's own id of the discount
}

// DiscountCreator creates discount codes in one platform's stores. It is
// idempotent on the request's Code: asked again for a code the store
// already holds, it answers that code rather than an error. Errors are
// Retryable or Permanent as every outbound client's are.
type DiscountCreator interface {
	CreateDiscount(ctx context.Context, m Merchant, r DiscountRequest) (DiscountCode, error)
}

// ErrNoDiscounts is a permanent error: the merchant's store cannot be
// asked for codes (no platform creator, or no credentials for it).
var ErrNoDiscounts = errors.New("the store cannot create discount codes for storebridge")

// DiscountCodes creates codes in whichever platform a merchant's store is
// on: the one way the loyalty engine and the cart sequences reach a
// store's discounts.
type DiscountCodes struct {
	creators map[Platform]DiscountCreator
	key      []byte
}

// NewDiscountCodes returns the creator of codes; key makes codes that
// cannot be guessed from their source (the keyring's signing key).
func NewDiscountCodes(key []byte) *DiscountCodes {
	return &DiscountCodes{creators: map[Platform]DiscountCreator{}, key: key}
}

// Set names the platform's creator. Call before the service starts.
func (d *DiscountCodes) Set(p Platform, c DiscountCreator) { d.creators[p] = c }

// CreateDiscount asks the merchant's store for the code.
func (d *DiscountCodes) CreateDiscount(ctx context.Context, m Merchant, r DiscountRequest) (DiscountCode, error) {
	c, ok := d.creators[m.Platform]
	if !ok {
		return DiscountCode{}, Permanent(fmt.Errorf("%w (%s)", ErrNoDiscounts, m.Platform))
	}
	if r.Code == "" || r.Kind == "" || r.Value == "" {
		return DiscountCode{}, Permanent(errors.New("discount request needs a code, a kind and a value"))
	}
	return c.CreateDiscount(ctx, m, r)
}

// codeAlphabet leaves out letters a customer confuses when typing a code
// from a message (0/O, 1/I).
var codeAlphabet = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

// CodeFor is the code for one source (a redemption's key, a cart's step):
// the same merchant and source always give the same code, and nobody
// without the key can derive another customer's. prefix is upper-cased
// and kept short ("SB", "CART").
func (d *DiscountCodes) CodeFor(m Merchant, prefix, source string) string {
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte("discount\x00" + m.ID + "\x00" + source))
	body := codeAlphabet.EncodeToString(mac.Sum(nil))[:12]
	prefix = strings.ToUpper(strings.TrimSpace(prefix))
	if prefix == "" {
		return body
	}
	return prefix + "-" + body
}
