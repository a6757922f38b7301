package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// eventsAPIStore is the store behind POST /api/v1/events: one merchant,
// known by its API key's hash, and a queue that records what it is given.
type eventsAPIStore struct {
	app.Store
	fakeStore
	mu   sync.Mutex
	jobs []app.Job
}

const fuzzAPIKey = "sbk_live_fuzz_0123456789abcdef"

func (s *eventsAPIStore) MerchantByAPIKeyHash(_ context.Context, hash string) (app.Merchant, error) {
	if hash != app.HashAPIKey(fuzzAPIKey) {
		return app.Merchant{}, app.ErrNotFound
	}
	return app.Merchant{ID: "m1", Status: app.MerchantActive, Platform: app.PlatformShopify}, nil
}

func (s *eventsAPIStore) ClaimAndEnqueue(_ context.Context, _ string, _ time.Duration, job app.Job) (app.ClaimState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, job)
	return app.ClaimNew, nil
}

func (s *eventsAPIStore) Ping(ctx context.Context) error { return s.fakeStore.Ping(ctx) }

// Throttle never holds a request back: rate limits are not what this
// store is for.
func (s *eventsAPIStore) Throttle(context.Context, string, string, int, time.Duration, time.Duration) (time.Duration, error) {
	return 0, nil
}

func (s *eventsAPIStore) Depth(ctx context.Context) (app.QueueDepth, error) {
	return s.fakeStore.Depth(ctx)
}

func (s *eventsAPIStore) take() []app.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	jobs := s.jobs
	s.jobs = nil
	return jobs
}

// newEventsAPIServer is the web role's router over an eventsAPIStore.
func newEventsAPIServer() (*echo.Echo, *eventsAPIStore) {
	st := &eventsAPIStore{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	svc := app.NewService(app.ServiceOptions{Store: st, Logger: log})
	New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log}).Register(e)
	return e, st
}

// eventsAPIRequest posts body with the merchant's key; contentType ""
// sends none.
func eventsAPIRequest(contentType string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fuzzAPIKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// FuzzPushEvent: any body, sent with any of the content types Echo's
// binder reads, gets an answer from POST /api/v1/events that is the
// caller's to fix (400 unreadable, 422 with field reasons) or an
// acceptance (202) that queued exactly one event the worker can read;
// never a 500, never a panic, never a job for a refused body.
func FuzzPushEvent(f *testing.F) {
	contentTypes := []string{"application/json", "application/json; charset=utf-8", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", ""}
	for i := range contentTypes {
		f.Add(uint8(i), []byte(`{"id":"txn_1","event":"loyalty.points_earned","occurred_at":"2026-05-11T10:15:00+05:30","customer":{"phone":"+919876543210"},"properties":{"points":{"amount":120}}}`))
	}
	f.Add(uint8(0), []byte(`{"id":"x","event":"loyalty.x","customer":{"id":"1"},"occurred_at":"2026-13-01T00:00:00Z"}`))
	f.Add(uint8(0), []byte(`{"id":"x","event":"loyalty.x","customer":{"id":"1"},"properties":{"n":1e999}}`))
	f.Add(uint8(0), []byte(``))
	// Bodies Echo's binder once accepted though they are not one JSON
	// event: an XML one, and JSON with more after it.
	f.Add(uint8(2), []byte(`<APIEvent><ID>x</ID><Type>loyalty.x</Type><Customer><ID>1</ID></Customer></APIEvent>`))
	f.Add(uint8(0), []byte(`{"id":"x","event":"loyalty.x","customer":{"id":"1"}} {"trailing":true}`))
	f.Add(uint8(3), []byte(`ID=x&Type=loyalty.x&Customer.ID=1&id=y&event=loyalty.y`))
	f.Add(uint8(4), []byte("--b\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nx\r\n--b--\r\n"))

	e, st := newEventsAPIServer()
	f.Fuzz(func(t *testing.T, contentType uint8, body []byte) {
		req := eventsAPIRequest(contentTypes[int(contentType)%len(contentTypes)], body)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		jobs := st.take()
		switch rec.Code {
		case http.StatusAccepted:
			if len(jobs) != 1 {
				t.Fatalf("202 queued %d jobs; want 1", len(jobs))
			}
			var answer struct{ ID, Outcome string }
			if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || answer.ID == "" || answer.Outcome != string(app.WebhookAccepted) {
				t.Fatalf("202 answered %s (%v)", rec.Body, err)
			}
			// The answer echoes the sender's id; the event is kept under it
			// trimmed.
			var queued app.APIEvent
			if err := json.Unmarshal(jobs[0].Payload, &queued); err != nil || queued.ID != strings.TrimSpace(answer.ID) || jobs[0].Kind != app.JobAPIEvent {
				t.Fatalf("queued %s %s (%v); want the event %q", jobs[0].Kind, jobs[0].Payload, err, answer.ID)
			}
			// The API takes one JSON object: nothing else may be accepted.
			var sent app.APIEvent
			if err := json.Unmarshal(body, &sent); err != nil {
				t.Fatalf("202 for a body that is not one JSON event (%s): %q: %v", req.Header.Get("Content-Type"), body, err)
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusUnsupportedMediaType:
			if len(jobs) != 0 {
				t.Fatalf("%d queued %d jobs", rec.Code, len(jobs))
			}
		default:
			t.Fatalf("POST /api/v1/events (%s) = %d %s", req.Header.Get("Content-Type"), rec.Code, rec.Body)
		}
	})
}
