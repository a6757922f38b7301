package handlers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPushEventTakesOnlyJSON: the events API reads its body as one JSON
// event whatever the Content-Type says; other bodies are a 400 and queue
// nothing.
func TestPushEventTakesOnlyJSON(t *testing.T) {
	const event = `{"id":"txn_1","event":"loyalty.points_earned","customer":{"id":"c1"}}`
	e, st := newEventsAPIServer()
	tests := []struct {
		name, contentType, body string
		want                    int
	}{
		{"json", "application/json", event, http.StatusAccepted},
		{"json without a content type", "", event, http.StatusAccepted},
		{"json sent as a form", "application/x-www-form-urlencoded", event, http.StatusAccepted},
		{"json and more", "application/json", event + ` {"id":"txn_2"}`, http.StatusBadRequest},
		{"xml", "application/xml", `<APIEvent><ID>x</ID><Type>loyalty.x</Type><Customer><ID>1</ID></Customer></APIEvent>`, http.StatusBadRequest},
		{"form", "application/x-www-form-urlencoded", "ID=x&Type=loyalty.x", http.StatusBadRequest},
		{"empty", "application/json", "", http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, eventsAPIRequest(tt.contentType, []byte(tt.body)))
			jobs := st.take()
			if rec.Code != tt.want || (len(jobs) == 1) != (tt.want == http.StatusAccepted) {
				t.Fatalf("POST %s body = %d %s, %d jobs; want %d", tt.contentType, rec.Code, rec.Body, len(jobs), tt.want)
			}
		})
	}
	t.Run("over the body limit, unannounced", func(t *testing.T) {
		big := `{"id":"x","event":"a.b","customer":{"id":"1"},"properties":{"p":"` + strings.Repeat("a", 1<<20) + `"}}`
		req := eventsAPIRequest("application/json", nil)
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader(big)), -1 // chunked: no length to refuse up front
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || len(st.take()) != 0 {
			t.Fatalf("POST over 1 MiB = %d %s; want 413", rec.Code, rec.Body)
		}
	})
}
