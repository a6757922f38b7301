package app

import (
	"sync"
	"time"
)

// ruleCacheTTL bounds how stale a cached rule may be on another instance:
// a rule changed there takes effect here within it. A rule changed on
// this instance takes effect at once (PutRule forgets it).
const ruleCacheTTL = 5 * time.Second

// maxCachedRules bounds the cache: past it, entries are dropped wholesale
// and read again, which only costs store reads.
const maxCachedRules = 50_000

// ruleCache keeps merchants' rules, by merchant and event type, so the
// event and send paths, which read the rule of every message twice, read
// the store once per rule and TTL instead. A missing rule is cached too:
// events no rule wants are the common case (cod.confirmation_requested
// beside every COD order), and cost no read then.
type ruleCache struct {
	mu      sync.RWMutex
	entries map[ruleCacheKey]ruleCacheEntry
}

type ruleCacheKey struct{ merchant, event string }

type ruleCacheEntry struct {
	rule    Rule
	missing bool
	expires time.Time
}

func (c *ruleCache) get(merchant, event string, now time.Time) (ruleCacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.entries[ruleCacheKey{merchant, event}]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return ruleCacheEntry{}, false
	}
	return e, true
}

func (c *ruleCache) put(merchant, event string, e ruleCacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedRules {
		c.entries = map[ruleCacheKey]ruleCacheEntry{}
	}
	c.entries[ruleCacheKey{merchant, event}] = e
}

// forget drops a merchant's cached rules: this instance changed them.
func (c *ruleCache) forget(merchant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.merchant == merchant {
			delete(c.entries, k)
		}
	}
}
