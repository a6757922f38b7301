package app

import (
	"regexp"
	"time"
)

// An API version policy: every Admin call names ShopifyAPIVersion, and
// shopify.app.toml subscribes the app's webhooks at that same version.
// A webhook at another version (a subscription made before an upgrade, or
// Shopify moving a retired version forward) still decodes, but the
// operator should hear of it before Shopify retires that version, about
// 12 months after its release.
const (
	// versionDriftLogEvery: a shop's webhooks at another version are
	// logged once a day per shop and version, not once per webhook.
	versionDriftLogEvery = 24 * time.Hour
	// maxVersionDriftMemo bounds the in-memory memo of that once a day
	// (verified shops only, so its keys are real); a full memo drops
	// entries, which costs only an early repeat of the log line.
	maxVersionDriftMemo = 4096
)

// shopifyVersionPattern is the shape of Shopify's versions (YYYY-MM).
var shopifyVersionPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// ShopifyVersionLabel is a webhook's API version as metrics and logs
// name it: a YYYY-MM version, "unstable", or "other" for anything else.
// The header is not signed, so its values are bounded before they become
// a metric label or a memo key.
func ShopifyVersionLabel(version string) string {
	if version == "unstable" || shopifyVersionPattern.MatchString(version) {
		return version
	}
	return "other"
}

// ShopifyVersionDrift reports whether a webhook's X-Shopify-API-Version
// differs from the pinned one. An absent header is no drift: Shopify
// always sends it, so only hand-made requests lack it.
func ShopifyVersionDrift(version string) bool {
	return version != "" && version != ShopifyAPIVersion
}

// noteShopifyVersion logs, once a day per shop and version, a verified
// webhook whose API version is not the pinned one.
func (s *Service) noteShopifyVersion(m Merchant, version string) {
	if !ShopifyVersionDrift(version) {
		return
	}
	version = ShopifyVersionLabel(version)
	key := m.ID + " " + version
	now := s.now()
	if _, seen := s.versionDrift.get(key, now); seen {
		return
	}
	s.versionDrift.add(key, now.Add(versionDriftLogEvery), now)
	s.log.Warn("shopify webhook at an API version other than the pinned one; update the subscriptions before Shopify retires it",
		"merchant", m.ID, "shop", m.Domain, "version", version, "pinned", ShopifyAPIVersion)
}
