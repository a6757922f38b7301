package app

// ShopifyInstaller installs the public Shopify app on a shop (OAuth),
// keeps its webhook subscriptions in place and reconciles missed orders.
type ShopifyInstaller struct {
	svc  *Service
	opts ShopifyInstallOptions
}

// ShopifyInstallOptions configure the Shopify app.
type ShopifyInstallOptions struct{}

// NewShopifyInstaller returns the Shopify install use cases over svc.
func NewShopifyInstaller(svc *Service, opts ShopifyInstallOptions) *ShopifyInstaller {
	return &ShopifyInstaller{svc: svc, opts: opts}
}
