package main

import (
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
)

// wooRESTTimeout bounds one REST call: a page of 100 orders takes a slow
// WordPress host several seconds to build.
const wooRESTTimeout = 30 * time.Second

// wooConnectOptions configures WooCommerce connections from the environment.
func wooConnectOptions(cfg Config) app.WooConnectOptions {
	rest := woocommerce.NewREST(adapters.Options{
		AllowInsecure: cfg.AllowInsecureOutbound,
		Client:        adapters.NewHTTPClient(wooRESTTimeout, cfg.AllowInsecureOutbound),
	})
	return app.WooConnectOptions{
		AppURL:        cfg.AppURL.String(),
		AllowInsecure: cfg.AllowInsecureOutbound,
		REST:          rest,
		Orders:        rest,
		Coupons:       rest,
	}
}

// registerWooJobs gives the WooCommerce jobs their handlers.
func registerWooJobs(w *app.Workers, svc *app.Service, connector *app.WooConnector) {
	svc.SetCODWriter(app.PlatformWooCommerce, connector)
	w.Handle(app.JobWooWebhooks, connector.HandleWebhooksJob)
	w.Handle(app.JobWooReconcile, connector.HandleReconcileJob)
}
