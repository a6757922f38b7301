package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func merchantDataCases() []testCase {
	return []testCase{
		{"MerchantData/Maps", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			md := s
			if _, err := md.MapGet(ctx, "m1", "rules", "order.placed"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MapGet(absent) = %v; want ErrNotFound", err)
			}
			if all, err := md.MapAll(ctx, "m1", "rules"); err != nil || len(all) != 0 {
				t.Errorf("MapAll(absent) = %v, %v; want empty", all, err)
			}
			if err := md.MapSet(ctx, "m1", "rules", map[string]string{"order.placed": `{"template":"order_placed"}`, "cod.reminder": "x"}); err != nil {
				t.Fatalf("MapSet() = %v", err)
			}
			if err := md.MapSet(ctx, "m1", "rules", map[string]string{"cod.reminder": "ज्योति ✓"}); err != nil {
				t.Fatalf("MapSet() = %v", err)
			}
			if err := md.MapSet(ctx, "m2", "rules", map[string]string{"order.placed": "other merchant"}); err != nil {
				t.Fatal(err)
			}
			if err := md.MapSet(ctx, "m1", "status_map", map[string]string{"completed": "order.delivered"}); err != nil {
				t.Fatal(err)
			}
			if got, err := md.MapGet(ctx, "m1", "rules", "cod.reminder"); err != nil || got != "ज्योति ✓" {
				t.Errorf("MapGet() = %q, %v; want the last value set", got, err)
			}
			all, err := md.MapAll(ctx, "m1", "rules")
			want := map[string]string{"order.placed": `{"template":"order_placed"}`, "cod.reminder": "ज्योति ✓"}
			if err != nil || !reflect.DeepEqual(all, want) {
				t.Errorf("MapAll() = %v, %v; want %v", all, err, want)
			}
			if err := md.MapDelete(ctx, "m1", "rules", "order.placed", "never.there"); err != nil {
				t.Fatalf("MapDelete() = %v", err)
			}
			if _, err := md.MapGet(ctx, "m1", "rules", "order.placed"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MapGet(deleted) = %v; want ErrNotFound", err)
			}
			if err := md.MapReplace(ctx, "m1", "status_map", map[string]string{"shipped-custom": "order.shipped"}); err != nil {
				t.Fatalf("MapReplace() = %v", err)
			}
			if all, _ := md.MapAll(ctx, "m1", "status_map"); !reflect.DeepEqual(all, map[string]string{"shipped-custom": "order.shipped"}) {
				t.Errorf("MapAll() after MapReplace = %v; want only the new fields", all)
			}
			if err := md.MapReplace(ctx, "m1", "status_map", nil); err != nil {
				t.Fatalf("MapReplace(empty) = %v", err)
			}
			if all, _ := md.MapAll(ctx, "m1", "status_map"); len(all) != 0 {
				t.Errorf("MapAll() after MapReplace(empty) = %v; want empty", all)
			}
			if got, _ := md.MapGet(ctx, "m2", "rules", "order.placed"); got != "other merchant" {
				t.Errorf("another merchant's map = %q; want it untouched", got)
			}
		}},
		{"MerchantData/AdvanceState", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			step := func(version int64, value string, wantPrev string, wantAdvanced bool) {
				t.Helper()
				prev, advanced, err := s.AdvanceState(ctx, "m1", "order:727:status", version, value, time.Hour)
				if err != nil || prev != wantPrev || advanced != wantAdvanced {
					t.Fatalf("AdvanceState(v%d, %s) = %q, %v, %v; want %q, %v", version, value, prev, advanced, err, wantPrev, wantAdvanced)
				}
			}
			if _, _, err := s.State(ctx, "m1", "order:727:status"); !errors.Is(err, app.ErrNotFound) {
				t.Fatalf("State(nothing recorded) = %v; want ErrNotFound", err)
			}
			step(100, "processing", "", true)
			step(100, "processing", "processing", false) // a repeat
			step(90, "pending", "processing", false)     // a stale update
			step(200, "completed", "processing", true)
			if value, version, err := s.State(ctx, "m1", "order:727:status"); err != nil || value != "completed" || version != 200 {
				t.Errorf("State() = %q, %d, %v; want completed at 200", value, version, err)
			}
			if prev, advanced, err := s.AdvanceState(ctx, "m2", "order:727:status", 50, "on-hold", time.Hour); err != nil || prev != "" || !advanced {
				t.Errorf("AdvanceState(other merchant) = %q, %v, %v; want a fresh record", prev, advanced, err)
			}
		}},
		// A transition and the work it causes are recorded together: the
		// effects are queued exactly when the record moves to a new value.
		{"MerchantData/AdvanceStateQueuesEffects", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			effect := func(id, key string, due time.Duration) app.Job {
				j := newJob(clock, "m1", id)
				j.Key = key
				if due > 0 {
					j.DueAt = clock.Now().Add(due)
				}
				return j
			}
			advance := func(version int64, value string, wantAdvanced bool, effects ...app.Job) {
				t.Helper()
				if _, advanced, err := s.AdvanceState(ctx, "m1", "cod:order:5001", version, value, time.Hour, effects...); err != nil || advanced != wantAdvanced {
					t.Fatalf("AdvanceState(v%d, %s, %d effects) = %v, %v; want advanced %v", version, value, len(effects), advanced, err, wantAdvanced)
				}
			}
			advance(1, "pending", true, effect("hold", "cod:5001:hold", 0), effect("reminder", "cod:5001:reminder-1", 2*time.Hour))
			// A retry of the same transition finds it recorded: nothing more.
			advance(1, "pending", false, effect("hold-again", "cod:5001:hold-2", 0))
			// A newer record of the same value is no transition either.
			advance(2, "pending", true, effect("hold-newer", "cod:5001:hold-3", 0))
			claimed := claimAll(t, s, 10)
			if got := ids(claimed); !reflect.DeepEqual(got, []string{"hold"}) {
				t.Fatalf("claimed after the transition = %v; want only its due effect [hold]", got)
			}
			if err := s.Ack(ctx, claimed[0]); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2*time.Hour + time.Second)
			if got := ids(claimAll(t, s, 10)); !reflect.DeepEqual(got, []string{"reminder"}) {
				t.Fatalf("claimed two hours later = %v; want the scheduled effect [reminder]", got)
			}
			// An effect whose key is live was queued before: it is skipped
			// and the others still go.
			mustEnqueue(t, s, effect("live", "cod:5001:confirm", time.Hour))
			advance(3, "confirmed", true, effect("confirm-dup", "cod:5001:confirm", 0), effect("decided", "cod:5001:decided", 0))
			if got := ids(claimAll(t, s, 10)); !reflect.DeepEqual(got, []string{"decided"}) {
				t.Fatalf("claimed after a transition with a taken key = %v; want [decided]", got)
			}
			other := newJob(clock, "m2", "elsewhere")
			if _, _, err := s.AdvanceState(ctx, "m1", "cod:order:5002", 1, "pending", time.Hour, other); err == nil {
				t.Errorf("AdvanceState(an effect of another merchant) = nil; want an error")
			}
			if _, _, err := s.State(ctx, "m1", "cod:order:5002"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("State after a refused AdvanceState = %v; want ErrNotFound (nothing recorded)", err)
			}
		}},
		{"MerchantData/AdvanceStateConcurrentOneWinner", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := range 10 {
				wg.Go(func() {
					_, advanced, err := s.AdvanceState(ctx, "m1", "order:9", 500, fmt.Sprint("s", i), time.Hour)
					if err != nil {
						t.Errorf("AdvanceState() = %v", err)
					}
					if advanced {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("concurrent AdvanceState() of one version advanced %d times; want 1", wins)
			}
		}},
		{"MerchantData/Throttle", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			taken := 0
			var lastWait time.Duration
			for range 8 {
				wait, err := s.Throttle(ctx, "m1", "meta:1234567890", 5, time.Second)
				if err != nil {
					t.Fatalf("Throttle() = %v", err)
				}
				if wait == 0 {
					taken++
				} else {
					lastWait = wait
				}
			}
			if taken != 5 {
				t.Errorf("slots taken in a burst of 8 with limit 5/s = %d; want 5", taken)
			}
			if lastWait <= 0 || lastWait > time.Second {
				t.Errorf("wait when throttled = %s; want within (0, 1s]", lastWait)
			}
			if wait, err := s.Throttle(ctx, "m2", "meta:1234567890", 5, time.Second); err != nil || wait != 0 {
				t.Errorf("Throttle(other merchant) = %s, %v; want a free slot", wait, err)
			}
			time.Sleep(lastWait)
			clock.Advance(lastWait)
			if wait, err := s.Throttle(ctx, "m1", "meta:1234567890", 5, time.Second); err != nil || wait != 0 {
				t.Errorf("Throttle() after the wait = %s, %v; want a free slot", wait, err)
			}
		}},
		{"MerchantData/DropJobs", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			later := newJob(clock, "m1", "later")
			later.DueAt = clock.Now().Add(time.Hour)
			later.Key = "cart:abc:reminder"
			mustEnqueue(t, s, newJob(clock, "m1", "held"), newJob(clock, "m1", "due"), later, newJob(clock, "m2", "other"))
			held := claimAll(t, s, 1) // oldest first within m1... or m2: hold whichever came
			n, err := s.DropJobs(ctx, "m1")
			if err != nil {
				t.Fatalf("DropJobs() = %v", err)
			}
			wantDropped := 3
			if held[0].Merchant == "m1" {
				wantDropped = 2
			}
			if n != wantDropped {
				t.Errorf("DropJobs() = %d; want %d", n, wantDropped)
			}
			clock.Advance(2 * time.Hour)
			for _, j := range claimAll(t, s, 10) {
				if j.Merchant == "m1" && j.ID != held[0].ID {
					t.Errorf("job %s of m1 survived DropJobs", j.ID)
				}
			}
			mustEnqueue(t, s, later) // its key is free again
		}},
		{"MerchantData/DeleteCustomerDeliveries", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mk := func(id, phone, customer, subject string) {
				d := sampleDelivery(clock, "m1", id, app.EventOrderPlaced, app.DeliverySent)
				d.Phone, d.CustomerID, d.Subject = phone, customer, subject
				d.ProviderMessageID = "wamid." + id
				if err := s.CreateDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			mk("d1", "+919876543210", "7712398123", "order:1")
			mk("d2", "+919876543210", "", "order:2")
			mk("d3", "+14155550100", "7712398123", "order:3")
			mk("d4", "+14155550100", "", "order:4")
			mk("d5", "+447700900123", "", "order:5")
			n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: "+919876543210", CustomerID: "7712398123", Subjects: []string{"order:4"}})
			if err != nil || n != 4 {
				t.Fatalf("DeleteCustomerDeliveries() = %d, %v; want 4", n, err)
			}
			list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{})
			if err != nil || len(list) != 1 || list[0].ID != "d5" {
				t.Errorf("deliveries left = %v, %v; want [d5]", ids2(list), err)
			}
			if _, err := s.DeliveryByProviderMessageID(ctx, "m1", "wamid.d1"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("DeliveryByProviderMessageID(deleted) = %v; want ErrNotFound", err)
			}
			if n, err := s.DeleteCustomerDeliveries(ctx, "m1", app.CustomerMatch{}); err != nil || n != 0 {
				t.Errorf("DeleteCustomerDeliveries(empty match) = %d, %v; want 0", n, err)
			}
		}},
	}
}

func ids2(list []app.Delivery) []string {
	var out []string
	for _, d := range list {
		out = append(out, d.ID)
	}
	return out
}
