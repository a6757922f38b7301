package app

import (
	"cmp"
	"context"
	"time"
)

// Platform names a store platform.
type Platform string

const (
	PlatformShopify     Platform = "shopify"
	PlatformWooCommerce Platform = "woocommerce"
)

// MerchantStatus tells whether a merchant's events are processed.
type MerchantStatus string

const (
	MerchantActive MerchantStatus = "active"
	// MerchantUninstalled: the app was removed from the store; credentials
	// are gone and no job of the merchant runs.
	MerchantUninstalled MerchantStatus = "uninstalled"
)

// Merchant is one store using the service. Secret values are held sealed
// (see Keyring): a Merchant read from the store never carries plaintext.
type Merchant struct {
	ID       string
	Platform Platform
	// Domain identifies the store on its platform: the myshopify.com
	// domain for Shopify, the store URL's host for WooCommerce. Unique per
	// platform.
	Domain   string
	StoreURL string // WooCommerce: the https base URL of the store
	// Name, Country and Timezone are in force: the merchant's own choice
	// (Own) where it made one, else what the store says of itself (Synced).
	Name     string
	Country  string // ISO 3166-1 alpha-2, used to read local phone numbers
	Timezone string // IANA name, e.g. Asia/Kolkata
	// Own is what the merchant (or the operator) chose; empty fields
	// follow Synced. Synced is what the store platform last reported. They
	// are kept apart so a sync never undoes the merchant's own settings.
	Own    Profile
	Synced Profile
	Status MerchantStatus
	// APIKeyHash is the SHA-256 of the merchant's API key (hex); the key
	// itself is shown once, at creation.
	APIKeyHash string
	// Secrets holds the store platform credentials by name:
	// "access_token", "refresh_token", "consumer_key", "consumer_secret",
	// "webhook_secret".
	Secrets  map[string]Sealed
	Provider ProviderConfig
	// Settings are the merchant's plain options (COD gateway names, quiet
	// hours...), by name.
	Settings  map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version counts the record's writes; the store sets it.
	Version int64
}

// Profile is how a store presents itself: its name (shop.name in
// messages), its country (to read local phone numbers) and its IANA time
// zone (quiet hours, dates).
type Profile struct {
	Name     string `json:",omitempty"`
	Country  string `json:",omitempty"`
	Timezone string `json:",omitempty"`
	// Currency (ISO 4217) is the shop's own, only ever synced: previews
	// and test sends show amounts in it.
	Currency string `json:",omitempty"`
}

// applyProfile sets the values in force: the merchant's own choices, then
// what the store says of itself, then defaults.
func (m *Merchant) applyProfile() {
	if m.Own == (Profile{}) && m.Synced == (Profile{}) && m.Name != "" {
		// A record from before the two were kept apart (or one no one has
		// named yet): what was in force counts as the store's, so the next
		// sync or setting takes over from it.
		m.Synced = Profile{Name: m.Name, Country: m.Country, Timezone: m.Timezone}
	}
	m.Name = cmp.Or(m.Own.Name, m.Synced.Name, m.Domain)
	m.Country = cmp.Or(m.Own.Country, m.Synced.Country, "IN")
	m.Timezone = cmp.Or(m.Own.Timezone, m.Synced.Timezone, defaultTimezone(m.Country))
}

// Warnings are what a merchant must know about its setup before anything
// reaches customers, for the admin home and the merchant view.
func (m Merchant) Warnings() []string {
	var out []string
	if m.Provider.Name == "" {
		out = append(out, "No messaging provider is connected: nothing is sent, events are recorded as skipped (no_provider), and cash-on-delivery orders are not held. Connect a provider, or choose sandbox to try rules.")
	}
	if m.Settings[SettingShopifyReinstall] != "" {
		out = append(out, "Shopify refused to renew the app's access: reinstall the app to restore order sync and COD write-back.")
	}
	if m.Status != MerchantActive {
		out = append(out, "The store uninstalled the app: nothing is processed.")
	}
	return out
}

// ProviderConfig is the messaging provider a merchant connected.
type ProviderConfig struct {
	Name           string // interakt, wati, clevertap, convertway, meta, webhook, sandbox
	CommonProperty string // phone, email or customer_id: the identity sent
	Credentials    map[string]Sealed
	VerifiedAt     time.Time
}

// MerchantStore keeps merchants.
type MerchantStore interface {
	// CreateMerchant stores a new merchant. ErrConflict when the ID, or the
	// platform and domain, are taken.
	CreateMerchant(ctx context.Context, m Merchant) error
	// UpdateMerchant reads the merchant, applies change and writes the
	// result back atomically, with Version one higher; a concurrent write
	// makes it read again and apply change again, so change must be a pure
	// function of the record it is given (no write outside it survives a
	// second call). An error from change aborts with nothing written. The
	// platform and domain may change only to a free pair (ErrConflict).
	// ErrNotFound if absent. It answers the merchant as written.
	UpdateMerchant(ctx context.Context, id string, change func(*Merchant) error) (Merchant, error)
	GetMerchant(ctx context.Context, id string) (Merchant, error)
	MerchantByDomain(ctx context.Context, platform Platform, domain string) (Merchant, error)
	MerchantByAPIKeyHash(ctx context.Context, hash string) (Merchant, error)
	// ListMerchants returns every merchant, ordered by ID.
	ListMerchants(ctx context.Context) ([]Merchant, error)
}
