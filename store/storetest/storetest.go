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

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// NewStore returns a fresh, empty store that reads the time from now for
// every time it computes (due times, leases, claim expiry where the backend
// computes it itself). It must close the store in t.Cleanup.
type NewStore func(t *testing.T, now func() time.Time) app.Store

// Run runs the whole suite against the backend newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			clock := &Clock{}
			tc.run(t, clock, newStore(t, clock.Now))
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
	return all
}
