package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// Counters are keyed merchant, day, subject, outcome, so the days of one
// merchant are one contiguous, ordered range. Values are big-endian int64.

// Incr adds n to each counter in one transaction.
func (s *Store) Incr(ctx context.Context, n int64, counters ...app.Counter) error {
	for _, c := range counters {
		if err := required("merchant", c.Merchant, "day", c.Day, "subject", c.Subject, "outcome", c.Outcome); err != nil {
			return fmt.Errorf("embedded: incr: %w", err)
		}
	}
	if len(counters) == 0 {
		return nil
	}
	return s.batch(ctx, "incr", func(tx *bolt.Tx) error {
		stats := bucket(tx, bucketStats)
		for _, c := range counters {
			k := counterKey(c)
			var v int64
			if old := stats.Get(k); len(old) == 8 {
				v = int64(binary.BigEndian.Uint64(old))
			}
			if err := stats.Put(k, binary.BigEndian.AppendUint64(nil, uint64(v+n))); err != nil {
				return err
			}
		}
		return nil
	})
}

// outcomesHint sizes a subject's map of a day: about what the pipeline
// counts per event type, so the map does not grow while it is filled.
const outcomesHint = 10

// DailyCounts reads the merchant's days from..to with one cursor: the
// days of a merchant are one ordered range of keys.
func (s *Store) DailyCounts(ctx context.Context, merchant, from, to string) (map[string]map[string]map[string]int64, error) {
	if err := required("merchant", merchant); err != nil {
		return nil, fmt.Errorf("embedded: daily counts: %w", err)
	}
	days, err := app.StatsDays(from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]map[string]int64{}
	if len(days) == 0 {
		return out, nil
	}
	err = s.view(ctx, "daily counts", func(tx *bolt.Tx) error {
		clear(out)
		prefix := merchantPrefix(merchant)
		c := bucket(tx, bucketStats).Cursor()
		// A year is some 30,000 counters over a few hundred names: each
		// name becomes a string once, and the maps of the day and subject
		// at hand are kept while the keys stay on them.
		names := map[string]string{}
		name := func(b []byte) string {
			if s, ok := names[string(b)]; ok {
				return s
			}
			s := string(b)
			names[s] = s
			return s
		}
		var (
			lastDay, lastSubject []byte
			days                 map[string]map[string]int64
			outcomes             map[string]int64
		)
		// Days are DayOf values, all ten bytes, so their length prefixes
		// are equal and the seek lands on the first day ≥ from.
		for k, v := c.Seek(appendPart(bytes.Clone(prefix), from)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			day, rest, ok := readPartBytes(k[len(prefix):])
			subject, outcome, ok2 := readPartBytes(rest)
			if !ok || !ok2 || len(v) != 8 {
				return fmt.Errorf("corrupt counter %q", k)
			}
			if string(day) > to {
				break
			}
			if string(day) < from {
				continue // only a day not written by DayOf sorts here
			}
			if days == nil || !bytes.Equal(day, lastDay) {
				lastDay, lastSubject = day, nil
				days = map[string]map[string]int64{}
				out[name(day)] = days
			}
			if outcomes == nil || lastSubject == nil || !bytes.Equal(subject, lastSubject) {
				lastSubject = subject
				outcomes = make(map[string]int64, outcomesHint)
				days[name(subject)] = outcomes
			}
			outcomes[name(outcome)] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func counterKey(c app.Counter) []byte {
	k := appendPart(merchantPrefix(c.Merchant), c.Day)
	return append(appendPart(k, c.Subject), c.Outcome...)
}
