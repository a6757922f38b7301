package app

import (
	"context"
	"sync"
)

// counterBuffer adds counters up in memory and writes them in one call per
// flush, so the webhook path does not pay a store round trip per count. A
// crash loses at most one flush interval of statistics, never work.
type counterBuffer struct {
	mu      sync.Mutex
	pending map[Counter]int64
}

func (b *counterBuffer) add(c Counter, n int64) {
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[Counter]int64{}
	}
	b.pending[c] += n
	b.mu.Unlock()
}

// flush writes what was added since the last flush. Counts that fail to be
// written are put back for the next flush.
func (b *counterBuffer) flush(ctx context.Context, store StatsStore) error {
	b.mu.Lock()
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	// Group by amount so counters bumped equally go in one Incr call.
	byAmount := map[int64][]Counter{}
	for c, n := range pending {
		byAmount[n] = append(byAmount[n], c)
	}
	for n, counters := range byAmount {
		if err := store.Incr(ctx, n, counters...); err != nil {
			for c, n := range pending { // what is left was not written
				b.add(c, n)
			}
			return err
		}
		for _, c := range counters {
			delete(pending, c)
		}
	}
	return nil
}
