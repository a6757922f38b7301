package app

import "context"

// Store is everything the service persists. Two backends implement it (Redis
// for production, an embedded database for single-node installs) and one
// conformance suite, store/storetest, holds both to the same behaviour.
type Store interface {
	MerchantStore
	Idempotency
	Queue
	DeliveryStore
	StatsStore
	MerchantData
	OneTimeStore
	// Ping answers nil when the store can serve requests.
	Ping(ctx context.Context) error
	Close() error
}
