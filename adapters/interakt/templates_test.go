package interakt

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// fakeInteraktTemplates answers the template listing as public clients
// see it: Basic auth with the key as pasted, GET with exactly offset and
// approval_status=APPROVED; pages are the answers by offset, and any
// other offset gets an empty page.
func fakeInteraktTemplates(t *testing.T, pages map[string]string, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Basic "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"result":false,"message":"Invalid API Key"}`)
			return
		}
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != templatesPath || len(q) != 2 || q.Get("approval_status") != "APPROVED" || q.Get("offset") == "" {
			t.Errorf("%s %s?%s; want GET %s?approval_status=APPROVED&offset=N", r.Method, r.URL.Path, r.URL.RawQuery, templatesPath)
		}
		body, ok := pages[q.Get("offset")]
		if !ok {
			body = `{"result":true,"message":"Templates fetched","results":{"templates":[]}}`
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func readPage(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTemplatesPagesByOffset(t *testing.T) {
	var calls atomic.Int32
	srv := fakeInteraktTemplates(t, map[string]string{
		"0": readPage(t, "templates_page1.json"),
		"3": readPage(t, "templates_page2.json"),
	}, &calls)
	got, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	if err != nil {
		t.Fatalf("Templates() = %v", err)
	}
	want := []app.ProviderTemplate{
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3", "4"}},
		{Name: "points_earned_hi", Language: "hi", Category: "MARKETING", Variables: []string{"1", "2", "3"}},
		{Name: "order_shipped", Language: "en", Category: "UTILITY", Variables: []string{"1", "2"}},
		{Name: "thanks", Language: "en", Category: "MARKETING", Variables: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Templates() = %+v;\nwant %+v (the pending one left out)", got, want)
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls; want 3: offsets 0, 3 and an empty 5", calls.Load())
	}
}

func TestTemplatesStopWhenOffsetIsIgnored(t *testing.T) {
	var calls atomic.Int32
	page := readPage(t, "templates_page1.json")
	pages := map[string]string{}
	for _, o := range []string{"0", "3", "6", "9"} {
		pages[o] = page
	}
	srv := fakeInteraktTemplates(t, pages, &calls)
	got, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("Templates() = %+v, %v; want the page's two approved templates", got, err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2: the repeat brought nothing new", calls.Load())
	}
}

func TestTemplatesErrors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeInteraktTemplates(t, map[string]string{"0": `{"result":false,"message":"Your plan does not include API access"}`}, &calls)
	_, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Message != "Your plan does not include API access" {
		t.Fatalf("result false: %v", err)
	}

	c := newClient(t, srv.URL, time.Second)
	c.auth = "Basic d3Jvbmcta2V5Og=="
	if _, err := c.Templates(context.Background()); !errors.As(err, &pe) || pe.Status != 401 || pe.Message != "Invalid API Key" {
		t.Fatalf("bad key: %v; want 401 with Interakt's reason", err)
	}

	for name, answer := range map[string]func(w http.ResponseWriter){
		"no results": func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"result":true,"message":"ok"}`) },
		"throttled": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"result":false,"message":"Rate limit exceeded for this resource"}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w) }))
			defer srv.Close()
			_, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
			if !errors.As(err, &pe) {
				t.Fatalf("Templates() = %v; want a ProviderError", err)
			}
			if name == "throttled" && (!pe.Retryable || !strings.Contains(pe.Message, "Rate limit")) {
				t.Errorf("throttled: %+v; want retryable", pe)
			}
			if name == "no results" && (pe.Retryable || !strings.Contains(pe.Message, "unreadable template list")) {
				t.Errorf("no results: %+v; want permanent unreadable", pe)
			}
		})
	}
}

func TestTemplatesTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newClient(t, serverURL, timeout).Templates(ctx)
		return err
	}, testKey)
}
