package app

import (
	"context"
	"time"
)

// RateLimit is one limit on callers: Rule per key (an address, an API
// key's hash) within Scope, and what to do when the store cannot count.
type RateLimit struct {
	Scope string
	Rule  Rate
	// FailClosed refuses a key the store could not count for one slot's
	// share of the window, on this instance: for limits on failed
	// attempts (sign-ins), which exist to stop unseen guessing. Otherwise
	// (fail open) the request goes on unlimited: it needs the store anyway
	// and fails there if the store is really down.
	FailClosed bool
}

const (
	// limitCheckTimeout bounds the store call behind a limit where the
	// store honours the context (a pool wait, a dial); the Redis client's
	// own 2 s read and write timeouts bound the rest.
	limitCheckTimeout = 500 * time.Millisecond
	// maxRefusals bounds the refusals remembered per instance.
	maxRefusals = 10_000
)

// rateScope is the store "merchant" a scope's slots live under: apart
// from every merchant's keys (merchant ids start with m_), one hash tag
// per scope.
func rateScope(scope string) string { return "ratelimit:" + scope }

// Allow takes one slot of limit for key from the throttle every instance
// shares, and answers nil, or a *RateLimitedError saying how long to wait.
// A caller never waits for a slot: a refused one is answered 429 with
// the wait until its turn, and the refusal is remembered here until then,
// so its next tries cost no store call.
func (s *Service) Allow(ctx context.Context, limit RateLimit, key string) error {
	now := s.now()
	if err := s.Refused(limit, key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, limitCheckTimeout)
	defer cancel()
	wait, err := s.store.Throttle(ctx, rateScope(limit.Scope), key, limit.Rule.Limit, limit.Rule.Per, 0)
	if err != nil {
		if !limit.FailClosed {
			s.log.Warn("rate limit not checked, request let through", "scope", limit.Scope, "err", err)
			return nil
		}
		wait = max(limit.Rule.Per/time.Duration(limit.Rule.Limit), time.Second)
		s.log.Warn("rate limit not checked, caller refused for now", "scope", limit.Scope, "wait", wait.String(), "err", err)
	}
	if wait <= 0 {
		return nil
	}
	s.refusals.add(limit.Scope+" "+key, now.Add(wait), now)
	return &RateLimitedError{RetryAfter: wait}
}

// Refused answers the refusal Allow last gave key under limit on this
// instance, while it lasts, or nil. It takes no slot and costs no store
// call: a limit on failures asks it before trying, and counts with Allow
// only when the try failed.
func (s *Service) Refused(limit RateLimit, key string) error {
	now := s.now()
	if until, ok := s.refusals.get(limit.Scope+" "+key, now); ok {
		return &RateLimitedError{RetryAfter: until.Sub(now)}
	}
	return nil
}
