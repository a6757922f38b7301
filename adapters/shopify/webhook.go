// Package shopify turns Shopify webhooks into the app's events: it decodes the payloads of the order, fulfillment, refund
// and checkout topics and the compliance topics, and builds app.Events with
// the properties of the contract's template variables.
package shopify

import (
	"regexp"
	"strings"
)

// shopDomainRE is the shape Shopify documents for a shop's domain. go-shopify
// checks nothing, so an unchecked shop could send our client secret anywhere.
var shopDomainRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com$`)

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
