package app

import (
	"math/rand/v2"
	"time"
)

// Backoff answers how long to wait before attempt number attempt+1, after
// attempt failures. Schedules come from configuration
// (DELIVERY_RETRY_SCHEDULE) so tests can shorten them.
type Backoff struct {
	// Waits are the pauses between attempts; after the last one the work
	// is dead. len(Waits)+1 attempts are made in all.
	Waits []time.Duration
	// Jitter spreads each wait by up to this fraction either way, so a
	// provider outage does not end with every merchant's retries at once.
	Jitter float64
}

// Attempts is how many tries the schedule allows in all.
func (b Backoff) Attempts() int { return len(b.Waits) + 1 }

// Delay is the wait after the given failed attempt (1-based). Past the end
// of the schedule it repeats the last wait.
func (b Backoff) Delay(attempt int) time.Duration {
	if len(b.Waits) == 0 {
		return 0
	}
	i := min(max(attempt-1, 0), len(b.Waits)-1)
	wait := b.Waits[i]
	if b.Jitter > 0 {
		spread := float64(wait) * b.Jitter
		wait += time.Duration((rand.Float64()*2 - 1) * spread)
	}
	return max(wait, 0)
}
