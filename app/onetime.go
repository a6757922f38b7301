package app

import (
	"context"
	"time"
)

// OneTimeStore keeps short-lived values that are good for one read: the
// merchant of a sign-in link, the merchant a WooCommerce connect's return
// signs in. Keys are global (not under a merchant): callers make them
// from a hash of the secret they stand for, never the secret itself.
type OneTimeStore interface {
	// PutOnce stores value under key for ttl; ErrConflict when key holds a
	// live value already.
	PutOnce(ctx context.Context, key, value string, ttl time.Duration) error
	// TakeOnce answers key's value and deletes it in one atomic step, so of
	// concurrent takes exactly one gets it; ErrNotFound when key holds
	// nothing live (never put, taken already, or expired).
	TakeOnce(ctx context.Context, key string) (string, error)
}
