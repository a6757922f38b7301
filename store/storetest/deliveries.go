package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func sampleDelivery(clock *Clock, merchant, id, event string, status app.DeliveryStatus) app.Delivery {
	now := clock.Now().UTC().Truncate(time.Millisecond)
	return app.Delivery{
		ID:        id,
		Merchant:  merchant,
		EventID:   "evt-" + id,
		Event:     event,
		Phone:     "+919876543210",
		Provider:  "interakt",
		Template:  "order_placed",
		Status:    status,
		History:   []app.StatusChange{{Status: status, At: now}},
		CreatedAt: now,
		UpdatedAt: now,
	}
}

func deliveryCases() []testCase {
	return []testCase{
		{"Delivery/CreateGetUpdate", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			d := sampleDelivery(clock, "m1", "d1", app.EventOrderPlaced, app.DeliveryQueued)
			if err := s.CreateDelivery(ctx, d); err != nil {
				t.Fatalf("CreateDelivery() = %v", err)
			}
			if err := s.CreateDelivery(ctx, d); !errors.Is(err, app.ErrConflict) {
				t.Errorf("CreateDelivery(same id) = %v; want ErrConflict", err)
			}
			if _, err := s.GetDelivery(ctx, "m2", "d1"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("GetDelivery(other merchant) = %v; want ErrNotFound", err)
			}
			sentAt := clock.Now().UTC().Truncate(time.Millisecond)
			updated, err := s.UpdateDelivery(ctx, "m1", "d1", func(d *app.Delivery) error {
				d.Status = app.DeliverySent
				d.Attempts++
				d.ProviderMessageID = "wamid.HBgMOTE5ODc2NTQzMjEwFQ=="
				d.History = append(d.History, app.StatusChange{Status: app.DeliverySent, At: sentAt, Note: "accepted"})
				d.UpdatedAt = sentAt
				return nil
			})
			if err != nil || updated.Status != app.DeliverySent || updated.Attempts != 1 {
				t.Fatalf("UpdateDelivery() = %+v, %v; want sent with 1 attempt", updated, err)
			}
			got, err := s.GetDelivery(ctx, "m1", "d1")
			if err != nil || got.Status != app.DeliverySent || len(got.History) != 2 || got.History[1].Note != "accepted" || !got.History[1].At.Equal(sentAt) {
				t.Fatalf("GetDelivery() after update = %+v, %v", got, err)
			}
			byMsg, err := s.DeliveryByProviderMessageID(ctx, "m1", "wamid.HBgMOTE5ODc2NTQzMjEwFQ==")
			if err != nil || byMsg.ID != "d1" {
				t.Errorf("DeliveryByProviderMessageID() = %q, %v; want d1", byMsg.ID, err)
			}
			if _, err := s.DeliveryByProviderMessageID(ctx, "m1", "unknown"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("DeliveryByProviderMessageID(unknown) = %v; want ErrNotFound", err)
			}
			boom := errors.New("refused")
			if _, err := s.UpdateDelivery(ctx, "m1", "d1", func(d *app.Delivery) error {
				d.Status = app.DeliveryFailed
				return boom
			}); !errors.Is(err, boom) {
				t.Errorf("UpdateDelivery(failing change) = %v; want the change's error", err)
			}
			if got, _ := s.GetDelivery(ctx, "m1", "d1"); got.Status != app.DeliverySent {
				t.Errorf("status after aborted update = %s; want sent", got.Status)
			}
			if _, err := s.UpdateDelivery(ctx, "m1", "missing", func(*app.Delivery) error { return nil }); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("UpdateDelivery(missing) = %v; want ErrNotFound", err)
			}
		}},
		{"Delivery/ConcurrentUpdatesAllApply", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.CreateDelivery(ctx, sampleDelivery(clock, "m1", "d1", app.EventOrderPlaced, app.DeliveryQueued)); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if _, err := s.UpdateDelivery(ctx, "m1", "d1", func(d *app.Delivery) error {
						d.Attempts++
						return nil
					}); err != nil {
						t.Errorf("UpdateDelivery() = %v", err)
					}
				})
			}
			wg.Wait()
			if got, _ := s.GetDelivery(ctx, "m1", "d1"); got.Attempts != 10 {
				t.Errorf("attempts after 10 concurrent updates = %d; want 10", got.Attempts)
			}
		}},
		{"Delivery/ListNewestFirstFilteredPaged", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			events := []string{app.EventOrderPlaced, app.EventOrderShipped, app.EventPointsEarned}
			statuses := []app.DeliveryStatus{app.DeliverySent, app.DeliveryFailed}
			for i := range 30 {
				clock.Advance(time.Millisecond)
				d := sampleDelivery(clock, "m1", fmt.Sprintf("d%02d", i), events[i%3], statuses[i%2])
				if err := s.CreateDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateDelivery(ctx, sampleDelivery(clock, "m2", "x", app.EventOrderPlaced, app.DeliverySent)); err != nil {
				t.Fatal(err)
			}
			// A status change moves the record between filters.
			if _, err := s.UpdateDelivery(ctx, "m1", "d00", func(d *app.Delivery) error {
				d.Status = app.DeliveryFailed
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			collect := func(f app.DeliveryFilter) []string {
				t.Helper()
				var out []string
				for page := 0; page < 20; page++ {
					list, next, err := s.ListDeliveries(ctx, "m1", f)
					if err != nil {
						t.Fatalf("ListDeliveries(%+v) = %v", f, err)
					}
					for _, d := range list {
						out = append(out, d.ID)
					}
					if next == "" {
						return out
					}
					f.Cursor = next
				}
				t.Fatalf("ListDeliveries(%+v) never ended", f)
				return nil
			}
			all := collect(app.DeliveryFilter{Limit: 7})
			if len(all) != 30 || all[0] != "d29" || all[29] != "d00" {
				t.Fatalf("ListDeliveries(all, pages of 7) = %v; want d29..d00", all)
			}
			placedFailed := collect(app.DeliveryFilter{Event: app.EventOrderPlaced, Status: app.DeliveryFailed, Limit: 2})
			// order.placed is i%3==0; failed is i odd, plus d00 updated.
			want := []string{"d27", "d21", "d15", "d09", "d03", "d00"}
			if fmt.Sprint(placedFailed) != fmt.Sprint(want) {
				t.Errorf("ListDeliveries(placed, failed) = %v; want %v", placedFailed, want)
			}
			sent := collect(app.DeliveryFilter{Status: app.DeliverySent})
			if len(sent) != 14 {
				t.Errorf("ListDeliveries(sent) = %d; want 14", len(sent))
			}
		}},
		{"Delivery/BothFiltersCostTheMatches", bothFiltersCostTheMatches},
		{"Delivery/PurgeOld", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			created := 0
			create := func(merchant, id, event string, status app.DeliveryStatus) app.Delivery {
				t.Helper()
				clock.Advance(time.Millisecond)
				created++
				d := sampleDelivery(clock, merchant, id, event, status)
				d.Phone = fmt.Sprintf("+9198765%05d", created) // one customer each
				d.CustomerID, d.Subject = "cust-"+id, "order:"+id
				d.ProviderMessageID = "wamid." + merchant + "." + id
				if err := s.CreateDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
				return d
			}
			// Old ones of both merchants, then the cut, then new ones.
			old := []app.Delivery{
				create("m1", "old01", app.EventOrderPlaced, app.DeliverySent),
				create("m1", "old02", app.EventOrderShipped, app.DeliveryFailed),
				create("m1", "old03", app.EventOrderPlaced, app.DeliveryQueued),
			}
			other := []app.Delivery{
				create("m2", "oth01", app.EventOrderPlaced, app.DeliverySent),
				create("m2", "oth02", app.EventOrderShipped, app.DeliveryFailed),
			}
			// An update moves old03 between status indexes: the purge must
			// find it where it is now.
			if _, err := s.UpdateDelivery(ctx, "m1", "old03", func(d *app.Delivery) error {
				d.Status = app.DeliverySent
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(24 * time.Hour)
			edge := create("m1", "new01", app.EventOrderPlaced, app.DeliverySent)
			cut := edge.CreatedAt // created at the cut exactly: not before it
			clock.Advance(time.Hour)
			create("m1", "new02", app.EventOrderShipped, app.DeliveryFailed)
			create("m1", "new03", app.EventOrderPlaced, app.DeliveryQueued)

			if n, err := s.PurgeDeliveries(ctx, "m1", cut, 2); err != nil || n != 2 {
				t.Fatalf("PurgeDeliveries(limit 2) = %d, %v; want 2", n, err)
			}
			left := 0
			for _, d := range old {
				if _, err := s.GetDelivery(ctx, "m1", d.ID); err == nil {
					left++
				}
			}
			if left != 1 {
				t.Errorf("old deliveries left after a purge of 2 out of 3 = %d; want 1", left)
			}
			if n, err := s.PurgeDeliveries(ctx, "m1", cut, 2); err != nil || n != 1 {
				t.Fatalf("PurgeDeliveries(the last old one) = %d, %v; want 1", n, err)
			}
			if n, err := s.PurgeDeliveries(ctx, "m1", cut, 2); err != nil || n != 0 {
				t.Fatalf("PurgeDeliveries(none left) = %d, %v; want 0", n, err)
			}

			for _, d := range old {
				if _, err := s.GetDelivery(ctx, "m1", d.ID); !errors.Is(err, app.ErrNotFound) {
					t.Errorf("GetDelivery(%s) after purge = %v; want ErrNotFound", d.ID, err)
				}
				if _, err := s.DeliveryByProviderMessageID(ctx, "m1", d.ProviderMessageID); !errors.Is(err, app.ErrNotFound) {
					t.Errorf("DeliveryByProviderMessageID(%s) after purge = %v; want ErrNotFound", d.ProviderMessageID, err)
				}
				match := app.CustomerMatch{Phone: d.Phone, CustomerID: d.CustomerID, Subjects: []string{d.Subject}}
				if n, err := s.DeleteCustomerDeliveries(ctx, "m1", match); err != nil || n != 0 {
					t.Errorf("DeleteCustomerDeliveries(%s's customer) after purge = %d, %v; want 0", d.ID, n, err)
				}
			}
			list := func(merchant string, f app.DeliveryFilter) string {
				t.Helper()
				got, next, err := s.ListDeliveries(ctx, merchant, f)
				if err != nil || next != "" {
					t.Fatalf("ListDeliveries(%s, %+v) = %v, %q, %v", merchant, f, ids2(got), next, err)
				}
				return fmt.Sprint(ids2(got))
			}
			for _, c := range []struct {
				f    app.DeliveryFilter
				want string
			}{
				{app.DeliveryFilter{}, "[new03 new02 new01]"},
				{app.DeliveryFilter{Status: app.DeliverySent}, "[new01]"},
				{app.DeliveryFilter{Status: app.DeliveryFailed}, "[new02]"},
				{app.DeliveryFilter{Status: app.DeliveryQueued}, "[new03]"},
				{app.DeliveryFilter{Event: app.EventOrderPlaced}, "[new03 new01]"},
				{app.DeliveryFilter{Event: app.EventOrderShipped}, "[new02]"},
				{app.DeliveryFilter{Event: app.EventOrderPlaced, Status: app.DeliverySent}, "[new01]"},
			} {
				if got := list("m1", c.f); got != c.want {
					t.Errorf("ListDeliveries(m1, %+v) after purge = %s; want %s", c.f, got, c.want)
				}
			}
			if got, err := s.DeliveryByProviderMessageID(ctx, "m1", edge.ProviderMessageID); err != nil || got.ID != edge.ID {
				t.Errorf("DeliveryByProviderMessageID(%s) = %q, %v; want %s kept", edge.ProviderMessageID, got.ID, err, edge.ID)
			}

			// The other merchant's old deliveries are untouched.
			if got := list("m2", app.DeliveryFilter{}); got != "[oth02 oth01]" {
				t.Errorf("ListDeliveries(m2) = %s; want [oth02 oth01]", got)
			}
			for _, d := range other {
				if got, err := s.DeliveryByProviderMessageID(ctx, "m2", d.ProviderMessageID); err != nil || got.ID != d.ID {
					t.Errorf("DeliveryByProviderMessageID(m2, %s) = %q, %v; want %s", d.ProviderMessageID, got.ID, err, d.ID)
				}
			}
			if n, err := s.PurgeDeliveries(ctx, "m2", cut, 500); err != nil || n != 2 {
				t.Errorf("PurgeDeliveries(m2) = %d, %v; want 2", n, err)
			}
			if _, err := s.PurgeDeliveries(ctx, "m1", cut, 0); err == nil {
				t.Errorf("PurgeDeliveries(limit 0) = nil error; want a validation error")
			}
		}},
		{"Delivery/PurgeWithinOneMillisecond", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			base := clock.Now().UTC().Truncate(time.Millisecond)
			// Created within one millisecond, named so that the one after the
			// cut sorts first among equal milliseconds: it must not stand in
			// the way of those before it.
			for id, offset := range map[string]time.Duration{
				"a-after":  700 * time.Microsecond,
				"b-at":     0,
				"c-before": 300 * time.Microsecond,
				"d-cut":    500 * time.Microsecond,
			} {
				d := sampleDelivery(clock, "m1", id, app.EventOrderPlaced, app.DeliverySent)
				d.CreatedAt = base.Add(offset)
				if err := s.CreateDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			cut := base.Add(500 * time.Microsecond)
			for i, want := range []int{1, 1, 0} {
				if n, err := s.PurgeDeliveries(ctx, "m1", cut, 1); err != nil || n != want {
					t.Fatalf("PurgeDeliveries(call %d, limit 1) = %d, %v; want %d", i+1, n, err, want)
				}
			}
			got, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{})
			left := ids2(got)
			slices.Sort(left) // the order within a millisecond is the backend's
			if fmt.Sprint(left) != "[a-after d-cut]" || err != nil {
				t.Errorf("ListDeliveries() after purge = %v, %v; want a-after and d-cut", left, err)
			}
		}},
	}
}

