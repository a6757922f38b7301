package app

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// schedule queues a merchant's periodic job of kind under key, due at due.
// A job already scheduled under the key is left alone, unless pullForward
// asks for it to run now instead (a reinstall, a reconnect). A job a worker
// holds cannot be cancelled, and is running anyway.
func (s *Service) schedule(ctx context.Context, merchantID, kind, key string, due time.Time, pullForward bool) error {
	job := Job{ID: NewID(s.now()), Merchant: merchantID, Kind: kind, Key: key, DueAt: due, CreatedAt: s.now()}
	err := s.store.Enqueue(ctx, job)
	if errors.Is(err, ErrConflict) && pullForward {
		cancelled, cerr := s.store.Cancel(ctx, merchantID, key)
		if cerr != nil {
			return fmt.Errorf("schedule %s: %w", kind, cerr)
		}
		if cancelled {
			err = s.store.Enqueue(ctx, job)
		}
	}
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("schedule %s: %w", kind, err)
	}
	return nil
}
