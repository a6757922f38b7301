package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockResync is how long a reading of the server's clock is carried
// forward on this process's monotonic clock before it is read again.
// Clocks drift by parts per million: in 10 s, microseconds.
const clockResync = 10 * time.Second

// serverClock is Redis's clock as this process reckons it: one TIME now and
// then, carried forward on the local monotonic clock. The throttle and a
// webhook's lease read it instead of calling TIME in their scripts, so
// every instance agrees on the time within half a round trip, whatever its
// own wall clock says.
type serverClock struct {
	rdb     redis.UniversalClient
	mu      sync.Mutex
	server  time.Time // the server's clock at local
	local   time.Time // carries its monotonic reading
	reading atomic.Bool
}

// now answers the server's time, reading it first when this process has
// no reading yet; a stale one is refreshed by one caller while the others
// carry the old one forward.
func (c *serverClock) now(ctx context.Context) (time.Time, error) {
	c.mu.Lock()
	server, local := c.server, c.local
	c.mu.Unlock()
	if !local.IsZero() && (time.Since(local) < clockResync || !c.reading.CompareAndSwap(false, true)) {
		return server.Add(time.Since(local)), nil
	}
	if !local.IsZero() {
		defer c.reading.Store(false)
	}
	sent := time.Now()
	t, err := c.rdb.Time(ctx).Result()
	if err != nil {
		if !local.IsZero() {
			return server.Add(time.Since(local)), nil // the old reading still holds
		}
		return time.Time{}, err
	}
	// The server read its clock about half way through the round trip.
	mid := sent.Add(time.Since(sent) / 2)
	c.mu.Lock()
	c.server, c.local = t, mid
	c.mu.Unlock()
	return t.Add(time.Since(mid)), nil
}
