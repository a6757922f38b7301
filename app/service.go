package app

import (
	"log/slog"
	"time"
)

// Service holds the use cases. Handlers call one of its methods per request;
// job handlers run on its workers.
type Service struct {
	store   Store
	keyring *Keyring
	now     func() time.Time
	log     *slog.Logger
}

// ServiceOptions are the service's dependencies.
type ServiceOptions struct {
	Store   Store
	Keyring *Keyring
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
}

// NewService returns the use cases over a store.
func NewService(opts ServiceOptions) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: opts.Store, keyring: opts.Keyring, now: opts.Now, log: opts.Logger}
}
