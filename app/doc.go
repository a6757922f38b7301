// Package app is storebridge's domain and use cases: merchants and their
// sealed secrets, store webhooks received exactly once, events and the
// rules that turn them into messages, deliveries and their statuses,
// statistics, and the platform install and sync flows. It owns the small
// interfaces it needs (Store, Provider, the platform clients) and imports
// neither the HTTP framework nor the store drivers: handlers call it,
// store and adapters implement what it asks for, main wires them.
package app
