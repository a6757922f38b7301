package app

import (
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
	Name     string
	Country  string // ISO 3166-1 alpha-2, used to read local phone numbers
	Timezone string // IANA name, e.g. Asia/Kolkata
	Status   MerchantStatus
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
	// UpdateMerchant replaces a stored merchant (same ID); the platform and
	// domain may change only to a free pair. ErrNotFound if absent.
	UpdateMerchant(ctx context.Context, m Merchant) error
	GetMerchant(ctx context.Context, id string) (Merchant, error)
	MerchantByDomain(ctx context.Context, platform Platform, domain string) (Merchant, error)
	MerchantByAPIKeyHash(ctx context.Context, hash string) (Merchant, error)
	// ListMerchants returns every merchant, ordered by ID.
	ListMerchants(ctx context.Context) ([]Merchant, error)
}
