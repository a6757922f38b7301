package clevertap

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const (
	testAccount  = "W9R-486-4W5Z"
	testPasscode = "ADB-CXE-QVKL"
)

func fixedNow() time.Time { return time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC) }

func eventMessage() app.Message {
	return app.Message{
		DeliveryID: "dlv_01J9ZQ2CT1",
		Mode:       "event",
		Event:      "loyalty.coupon_created",
		Properties: map[string]string{"coupon.code": "ANAIS15", "coupon.value": "₹150", "customer.first_name": "Anaïs", "shop.name": "Asha Naturals"},
		To:         app.Recipient{Phone: "+33612345678", Email: "anais@example.fr", CustomerID: "gid://shopify/Customer/7712", Identity: "gid://shopify/Customer/7712"},
	}
}

func templateMessage() app.Message {
	return app.Message{
		DeliveryID: "dlv_01J9ZQ3TPL",
		Mode:       "template",
		Template:   "cod_confirmation",
		Language:   "hi",
		Event:      "cod.confirmation_requested",
		Names:      []string{"customer.first_name", "order.number", "order.total"},
		Values:     []string{"ज्योति", "#1042", "₹1,499.00"},
		Properties: map[string]string{"order.number": "#1042"},
		To:         app.Recipient{Phone: "+919876543210", Identity: "+919876543210"},
	}
}

// fakeCleverTap checks the headers CleverTap authenticates with, then
// answers.
func fakeCleverTap(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("X-CleverTap-Account-Id") != testAccount || r.Header.Get("X-CleverTap-Passcode") != testPasscode {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"status":"fail","error":"Invalid Credentials","code":401}`)
			return
		}
		var body map[string]any
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
		}
		answer(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, baseURL string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(map[string]string{"account_id": testAccount, "passcode": testPasscode, "region": "IN1", "base_url": baseURL}, adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.now = fixedNow
	return c
}

func TestNewCredentials(t *testing.T) {
	base := func(region string) map[string]string {
		return map[string]string{"account_id": testAccount, "passcode": testPasscode, "region": region}
	}
	for region, host := range map[string]string{
		"IN1": "https://in1.api.clevertap.com", "in1": "https://in1.api.clevertap.com", "SG1": "https://sg1.api.clevertap.com",
		"US1": "https://us1.api.clevertap.com", "APS3": "https://aps3.api.clevertap.com", "MEC1": "https://mec1.api.clevertap.com",
		" EU1 ": "https://api.clevertap.com",
	} {
		c, err := New(base(region), adapters.Options{})
		if err != nil || c.baseURL != host {
			t.Errorf("region %q: %v, base %q, want %q", region, err, c.baseURL, host)
		}
	}
	tests := []struct {
		name     string
		creds    map[string]string
		insecure bool
		fields   []string
	}{
		{"unknown region", base("IN2"), false, []string{"credentials.region"}},
		{"no region", base(""), false, []string{"credentials.region"}},
		{"nothing", map[string]string{}, false, []string{"credentials.account_id", "credentials.passcode", "credentials.region"}},
		{"account with spaces", map[string]string{"account_id": "W9R 486", "passcode": testPasscode, "region": "IN1"}, false, []string{"credentials.account_id"}},
		{"passcode with quote", map[string]string{"account_id": testAccount, "passcode": `"` + testPasscode, "region": "IN1"}, false, []string{"credentials.passcode"}},
		{"base_url in production", map[string]string{"account_id": testAccount, "passcode": testPasscode, "base_url": "https://in1.api.clevertap.com"}, false, []string{"credentials.base_url"}},
		{"bad base_url", map[string]string{"account_id": testAccount, "passcode": testPasscode, "base_url": "gopher://x"}, true, []string{"credentials.base_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.creds, adapters.Options{AllowInsecure: tt.insecure})
			adapterstest.RefusedCredentials(t, err, tt.fields, testPasscode)
		})
	}
}

