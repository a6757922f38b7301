package main

import "github.com/storebridge/storebridge/app"

// wooConnectOptions configures WooCommerce connections from the environment.
func wooConnectOptions(cfg Config) app.WooConnectOptions {
	return app.WooConnectOptions{}
}

// registerWooJobs gives the WooCommerce periodic jobs their handlers.
func registerWooJobs(w *app.Workers, connector *app.WooConnector) {}
