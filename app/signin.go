package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SignInLinkTTL is how long a one-time sign-in link works: long enough
// for the WooCommerce side to hand it to the merchant's browser, too
// short to be worth stealing from a log or a history.
const SignInLinkTTL = 5 * time.Minute

// signInLinkPrefix makes a leaked link token recognisable, as apiKeyPrefix
// does for keys.
const signInLinkPrefix = "sbl_"

// SignInLink is a one-time sign-in token for a merchant's admin pages and
// the time it stops working.
type SignInLink struct {
	Token     string
	ExpiresAt time.Time
}

// NewSignInLink makes a one-time sign-in token for m's admin pages (the
// WooCommerce side asks for one with m's API key). Only its hash is
// stored, with m's id, for SignInLinkTTL.
func (s *Service) NewSignInLink(ctx context.Context, m Merchant) (SignInLink, error) {
	if m.Status != MerchantActive {
		return SignInLink{}, fmt.Errorf("merchant %s is %s: %w", m.ID, m.Status, ErrUnauthenticated)
	}
	token := signInLinkPrefix + rand.Text() + rand.Text() // 260 bits
	expires := s.now().Add(SignInLinkTTL)
	if err := s.store.PutOnce(ctx, signInLinkKey(token), m.ID, SignInLinkTTL); err != nil {
		return SignInLink{}, fmt.Errorf("keep a sign-in link: %w", err)
	}
	return SignInLink{Token: token, ExpiresAt: expires}, nil
}

// SignInWithLink uses up a sign-in link's token and answers the merchant
// it signs in. Of two uses, even at once, one signs in. ErrUnauthenticated
// for a token unknown, used or expired, or a merchant gone or uninstalled
// since (ErrSessionEnded).
func (s *Service) SignInWithLink(ctx context.Context, token string) (string, error) {
	if !strings.HasPrefix(token, signInLinkPrefix) || len(token) > 128 {
		return "", ErrUnauthenticated
	}
	id, err := s.store.TakeOnce(ctx, signInLinkKey(token))
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("sign-in link unknown, used or expired: %w", ErrUnauthenticated)
	}
	if err != nil {
		return "", err
	}
	return signedInMerchant(s.merchants.byID(ctx, id))
}

// signInLinkKey keeps a link under its token's hash: the store never holds
// a token that works.
func signInLinkKey(token string) string { return "signin-link:" + HashAPIKey(token) }

// NewAPIKey replaces a merchant's API key and answers the new one, shown
// this once; the old key stops working at once (sign-in page, sign-in
// links, events API). A store connected through wc-auth gets a key
// nobody saw: this is how its merchant gets one.
func (s *Service) NewAPIKey(ctx context.Context, merchantID string) (string, error) {
	key, err := newAPIKey()
	if err != nil {
		return "", err
	}
	if _, err := s.updateMerchant(ctx, merchantID, func(m *Merchant) error {
		m.APIKeyHash = HashAPIKey(key)
		return nil
	}); err != nil {
		return "", err
	}
	s.log.Info("merchant api key replaced", "merchant", merchantID)
	return key, nil
}
