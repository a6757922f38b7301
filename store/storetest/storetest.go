// Package storetest is the conformance suite every app.Store backend must
// pass. A backend's test calls Run with a function that makes a fresh,
// empty store.
package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Clock is real time plus an offset the suite can move forward, so due
// times and leases can be tested without sleeping, while time-to-live
// values a backend hands to its server (Redis PX) still run on real time.
// A backend that reads its server's clock for leases and due times adds
// Offset to it.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Offset is how far the clock has been moved.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// NewStore returns a fresh, empty store that reads the time from
// clock.Now for every time it computes (due times, leases, claim expiry
// where the backend computes it itself), or its server's clock plus
// clock.Offset. It must close the store in t.Cleanup.
type NewStore func(t *testing.T, clock *Clock) app.Store

// Run runs the whole suite against the backend newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			clock := &Clock{}
			tc.run(t, clock, newStore(t, clock))
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, clock *Clock, s app.Store)
}

func cases() []testCase {
	var all []testCase
	all = append(all, merchantCases()...)
	all = append(all, idempotencyCases()...)
	all = append(all, queueCases()...)
	all = append(all, deliveryCases()...)
	all = append(all, statsCases()...)
	all = append(all, merchantDataCases()...)
	all = append(all, oneTimeCases()...)
	return all
}
