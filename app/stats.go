package app

import (
	"context"
	"fmt"
	"time"
)

// Counter names one statistic: for a merchant, on a day (in UTC, as
// "2006-01-02"), what happened ("sent", "skipped.no_phone", ...) to which
// event type (or input: "input.shopify").
type Counter struct {
	Merchant string
	Day      string
	Subject  string // event type, or "inputs" for webhooks received
	Outcome  string
}

// DayOf formats t as a statistics day.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// MaxStatsDays bounds the days one statistics read covers: about as long
// as a backend keeps a day of counters.
const MaxStatsDays = 400

// StatsDays lists the days from..to inclusive (DayOf values), in order.
// It is empty when to is before from, and an error when either is not a
// day or the range is longer than MaxStatsDays. Backends and Stats both
// call it, so a range one accepts the other reads.
func StatsDays(from, to string) ([]string, error) {
	first, errFrom := time.Parse(time.DateOnly, from)
	last, errTo := time.Parse(time.DateOnly, to)
	fields := map[string]string{}
	if errFrom != nil {
		fields["from"] = "must be a date like 2026-11-01"
	}
	if errTo != nil {
		fields["to"] = "must be a date like 2026-11-30"
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	if last.Before(first) {
		return nil, nil
	}
	// Whole days between two UTC midnights: no daylight saving in UTC.
	if n := int(last.Sub(first)/(24*time.Hour)) + 1; n > MaxStatsDays {
		return nil, Invalid("to", fmt.Sprintf("must be within %d days of from", MaxStatsDays))
	}
	var days []string
	for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
		days = append(days, DayOf(day))
	}
	return days, nil
}

// StatsStore keeps counters.
type StatsStore interface {
	// Incr adds n to each counter, all in one round trip.
	Incr(ctx context.Context, n int64, counters ...Counter) error
	// DailyCounts returns the merchant's counters for the days from..to
	// inclusive (DayOf values, within StatsDays' limits), keyed by day,
	// then subject, then outcome. A day with no counters is absent.
	DailyCounts(ctx context.Context, merchant, from, to string) (map[string]map[string]map[string]int64, error)
}
