package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/storebridge/storebridge/app"
)

func statsCases() []testCase {
	return []testCase{
		{"Stats/IncrAndReadByDay", func(t *testing.T, clock *Clock, s app.Store) {
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
			incr(1, c("m1", "2026-11-19", "order.placed", "sent")) // the day before the range
			incr(1, c("m1", "2026-11-20", "order.placed", "received"), c("m1", "2026-11-20", "order.placed", "sent"))
			incr(2, c("m1", "2026-11-20", "order.placed", "sent"))
			incr(1, c("m1", "2026-11-22", "inputs", "accepted"))
			incr(1, c("m1", "2026-11-22", "cod.reminder", "skipped.no_phone"))
			incr(5, c("m1", "2026-11-23", "order.placed", "sent")) // the day after
			incr(7, c("m2", "2026-11-21", "order.placed", "sent")) // another merchant
			got, err := s.DailyCounts(ctx, "m1", "2026-11-20", "2026-11-22")
			if err != nil {
				t.Fatalf("DailyCounts() = %v", err)
			}
			// Both bounds are in; the 21st, with no counters, is absent.
			want := map[string]map[string]map[string]int64{
				"2026-11-20": {"order.placed": {"received": 1, "sent": 3}},
				"2026-11-22": {"inputs": {"accepted": 1}, "cod.reminder": {"skipped.no_phone": 1}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("DailyCounts(m1, 20..22) = %v; want %v", got, want)
			}
			one, err := s.DailyCounts(ctx, "m1", "2026-11-23", "2026-11-23")
			if want := map[string]map[string]map[string]int64{"2026-11-23": {"order.placed": {"sent": 5}}}; err != nil || !reflect.DeepEqual(one, want) {
				t.Errorf("DailyCounts(m1, 23..23) = %v, %v; want %v", one, err, want)
			}
			empty, err := s.DailyCounts(ctx, "m3", "2026-11-20", "2026-11-21")
			if err != nil || len(empty) != 0 {
				t.Errorf("DailyCounts(unknown merchant) = %v, %v; want empty", empty, err)
			}
		}},
		{"Stats/RangeLimits", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			day := func(d string) app.Counter {
				return app.Counter{Merchant: "m1", Day: d, Subject: "order.placed", Outcome: "sent"}
			}
			if err := s.Incr(ctx, 1, day("2025-01-01"), day("2026-02-04"), day("2026-02-05")); err != nil {
				t.Fatalf("Incr() = %v", err)
			}
			// 2025-01-01..2026-02-04 is 400 days, the most one read covers.
			longest, err := s.DailyCounts(ctx, "m1", "2025-01-01", "2026-02-04")
			if err != nil || len(longest) != 2 {
				t.Errorf("DailyCounts(400 days) = %v, %v; want its two days", longest, err)
			}
			reversed, err := s.DailyCounts(ctx, "m1", "2026-02-05", "2026-02-04")
			if err != nil || len(reversed) != 0 {
				t.Errorf("DailyCounts(to before from) = %v, %v; want empty", reversed, err)
			}
			for _, r := range [][2]string{
				{"2025-01-01", "2026-02-05"}, // 401 days
				{"2025-13-01", "2026-01-01"},
				{"2025-01-01", "tomorrow"},
				{"", "2026-01-01"},
			} {
				var ve *app.ValidationError
				if got, err := s.DailyCounts(ctx, "m1", r[0], r[1]); !errors.As(err, &ve) {
					t.Errorf("DailyCounts(%q, %q) = %v, %v; want a ValidationError", r[0], r[1], got, err)
				}
			}
			var ve *app.ValidationError
			if _, err := s.DailyCounts(ctx, "", "2026-02-04", "2026-02-05"); !errors.As(err, &ve) {
				t.Errorf("DailyCounts(no merchant) = %v; want a ValidationError", err)
			}
		}},
	}
}