// bothFiltersCostTheMatches: a status and an event together find their few
// matches (or none) without reading every delivery of the status. The
// admin page's filters would otherwise take time in proportion to the
// merchant's deliveries. Timed against a page of 50 of one filter, the
// best of a few tries each, so a loaded machine slows both alike.
func bothFiltersCostTheMatches(t *testing.T, clock *Clock, s app.Store) {
	ctx := context.Background()
	const n = 3000
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	base := clock.Now().UTC().Truncate(time.Millisecond)
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				event := app.EventOrderPlaced
				if i%1000 == 999 {
					event = app.EventReviewRequested // 3, all read, spread out
				}
				d := sampleDelivery(clock, "m1", fmt.Sprintf("d%05d", i), event, app.DeliveryRead)
				d.CreatedAt = base.Add(time.Duration(i) * time.Millisecond) // d00000 oldest
				if err := s.CreateDelivery(ctx, d); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if err := s.CreateDelivery(ctx, sampleDelivery(clock, "m1", "f1", app.EventCODReminder, app.DeliveryFailed)); err != nil {
		t.Fatal(err)
	}
	best := func(f app.DeliveryFilter, want string) time.Duration {
		t.Helper()
		fastest := time.Hour
		for range 5 {
			start := time.Now()
			list, _, err := s.ListDeliveries(ctx, "m1", f)
			took := time.Since(start)
			var ids []string
			for _, d := range list {
				ids = append(ids, d.ID)
			}
			if err != nil || (want != "" && fmt.Sprint(ids) != want) {
				t.Fatalf("ListDeliveries(%+v) = %v, %v; want %s", f, ids, err, want)
			}
			fastest = min(fastest, took)
		}
		return fastest
	}
	page := best(app.DeliveryFilter{Status: app.DeliveryRead, Limit: 50}, "")
	var newest []string // the 50 newest order.placed, all read
	for i := n - 2; len(newest) < 50; i-- {
		newest = append(newest, fmt.Sprintf("d%05d", i))
	}
	for _, c := range []struct {
		f    app.DeliveryFilter
		want string
	}{
		{app.DeliveryFilter{Status: app.DeliveryRead, Event: app.EventCODReminder}, "[]"},
		{app.DeliveryFilter{Status: app.DeliveryFailed, Event: app.EventOrderPlaced}, "[]"},
		{app.DeliveryFilter{Status: app.DeliveryRead, Event: app.EventReviewRequested}, "[d02999 d01999 d00999]"},
		{app.DeliveryFilter{Status: app.DeliveryFailed, Event: app.EventCODReminder}, "[f1]"},
		// Many matches: no more records read than the page shows.
		{app.DeliveryFilter{Status: app.DeliveryRead, Event: app.EventOrderPlaced, Limit: 50}, fmt.Sprint(newest)},
	} {
		// Reading the 3,000 read deliveries costs about 60 pages of 50,
		// and 500 of them 10.
		if took := best(c.f, c.want); took > 5*page+time.Millisecond {
			t.Errorf("ListDeliveries(%+v) took %v, a page of 50 of one filter %v; want no scan of every delivery of one filter", c.f, took, page)
		}
	}
}
