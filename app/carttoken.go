package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Store tokens: the WordPress plugin's credential for POST /api/v1/carts.
// A token is a JWT signed with the keyring's signing key, naming the
// merchant, the one scope it grants and its generation (jti). The
// merchant's record keeps the generation in force: making a new token
// replaces it, so the old token stops working at once.
const (
	// CartTokenScope is the one thing a store token may do.
	CartTokenScope = "cart:write"
	// CartTokenTTL is how long a store token works before the merchant
	// must make a new one.
	CartTokenTTL      = 365 * 24 * time.Hour
	cartTokenAudience = "storebridge-cart-capture"
	// SettingCartTokenID is the generation in force; SettingCartTokenExpiresAt
	// and SettingCartTokenIssuedAt describe it, for the admin page.
	SettingCartTokenID        = "cart_token_id"
	SettingCartTokenIssuedAt  = "cart_token_issued_at"
	SettingCartTokenExpiresAt = "cart_token_expires_at"
)

// The reasons a store token is refused, as CartTokenError.Reason.
const (
	CartTokenMissing  = "missing"
	CartTokenInvalid  = "invalid"
	CartTokenExpired  = "expired"
	CartTokenReplaced = "replaced"
)

// cartTokenFix is what the merchant must do about any refused token.
const cartTokenFix = "generate a new token in storebridge → Cart capture and paste it in WooCommerce → storebridge"

// CartTokenError is a refused store token: ErrUnauthenticated, with the
// reason and the fix the plugin shows its merchant.
type CartTokenError struct {
	Reason    string
	ExpiredAt time.Time // for CartTokenExpired
}

func (e *CartTokenError) Error() string {
	switch e.Reason {
	case CartTokenExpired:
		return "the cart capture token expired on " + e.ExpiredAt.UTC().Format("2 Jan 2006") + ": " + cartTokenFix
	case CartTokenReplaced:
		return "the cart capture token was replaced by a newer one: paste the newest token in WooCommerce → storebridge, or " + cartTokenFix
	case CartTokenMissing:
		return "no cart capture token was sent: " + cartTokenFix
	}
	return "the cart capture token is not one storebridge issued, or was mangled: " + cartTokenFix
}

func (e *CartTokenError) Unwrap() error { return ErrUnauthenticated }

// CartToken is a newly made store token, shown once.
type CartToken struct {
	Token     string    `json:"token"`
	Scope     string    `json:"scope"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type cartTokenClaims struct {
	Merchant string `json:"mid"`
	Scope    string `json:"scope"`
	jwt.RegisteredClaims
}

// NewCartToken makes a WooCommerce merchant's store token, replacing the
// one before (which stops working at once on this instance, and within the
// merchant cache's 30 s on the others). The token itself is kept nowhere.
func (s *Service) NewCartToken(ctx context.Context, merchantID string) (CartToken, error) {
	now := s.now().UTC().Truncate(time.Second)
	out := CartToken{Scope: CartTokenScope, IssuedAt: now, ExpiresAt: now.Add(CartTokenTTL)}
	generation := rand.Text()
	_, err := s.updateMerchant(ctx, merchantID, func(m *Merchant) error {
		if m.Platform != PlatformWooCommerce {
			return Invalid("platform", "cart capture is for WooCommerce stores: Shopify sends its checkouts itself")
		}
		if m.Status != MerchantActive {
			return Invalid("status", "the store uninstalled the app")
		}
		if m.Settings == nil {
			m.Settings = map[string]string{}
		}
		m.Settings[SettingCartTokenID] = generation
		m.Settings[SettingCartTokenIssuedAt] = out.IssuedAt.Format(time.RFC3339)
		m.Settings[SettingCartTokenExpiresAt] = out.ExpiresAt.Format(time.RFC3339)
		return nil
	})
	if err != nil {
		return CartToken{}, err
	}
	out.Token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, cartTokenClaims{
		Merchant: merchantID,
		Scope:    CartTokenScope,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        generation,
			Audience:  jwt.ClaimStrings{cartTokenAudience},
			IssuedAt:  jwt.NewNumericDate(out.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(out.ExpiresAt),
		},
	}).SignedString(s.keyring.SigningKey())
	if err != nil {
		return CartToken{}, fmt.Errorf("sign cart token: %w", err)
	}
	s.log.Info("cart capture token replaced", "merchant", merchantID)
	return out, nil
}

// CartTokenMerchant checks a store token and answers its merchant: signed
// by a key we trust, for cart capture, not expired, and of the generation
// the merchant's record holds. The record is read through the merchant
// cache, so most requests cost no store read; a generation the cache does
// not know is checked against the store before it is refused, so a token
// just made on another instance works at once there too. (A token
// replaced on another instance still works on this one until the cache's
// 30 s run out.) A refusal is a *CartTokenError.
func (s *Service) CartTokenMerchant(ctx context.Context, token string) (Merchant, error) {
	if token == "" {
		return Merchant{}, &CartTokenError{Reason: CartTokenMissing}
	}
	var claims cartTokenClaims
	_, err := jwt.ParseWithClaims(token, &claims, s.keyring.jwtKeys,
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(cartTokenAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && claims.ExpiresAt != nil:
		return Merchant{}, &CartTokenError{Reason: CartTokenExpired, ExpiredAt: claims.ExpiresAt.Time}
	case err != nil, claims.Scope != CartTokenScope, claims.Merchant == "", claims.ID == "":
		return Merchant{}, &CartTokenError{Reason: CartTokenInvalid}
	}
	cached, err := s.merchants.byID(ctx, claims.Merchant)
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, &CartTokenError{Reason: CartTokenInvalid}
	}
	if err != nil {
		return Merchant{}, err
	}
	if cached.Settings[SettingCartTokenID] != claims.ID {
		// Another instance may have made this token since the cache read
		// the merchant: only the stored record can refuse it.
		fresh, err := s.store.GetMerchant(ctx, claims.Merchant)
		if err != nil {
			return Merchant{}, err
		}
		if cached, err = s.merchants.put(fresh); err != nil {
			return Merchant{}, err
		}
		if cached.Settings[SettingCartTokenID] != claims.ID {
			return Merchant{}, &CartTokenError{Reason: CartTokenReplaced}
		}
	}
	if cached.Status != MerchantActive {
		return Merchant{}, fmt.Errorf("merchant %s is %s: %w", cached.ID, cached.Status, ErrUnauthenticated)
	}
	return cached.Merchant, nil
}
