package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// A year of statistics is some 30,000 counters read on every statistics
// page: they must not cost an allocation or three each, which made the
// page's garbage, and its time under load, grow with the counters.
func TestDailyCountsOfAYearAllocatePerName(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), time.Now)
	ctx := context.Background()
	subjects := []string{app.EventOrderPlaced, app.EventOrderShipped, app.EventOrderDelivered, app.EventCODConfirmationAsked,
		app.EventCartAbandoned, app.EventPointsEarned, app.EventReviewRequested, "inputs"}
	outcomes := []string{"received", "sent", "delivered", "read", "failed", "dead", "skipped.duplicate", "skipped.no_phone", "skipped.opted_out", "skipped.no_rule"}
	last := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for d := range 365 {
		var counters []app.Counter
		for _, subject := range subjects {
			for _, outcome := range outcomes {
				counters = append(counters, app.Counter{Merchant: "m1", Day: app.DayOf(last.AddDate(0, 0, -d)), Subject: subject, Outcome: outcome})
			}
		}
		if err := s.Incr(ctx, 1, counters...); err != nil {
			t.Fatal(err)
		}
	}
	from, to := app.DayOf(last.AddDate(0, 0, -364)), app.DayOf(last)
	var got map[string]map[string]map[string]int64
	allocs := testing.AllocsPerRun(3, func() {
		var err error
		if got, err = s.DailyCounts(ctx, "m1", from, to); err != nil {
			t.Fatal(err)
		}
	})
	counters := 365 * len(subjects) * len(outcomes)
	if len(got) != 365 || len(got[to]) != len(subjects) || got[from]["inputs"]["skipped.no_rule"] != 1 {
		t.Fatalf("DailyCounts() = %d days, %d subjects on %s; want 365 days of %d", len(got), len(got[to]), to, len(subjects))
	}
	// The maps themselves take a few allocations per day and subject.
	if perCounter := allocs / float64(counters); perCounter > 1 {
		t.Errorf("DailyCounts() of %d counters allocated %.0f times, %.2f per counter; want at most 1 (some 3.5 when each name was a new string)", counters, allocs, perCounter)
	}
}
