// Package woocommerce turns WooCommerce webhooks into the app's events: it
// checks their signature, recognises the ping, decodes orders, customers
// and coupons (the REST v3 shapes, money as strings), and maps order
// statuses to events through the merchant's status map.
package woocommerce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"regexp"
	"strconv"
	"strings"
)

var pingRE = regexp.MustCompile(`^webhook_id=[0-9]+$`)

// VerifySignature reports whether header (X-WC-Webhook-Signature) is the
// base64 HMAC-SHA256 of the raw body under the webhook's secret, compared in
// constant time. WooCommerce signs with the secret after
// wp_specialchars_decode (woocommerce.md §1.4), so a secret holding "&amp;"
// and the like is also tried decoded. Empty secret or header never match.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" || header == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := hmac.Equal(got, signature(secret, body))
	if decoded := specialcharsDecode(secret); decoded != secret && decoded != "" {
		ok = hmac.Equal(got, signature(decoded, body)) || ok
	}
	return ok
}

func signature(secret string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
}

// specialcharsDecode is PHP's wp_specialchars_decode($s, ENT_QUOTES): only
// the five entities WordPress itself encodes.
func specialcharsDecode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer(
		"&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#039;", "'", "&#39;", "'", "&#x27;", "'",
	).Replace(s)
}

// IsPing reports whether a request is the ping WooCommerce sends when a
// webhook is saved (woocommerce.md §1.5): a form body "webhook_id=<n>", no
// JSON. It carries no signature, so the caller answers it 200 without
// verifying and without queuing anything.
func IsPing(contentType string, body []byte) bool {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return false
		}
	}
	return len(body) <= 40 && pingRE.Match(body)
}

// DedupeKey identifies one delivery for the exactly-once layer: webhook id,
// order id, date_modified_gmt and status (the contract's "Exactly once").
// WooCommerce's own delivery id changes only once a second and is useless
// for this (woocommerce.md §1.3).
func DedupeKey(webhookID string, o Order) string {
	return strings.Join([]string{strings.TrimSpace(webhookID), strconv.FormatInt(o.ID, 10), o.DateModifiedGMT, o.Status}, ":")
}
