package app

// WooConnector connects a WooCommerce store (wc-auth), keeps its webhooks
// in place and reconciles missed orders.
type WooConnector struct {
	svc  *Service
	opts WooConnectOptions
}

// WooConnectOptions configure WooCommerce connections.
type WooConnectOptions struct{}

// NewWooConnector returns the WooCommerce connection use cases over svc.
func NewWooConnector(svc *Service, opts WooConnectOptions) *WooConnector {
	return &WooConnector{svc: svc, opts: opts}
}
