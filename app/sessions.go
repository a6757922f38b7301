package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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

// shopifySessionMerchant verifies an App Bridge session token as Shopify
// documents it: HS256 only, keyed with the client secret, audience our
// client id, 10 s of leeway, and iss and dest on the same shop.
func (s *Service) shopifySessionMerchant(ctx context.Context, token string) (string, error) {
	if s.shopifySecret == "" || s.shopifyKey == "" {
		return "", ErrUnauthenticated
	}
	var claims shopifyClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) {
		return []byte(s.shopifySecret), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(s.shopifyKey),
		jwt.WithExpirationRequired(), jwt.WithLeeway(10*time.Second), jwt.WithTimeFunc(s.now))
	if errors.Is(err, jwt.ErrTokenInvalidClaims) {
		return "", ErrSessionEnded
	}
	if err != nil {
		return "", ErrUnauthenticated
	}
	dest, derr := url.Parse(claims.Dest)
	iss, ierr := url.Parse(claims.Issuer)
	if derr != nil || ierr != nil || dest.Hostname() == "" || dest.Hostname() != iss.Hostname() || !ValidShopDomain(dest.Hostname()) {
		return "", ErrSessionEnded
	}
	return signedInMerchant(s.merchants.byDomain(ctx, PlatformShopify, dest.Hostname()))
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
