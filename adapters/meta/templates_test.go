package meta

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

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const testWABAID = "102290129340398"

func newTemplatesClient(t *testing.T, baseURL string, timeout time.Duration) *Client {
	t.Helper()
	creds := testCreds(baseURL)
	creds["waba_id"] = testWABAID
	c, err := New(creds, adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return c
}

// fakeGraphTemplates answers the template listing as Graph does: Bearer
// token, GET /v24.0/{waba_id}/message_templates with fields, limit, status
// and, past the first page, after = the previous page's cursor. pages are
// the answers by the after cursor asked for ("" first).
func fakeGraphTemplates(t *testing.T, pages map[string]string, calls *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"Error validating access token: Session has expired on Tuesday, 04-Nov-26 10:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AqT1"}}`)
			return
		}
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != "/v24.0/"+testWABAID+"/message_templates" ||
			q.Get("fields") != "name,language,status,category,components,parameter_format" ||
			q.Get("limit") != "100" || q.Get("status") != "APPROVED" {
			t.Errorf("%s %s?%s; want the template listing", r.Method, r.URL.Path, r.URL.RawQuery)
		}
		body, ok := pages[q.Get("after")]
		if _, hasAfter := q["after"]; !ok || (hasAfter && q.Get("after") == "") {
			t.Errorf("after = %q; no such page", q.Get("after"))
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"(#100) Invalid after cursor","type":"OAuthException","code":100,"fbtrace_id":"AqT2"}}`)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTemplatesFollowsCursors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeGraphTemplates(t, map[string]string{
		"":               readTestdata(t, "templates_page1.json"),
		"QVFIUjRtY1JYZA": readTestdata(t, "templates_page2.json"),
	}, &calls)
	got, err := newTemplatesClient(t, srv.URL+"/v24.0", time.Second).Templates(context.Background())
	if err != nil {
		t.Fatalf("Templates() = %v", err)
	}
	want := []app.ProviderTemplate{
		{Name: "order_placed", Language: "en", Category: "UTILITY", Variables: []string{"1", "2", "3"}},
		{Name: "cod_confirm", Language: "hi", Category: "UTILITY", Variables: []string{"1", "2", "3"}},
		{Name: "order_shipped", Language: "en_US", Category: "UTILITY", Variables: []string{"first_name", "order_number", "tracking_url"}},
		{Name: "thank_you", Language: "en", Category: "MARKETING", Variables: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Templates() = %+v;\nwant %+v (rejected and paused left out, header variables not counted)", got, want)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2: the second page has no next", calls.Load())
	}
}

func TestTemplatesStopsOnAStuckCursor(t *testing.T) {
	var calls atomic.Int32
	stuck := `{"data":[{"name":"order_placed","language":"en","status":"APPROVED","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{1}}"}]}],"paging":{"cursors":{"before":"QQ","after":"QUZA"},"next":"https://graph.facebook.com/v24.0/x?after=QUZA"}}`
	srv := fakeGraphTemplates(t, map[string]string{"": stuck, "QUZA": stuck}, &calls)
	got, err := newTemplatesClient(t, srv.URL+"/v24.0", time.Second).Templates(context.Background())
	if err != nil || len(got) != 2 {
		t.Fatalf("Templates() = %+v, %v; want both copies, for the app to drop the repeat", got, err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls; want 2: a cursor that does not move ends the paging", calls.Load())
	}
}

func TestTemplatesWithoutWABAID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("asked Meta without a business account id")
	}))
	defer srv.Close()
	_, err := newTestClient(t, srv.URL+"/v24.0", time.Second).Templates(context.Background())
	var unsupported *app.TemplatesUnsupportedError
	if !errors.As(err, &unsupported) || !strings.Contains(unsupported.Reason, "waba_id") {
		t.Fatalf("Templates() = %v; want TemplatesUnsupportedError naming waba_id", err)
	}
}

func TestNewWABAID(t *testing.T) {
	creds := testCreds("")
	creds["waba_id"] = " 102290129340398 "
	c, err := New(creds, adapters.Options{})
	if err != nil || c.wabaID != testWABAID {
		t.Fatalf("New() = %+v, %v; want the id trimmed", c, err)
	}
	creds["waba_id"] = "Asha Naturals WABA"
	_, err = New(creds, adapters.Options{})
	adapterstest.RefusedCredentials(t, err, []string{"credentials.waba_id"}, testToken)
}

func TestTemplatesErrors(t *testing.T) {
	var calls atomic.Int32
	srv := fakeGraphTemplates(t, map[string]string{"": `{"data":[]}`}, &calls)
	creds := testCreds(srv.URL + "/v24.0")
	creds["waba_id"] = testWABAID
	creds["access_token"] = "EAAGexpired"
	c, err := New(creds, adapters.Options{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Templates(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Code != "190" || !strings.Contains(pe.Message, "Session has expired") {
		t.Fatalf("Templates() with an expired token = %v; want permanent 190 with Meta's reason", err)
	}

	throttled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"(#80007) There have been too many calls to this WhatsApp Business account.","type":"OAuthException","code":80007,"fbtrace_id":"AqT3"}}`)
	}))
	defer throttled.Close()
	_, err = newTemplatesClient(t, throttled.URL+"/v24.0", time.Second).Templates(context.Background())
	if !errors.As(err, &pe) || !pe.Retryable || pe.Code != "80007" {
		t.Fatalf("Templates() throttled = %v; want retryable 80007", err)
	}

	garbled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `<html>maintenance</html>`)
	}))
	defer garbled.Close()
	_, err = newTemplatesClient(t, garbled.URL+"/v24.0", time.Second).Templates(context.Background())
	if !errors.As(err, &pe) || !strings.Contains(pe.Message, "unreadable template list") {
		t.Fatalf("Templates() of HTML = %v; want unreadable", err)
	}
}

func TestTemplatesTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newTemplatesClient(t, serverURL+"/v24.0", timeout).Templates(ctx)
		return err
	}, testToken)
}
