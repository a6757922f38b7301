package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
		{"MerchantData/DeleteStates", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			for _, key := range []string{"cod:order:1", "cod:phone:+919876543210", "cod:order:2"} {
				if _, _, err := s.AdvanceState(ctx, "m1", key, 5, "v", time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := s.AdvanceState(ctx, "m2", "cod:order:1", 5, "other merchant", time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteStates(ctx, "m1", "cod:order:1", "cod:phone:+919876543210", "never:there"); err != nil {
				t.Fatalf("DeleteStates() = %v", err)
			}
			for _, key := range []string{"cod:order:1", "cod:phone:+919876543210"} {
				if _, _, err := s.State(ctx, "m1", key); !errors.Is(err, app.ErrNotFound) {
					t.Errorf("State(%s) after DeleteStates = %v; want ErrNotFound", key, err)
				}
			}
			if v, _, err := s.State(ctx, "m1", "cod:order:2"); err != nil || v != "v" {
				t.Errorf("State(kept key) = %q, %v; want it untouched", v, err)
			}
			if v, _, err := s.State(ctx, "m2", "cod:order:1"); err != nil || v != "other merchant" {
				t.Errorf("State(other merchant) = %q, %v; want it untouched", v, err)
			}
			// Deleted means forgotten: a lower version is news again.
			if prev, advanced, err := s.AdvanceState(ctx, "m1", "cod:order:1", 1, "again", time.Hour); err != nil || prev != "" || !advanced {
				t.Errorf("AdvanceState() after DeleteStates = %q, %v, %v; want a fresh record", prev, advanced, err)
			}
			if err := s.DeleteStates(ctx, "m1"); err != nil {
				t.Errorf("DeleteStates(no keys) = %v; want nil", err)
			}
		}},
		{"MerchantData/Throttle", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			taken := 0
			var firstWait time.Duration
			for range 8 {
				wait, err := s.Throttle(ctx, "m1", "meta:1234567890", 5, time.Second, 0)
				if err != nil {
					t.Fatalf("Throttle() = %v", err)
				}
				if wait == 0 {
					taken++
				} else if firstWait == 0 {
					firstWait = wait
				}
			}
			if taken != 5 {
				t.Errorf("slots taken in a burst of 8 with limit 5/s = %d; want 5", taken)
			}
			if firstWait <= 0 || firstWait > time.Second {
				t.Errorf("wait of the first refused = %s; want within (0, 1s]", firstWait)
			}
			lastWait := firstWait
			if wait, err := s.Throttle(ctx, "m2", "meta:1234567890", 5, time.Second, 0); err != nil || wait != 0 {
				t.Errorf("Throttle(other merchant) = %s, %v; want a free slot", wait, err)
			}
			time.Sleep(lastWait)
			clock.Advance(lastWait)
			if wait, err := s.Throttle(ctx, "m1", "meta:1234567890", 5, time.Second, 0); err != nil || wait != 0 {
				t.Errorf("Throttle() after the wait = %s, %v; want a free slot", wait, err)
			}
		}},
		{"MerchantData/ThrottleExactWindow", func(t *testing.T, clock *Clock, s app.Store) {
			// Every 700 ms of the clock, 8 callers at once ask for a slot of
			// 5 per 2 s without waiting. No window of 2 s may hold more than
			// 5 slots (a burst on top of a rate would let 8 into the first),
			// and the limit is used: 5 in every third step.
			ctx := context.Background()
			const limit, window, step, steps = 5, 2 * time.Second, 700 * time.Millisecond, 30
			taken := make([]int, steps)
			for k := range steps {
				var n sync.WaitGroup
				var mu sync.Mutex
				for range 8 {
					n.Go(func() {
						wait, err := s.Throttle(ctx, "m1", "meta:1234567890", limit, window, 0)
						if err != nil {
							t.Errorf("Throttle() = %v", err)
							return
						}
						if wait == 0 {
							mu.Lock()
							taken[k]++
							mu.Unlock()
						}
					})
				}
				n.Wait()
				clock.Advance(step)
			}
			total := 0
			for k := range steps {
				total += taken[k]
				inWindow := 0
				for j := k; j < steps && time.Duration(j-k)*step < window; j++ {
					inWindow += taken[j]
				}
				if inWindow > limit {
					t.Fatalf("slots in the window of 2 s from step %d = %d (steps %v); want at most %d", k, inWindow, taken, limit)
				}
			}
			if want := limit * steps / 3; total < want {
				t.Errorf("slots taken over %d steps = %d (%v); want %d, the limit used in full", steps, total, taken, want)
			}
		}},
		{"MerchantData/ThrottleWaitersGetDistinctSlots", func(t *testing.T, clock *Clock, s app.Store) {
			// 64 callers at once take slots of 4 per second, waiting up to
			// a minute: each gets its own slot, the first 4 now, then one
			// every 250 ms, and no second holds more than 4. Then callers
			// that will not wait so long are refused with turns.
			ctx := context.Background()
			const limit, window, callers = 4, time.Second, 64
			spacing := window / limit
			type slot struct{ early, late time.Time }
			slots := make([]slot, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					before := clock.Now()
					wait, err := s.Throttle(ctx, "m1", "provider:meta", limit, window, time.Minute)
					if err != nil || wait > time.Minute {
						t.Errorf("Throttle() = %s, %v; want a slot within the minute", wait, err)
					}
					slots[i] = slot{before.Add(wait), clock.Now().Add(wait)}
				})
			}
			wg.Wait()
			var slack time.Duration // how long a call took: the slot is within it
			for _, sl := range slots {
				slack = max(slack, sl.late.Sub(sl.early))
			}
			slices.SortFunc(slots, func(a, b slot) int { return a.early.Compare(b.early) })
			for i := limit; i < callers; i++ {
				if gap := slots[i].late.Sub(slots[i-limit].early); gap < window-2*slack {
					t.Errorf("slot %d is %s after slot %d; want a window (%s)", i, gap, i-limit, window)
				}
				if gap := slots[i].late.Sub(slots[i-1].early); gap < spacing-2*slack {
					t.Errorf("slot %d is %s after slot %d; waiters want %s apart", i, gap, i-1, spacing)
				}
			}
			last := slots[callers-1].early.Sub(slots[0].late)
			if want := window + (callers-limit-1)*spacing; last > want+2*slack {
				t.Errorf("last slot %s after the first; want %s: waiters use the limit in full", last, want)
			}
			// Nothing is free now: callers that will not wait take nothing
			// and are given turns, one each, from when the next slot frees
			// (after the last taken), spacing apart: they come back one at
			// a time, not all at once.
			turns := make([]time.Time, 8)
			for i := range turns {
				wg.Go(func() {
					wait, err := s.Throttle(ctx, "m1", "provider:meta", limit, window, time.Second)
					if err != nil || wait <= time.Second {
						t.Errorf("Throttle(1s wait) with slots taken 15s ahead = %s, %v; want a turn past the second", wait, err)
					}
					turns[i] = clock.Now().Add(wait)
				})
			}
			wg.Wait()
			slices.SortFunc(turns, func(a, b time.Time) int { return a.Compare(b) })
			if !turns[0].After(slots[callers-1].early) {
				t.Errorf("first turn %s before the last slot taken; want it after", slots[callers-1].early.Sub(turns[0]))
			}
			for i := 1; i < len(turns); i++ {
				if gap := turns[i].Sub(turns[i-1]); gap < spacing-2*slack {
					t.Errorf("turn %d is %s after turn %d; want %s apart", i, gap, i-1, spacing)
				}
			}
			// The refusals took no slot: the slot after the last is still
			// free for the first caller who waits long enough.
			wait, err := s.Throttle(ctx, "m1", "provider:meta", limit, window, time.Minute)
			if at := clock.Now().Add(wait); err != nil || at.Sub(slots[callers-1].late) > spacing+2*slack {
				t.Errorf("Throttle(a minute) after the refusals = %s, %v; want the slot after the last (%s later), not after the turns", wait, err, spacing)
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
		{"MerchantData/CustomerDeliveries", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			mk := func(merchant, id, phone, customer, subject string) app.Delivery {
				t.Helper()
				clock.Advance(10 * time.Millisecond) // newest first is creation order
				d := sampleDelivery(clock, merchant, id, app.EventOrderPlaced, app.DeliverySent)
				d.Phone, d.CustomerID, d.Subject = phone, customer, subject
				d.Values = []string{"Riya", "#" + id}
				if err := s.CreateDelivery(ctx, d); err != nil {
					t.Fatal(err)
				}
				return d
			}
			const riya, arjun = "+919876543210", "+14155550100"
			d1 := mk("m1", "d1", riya, "7712398123", "order:1")
			mk("m1", "d2", riya, "", "")                   // a test message: the phone alone
			mk("m1", "d3", arjun, "7712398123", "order:3") // the customer id
			mk("m1", "d4", arjun, "", "order:4")           // an order named in the request
			mk("m1", "d5", arjun, "5550001", "order:5")    // another customer
			mk("m2", "d6", riya, "7712398123", "order:1")  // another merchant
			// d7 was Riya's and moves to Arjun: the old phone no longer finds it.
			mk("m1", "d7", riya, "", "order:7")
			if _, err := s.UpdateDelivery(ctx, "m1", "d7", func(d *app.Delivery) error {
				d.Phone = arjun
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			match := app.CustomerMatch{Phone: riya, CustomerID: "7712398123", Subjects: []string{"order:4", "order:nope", ""}}
			got, err := s.CustomerDeliveries(ctx, "m1", match, 100)
			if want := []string{"d4", "d3", "d2", "d1"}; err != nil || !reflect.DeepEqual(ids2(got), want) {
				t.Fatalf("CustomerDeliveries() = %v, %v; want %v, newest first", ids2(got), err, want)
			}
			if last := got[len(got)-1]; !reflect.DeepEqual(last.Values, d1.Values) || len(last.History) != 1 || last.History[0].Status != app.DeliverySent || last.Phone != riya {
				t.Errorf("CustomerDeliveries() record = %+v; want the whole record as stored", last)
			}
			got, err = s.CustomerDeliveries(ctx, "m1", match, 2)
			if want := []string{"d4", "d3"}; err != nil || !reflect.DeepEqual(ids2(got), want) {
				t.Errorf("CustomerDeliveries(limit 2) = %v, %v; want %v", ids2(got), err, want)
			}
			got, err = s.CustomerDeliveries(ctx, "m1", app.CustomerMatch{Subjects: []string{"order:7"}}, 10)
			if err != nil || len(got) != 1 || got[0].Phone != arjun {
				t.Errorf("CustomerDeliveries(order:7) = %+v, %v; want d7 as updated", got, err)
			}
			if got, err := s.CustomerDeliveries(ctx, "m1", app.CustomerMatch{}, 10); err != nil || len(got) != 0 {
				t.Errorf("CustomerDeliveries(empty match) = %v, %v; want none", ids2(got), err)
			}
			if got, err := s.CustomerDeliveries(ctx, "m3", match, 10); err != nil || len(got) != 0 {
				t.Errorf("CustomerDeliveries(merchant without deliveries) = %v, %v; want none", ids2(got), err)
			}
			var ve *app.ValidationError
			if _, err := s.CustomerDeliveries(ctx, "m1", match, 0); !errors.As(err, &ve) {
				t.Errorf("CustomerDeliveries(limit 0) = %v; want a validation error", err)
			}
		}},
		// A time index lists newest first, moves a member added again,
		// forgets what fell out of keep, and keeps merchants and names apart.
		{"MerchantData/Index", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			newest := func(merchant, name string, offset, limit int, want ...string) {
				t.Helper()
				got, err := s.IndexNewest(ctx, merchant, name, offset, limit)
				if err != nil || !reflect.DeepEqual(got, append([]string{}, want...)) {
					t.Errorf("IndexNewest(%s, %s, %d, %d) = %q, %v; want %q", merchant, name, offset, limit, got, err, want)
				}
			}
			add := func(merchant, name, member string, at time.Time) {
				t.Helper()
				if err := s.IndexAdd(ctx, merchant, name, member, at, 30*24*time.Hour); err != nil {
					t.Fatalf("IndexAdd(%s) = %v", member, err)
				}
			}
			newest("m1", "cod_orders", 0, 10)
			t0 := clock.Now()
			add("m1", "cod_orders", "5001", t0)
			add("m1", "cod_orders", "5003", t0.Add(2*time.Minute))
			add("m1", "cod_orders", "5002", t0.Add(time.Minute))
			add("m1", "cod_orders", "ऑर्डर-5004", t0.Add(time.Minute)) // the same millisecond as 5002
			add("m1", "cod_awaiting", "5001", t0)
			add("m2", "cod_orders", "9001", t0)
			newest("m1", "cod_orders", 0, 10, "5003", "ऑर्डर-5004", "5002", "5001")
			newest("m1", "cod_orders", 1, 2, "ऑर्डर-5004", "5002")
			newest("m1", "cod_orders", 4, 2)
			newest("m1", "cod_awaiting", 0, 10, "5001")
			newest("m2", "cod_orders", 0, 10, "9001")
			// Added again: moved, not doubled.
			add("m1", "cod_orders", "5001", t0.Add(3*time.Minute))
			newest("m1", "cod_orders", 0, 10, "5001", "5003", "ऑर्डर-5004", "5002")
			if err := s.IndexRemove(ctx, "m1", "cod_orders", "5003", "never-there"); err != nil {
				t.Fatalf("IndexRemove() = %v", err)
			}
			newest("m1", "cod_orders", 0, 10, "5001", "ऑर्डर-5004", "5002")
			newest("m1", "cod_awaiting", 0, 10, "5001")
			// An add 30 days and 90 seconds on drops what was recorded
			// before its cut: 5002 and 5004 (t0+1m); 5001 (t0+3m) stays.
			add("m1", "cod_orders", "6001", t0.Add(30*24*time.Hour+90*time.Second))
			newest("m1", "cod_orders", 0, 10, "6001", "5001")
			add("m1", "cod_orders", "5002", t0.Add(30*24*time.Hour+2*time.Minute)) // back, as new
			newest("m1", "cod_orders", 0, 10, "5002", "6001", "5001")
			newest("m2", "cod_orders", 0, 10, "9001")
			if _, err := s.IndexNewest(ctx, "m1", "cod_orders", 0, 0); err == nil {
				t.Errorf("IndexNewest(limit 0) = nil; want refused")
			}
			if err := s.IndexAdd(ctx, "m1", "cod_orders", "", t0, time.Hour); err == nil {
				t.Errorf("IndexAdd(no member) = nil; want refused")
			}
		}},
		{"MerchantData/PurgeMerchantData", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s = %v", what, err)
				}
			}
			const phone = "+919876543210"
			day := app.DayOf(clock.Now())
			seed := func(merchant, domain string) {
				must("CreateMerchant", s.CreateMerchant(ctx, sampleMerchant(clock, merchant, domain)))
				for i, subject := range []string{"order:1", "", "cart:tok"} {
					d := sampleDelivery(clock, merchant, fmt.Sprint(merchant, "-d", i), app.EventOrderPlaced, app.DeliverySent)
					d.Subject, d.CustomerID, d.ProviderMessageID = subject, "7712398123", fmt.Sprint("wamid.", merchant, i)
					d.Test = subject == ""
					d.Values = []string{phone}
					must("CreateDelivery", s.CreateDelivery(ctx, d))
				}
				for _, name := range []string{"replies", "opt_outs", "rules"} {
					must("MapSet", s.MapSet(ctx, merchant, name, map[string]string{phone: `{"Text":"STOP"}`}))
				}
				_, _, err := s.AdvanceState(ctx, merchant, "cod:phone:"+phone, 1, "1", time.Hour)
				must("AdvanceState", err)
				must("IndexAdd", s.IndexAdd(ctx, merchant, "cod_orders", "1", clock.Now(), time.Hour))
				_, err = s.Claim(ctx, merchant, "event:order.placed:order:1", time.Hour)
				must("Claim", err)
				must("Complete", s.Complete(ctx, merchant, "event:order.placed:order:1", time.Hour))
				_, err = s.Throttle(ctx, merchant, "pair:"+phone, 1, time.Hour, 0)
				must("Throttle", err)
				must("Incr", s.Incr(ctx, 1, app.Counter{Merchant: merchant, Day: day, Subject: app.EventOrderPlaced, Outcome: "sent"}))
			}
			seed("m1", "purged.myshopify.com")
			// m1's jobs: one dead, one whose lease ran out, one a worker
			// holds, one due, one scheduled with a key.
			mustEnqueue(t, s, newJob(clock, "m1", "dead"))
			dead := claimAll(t, s, 1)
			must("Bury", s.Bury(ctx, dead[0], "unusable"))
			mustEnqueue(t, s, newJob(clock, "m1", "lapsed"), newJob(clock, "m1", "held"))
			claimed := claimAll(t, s, 2)
			if len(claimed) != 2 {
				t.Fatalf("claimed %v; want lapsed and held", ids(claimed))
			}
			held := claimed[1]
			if held.ID != "held" {
				held = claimed[0]
			}
			must("Extend", s.Extend(ctx, held, 24*time.Hour))
			clock.Advance(2 * lease)
			scheduled := newJob(clock, "m1", "scheduled")
			scheduled.Key, scheduled.DueAt = "cod:1:timeout", clock.Now().Add(time.Hour)
			mustEnqueue(t, s, newJob(clock, "m1", "due"), scheduled)
			seed("m2", "kept.myshopify.com")
			mustEnqueue(t, s, newJob(clock, "m2", "m2-due"))

			n, err := s.PurgeMerchantData(ctx, "m1")
			if err != nil || n == 0 {
				t.Fatalf("PurgeMerchantData() = %d, %v; want records deleted", n, err)
			}

			if m, err := s.GetMerchant(ctx, "m1"); err != nil || m.Domain != "purged.myshopify.com" {
				t.Errorf("GetMerchant() after the purge = %+v, %v; want the record kept", m, err)
			}
			if m, err := s.MerchantByDomain(ctx, app.PlatformShopify, "purged.myshopify.com"); err != nil || m.ID != "m1" {
				t.Errorf("MerchantByDomain() after the purge = %q, %v; want m1 still found", m.ID, err)
			}
			if counts, err := s.DailyCounts(ctx, "m1", day, day); err != nil || counts[day][app.EventOrderPlaced]["sent"] != 1 {
				t.Errorf("DailyCounts() after the purge = %v, %v; want the statistics kept", counts, err)
			}
			if list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{}); err != nil || len(list) != 0 {
				t.Errorf("ListDeliveries() after the purge = %v, %v; want none", ids2(list), err)
			}
			for _, f := range []app.DeliveryFilter{{Status: app.DeliverySent}, {Event: app.EventOrderPlaced}} {
				if list, _, err := s.ListDeliveries(ctx, "m1", f); err != nil || len(list) != 0 {
					t.Errorf("ListDeliveries(%+v) after the purge = %v, %v; want none", f, ids2(list), err)
				}
			}
			if list, err := s.CustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: phone, CustomerID: "7712398123", Subjects: []string{"order:1", "cart:tok"}}, 10); err != nil || len(list) != 0 {
				t.Errorf("CustomerDeliveries() after the purge = %v, %v; want none", ids2(list), err)
			}
			if _, err := s.DeliveryByProviderMessageID(ctx, "m1", "wamid.m10"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("DeliveryByProviderMessageID() after the purge = %v; want ErrNotFound", err)
			}
			for _, name := range []string{"replies", "opt_outs", "rules"} {
				if all, err := s.MapAll(ctx, "m1", name); err != nil || len(all) != 0 {
					t.Errorf("MapAll(%s) after the purge = %v, %v; want empty", name, all, err)
				}
			}
			if _, _, err := s.State(ctx, "m1", "cod:phone:"+phone); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("State() after the purge = %v; want ErrNotFound", err)
			}
			if list, err := s.IndexNewest(ctx, "m1", "cod_orders", 0, 10); err != nil || len(list) != 0 {
				t.Errorf("IndexNewest() after the purge = %v, %v; want empty", list, err)
			}
			if list, err := s.IndexNewest(ctx, "m2", "cod_orders", 0, 10); err != nil || !reflect.DeepEqual(list, []string{"1"}) {
				t.Errorf("m2's index after m1's purge = %v, %v; want kept", list, err)
			}
			if state, err := s.Claim(ctx, "m1", "event:order.placed:order:1", time.Hour); err != nil || state != app.ClaimNew {
				t.Errorf("Claim() after the purge = %v, %v; want the key free", state, err)
			}
			if wait, err := s.Throttle(ctx, "m1", "pair:"+phone, 1, time.Hour, 0); err != nil || wait != 0 {
				t.Errorf("Throttle() after the purge = %s, %v; want the limit forgotten", wait, err)
			}
			if jobs, err := s.DeadJobs(ctx, "m1", 10); err != nil || len(jobs) != 0 {
				t.Errorf("DeadJobs() after the purge = %v, %v; want none", ids(jobs), err)
			}
			if cancelled, err := s.Cancel(ctx, "m1", scheduled.Key); err != nil || cancelled {
				t.Errorf("Cancel(scheduled) after the purge = %v, %v; want it gone", cancelled, err)
			}
			if list, _, err := s.ListDeliveries(ctx, "m2", app.DeliveryFilter{}); err != nil || len(list) != 3 {
				t.Errorf("m2's deliveries after m1's purge = %v, %v; want all 3", ids2(list), err)
			}
			if all, err := s.MapAll(ctx, "m2", "replies"); err != nil || len(all) != 1 {
				t.Errorf("m2's replies after m1's purge = %v, %v; want kept", all, err)
			}
			if _, _, err := s.State(ctx, "m2", "cod:phone:"+phone); err != nil {
				t.Errorf("m2's state after m1's purge = %v; want kept", err)
			}
			if state, err := s.Claim(ctx, "m2", "event:order.placed:order:1", time.Hour); err != nil || state != app.ClaimDone {
				t.Errorf("m2's claim after m1's purge = %v, %v; want done", state, err)
			}
			if wait, err := s.Throttle(ctx, "m2", "pair:"+phone, 1, time.Hour, 0); err != nil || wait == 0 {
				t.Errorf("m2's throttle after m1's purge = %s, %v; want still taken", wait, err)
			}
			clock.Advance(2 * time.Hour)
			if got := ids(claimAll(t, s, 10)); len(got) != 1 || got[0] != "m2-due" {
				t.Errorf("jobs due after the purge = %v; want only m2's (none of m1's, the lapsed one neither)", got)
			}
			if err := s.Ack(ctx, held); err != nil {
				t.Errorf("Ack(held job) after the purge = %v; want its worker to settle it", err)
			}
			mustEnqueue(t, s, scheduled) // its key is free again

			if n, err := s.PurgeMerchantData(ctx, "m1"); err != nil || n == 0 {
				t.Errorf("PurgeMerchantData() again = %d, %v; want what was written since deleted", n, err)
			}
			if n, err := s.PurgeMerchantData(ctx, "m1"); err != nil || n != 0 {
				t.Errorf("PurgeMerchantData() a third time = %d, %v; want 0", n, err)
			}
		}},
		{"MerchantData/PurgeMerchantDataInBatches", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			// More records than one batch of either backend deletes.
			const n = 1200
			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			fields := map[string]string{}
			for i := range n {
				fields[fmt.Sprintf("+9198765%05d", i)] = "STOP"
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					d := sampleDelivery(clock, "m1", fmt.Sprint("d", i), app.EventOrderPlaced, app.DeliverySent)
					d.Phone, d.Subject = fmt.Sprintf("+9198765%05d", i), fmt.Sprint("order:", i)
					if err := s.CreateDelivery(ctx, d); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if err := s.MapSet(ctx, "m1", "opt_outs", fields); err != nil {
				t.Fatal(err)
			}
			if got, err := s.PurgeMerchantData(ctx, "m1"); err != nil || got < n {
				t.Fatalf("PurgeMerchantData() = %d, %v; want at least %d records deleted", got, err, n)
			}
			if list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{Limit: 500}); err != nil || len(list) != 0 {
				t.Errorf("ListDeliveries() after the purge = %d deliveries, %v; want none", len(list), err)
			}
			if list, err := s.CustomerDeliveries(ctx, "m1", app.CustomerMatch{Phone: "+919876501199", Subjects: []string{"order:0"}}, 10); err != nil || len(list) != 0 {
				t.Errorf("CustomerDeliveries() after the purge = %v, %v; want none", ids2(list), err)
			}
			if all, err := s.MapAll(ctx, "m1", "opt_outs"); err != nil || len(all) != 0 {
				t.Errorf("MapAll() after the purge = %d fields, %v; want none", len(all), err)
			}
			if got, err := s.PurgeMerchantData(ctx, "m1"); err != nil || got != 0 {
				t.Errorf("PurgeMerchantData() again = %d, %v; want 0", got, err)
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