func TestBuildRequestGolden(t *testing.T) {
	c, err := New(map[string]string{"account_id": testAccount, "passcode": testPasscode, "region": "IN1"}, adapters.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.now = fixedNow
	for golden, msg := range map[string]app.Message{"event.golden.json": eventMessage(), "template.golden.json": templateMessage()} {
		t.Run(golden, func(t *testing.T) {
			req, err := c.BuildRequest(context.Background(), msg)
			if err != nil {
				t.Fatalf("BuildRequest: %v", err)
			}
			if req.Method != http.MethodPost || req.URL.String() != "https://in1.api.clevertap.com/1/upload" {
				t.Fatalf("%s %s", req.Method, req.URL)
			}
			if req.Header.Get("X-CleverTap-Account-Id") != testAccount || req.Header.Get("X-CleverTap-Passcode") != testPasscode {
				t.Fatalf("headers %v", req.Header)
			}
			body, _ := io.ReadAll(req.Body)
			adapterstest.Golden(t, golden, body)
		})
	}
}

func TestBuildRequestRejects(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", time.Second)
	tests := []struct {
		name string
		edit func(*app.Message)
	}{
		{"no identity", func(m *app.Message) { m.To = app.Recipient{} }},
		{"no event name", func(m *app.Message) { m.Event = "$'" }},
		{"template mode without template", func(m *app.Message) { m.Mode = "template"; m.Template = "" }},
		{"unknown mode", func(m *app.Message) { m.Mode = "push" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := eventMessage()
			tt.edit(&m)
			_, err := c.BuildRequest(context.Background(), m)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable || pe.Provider != Name {
				t.Fatalf("error %v, want a permanent clevertap error", err)
			}
		})
	}
}

func TestIdentityFallsBackToPhone(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", time.Second)
	m := eventMessage()
	m.To.Identity = ""
	req, err := c.BuildRequest(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		D []record `json:"d"`
	}
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil || len(body.D) != 1 || body.D[0].Identity != "+33612345678" {
		t.Fatalf("body %+v (%v), want the E.164 phone as identity", body, err)
	}
}

func TestSend(t *testing.T) {
	srv := fakeCleverTap(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.Method != http.MethodPost || r.URL.Path != "/1/upload" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		d, _ := body["d"].([]any)
		rec, _ := d[0].(map[string]any)
		data, _ := rec["evtData"].(map[string]any)
		if len(d) != 1 || rec["type"] != "event" || rec["evtName"] != "cod_confirmation_requested" || rec["ts"] != float64(fixedNow().Unix()) ||
			data["template_var_1"] != "ज्योति" || data["template_var_3"] != "₹1,499.00" || data["template_name"] != "cod_confirmation" {
			t.Errorf("body %v", body)
		}
		_, _ = io.WriteString(w, `{"status":"success","processed":1,"unprocessed":[]}`)
	})
	res, err := newClient(t, srv.URL, time.Second).Send(context.Background(), templateMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res != (app.SendResult{}) {
		t.Fatalf("result %+v, CleverTap gives no id", res)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
		code      string
		wantMsg   string
	}{
		{"bad ts", 200, `{"status":"fail","processed":0,"unprocessed":[{"status":"fail","code":525,"error":"Invalid timestamp","record":{"evtName":"x"}}]}`, false, "525", "Invalid timestamp"},
		{"no identity", 200, `{"status":"fail","processed":0,"unprocessed":[{"status":"fail","code":523,"error":"Record does not have identity"}]}`, false, "523", "Record does not have identity"},
		{"too many properties", 200, `{"status":"partial","processed":0,"unprocessed":[{"status":"fail","code":"522","error":"Too many event properties"}]}`, false, "522", "Too many event properties"},
		{"discarded", 200, `{"status":"fail","unprocessed":[{"status":"fail","code":528,"error":"Event discarded"}]}`, false, "528", "Event discarded"},
		{"misc server error", 200, `{"status":"fail","processed":0,"unprocessed":[{"status":"fail","code":555,"error":"Miscellaneous server error"}]}`, true, "555", "Miscellaneous server error"},
		{"fail without records", 200, `{"status":"fail","error":"Payload malformed"}`, false, "", "Payload malformed"},
		{"unreadable 200", 200, `OK`, false, "", "unreadable answer"},
		{"bad request", 400, `{"status":"fail","error":"Bad request","code":400}`, false, "400", "Bad request"},
		{"forbidden", 403, `{"status":"fail","error":"Operation not allowed","code":403}`, false, "403", "Operation not allowed"},
		{"concurrency", 429, `{"status":"fail","error":"Too many concurrent requests","code":429}`, true, "429", "Too many concurrent requests"},
		{"server error", 500, `{"status":"fail","error":"Internal server error","code":500}`, true, "500", "Internal server error"},
		{"unavailable html", 503, `<html>Service Unavailable</html>`, true, "", "Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeCleverTap(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := newClient(t, srv.URL, time.Second).Send(context.Background(), eventMessage())
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want ProviderError", err)
			}
			if pe.Provider != Name || pe.Retryable != tt.retryable || pe.Status != tt.status || pe.Code != tt.code || !strings.Contains(pe.Message, tt.wantMsg) {
				t.Fatalf("got %+v, want status %d code %q retryable %v message %q", pe, tt.status, tt.code, tt.retryable, tt.wantMsg)
			}
		})
	}
}

