package app

import (
	"sync"
	"time"
)

// expiringSet remembers keys, each until its own time, in bounded memory:
// at most max keys, so keys a caller makes up (random shop domains, client
// addresses) cannot grow it without limit. Its users only ever lose a
// shortcut when an entry goes early: the store still answers.
type expiringSet struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time
}

func newExpiringSet(max int) *expiringSet {
	return &expiringSet{max: max, until: map[string]time.Time{}}
}

// get answers when key's entry ends, if it has not ended at now.
func (e *expiringSet) get(key string, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	until, ok := e.until[key]
	if !ok {
		return time.Time{}, false
	}
	if !now.Before(until) {
		delete(e.until, key)
		return time.Time{}, false
	}
	return until, true
}

// add remembers key until until, making room first when the set is full.
func (e *expiringSet) add(key string, until, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.until[key]; !ok && len(e.until) >= e.max {
		e.evict(now)
	}
	e.until[key] = until
}

// remove forgets key.
func (e *expiringSet) remove(key string) {
	e.mu.Lock()
	delete(e.until, key)
	e.mu.Unlock()
}

// evict drops the ended entries and then, until an eighth of the set is
// free, arbitrary ones (map order is random): under a flood of new keys a
// sweep of max entries runs once per max/8 additions.
func (e *expiringSet) evict(now time.Time) {
	for k, until := range e.until {
		if !now.Before(until) {
			delete(e.until, k)
		}
	}
	keep := min(e.max-e.max/8, e.max-1)
	for k := range e.until {
		if len(e.until) <= keep {
			break
		}
		delete(e.until, k)
	}
}
