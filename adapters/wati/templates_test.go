package wati

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// templatesPage reads the real-shaped getMessageTemplates answer in
// testdata, as raw entries a fake can reuse.
func templatesPage(t *testing.T) (map[string]json.RawMessage, []map[string]any) {
	t.Helper()
	raw, err := os.ReadFile("testdata/templates_page.json")
	if err != nil {
		t.Fatal(err)
	}
	var page map[string]json.RawMessage
	var items []map[string]any
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(page["messageTemplates"], &items); err != nil {
		t.Fatal(err)
	}
	return page, items
}

// fullPage is a page of templatesPageSize approved templates copied from
// the first testdata entry, named prefix_000, prefix_001, ….
func fullPage(t *testing.T, prefix string) []byte {
	t.Helper()
	_, items := templatesPage(t)
	var out []map[string]any
	for i := range templatesPageSize {
		entry := map[string]any{}
		for k, v := range items[0] {
			entry[k] = v
		}
		entry["elementName"] = fmt.Sprintf("%s_%03d", prefix, i)
		out = append(out, entry)
	}
	b, err := json.Marshal(map[string]any{"result": "success", "messageTemplates": out, "link": map[string]any{"prevPage": nil, "nextPage": "next"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkTemplatesRequest fails t unless r is the listing Wati takes: a GET
// of /api/v1/getMessageTemplates under the tenant, with exactly pageSize
// and pageNumber. It answers the page asked for.
func checkTemplatesRequest(t *testing.T, r *http.Request) int {
	t.Helper()
	if r.Method != http.MethodGet || r.URL.Path != "/123456/api/v1/getMessageTemplates" {
		t.Errorf("%s %s; want GET /123456/api/v1/getMessageTemplates", r.Method, r.URL.Path)
	}
	q := r.URL.Query()
	page, err := strconv.Atoi(q.Get("pageNumber"))
	if len(q) != 2 || q.Get("pageSize") != "100" || err != nil || page < 1 {
		t.Errorf("query %q; want pageSize=100 and a pageNumber from 1", r.URL.RawQuery)
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept %q", got)
	}
	return page
}

func TestTemplatesPagesAndKeepsApproved(t *testing.T) {
	var calls atomic.Int32
	last, err := os.ReadFile("testdata/templates_page.json")
	if err != nil {
		t.Fatal(err)
	}
	first := fullPage(t, "bulk")
	srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		calls.Add(1)
		switch page := checkTemplatesRequest(t, r); page {
		case 1:
			_, _ = w.Write(first)
		case 2:
			_, _ = w.Write(last)
		default:
			t.Errorf("asked for page %d after a short page", page)
		}
	})
	got, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	if err != nil {
		t.Fatalf("Templates() = %v", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2 (a full page, then a short one)", calls.Load())
	}
	if len(got) != templatesPageSize+3 {
		t.Fatalf("%d templates; want %d approved", len(got), templatesPageSize+3)
	}
	if got[0].Name != "bulk_000" || !reflect.DeepEqual(got[0].Variables, []string{"1", "2", "3"}) {
		t.Errorf("first = %+v", got[0])
	}
	want := []app.ProviderTemplate{
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3"}},
		{Name: "wallet_coins_rewarded", Language: "hi", Category: "MARKETING", Variables: []string{"user_name", "amount"}},
		{Name: "order_shipped", Language: "en_US", Category: "UTILITY", Variables: []string{"name", "order_number", "tracking_url"}},
	}
	if tail := got[templatesPageSize:]; !reflect.DeepEqual(tail, want) {
		t.Errorf("last page = %+v;\nwant %+v (pending and rejected left out)", tail, want)
	}
}

func TestTemplatesStopWhenPagingIsIgnored(t *testing.T) {
	var calls atomic.Int32
	page := fullPage(t, "same")
	srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		calls.Add(1)
		checkTemplatesRequest(t, r)
		_, _ = w.Write(page) // the same full page, whatever was asked
	})
	got, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	if err != nil || len(got) != templatesPageSize {
		t.Fatalf("Templates() = %d, %v; want one page's worth", len(got), err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2: the second brought nothing new", calls.Load())
	}
}

func TestTemplatesStopAtTheBound(t *testing.T) {
	var calls atomic.Int32
	srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		calls.Add(1)
		page := checkTemplatesRequest(t, r)
		_, _ = w.Write(fullPage(t, "p"+strconv.Itoa(page))) // never ends
	})
	got, err := newClient(t, srv.URL, time.Second).Templates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != app.MaxProviderTemplates || int(calls.Load()) != app.MaxProviderTemplates/templatesPageSize {
		t.Errorf("%d templates in %d calls; want %d in %d", len(got), calls.Load(), app.MaxProviderTemplates, app.MaxProviderTemplates/templatesPageSize)
	}
}

func TestTemplatesErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		token     string
		retryable bool
		want      string
	}{
		{name: "token refused", token: "expired", status: 401, want: "access token was refused"},
		{name: "result false", status: 200, body: `{"result":false,"info":"Tenant is not active"}`, want: "Tenant is not active"},
		{name: "not Wati", status: 200, body: `<!doctype html><title>Login</title>`, want: "did not answer like Wati"},
		{name: "throttled", status: 429, body: `{"result":false,"info":"Too many requests"}`, retryable: true, want: "Too many requests"},
		{name: "server error", status: 502, body: `bad gateway`, retryable: true, want: "bad gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
				checkTemplatesRequest(t, r)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := newClient(t, srv.URL, time.Second)
			if tt.token != "" {
				c.auth = "Bearer " + tt.token
			}
			_, err := c.Templates(context.Background())
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tt.retryable || !strings.Contains(pe.Message, tt.want) {
				t.Fatalf("Templates() = %v; want retryable=%v with %q", err, tt.retryable, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

func TestTemplatesTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newClient(t, serverURL, timeout).Templates(ctx)
		return err
	}, testToken)
}
