package embedded

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/storebridge/storebridge/app"
)

// minThrottleSweep is the size the throttle table may reach before the
// first sweep of idle keys.
const minThrottleSweep = 1024

// throttles keeps the rate limits of Throttle in memory, not in the file.
// The embedded store serves a single process (bbolt's file lock keeps any
// other out, see Open), so a table under a mutex is already shared by every
// caller that can reach the store, and a slot costs no commit and no fsync:
// a throttle is asked before every message sent. A restart forgets the
// table, which at worst lets one burst more through.
type throttles struct {
	mu sync.Mutex
	// tat is each key's theoretical arrival time (GCRA): when the key will
	// be back to idle. A key whose tat has passed is the same as absent.
	tat       map[throttleKey]time.Time
	nextSweep int
}

type throttleKey struct{ merchant, key string }

func newThrottles() *throttles {
	return &throttles{tat: map[throttleKey]time.Time{}, nextSweep: minThrottleSweep}
}

// Throttle takes one slot of the rate limit key: at most limit slots per
// window, as a GCRA. A burst of up to limit slots is taken at once, then
// one slot frees every window/limit. It answers 0 when it took a slot, or
// how long to wait before one frees (it takes nothing then).
func (s *Store) Throttle(ctx context.Context, merchant, key string, limit int, window time.Duration) (time.Duration, error) {
	err := required("merchant", merchant, "key", key)
	switch {
	case err != nil:
	case limit <= 0:
		err = app.Invalid("limit", "must be positive")
	case window <= 0:
		err = app.Invalid("window", "must be positive")
	default:
		err = ctx.Err()
	}
	if err != nil {
		return 0, fmt.Errorf("embedded: throttle: %w", err)
	}
	return s.throttles.take(s.now(), throttleKey{merchant, key}, limit, window), nil
}

func (t *throttles) take(now time.Time, key throttleKey, limit int, window time.Duration) time.Duration {
	interval := max(window/time.Duration(limit), 1) // one slot's share of the window
	t.mu.Lock()
	defer t.mu.Unlock()
	tat, ok := t.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	// The slot fits when, once taken, the key is back to idle within a
	// window: at most limit slots are outstanding.
	if wait := next.Sub(now) - window; wait > 0 {
		return wait
	}
	t.tat[key] = next
	t.sweep(now)
	return 0
}

// sweep drops the keys back to idle once the table doubled since the last
// sweep, so the table stays within twice the keys in use, at an amortised
// constant cost per call.
func (t *throttles) sweep(now time.Time) {
	if len(t.tat) < t.nextSweep {
		return
	}
	for k, tat := range t.tat {
		if !tat.After(now) {
			delete(t.tat, k)
		}
	}
	t.nextSweep = max(2*len(t.tat), minThrottleSweep)
}

// forget drops the merchant's keys, for PurgeMerchantData.
func (t *throttles) forget(merchant string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.tat {
		if k.merchant == merchant {
			delete(t.tat, k)
		}
	}
}
