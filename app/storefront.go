package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Storefront verifies the storefront's calls for one customer's points:
// the customer tokens a store's server asks for, and Shopify's App Proxy.
type Storefront struct{ svc *Service }

// NewStorefront returns the storefront's verifier over the service's
// merchants and keys.
func NewStorefront(svc *Service) *Storefront { return &Storefront{svc: svc} }

// The storefront's calls for one customer's loyalty: through Shopify's
// App Proxy (signed by Shopify) or with a short-lived customer token the
// merchant's own server asks for with its API key. The merchant's API key
// never reaches a browser; a token names one merchant, one customer and
// what it may do.

// CustomerTokenTTL is how long a customer token lasts.
const CustomerTokenTTL = 15 * time.Minute

// Scopes of a customer token.
const (
	ScopeLoyaltyRead   = "loyalty:read"
	ScopeLoyaltyRedeem = "loyalty:redeem"
)

// customerAudience keeps a customer token from signing anyone in
// anywhere else (admin sessions, state cookies), and the other way round.
const customerAudience = "storebridge-customer"

// maxCustomerID bounds a customer id in a token.
const maxCustomerID = 200

// ErrNoCustomer is the ErrUnauthenticated of a verified App Proxy request
// with no customer logged in to the storefront.
var ErrNoCustomer = fmt.Errorf("no customer is logged in: %w", ErrUnauthenticated)

// ErrScope is a customer token used for what its scope does not allow.
var ErrScope = errors.New("the token's scope does not allow this")

type customerClaims struct {
	Merchant string `json:"merchant"`
	Customer string `json:"customer"`
	Scope    string `json:"scope"`
	jwt.RegisteredClaims
}

// CustomerToken is a signed token for one customer's storefront calls.
type CustomerToken struct {
	Token     string
	Customer  string
	Scope     string
	ExpiresAt time.Time
}

// StorefrontCustomer is who a storefront call is for: a verified customer of an
// active merchant, and what the call may do.
type StorefrontCustomer struct {
	Merchant Merchant
	// ID is the platform customer id, or the phone in E.164.
	ID     string
	Scopes []string
}

// Can reports whether the call may do scope.
func (c StorefrontCustomer) Can(scope string) bool { return slices.Contains(c.Scopes, scope) }

