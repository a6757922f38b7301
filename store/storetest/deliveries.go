package storetest

import (
	"context"
	"errors"
	"fmt"
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
	}
}
