package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// statsField joins subject and outcome; subjects (event types) hold no '|'.
const statsField = "|"

// maxExpiring bounds statsExpiring: past it, it starts again empty, which
// only costs an EXPIRE per day's hash.
const maxExpiring = 100_000

// statsExpiring holds the keys of the stats days whose TTL this instance
// set: a day's hash gets it once, on its first write here, rather than on
// every flush. The TTL then runs from the first count of the day, which
// keeps a day as long as a read can cover it (statsTTL).
type statsExpiring struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (e *statsExpiring) has(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.keys[key]
}

func (e *statsExpiring) add(keys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.keys == nil || len(e.keys)+len(keys) > maxExpiring {
		e.keys = map[string]bool{}
	}
	for _, key := range keys {
		e.keys[key] = true
	}
}

// Incr adds n to each counter in one pipeline.
func (s *Store) Incr(ctx context.Context, n int64, counters ...app.Counter) error {
	for _, c := range counters {
		if err := requireID("merchant", c.Merchant); err != nil {
			return err
		}
	}
	if len(counters) == 0 {
		return nil
	}
	// One EXPIRE per day's hash new to this instance, after its fields: a
	// flush carries several counters of each merchant's day.
	var days []string
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		seen := map[string]bool{}
		for _, c := range counters {
			key := s.keys.stats(c.Merchant, c.Day)
			p.HIncrBy(ctx, key, c.Subject+statsField+c.Outcome, n)
			if !seen[key] && !s.expiring.has(key) {
				days = append(days, key)
			}
			seen[key] = true
		}
		for _, key := range days {
			p.Expire(ctx, key, statsTTL)
		}
		return nil
	})
	if err != nil {
		return wrap("incr", err)
	}
	s.expiring.add(days)
	return nil
}

// DailyCounts reads the merchant's days from..to, one hash a day, in one
// pipelined round trip.
func (s *Store) DailyCounts(ctx context.Context, merchant, from, to string) (map[string]map[string]map[string]int64, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, err
	}
	days, err := app.StatsDays(from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]map[string]int64{}
	if len(days) == 0 {
		return out, nil
	}
	cmds := make([]*redis.MapStringStringCmd, len(days))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, day := range days {
			cmds[i] = p.HGetAll(ctx, s.keys.stats(merchant, day))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("daily counts", err)
	}
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue
		}
		counts := map[string]map[string]int64{}
		for field, value := range cmd.Val() {
			subject, outcome, _ := strings.Cut(field, statsField)
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redisstore: daily counts: field %q: %w", field, err)
			}
			if counts[subject] == nil {
				counts[subject] = map[string]int64{}
			}
			counts[subject][outcome] = n
		}
		out[days[i]] = counts
	}
	return out, nil
}
