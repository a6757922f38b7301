package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// queueEvents queues the events as the job a recorded status change makes,
// so they are processed by a worker, as in production.
func (env *deliveryEnv) queueEvents(t *testing.T, events ...app.Event) {
	t.Helper()
	payload, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	job := app.Job{ID: app.NewID(time.Now()), Merchant: env.merchant.ID, Kind: app.JobProcessEvents, Payload: payload}
	if err := env.store.Enqueue(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

// A message due now is sent by the job that processed its event; when that
// send must be tried again, the retry is queued as a send job and the
// message still goes once.
func TestEventJobSendsAtOnceAndQueuesItsRetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  []error
		calls   int
		history string
	}{
		{"sent by the event's job", nil, 1, "[queued sent]"},
		{"retried by a send job", []error{&app.ProviderError{Provider: "scripted", Status: 503, Retryable: true}}, 2, "[queued retrying sent]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newDeliveryEnv(t, app.Rate{})
			env.provider.script = tc.script
			env.queueEvents(t, orderEvent("2041", "+919876543210"))
			d := env.waitDelivery(t, app.DeliverySent)
			time.Sleep(100 * time.Millisecond) // room for a wrong second call
			calls, sent := env.provider.state()
			var statuses []app.DeliveryStatus
			for _, h := range d.History {
				statuses = append(statuses, h.Status)
			}
			if calls != tc.calls || len(sent) != 1 || fmt.Sprint(statuses) != tc.history {
				t.Errorf("%d calls, %d sent, history %v; want %d calls, 1 sent, history %s", calls, len(sent), statuses, tc.calls, tc.history)
			}
			depth, err := env.store.Depth(context.Background())
			if err != nil || depth != (app.QueueDepth{}) {
				t.Errorf("queue after the send = %+v, %v; want empty", depth, err)
			}
		})
	}
}

// An event no rule wants costs one write (MarkDone) and is counted as a
// run that found no rule would count it; a second copy counts as a
// duplicate, and a rule made later does not send the first event again.
func TestEventWithoutRuleIsDoneAtOnce(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	cancelled := orderEvent("2042", "+919876543210")
	cancelled.Type = app.EventOrderCancelled // the env has no rule for it
	for range 2 {
		if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cancelled}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.svc.PutRule(ctx, env.merchant.ID, app.EventOrderCancelled, app.RuleInput{Template: "order_cancelled", Variables: []string{"order.number"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cancelled}); err != nil {
		t.Fatal(err)
	}
	day := app.DayOf(env.now.Now())
	stats, err := env.svc.Stats(ctx, env.merchant.ID, day, day)
	if err != nil {
		t.Fatal(err)
	}
	got := stats.Counts[app.EventOrderCancelled]
	if got["skipped.no_rule"] != 1 || got["received"] != 1 || got["skipped.duplicate"] != 2 {
		t.Errorf("order.cancelled counts = %v; want skipped.no_rule 1, received 1, skipped.duplicate 2", got)
	}
	time.Sleep(100 * time.Millisecond)
	if calls, _ := env.provider.state(); calls != 0 || len(env.deliveries(t)) != 0 {
		t.Errorf("%d provider calls, %d deliveries; want none", calls, len(env.deliveries(t)))
	}
}

// writeCountingStore counts the delivery writes made through it.
type writeCountingStore struct {
	app.Store
	creates, updates atomic.Int32
}

func (s *writeCountingStore) CreateDelivery(ctx context.Context, d app.Delivery) error {
	s.creates.Add(1)
	return s.Store.CreateDelivery(ctx, d)
}

func (s *writeCountingStore) UpdateDelivery(ctx context.Context, merchant, id string, change func(*app.Delivery) error) (app.Delivery, error) {
	s.updates.Add(1)
	return s.Store.UpdateDelivery(ctx, merchant, id, change)
}

// A message sent by the event's job is stored once, already sent, with
// the history a queued-then-sent record has; one whose send must wait is
// stored queued before its send job is queued.
func TestInlineSendStoresTheDeliveryOnce(t *testing.T) {
	for _, tc := range []struct {
		name             string
		script           []error
		creates, updates int32
		history          string
	}{
		{"sent at once", nil, 1, 0, "[queued sent]"},
		// The failed call stores it retrying; the send job's call moves it.
		{"retried", []error{&app.ProviderError{Provider: "scripted", Status: 503, Retryable: true}}, 1, 1, "[queued retrying sent]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var counting *writeCountingStore
			env := newDeliveryEnvOn(t, app.ProviderKit{}, func(clk *clock) app.Store {
				st, err := embedded.Open(filepath.Join(t.TempDir(), "d.db"), embedded.Options{Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				counting = &writeCountingStore{Store: st}
				return counting
			})
			env.provider.script = tc.script
			env.queueEvents(t, orderEvent("2043", "+919876543210"))
			d := env.waitDelivery(t, app.DeliverySent)
			var statuses []app.DeliveryStatus
			for _, h := range d.History {
				statuses = append(statuses, h.Status)
			}
			if c, u := counting.creates.Load(), counting.updates.Load(); c != tc.creates || u != tc.updates || fmt.Sprint(statuses) != tc.history {
				t.Errorf("%d creates, %d updates, history %v; want %d, %d, %s", c, u, statuses, tc.creates, tc.updates, tc.history)
			}
		})
	}
}

// A message that must wait for the provider's rate limit is stored queued
// by the event's job and sent by its send job.
func TestInlineSendThatMustWaitIsStoredQueued(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{Limit: 1, Per: 300 * time.Millisecond})
	env.queueEvents(t, orderEvent("2044", "+919876543210"), orderEvent("2045", "+919876543210"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, sent := env.provider.state()
		if len(sent) == 2 {
			if calls != 2 {
				t.Fatalf("%d calls for 2 messages", calls)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 messages sent", len(sent))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A run holding the delivery as read before its call was answered (a
// lease lost mid-call, a crash and a replay) finds the answer on the
// delivery's record once the call's start is old, and does not call again.
func TestStaleRunFindsTheAnswerOnTheDelivery(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	env.queueEvents(t, orderEvent("2046", "+919876543210"))
	sent := env.waitDelivery(t, app.DeliverySent)
	env.jump(t, time.Now().Add(10*time.Minute)) // the call's start is long past
	stale := sent
	stale.Status, stale.Attempts, stale.ProviderMessageID = app.DeliveryQueued, 0, ""
	if _, err := env.svc.SendAsRead(context.Background(), stale); err != nil {
		t.Fatalf("SendAsRead() = %v", err)
	}
	if calls, _ := env.provider.state(); calls != 1 {
		t.Errorf("%d provider calls; want the first one only", calls)
	}
	if d := env.waitDelivery(t, app.DeliverySent); d.Attempts != 1 || d.Ambiguous != 0 {
		t.Errorf("delivery = %d attempts, %d ambiguous; want 1, 0", d.Attempts, d.Ambiguous)
	}
}
