package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
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
