package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// queueOnly is a Store that only queues: ReceiveEvent needs nothing else.
type queueOnly struct {
	Store
	keys []string
	jobs []Job
}

func (q *queueOnly) ClaimAndEnqueue(_ context.Context, key string, _ time.Duration, job Job) (ClaimState, error) {
	q.keys = append(q.keys, key)
	q.jobs = append(q.jobs, job)
	return ClaimNew, nil
}

// FuzzReceiveEvent: a body of POST /api/v1/events, decoded as Echo's JSON
// binder does, is either refused with field reasons and queues nothing, or
// queued once under its trimmed id with a job the worker can read back
// (handleAPIEventJob's decoding) as the same event: an id of 1 to 200
// characters, a dotted type, a customer to reach, the same time (the
// receipt's when it gave none) and properties that nest without
// panicking.
func FuzzReceiveEvent(f *testing.F) {
	f.Add([]byte(`{"id":"txn_1","event":"loyalty.points_earned","occurred_at":"2026-05-11T10:15:00+05:30","customer":{"phone":"+919876543210","first_name":"Asha"},"properties":{"points":{"amount":120},"user_name":"Asha","order.number":"#1001"}}`))
	f.Add([]byte(`{"id":"  ref-9  ","event":"loyalty.referral_completed","customer":{"email":"a@example.com"},"properties":{"referral":{"code":"ASHA10"},"referral.friend":"Ravi"}}`))
	f.Add([]byte(`{"id":"x","event":"Loyalty.Points","customer":{"id":"c1"}}`))
	f.Add([]byte(`{"id":"","event":"a.b","customer":{"phone":" "}}`))
	f.Add([]byte(`{"id":"x","event":"a.b","customer":{"id":"1"},"properties":{"a":{"b":1},"amount":1e308}}`))
	f.Add([]byte(`{"id":"x","event":"a.b","customer":{"id":"1"},"occurred_at":"0000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"id":"x","event":"a.b","customer":{"id":"1"},"properties":{"k":"\udc00\ud800"}}` + "trailing"))
	f.Add([]byte(`[]`))
	// testdata/fuzz/FuzzReceiveEvent holds properties naming one path
	// twice, which nestProperties once resolved in map order.
	f.Fuzz(func(t *testing.T, body []byte) {
		var in APIEvent
		if json.NewDecoder(bytes.NewReader(body)).Decode(&in) != nil {
			return // the handler answers 400
		}
		st := &queueOnly{}
		svc := NewService(ServiceOptions{Store: st, Now: func() time.Time { return time.Unix(1778494500, 0) }})
		outcome, err := svc.ReceiveEvent(context.Background(), Merchant{ID: "m1"}, in)
		if err != nil {
			var invalid *ValidationError
			if !errors.As(err, &invalid) || len(invalid.Fields) == 0 {
				t.Fatalf("ReceiveEvent(%s) = %v; want a ValidationError naming fields", body, err)
			}
			if len(st.jobs) != 0 {
				t.Fatalf("a refused event was queued: %v", st.keys)
			}
			return
		}
		id := strings.TrimSpace(in.ID)
		if outcome != WebhookAccepted || len(st.jobs) != 1 || st.keys[0] != "api:"+id {
			t.Fatalf("ReceiveEvent = %q, keys %q; want one job under api:%s", outcome, st.keys, id)
		}
		if id == "" || len(id) > 200 || !eventTypePattern.MatchString(in.Type) || len(in.Type) > 100 {
			t.Fatalf("accepted id %q, type %q", id, in.Type)
		}
		c := in.Customer
		if strings.TrimSpace(c.Phone+c.Email+c.ID) == "" {
			t.Fatalf("accepted an event with no customer contact: %+v", c)
		}
		var back APIEvent
		if err := jsonUnmarshal(st.jobs[0].Payload, &back); err != nil {
			t.Fatalf("the worker cannot read the queued event %s: %v", st.jobs[0].Payload, err)
		}
		wantAt := in.OccurredAt
		if wantAt.IsZero() {
			wantAt = time.Unix(1778494500, 0) // stamped on receipt
		}
		if back.ID != id || back.Type != in.Type || !back.OccurredAt.Equal(wantAt) {
			t.Fatalf("queued event reads back as %q %q %v; want %q %q %v", back.ID, back.Type, back.OccurredAt, id, in.Type, wantAt)
		}
		want := in.Customer
		want.ID, want.FirstName, want.LastName = jsonText(want.ID), jsonText(want.FirstName), jsonText(want.LastName)
		want.Email, want.Phone = jsonText(want.Email), jsonText(want.Phone)
		if back.Customer != want {
			t.Fatalf("queued customer reads back as %+v; want %+v", back.Customer, want)
		}
		if len(back.Properties) != len(in.Properties) {
			t.Fatalf("queued properties %v; want %v", back.Properties, in.Properties)
		}
		nested := nestProperties(back.Properties)
		e := Event{Type: back.Type, Subject: "api:" + back.ID, Properties: nested}
		for k := range back.Properties {
			e.Lookup(CanonicalVariable(k))
		}
		// Map order changes from run to run: a few runs show a result that
		// depends on it.
		for range 8 {
			if again := nestProperties(back.Properties); !reflect.DeepEqual(again, nested) {
				t.Fatalf("nestProperties(%v) gave %v, then %v", back.Properties, nested, again)
			}
		}
	})
}
