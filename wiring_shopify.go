package main

import (
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
)

// shopifyInstallOptions configures the Shopify app from the environment.
// Without SHOPIFY_API_KEY and SHOPIFY_API_SECRET the install is off.
func shopifyInstallOptions(cfg Config) app.ShopifyInstallOptions {
	opts := app.ShopifyInstallOptions{
		APIKey:    cfg.ShopifyAPIKey,
		APISecret: cfg.ShopifyAPISecret,
		Scopes:    cfg.ShopifyScopes,
		AppURL:    cfg.AppURL.String(),
	}
	admin := shopify.NewAdmin(shopify.AdminOptions{
		APIKey:    cfg.ShopifyAPIKey,
		APISecret: cfg.ShopifyAPISecret,
		BaseURL:   cfg.ShopifyAdminBaseURL,
		HTTP: adapters.Options{
			AllowInsecure: cfg.AllowInsecureOutbound,
			Client:        adapters.NewHTTPClient(adapters.DefaultTimeout, cfg.AllowInsecureOutbound),
		},
	})
	if cfg.ShopifyAPIKey != "" && cfg.ShopifyAPISecret != "" {
		opts.Admin = admin
	}
	// Shops set up by hand with a custom app's token have orders too.
	opts.Orders = admin
	opts.Discounts = admin
	return opts
}

// registerShopifyJobs gives the Shopify app's periodic jobs their handlers.
func registerShopifyJobs(w *app.Workers, svc *app.Service, installer *app.ShopifyInstaller) {
	svc.SetCODWriter(app.PlatformShopify, installer)
	w.Handle(app.JobShopifySubscriptions, installer.HandleSubscriptionsJob)
	w.Handle(app.JobShopifyReconcile, installer.HandleReconcileJob)
}