// IssueCustomerToken signs a token for one of m's customers (the
// platform customer id, or a phone in E.164, read in the store's country),
// for CustomerTokenTTL. scope is space-separated; empty: every scope.
func (f *Storefront) IssueCustomerToken(m Merchant, customer, scope string) (CustomerToken, error) {
	fields := map[string]string{}
	id := strings.TrimSpace(customer)
	switch {
	case id == "" || len(id) > maxCustomerID:
		fields["customer"] = "must be the platform customer id or a phone in E.164"
	case strings.HasPrefix(id, "+"):
		phone, err := NormalizePhone(id, m.Country)
		if err != nil {
			fields["customer"] = "is not a valid phone number"
		}
		id = phone
	}
	scopes := strings.Fields(scope)
	if len(scopes) == 0 {
		scopes = []string{ScopeLoyaltyRead, ScopeLoyaltyRedeem}
	}
	for _, sc := range scopes {
		if sc != ScopeLoyaltyRead && sc != ScopeLoyaltyRedeem {
			fields["scope"] = `must be "loyalty:read", "loyalty:redeem" or both`
		}
	}
	if len(fields) > 0 {
		return CustomerToken{}, &ValidationError{Fields: fields}
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	now := f.svc.now()
	expires := now.Add(CustomerTokenTTL)
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, customerClaims{
		Merchant: m.ID, Customer: id, Scope: strings.Join(scopes, " "),
		RegisteredClaims: jwt.RegisteredClaims{
			Audience:  jwt.ClaimStrings{customerAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	}).SignedString(f.svc.keyring.SigningKey())
	if err != nil {
		return CustomerToken{}, fmt.Errorf("sign customer token: %w", err)
	}
	return CustomerToken{Token: token, Customer: id, Scope: strings.Join(scopes, " "), ExpiresAt: expires}, nil
}

// CustomerByToken verifies a customer token: ours (any listed key), for
// this audience, not expired, of a merchant still active. Anything else
// is ErrUnauthenticated.
func (f *Storefront) CustomerByToken(ctx context.Context, token string) (StorefrontCustomer, error) {
	var claims customerClaims
	_, err := jwt.ParseWithClaims(token, &claims, f.svc.keyring.jwtKeys, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(customerAudience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(f.svc.now))
	if err != nil || claims.Merchant == "" || claims.Customer == "" {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	m, err := f.activeMerchant(ctx, claims.Merchant)
	if err != nil {
		return StorefrontCustomer{}, err
	}
	return StorefrontCustomer{Merchant: m, ID: claims.Customer, Scopes: strings.Fields(claims.Scope)}, nil
}

// activeMerchant is the merchant a verified token names, if it still
// exists and is active.
func (f *Storefront) activeMerchant(ctx context.Context, id string) (Merchant, error) {
	m, err := f.svc.merchants.byID(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Merchant{}, ErrUnauthenticated
	case err != nil:
		return Merchant{}, err
	case m.Status != MerchantActive:
		return Merchant{}, ErrUnauthenticated
	}
	return m.Merchant, nil
}

// CustomerByAppProxy verifies a request Shopify's App Proxy forwarded: its
// signature (see VerifyAppProxySignature) with the app's client secret,
// its timestamp within 90 s of our clock, and its shop a merchant that
// installed the app. The customer is logged_in_customer_id, which Shopify
// sets from the storefront's session; none (a visitor not logged in) is
// ErrNoCustomer. An App Proxy call may read and redeem.
func (f *Storefront) CustomerByAppProxy(ctx context.Context, query url.Values) (StorefrontCustomer, error) {
	if !VerifyAppProxySignature(f.svc.shopifySecret, query) {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	ts, err := strconv.ParseInt(query.Get("timestamp"), 10, 64)
	if err != nil {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	if d := f.svc.now().Sub(time.Unix(ts, 0)); d > shopifyTimestampWindow || d < -shopifyTimestampWindow {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	shop := query.Get("shop")
	if !ValidShopDomain(shop) {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	cm, err := f.svc.merchants.byDomain(ctx, PlatformShopify, strings.ToLower(shop))
	switch {
	case errors.Is(err, ErrNotFound):
		return StorefrontCustomer{}, ErrUnauthenticated
	case err != nil:
		return StorefrontCustomer{}, err
	case cm.Status != MerchantActive:
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	customer := strings.TrimSpace(query.Get("logged_in_customer_id"))
	if customer == "" {
		return StorefrontCustomer{}, ErrNoCustomer
	}
	if len(customer) > maxCustomerID {
		return StorefrontCustomer{}, ErrUnauthenticated
	}
	return StorefrontCustomer{Merchant: cm.Merchant, ID: customer, Scopes: []string{ScopeLoyaltyRead, ScopeLoyaltyRedeem}}, nil
}

// VerifyAppProxySignature checks the hex HMAC-SHA256 Shopify puts in an
// App Proxy request's signature parameter, as Shopify documents it: every
// other parameter as key=value (the values of a repeated key joined with
// commas), sorted, concatenated with no separator, keyed with the app's
// client secret; compared in constant time.
func VerifyAppProxySignature(secret string, query url.Values) bool {
	got, err := hex.DecodeString(query.Get("signature"))
	if err != nil || len(got) != sha256.Size || secret == "" {
		return false
	}
	return hmac.Equal(appProxyMAC(secret, query), got)
}

// SignAppProxy computes the signature Shopify would put on query, for
// tests and tools.
func SignAppProxy(secret string, query url.Values) string {
	return hex.EncodeToString(appProxyMAC(secret, query))
}

func appProxyMAC(secret string, query url.Values) []byte {
	pairs := make([]string, 0, len(query))
	for k, vs := range query {
		if k != "signature" {
			pairs = append(pairs, k+"="+strings.Join(vs, ","))
		}
	}
	sort.Strings(pairs)
	mac := hmac.New(sha256.New, []byte(secret))
	for _, p := range pairs {
		mac.Write([]byte(p))
	}
	return mac.Sum(nil)
}

// StoreOrigin is the browser origin of the merchant's storefront: the
// myshopify.com domain for Shopify, the store URL's scheme and host for
// WooCommerce.
func StoreOrigin(m Merchant) string {
	if m.Platform == PlatformWooCommerce {
		if u, err := url.Parse(m.StoreURL); err == nil && u.Host != "" {
			return u.Scheme + "://" + strings.ToLower(u.Host)
		}
		return ""
	}
	return "https://" + strings.ToLower(m.Domain)
}

// StoreOfOrigin answers whether origin is an active merchant's
// storefront, for a CORS preflight, which carries no token: a page of any
// other origin gets no CORS grant.
func (f *Storefront) StoreOfOrigin(ctx context.Context, origin string) (bool, error) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != "" {
		return false, nil
	}
	for _, p := range []Platform{PlatformWooCommerce, PlatformShopify} {
		m, err := f.svc.merchants.byDomain(ctx, p, strings.ToLower(u.Host))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if m.Status == MerchantActive && StoreOrigin(m.Merchant) == strings.ToLower(origin) {
			return true, nil
		}
	}
	return false, nil
}
