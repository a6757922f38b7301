package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// oneMerchant is a Store holding one merchant, found by id and by domain.
type oneMerchant struct {
	Store
	m Merchant
}

func (s oneMerchant) GetMerchant(_ context.Context, id string) (Merchant, error) {
	if id != s.m.ID {
		return Merchant{}, ErrNotFound
	}
	return s.m, nil
}

func (s oneMerchant) MerchantByDomain(_ context.Context, p Platform, domain string) (Merchant, error) {
	if p != s.m.Platform || domain != s.m.Domain {
		return Merchant{}, ErrNotFound
	}
	return s.m, nil
}

// hs256By reports whether token is a JWS whose HS256 signature over its
// first two parts verifies under key, its header naming HS256.
func hs256By(token string, key []byte) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	head, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct{ Alg string }
	if err != nil || json.Unmarshal(head, &h) != nil || h.Alg != "HS256" {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	return err == nil && hmac.Equal(sig, mac.Sum(nil))
}

// FuzzSessionMerchant: an admin bearer token or session cookie signs a
// merchant in only when it is HS256-signed with our session key or the
// Shopify app's client secret, and then only as the merchant it names.
// Whatever the token, SessionMerchant never panics.
func FuzzSessionMerchant(f *testing.F) {
	const (
		shop      = "kesar-kitchen.myshopify.com"
		appKey    = "3b8f0e0a2c4d6e8f1a3b5c7d9e0f1a2b"
		appSecret = "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"
	)
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	keyring, err := NewKeyring("a-very-long-secret-key-for-tests-0001")
	if err != nil {
		f.Fatal(err)
	}
	m := Merchant{ID: "m_kesar", Platform: PlatformShopify, Domain: shop, Status: MerchantActive}
	svc := NewService(ServiceOptions{Store: oneMerchant{m: m}, Keyring: keyring, Now: func() time.Time { return now }, ShopifyAPIKey: appKey, ShopifyAPISecret: appSecret})

	session, _, err := svc.NewSession(m.ID)
	if err != nil {
		f.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, claims jwt.MapClaims, key any) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	bridge := jwt.MapClaims{"iss": "https://" + shop + "/admin", "dest": "https://" + shop, "aud": appKey, "sub": "42", "exp": now.Add(time.Minute).Unix(), "nbf": now.Unix()}
	appBridge := sign(jwt.SigningMethodHS256, bridge, []byte(appSecret))
	for _, good := range []string{session, appBridge} {
		if id, err := svc.SessionMerchant(context.Background(), good); err != nil || id != m.ID {
			f.Fatalf("SessionMerchant(a good token) = %q, %v", id, err)
		}
		f.Add(good)
	}
	f.Add(sign(jwt.SigningMethodHS256, bridge, keyring.SigningKey()))
	f.Add(sign(jwt.SigningMethodHS512, bridge, []byte(appSecret)))
	f.Add(sign(jwt.SigningMethodNone, bridge, jwt.UnsafeAllowNoneSignatureType))
	f.Add(sign(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://evil.myshopify.com/admin", "dest": "https://" + shop, "aud": appKey, "exp": now.Add(time.Minute).Unix()}, []byte(appSecret)))
	f.Add(sign(jwt.SigningMethodHS256, jwt.MapClaims{"mid": m.ID, "aud": sessionAudience}, keyring.SigningKey()))
	f.Add(sign(jwt.SigningMethodHS256, jwt.MapClaims{"mid": m.ID, "aud": []string{"x", sessionAudience}, "exp": now.Add(-time.Hour).Unix()}, keyring.SigningKey()))
	f.Add(session + "=")
	f.Add("not-a-token")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := svc.SessionMerchant(context.Background(), token)
		if err != nil {
			return
		}
		if id != m.ID {
			t.Fatalf("SessionMerchant(%q) = %q; there is only %q", token, id, m.ID)
		}
		if !hs256By(token, keyring.SigningKey()) && !hs256By(token, []byte(appSecret)) {
			t.Fatalf("SessionMerchant accepted %q, signed with neither key", token)
		}
	})
}