func TestSendBadPasscodeIsPermanent(t *testing.T) {
	srv := fakeCleverTap(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		t.Error("unauthenticated upload answered")
	})
	c, _ := New(map[string]string{"account_id": testAccount, "passcode": "WRONG-PASS", "base_url": srv.URL}, adapters.Options{AllowInsecure: true})
	_, err := c.Send(context.Background(), eventMessage())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 || pe.Message != "Invalid Credentials" || strings.Contains(err.Error(), "WRONG-PASS") {
		t.Fatalf("error %v, want permanent 401 with CleverTap's reason and no passcode", err)
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newClient(t, serverURL, timeout).Send(ctx, eventMessage())
		return err
	}, testPasscode)
}

func TestVerify(t *testing.T) {
	srv := fakeCleverTap(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/connect" || r.URL.Query().Get("partner") != "storebridge" || r.ContentLength > 0 {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		_, _ = io.WriteString(w, `{"status":"success"}`)
	})
	if err := newClient(t, srv.URL, time.Second).Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c, _ := New(map[string]string{"account_id": "ZZZ-999-ZZZZ", "passcode": testPasscode, "base_url": srv.URL}, adapters.Options{AllowInsecure: true})
	err := c.Verify(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 || pe.Code != "401" || pe.Message != "Invalid Credentials" {
		t.Fatalf("bad account: %v, want permanent 401 with CleverTap's reason", err)
	}

	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	t.Cleanup(empty.Close)
	err = newClient(t, empty.URL, time.Second).Verify(context.Background())
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Message, "refused") {
		t.Fatalf("bare 401: %v, want a permanent error that says why", err)
	}

	failing := fakeCleverTap(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		_, _ = io.WriteString(w, `{"status":"fail","error":"Account suspended"}`)
	})
	err = newClient(t, failing.URL, time.Second).Verify(context.Background())
	if !errors.As(err, &pe) || pe.Retryable || pe.Message != "Account suspended" {
		t.Fatalf("status fail: %v, want permanent", err)
	}
}

func TestParseWebhookIsEmpty(t *testing.T) {
	report, err := ParseWebhook(http.Header{}, []byte(`{"anything":"at all"}`))
	if err != nil || len(report.Statuses)+len(report.Replies) != 0 {
		t.Fatalf("report %+v err %v, want empty", report, err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"loyalty.points_earned": "loyalty_points_earned",
		"order.status.ready":    "order_status_ready",
		"a:b$c'd\"e\\f":         "a_bcdef",
		" Order Placed ":        "Order Placed",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}
