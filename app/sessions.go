package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SessionTTL is how long a merchant's admin session lasts.
const SessionTTL = 12 * time.Hour

const sessionAudience = "storebridge-admin"

// ErrSessionEnded is the ErrUnauthenticated of a token a key we trust
// signed (ours, or Shopify's with the app secret) that signs no one in any
// more: expired, for another audience, or of a merchant gone or
// uninstalled. It is no guess: limits on failed sign-ins do not count it.
var ErrSessionEnded = fmt.Errorf("session ended: %w", ErrUnauthenticated)

type sessionClaims struct {
	Merchant string `json:"mid"`
	jwt.RegisteredClaims
}

// NewSession signs a session for a merchant's own admin pages and API
// calls: that merchant only, for SessionTTL.
func (s *Service) NewSession(merchantID string) (string, time.Time, error) {
	now := s.now()
	expires := now.Add(SessionTTL)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, sessionClaims{
		Merchant: merchantID,
		RegisteredClaims: jwt.RegisteredClaims{
			Audience:  jwt.ClaimStrings{sessionAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	}).SignedString(s.keyring.SigningKey())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign session: %w", err)
	}
	return token, expires, nil
}

// SessionMerchant checks a merchant session and answers whose it is: one
// of ours (NewSession), or a Shopify App Bridge session token of a shop
// that installed the app (HS256 with the app's client secret, our client
// id as audience, the shop in dest). Anything else is ErrUnauthenticated.
func (s *Service) SessionMerchant(ctx context.Context, token string) (string, error) {
	var ours sessionClaims
	_, err := jwt.ParseWithClaims(token, &ours, s.keyring.jwtKeys, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(sessionAudience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	if err == nil && ours.Merchant != "" {
		return signedInMerchant(s.merchants.byID(ctx, ours.Merchant))
	}
	// The claims are checked only once the signature verified.
	if errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return "", ErrSessionEnded
	}
	return s.shopifySessionMerchant(ctx, token)
}

// shopifyClaims are an App Bridge session token's.
type shopifyClaims struct {
	Dest string `json:"dest"`
	jwt.RegisteredClaims
}

// shopifySessionLeeway is the clock skew allowed on an App Bridge token's
// exp and nbf, as Shopify's own libraries allow.
const shopifySessionLeeway = 10 * time.Second

// ShopifySessionShop verifies an App Bridge session token and answers the
// shop it was issued for, whether or not a merchant of that shop exists:
// the embedded app's first load, before any install, carries one. A token
// that does not verify is ErrUnauthenticated; one whose signature verified
// but whose claims do not hold (expired, not yet valid, for another app,
// iss and dest on different shops) is ErrSessionEnded.
func (s *Service) ShopifySessionShop(token string) (string, error) {
	return verifyShopifySession(token, s.shopifyKey, s.shopifySecret, s.now)
}

// shopifySessionMerchant signs in the merchant of a verified App Bridge
// session token, if that shop installed the app.
func (s *Service) shopifySessionMerchant(ctx context.Context, token string) (string, error) {
	shop, err := s.ShopifySessionShop(token)
	if err != nil {
		return "", err
	}
	return signedInMerchant(s.merchants.byDomain(ctx, PlatformShopify, shop))
}

// verifyShopifySession checks an App Bridge session token as Shopify
// documents it: HS256 only (never none, never another algorithm), keyed
// with the client secret, audience our client id, exp and nbf both
// required and honoured with 10 s of leeway, and iss and dest on the same
// myshopify.com shop. The shop is answered in lower case, as merchants
// are stored.
func verifyShopifySession(token, apiKey, apiSecret string, now func() time.Time) (string, error) {
	if apiSecret == "" || apiKey == "" {
		return "", ErrUnauthenticated
	}
	var claims shopifyClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		return []byte(apiSecret), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(apiKey),
		jwt.WithExpirationRequired(), jwt.WithNotBeforeRequired(), jwt.WithLeeway(shopifySessionLeeway), jwt.WithTimeFunc(now))
	if errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return "", ErrSessionEnded
	}
	if err != nil {
		return "", ErrUnauthenticated
	}
	dest, derr := url.Parse(claims.Dest)
	iss, ierr := url.Parse(claims.Issuer)
	if derr != nil || ierr != nil || dest.Hostname() == "" || !strings.EqualFold(dest.Hostname(), iss.Hostname()) || !ValidShopDomain(dest.Hostname()) {
		return "", ErrSessionEnded
	}
	return strings.ToLower(dest.Hostname()), nil
}

// signedInMerchant answers the id of the merchant a verified token names,
// if that merchant still exists and is active: an uninstalled store's
// tokens stop working at once.
func signedInMerchant(m cachedMerchant, err error) (string, error) {
	switch {
	case errors.Is(err, ErrNotFound):
		return "", ErrSessionEnded
	case err != nil:
		return "", err
	case m.Status != MerchantActive:
		return "", ErrSessionEnded
	}
	return m.ID, nil
}
