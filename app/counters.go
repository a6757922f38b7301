package app

import (
	"context"
	"sync"
	"sync/atomic"
)

// counterBuffer adds counters up in memory and writes them in one call per
// flush, so the webhook path does not pay a store round trip per count. A
// crash loses at most one flush interval of statistics, never work. Counts
// are atomic per counter, so concurrent webhooks do not queue on one lock.
type counterBuffer struct {
	counts sync.Map // Counter → *atomic.Int64
	// flushing makes flushes take turns, so a read that flushes first
	// (Stats) also waits for counts another flush took but has not
	// written yet.
	flushing sync.Mutex
}

func (b *counterBuffer) add(c Counter, n int64) {
	if v, ok := b.counts.Load(c); ok {
		v.(*atomic.Int64).Add(n)
		return
	}
	v, _ := b.counts.LoadOrStore(c, new(atomic.Int64))
	v.(*atomic.Int64).Add(n)
}

// flush writes what was added since the last flush. Counts that fail to be
// written are put back for the next flush. Counters of days before today
// that saw nothing since the last flush are dropped, so the map holds only
// live ones.
func (b *counterBuffer) flush(ctx context.Context, store StatsStore, today string) error {
	b.flushing.Lock()
	defer b.flushing.Unlock()
	pending := map[Counter]int64{}
	b.counts.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Swap(0); n != 0 {
			pending[k.(Counter)] = n
		} else if k.(Counter).Day < today {
			b.counts.CompareAndDelete(k, v)
		}
		return true
	})
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
			for m, unwritten := range byAmount { // this group and those not tried
				for _, c := range unwritten {
					b.add(c, m)
				}
			}
			return err
		}
		delete(byAmount, n)
	}
	return nil
}
