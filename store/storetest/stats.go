package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/storebridge/storebridge/app"
)

func statsCases() []testCase {
	return []testCase{
		{"Stats/IncrAndSumOverDays", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			incr := func(n int64, cs ...app.Counter) {
				t.Helper()
				if err := s.Incr(ctx, n, cs...); err != nil {
					t.Fatalf("Incr() = %v", err)
				}
			}
			c := func(merchant, day, subject, outcome string) app.Counter {
				return app.Counter{Merchant: merchant, Day: day, Subject: subject, Outcome: outcome}
			}
			incr(1, c("m1", "2026-11-20", "order.placed", "received"), c("m1", "2026-11-20", "order.placed", "sent"))
			incr(2, c("m1", "2026-11-21", "order.placed", "sent"))
			incr(1, c("m1", "2026-11-21", "inputs", "accepted"))
			incr(5, c("m1", "2026-11-25", "order.placed", "sent")) // outside the range
			incr(7, c("m2", "2026-11-21", "order.placed", "sent")) // another merchant
			incr(1, c("m1", "2026-11-21", "cod.reminder", "skipped.no_phone"))
			got, err := s.Counts(ctx, "m1", "2026-11-20", "2026-11-21")
			if err != nil {
				t.Fatalf("Counts() = %v", err)
			}
			want := map[string]map[string]int64{
				"order.placed": {"received": 1, "sent": 3},
				"inputs":       {"accepted": 1},
				"cod.reminder": {"skipped.no_phone": 1},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Counts(m1, 20..21) = %v; want %v", got, want)
			}
			empty, err := s.Counts(ctx, "m3", "2026-11-20", "2026-11-21")
			if err != nil || len(empty) != 0 {
				t.Errorf("Counts(unknown merchant) = %v, %v; want empty", empty, err)
			}
		}},
	}
}
