package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// statsField joins subject and outcome; subjects (event types) hold no '|'.
const statsField = "|"

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
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range counters {
			key := s.keys.stats(c.Merchant, c.Day)
			p.HIncrBy(ctx, key, c.Subject+statsField+c.Outcome, n)
			p.Expire(ctx, key, statsTTL)
		}
		return nil
	})
	return wrap("incr", err)
}

// Counts sums the merchant's counters over the days from..to inclusive.
func (s *Store) Counts(ctx context.Context, merchant, from, to string) (map[string]map[string]int64, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, err
	}
	first, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return nil, app.Invalid("from", "must be a day like 2006-01-02")
	}
	last, err := time.Parse(time.DateOnly, to)
	if err != nil {
		return nil, app.Invalid("to", "must be a day like 2006-01-02")
	}
	out := map[string]map[string]int64{}
	if last.Before(first) {
		return out, nil
	}
	if last.Sub(first) >= maxStatsDays*24*time.Hour {
		return nil, app.Invalid("to", fmt.Sprintf("at most %d days after from", maxStatsDays-1))
	}
	var cmds []*redis.MapStringStringCmd
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
			cmds = append(cmds, p.HGetAll(ctx, s.keys.stats(merchant, app.DayOf(day))))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("counts", err)
	}
	for _, cmd := range cmds {
		for field, value := range cmd.Val() {
			subject, outcome, _ := strings.Cut(field, statsField)
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("redisstore: counts: field %q: %w", field, err)
			}
			if out[subject] == nil {
				out[subject] = map[string]int64{}
			}
			out[subject][outcome] += n
		}
	}
	return out, nil
}
