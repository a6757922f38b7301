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

// throttles keeps the slots of Throttle in memory, not in the file.
// The embedded store serves a single process (bbolt's file lock keeps any
// other out, see Open), so a table under a mutex is already shared by every
// caller that can reach the store, and a slot costs no commit and no fsync:
// a throttle is asked before every message sent. A restart forgets the
// table: until the slots taken before it are past (those reserved ahead
// included), a window can see up to twice the limit.
type throttles struct {
	mu sync.Mutex
	// slots holds each key's latest slots, oldest first, at most the
	// limit. A key whose newest slot is a window past is the same as
	// absent.
	slots     map[throttleKey]*slotRing
	nextSweep int
}

type throttleKey struct{ merchant, key string }

type slotRing struct {
	at     []time.Time
	window time.Duration
	// turn is the last turn given to a refused caller.
	turn time.Time
}

func newThrottles() *throttles {
	return &throttles{slots: map[throttleKey]*slotRing{}, nextSweep: minThrottleSweep}
}

// Throttle takes the next free slot of the limit key, or gives a refused
// caller its turn: never more than limit slots in any window (a sliding
// window of the latest slots' times), waiters and turns spread
// window/limit apart, as the contract says.
func (s *Store) Throttle(ctx context.Context, merchant, key string, limit int, window, maxWait time.Duration) (time.Duration, error) {
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
	return s.throttles.take(s.now(), throttleKey{merchant, key}, limit, window, maxWait), nil
}

func (t *throttles) take(now time.Time, key throttleKey, limit int, window, maxWait time.Duration) time.Duration {
	spacing := (window + time.Duration(limit) - 1) / time.Duration(limit)
	maxWait = max(maxWait, 0)
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.slots[key]
	if r == nil {
		r = &slotRing{}
	}
	at := now
	if n := len(r.at); n > 0 {
		last := r.at[n-1]
		if n >= limit {
			// The limit-th latest slot: the next may be a window after it.
			if kth := r.at[n-limit]; kth.Add(window).After(now) {
				at = latest(kth.Add(window), last.Add(spacing))
			}
		}
		at = latest(at, last)
	}
	if wait := at.Sub(now); wait > maxWait {
		r.turn = latest(r.turn.Add(spacing), at)
		t.slots[key] = r
		return r.turn.Sub(now)
	}
	if n := len(r.at); n >= limit {
		r.at = r.at[n-limit+1:]
	}
	r.at, r.window = append(r.at, at), window
	t.slots[key] = r
	t.sweep(now)
	return at.Sub(now)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sweep drops the keys back to idle once the table doubled since the last
// sweep, so the table stays within twice the keys in use, at an amortised
// constant cost per call.
func (t *throttles) sweep(now time.Time) {
	if len(t.slots) < t.nextSweep {
		return
	}
	for k, r := range t.slots {
		if (len(r.at) == 0 || !r.at[len(r.at)-1].Add(r.window).After(now)) && !r.turn.After(now) {
			delete(t.slots, k)
		}
	}
	t.nextSweep = max(2*len(t.slots), minThrottleSweep)
}

// forget drops the merchant's keys, for PurgeMerchantData.
func (t *throttles) forget(merchant string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.slots {
		if k.merchant == merchant {
			delete(t.slots, k)
		}
	}
}
