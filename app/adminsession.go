package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// operatorAudience marks an operator's page session: it signs in to the
// admin pages only, never to the JSON API, where the operator uses
// ADMIN_TOKEN as a bearer.
const operatorAudience = "storebridge-operator"

type operatorClaims struct {
	// Merchant is the store the operator picked; empty until they pick.
	Merchant string `json:"mid,omitempty"`
	jwt.RegisteredClaims
}

// NewOperatorSession signs an operator's page session, looking at
// merchantID ("" for none yet), for SessionTTL.
func (s *Service) NewOperatorSession(merchantID string) (string, time.Time, error) {
	now := s.now()
	expires := now.Add(SessionTTL)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, operatorClaims{
		Merchant: merchantID,
		RegisteredClaims: jwt.RegisteredClaims{
			Audience:  jwt.ClaimStrings{operatorAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	}).SignedString(s.keyring.SigningKey())
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign operator session: %w", err)
	}
	return token, expires, nil
}

// OperatorSession checks an operator's page session and answers the
// merchant it looks at ("" when none is picked). A picked merchant that
// is gone is dropped, not refused: the operator picks another.
func (s *Service) OperatorSession(ctx context.Context, token string) (string, error) {
	var claims operatorClaims
	_, err := jwt.ParseWithClaims(token, &claims, s.keyring.jwtKeys, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(operatorAudience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	if err != nil {
		return "", ErrUnauthenticated
	}
	if claims.Merchant == "" {
		return "", nil
	}
	if _, err := s.store.GetMerchant(ctx, claims.Merchant); err != nil {
		return "", nil
	}
	return claims.Merchant, nil
}

// csrfLen is the length of a CSRF token: 128 bits, base64url.
const csrfLen = 22

// CSRFToken is the token a cookie session's forms carry: bound to that
// session, so it is worthless with any other, and unguessable without
// the signing key.
func (s *Service) CSRFToken(session string) string {
	return csrfToken(s.keyring.SigningKey(), session)
}

// CheckCSRF reports whether token is the session's CSRF token under any
// key we verify with, so a key rotation does not void open forms.
func (s *Service) CheckCSRF(session, token string) bool {
	if session == "" || len(token) != csrfLen {
		return false
	}
	for _, key := range s.keyring.VerificationKeys() {
		if hmac.Equal([]byte(csrfToken(key, session)), []byte(token)) {
			return true
		}
	}
	return false
}

func csrfToken(key []byte, session string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("storebridge csrf\x00"))
	mac.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))[:csrfLen]
}

// Merchants lists every merchant, for the operator's store picker.
func (s *Service) Merchants(ctx context.Context) ([]Merchant, error) {
	return s.store.ListMerchants(ctx)
}

// SignInWithAPIKey answers the active merchant an API key belongs to, for
// the sign-in page; ErrUnauthenticated for any other key.
func (s *Service) SignInWithAPIKey(ctx context.Context, key string) (string, error) {
	m, err := s.MerchantByAPIKey(ctx, key)
	if err != nil {
		return "", err
	}
	return m.ID, nil
}
