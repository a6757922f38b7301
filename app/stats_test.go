package app_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/storebridge/storebridge/app"
)

func TestStatsDays(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     []string
		invalid  []string // fields named by the ValidationError
	}{
		{"2026-11-30", "2026-11-30", []string{"2026-11-30"}, nil},
		{"2024-02-28", "2024-03-01", []string{"2024-02-28", "2024-02-29", "2024-03-01"}, nil},
		{"2026-12-30", "2027-01-02", []string{"2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02"}, nil},
		{"2026-12-01", "2026-11-30", nil, nil},
		{"2026-11-31", "2026-12-01", nil, []string{"from"}},
		{"yesterday", "26-12-01", nil, []string{"from", "to"}},
		{"2025-01-01", "2026-02-05", nil, []string{"to"}}, // 401 days
	} {
		got, err := app.StatsDays(tc.from, tc.to)
		var ve *app.ValidationError
		switch {
		case tc.invalid != nil:
			if !errors.As(err, &ve) || len(ve.Fields) != len(tc.invalid) {
				t.Errorf("StatsDays(%s, %s) = %v, %v; want a ValidationError naming %v", tc.from, tc.to, got, err, tc.invalid)
				continue
			}
			for _, f := range tc.invalid {
				if ve.Fields[f] == "" {
					t.Errorf("StatsDays(%s, %s) fields = %v; want %s named", tc.from, tc.to, ve.Fields, f)
				}
			}
		case err != nil || !reflect.DeepEqual(got, tc.want):
			t.Errorf("StatsDays(%s, %s) = %v, %v; want %v", tc.from, tc.to, got, err, tc.want)
		}
	}
	longest, err := app.StatsDays("2025-01-01", "2026-02-04")
	if err != nil || len(longest) != app.MaxStatsDays || longest[0] != "2025-01-01" || longest[len(longest)-1] != "2026-02-04" {
		t.Errorf("StatsDays(400 days) = %d days, %v; want %d from 2025-01-01 to 2026-02-04", len(longest), err, app.MaxStatsDays)
	}
}

// Stats reads every day of the range, zero-filled and in order, and sums
// them; the counters of the buffer are written first.
func TestStatsPerDay(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	m := env.merchant.ID
	c := func(day, subject, outcome string) app.Counter {
		return app.Counter{Merchant: m, Day: day, Subject: subject, Outcome: outcome}
	}
	for n, counters := range map[int64][]app.Counter{
		1: {c("2026-10-31", app.EventOrderPlaced, "sent"), c("2026-11-03", app.EventOrderPlaced, "failed")},
		2: {c("2026-11-01", app.EventOrderPlaced, "sent"), c("2026-11-01", app.EventOrderPlaced, "skipped.no_phone")},
		3: {c("2026-11-03", app.EventOrderPlaced, "sent"), c("2026-11-03", app.EventOrderShipped, "delivered")},
		4: {c("2026-11-04", app.EventOrderPlaced, "sent")}, // after the range
		5: {c("2026-11-01", app.EventCODConfirmationAsked, "cod.asked")},
		6: {c("2026-11-03", app.EventCODConfirmationAsked, "cod.confirmed"), c("2026-11-03", app.EventCODConfirmationAsked, "cod.timed_out")},
	} {
		if err := env.store.Incr(ctx, n, counters...); err != nil {
			t.Fatal(err)
		}
	}
	v, err := env.svc.Stats(ctx, m, "2026-11-01", "2026-11-03")
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	wantDays := []app.DayCounts{
		{Day: "2026-11-01", Counts: map[string]map[string]int64{
			app.EventOrderPlaced: {"sent": 2, "skipped.no_phone": 2}, app.EventCODConfirmationAsked: {"cod.asked": 5},
		}},
		{Day: "2026-11-02", Counts: map[string]map[string]int64{}},
		{Day: "2026-11-03", Counts: map[string]map[string]int64{
			app.EventOrderPlaced: {"sent": 3, "failed": 1}, app.EventOrderShipped: {"delivered": 3},
			app.EventCODConfirmationAsked: {"cod.confirmed": 6, "cod.timed_out": 6},
		}},
	}
	if !reflect.DeepEqual(v.Days, wantDays) {
		t.Errorf("Stats().Days = %v; want %v", v.Days, wantDays)
	}
	wantTotal := map[string]map[string]int64{
		app.EventOrderPlaced:          {"sent": 5, "skipped.no_phone": 2, "failed": 1},
		app.EventOrderShipped:         {"delivered": 3},
		app.EventCODConfirmationAsked: {"cod.asked": 5, "cod.confirmed": 6, "cod.timed_out": 6},
	}
	if !reflect.DeepEqual(v.Counts, wantTotal) {
		t.Errorf("Stats().Counts = %v; want %v", v.Counts, wantTotal)
	}
	if v.From != "2026-11-01" || v.To != "2026-11-03" {
		t.Errorf("Stats() = %s..%s; want 2026-11-01..2026-11-03", v.From, v.To)
	}
	if want := (app.CODOutcomes{Asked: 5, Confirmed: 6, TimedOut: 6}); v.Outcomes.COD != want {
		t.Errorf("Stats().Outcomes.COD = %+v; want %+v", v.Outcomes.COD, want)
	}

	// The default range is the last 30 days, today included.
	v, err = env.svc.Stats(ctx, m, "", "")
	today := app.DayOf(env.now.Now())
	if err != nil || len(v.Days) != 30 || v.To != today || v.Days[29].Day != today || v.Days[0].Day != app.DayOf(env.now.Now().AddDate(0, 0, -29)) {
		t.Errorf("Stats(default range) = %d days %s..%s, %v; want 30 days to %s", len(v.Days), v.From, v.To, err, today)
	}

	for _, r := range [][2]string{{"2026-11-03", "2026-11-01"}, {"2025-01-01", "2026-02-05"}, {"2026-11-01", "soon"}} {
		var ve *app.ValidationError
		if _, err := env.svc.Stats(ctx, m, r[0], r[1]); !errors.As(err, &ve) {
			t.Errorf("Stats(%s, %s) = %v; want a ValidationError", r[0], r[1], err)
		}
	}
	if _, err := env.svc.Stats(ctx, "m_nobody", "", ""); !errors.Is(err, app.ErrNotFound) {
		t.Errorf("Stats(unknown merchant) = %v; want ErrNotFound", err)
	}
	if v, err := env.svc.Stats(ctx, m, "2025-01-01", "2026-02-04"); err != nil || len(v.Days) != app.MaxStatsDays {
		t.Errorf("Stats(400 days) = %d days, %v; want %d", len(v.Days), err, app.MaxStatsDays)
	}
}
