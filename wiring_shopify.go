package main

import "github.com/storebridge/storebridge/app"

// shopifyInstallOptions configures the Shopify app from the environment.
func shopifyInstallOptions(cfg Config) app.ShopifyInstallOptions {
	return app.ShopifyInstallOptions{}
}

// registerShopifyJobs gives the Shopify app's periodic jobs their handlers.
func registerShopifyJobs(w *app.Workers, installer *app.ShopifyInstaller) {}
