package app

import (
	"context"
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

// StatsStore keeps counters.
type StatsStore interface {
	// Incr adds n to each counter, all in one round trip.
	Incr(ctx context.Context, n int64, counters ...Counter) error
	// Counts returns the merchant's counters for the days from..to
	// inclusive (DayOf values), summed over the days, keyed by subject then
	// outcome.
	Counts(ctx context.Context, merchant, from, to string) (map[string]map[string]int64, error)
}
