// Package shopify turns Shopify webhooks into the app's events: it checks
// their signature, decodes the payloads of the order, fulfillment, refund
// and checkout topics and the compliance topics, and builds app.Events with
// the properties of the contract's template variables.
package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
)

// shopDomainRE is the shape Shopify documents for a shop's domain. go-shopify
// checks nothing, so an unchecked shop could send our client secret anywhere.
var shopDomainRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com$`)

// VerifyWebhook reports whether hmacHeader (X-Shopify-Hmac-Sha256) is the
// base64 HMAC-SHA256 of the raw body under the app's client secret. The
// comparison is in constant time; an empty secret or header never matches.
func VerifyWebhook(secret string, body []byte, hmacHeader string) bool {
	if secret == "" || hmacHeader == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(hmacHeader)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// ValidShopDomain reports whether shop is a bare "name.myshopify.com"
// domain: no scheme, path, port, query or other suffix.
func ValidShopDomain(shop string) bool {
	return len(shop) <= 255 && shopDomainRE.MatchString(shop)
}

// NormalizeShopDomain returns shop trimmed and lower-cased, the form to
// store and compare, and whether that is a valid shop domain. Nothing else
// is repaired: "https://x.myshopify.com/" stays invalid.
func NormalizeShopDomain(shop string) (string, bool) {
	s := strings.ToLower(strings.TrimSpace(shop))
	return s, ValidShopDomain(s)
}
