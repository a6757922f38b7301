package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type fakeStore struct{ err error }

func (f *fakeStore) Ping(context.Context) error { return f.err }

func (f *fakeStore) Depth(context.Context) (app.QueueDepth, error) {
	return app.QueueDepth{Ready: 3, Scheduled: 2, Running: 1, Dead: 4}, f.err
}

func newTestServer(t *testing.T, st *fakeStore) (*echo.Echo, *strings.Builder) {
	t.Helper()
	logs := &strings.Builder{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	h := New(Options{Store: st, Metrics: metrics, Logger: log})
	h.Register(e)
	h.RegisterMetrics(e, "")
	// Routes that exist only to drive the shared middleware and error
	// handler from the outside.
	e.POST("/test/echo", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprint(len(body)))
	})
	e.GET("/test/error/:kind", func(c echo.Context) error {
		switch c.Param("kind") {
		case "validation":
			return &app.ValidationError{Fields: map[string]string{"delay": "not a duration"}}
		case "notfound":
			return fmt.Errorf("get merchant: %w", app.ErrNotFound)
		case "conflict":
			return app.ErrConflict
		case "unavailable":
			return fmt.Errorf("redisstore: %w: dial tcp: refused", app.ErrUnavailable)
		case "panic":
			panic("boom")
		}
		return errors.New("secret internal detail")
	})
	return e, logs
}

func TestRoutes(t *testing.T) {
	cases := []struct {
		name       string
		method     string
		url        string
		body       string
		storeErr   error
		wantStatus int
		wantBody   []string
		notBody    []string
	}{
		{name: "healthz", method: "GET", url: "/healthz", wantStatus: 200, wantBody: []string{`"status":"ok"`}},
		{name: "healthz with store down", method: "GET", url: "/healthz", storeErr: app.ErrUnavailable, wantStatus: 200},
		{name: "readyz", method: "GET", url: "/readyz", wantStatus: 200, wantBody: []string{`"store":"ok"`}},
		{name: "readyz with store down", method: "GET", url: "/readyz", storeErr: app.ErrUnavailable, wantStatus: 503, wantBody: []string{`"unavailable"`}},
		{name: "metrics", method: "GET", url: "/metrics", wantStatus: 200, wantBody: []string{`storebridge_queue_jobs{state="dead"} 4`, "go_goroutines"}},
		{name: "unknown route", method: "GET", url: "/nope", wantStatus: 404, wantBody: []string{`"error":"Not Found"`, `"request_id":"`}},
		{name: "validation", method: "GET", url: "/test/error/validation", wantStatus: 422, wantBody: []string{`"fields":{"delay":"not a duration"}`}},
		{name: "not found", method: "GET", url: "/test/error/notfound", wantStatus: 404, wantBody: []string{`"error":"not found"`}},
		{name: "conflict", method: "GET", url: "/test/error/conflict", wantStatus: 409},
		{name: "store unavailable", method: "GET", url: "/test/error/unavailable", wantStatus: 503, notBody: []string{"refused"}},
		{name: "internal error hides detail", method: "GET", url: "/test/error/other", wantStatus: 500, wantBody: []string{`"error":"internal error"`}, notBody: []string{"secret internal detail"}},
		{name: "panic recovered", method: "GET", url: "/test/error/panic", wantStatus: 500, notBody: []string{"boom"}},
		{name: "body at the limit", method: "POST", url: "/test/echo", body: strings.Repeat("a", 1<<20), wantStatus: 200, wantBody: []string{"1048576"}},
		{name: "body over the limit", method: "POST", url: "/test/echo", body: strings.Repeat("a", 1<<20+1), wantStatus: 413, wantBody: []string{`"error":"Request Entity Too Large"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newTestServer(t, &fakeStore{err: tc.storeErr})
			req := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s = %d; want %d (body %s)", tc.method, tc.url, rec.Code, tc.wantStatus, rec.Body)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("%s %s body = %s; want it to contain %s", tc.method, tc.url, rec.Body, want)
				}
			}
			for _, not := range tc.notBody {
				if strings.Contains(rec.Body.String(), not) {
					t.Errorf("%s %s body = %s; must not contain %s", tc.method, tc.url, rec.Body, not)
				}
			}
			if rec.Code >= 400 && tc.method != "HEAD" {
				var body errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
					t.Errorf("error body = %s; want the JSON error shape", rec.Body)
				}
			}
		})
	}
}

// With a token, /metrics answers only the scraper that bears it.
func TestMetricsToken(t *testing.T) {
	const token = "scrape-token-0123456789"
	metrics := NewMetrics(&fakeStore{}, nil)
	e := NewEcho(nil, metrics)
	h := New(Options{Store: &fakeStore{}, Metrics: metrics})
	h.RegisterOps(e)
	h.RegisterMetrics(e, token)
	cases := []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer not-" + token, 401},
		{"token not as bearer", token, 401},
		{"token", "Bearer " + token, 200},
	}
	for _, tc := range cases {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("GET /metrics with %s = %d; want %d", tc.name, rec.Code, tc.want)
		}
		if tc.want == 401 && (rec.Header().Get("WWW-Authenticate") == "" || strings.Contains(rec.Body.String(), "go_goroutines")) {
			t.Errorf("GET /metrics with %s: WWW-Authenticate %q, body %s; want a challenge and no metrics", tc.name, rec.Header().Get("WWW-Authenticate"), rec.Body)
		}
	}
}

func TestErrorHandlerLogsServerErrorsOnce(t *testing.T) {
	e, logs := newTestServer(t, &fakeStore{})
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/test/error/other", nil))
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/test/error/notfound", nil))
	if n := strings.Count(logs.String(), "request failed"); n != 1 {
		t.Errorf("logged failures = %d; want 1 (the 500 only):\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "secret internal detail") {
		t.Errorf("log lacks the cause of the 500:\n%s", logs)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	e, _ := newTestServer(t, &fakeStore{})
	for range 3 {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	}
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/test/error/conflict", nil))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`storebridge_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3`,
		`storebridge_http_request_duration_seconds_count{method="GET",route="/test/error/:kind",status="409"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
