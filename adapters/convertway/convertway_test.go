package convertway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const (
	testShop       = "asha-naturals.myshopify.com"
	testLicenseKey = "CWL-7f3a9c2e41b8d065"
)

var fixedNow = time.Date(2026, 5, 22, 10, 15, 30, 0, time.UTC)

func testCreds(endpoint string) map[string]string {
	return map[string]string{"shop": testShop, "license_key": testLicenseKey, "endpoint": endpoint}
}

func newTestClient(t *testing.T, endpoint string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(testCreds(endpoint), adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	c.now = func() time.Time { return fixedNow }
	return c
}

func walletCoins() app.Message {
	return app.Message{
		DeliveryID: "dlv_loy_5521",
		Mode:       "event",
		Event:      "loyalty.points_earned",
		Properties: map[string]string{"points.amount": "120", "points.balance": "860", "points.expires_on": "31 Aug 2026"},
		To:         app.Recipient{Phone: "+918123456789", Name: "ज्योति वर्मा", CustomerID: "7390152605948", Identity: "+918123456789"},
	}
}

func couponCreated() app.Message {
	return app.Message{
		DeliveryID: "dlv_loy_5522",
		Mode:       "template",
		Template:   "coupon_ready",
		Language:   "en",
		Names:      []string{"customer.first_name", "coupon.code", "coupon.value"},
		Values:     []string{"Priya", "NECTOR-8F2K", "₹250"},
		Event:      "loyalty.coupon_created",
		Properties: map[string]string{"coupon.code": "NECTOR-8F2K", "coupon.value": "₹250"},
		To:         app.Recipient{Phone: "+919876543210", Email: "priya.sharma@example.in", Name: "Priya Sharma", Identity: "priya.sharma@example.in"},
	}
}

func TestNew(t *testing.T) {
	const endpoint = "https://api.convertway.example/nector/events"
	tests := []struct {
		name       string
		edit       func(map[string]string)
		insecure   bool
		wantFields []string
		wantShop   string
	}{
		{name: "valid", edit: func(map[string]string) {}, wantShop: testShop},
		{name: "shop pasted from the browser", edit: func(c map[string]string) { c["shop"] = " https://Asha-Naturals.myshopify.com/ " }, wantShop: testShop},
		{name: "nothing", edit: func(c map[string]string) { clear(c) },
			wantFields: []string{"credentials.shop", "credentials.license_key", "credentials.endpoint"}},
		{name: "custom domain instead of myshopify", edit: func(c map[string]string) { c["shop"] = "ashanaturals.in" }, wantFields: []string{"credentials.shop"}},
		{name: "shop with a path", edit: func(c map[string]string) { c["shop"] = "asha.myshopify.com/admin" }, wantFields: []string{"credentials.shop"}},
		{name: "licence key with a space", edit: func(c map[string]string) { c["license_key"] = "CWL 7f3a" }, wantFields: []string{"credentials.license_key"}},
		{name: "http endpoint", edit: func(c map[string]string) { c["endpoint"] = "http://api.convertway.example/e" }, wantFields: []string{"credentials.endpoint"}},
		{name: "private endpoint", edit: func(c map[string]string) { c["endpoint"] = "https://192.168.1.20/e" }, wantFields: []string{"credentials.endpoint"}},
		{name: "http endpoint in dev", edit: func(c map[string]string) { c["endpoint"] = "http://127.0.0.1:8089/e" }, insecure: true, wantShop: testShop},
		{name: "base_url in production", edit: func(c map[string]string) { c["base_url"] = "https://fake.example.com" }, wantFields: []string{"credentials.base_url"}},
		{name: "base_url replaces endpoint in dev", edit: func(c map[string]string) { delete(c, "endpoint"); c["base_url"] = "http://127.0.0.1:9/e" }, insecure: true, wantShop: testShop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := testCreds(endpoint)
			tt.edit(creds)
			c, err := New(creds, adapters.Options{AllowInsecure: tt.insecure})
			if len(tt.wantFields) == 0 {
				if err != nil {
					t.Fatalf("New() = %v", err)
				}
				if c.shop != tt.wantShop || c.Name() != "convertway" {
					t.Errorf("shop = %q, Name() = %q; want %q, convertway", c.shop, c.Name(), tt.wantShop)
				}
				return
			}
			adapterstest.RefusedCredentials(t, err, tt.wantFields, "7f3a")
		})
	}
}

func TestBuildRequestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  app.Message
	}{
		{"event", walletCoins()},
		{"template", couponCreated()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, "https://api.convertway.example/nector/events", 0)
			req, err := c.BuildRequest(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("BuildRequest() = %v", err)
			}
			if req.Method != http.MethodPost || req.URL.String() != "https://api.convertway.example/nector/events" {
				t.Errorf("request = %s %s", req.Method, req.URL)
			}
			for k, v := range map[string]string{
				"Content-Type":    "application/json",
				"X-License-Key":   testLicenseKey,
				"X-Shop-Domain":   testShop,
				"Idempotency-Key": tt.msg.DeliveryID,
			} {
				if got := req.Header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			adapterstest.Golden(t, tt.name+".golden.json", body)
		})
	}
}

func TestBuildRequestRefuses(t *testing.T) {
	noID := walletCoins()
	noID.DeliveryID = ""
	noEvent := walletCoins()
	noEvent.Event = ""
	nobody := walletCoins()
	nobody.To = app.Recipient{Name: "Anaïs Dubois", CustomerID: "42"}
	badMode := walletCoins()
	badMode.Mode = "broadcast"
	c := newTestClient(t, "https://api.convertway.example/nector/events", 0)
	for name, m := range map[string]app.Message{"no delivery id": noID, "no event": noEvent, "no phone or email": nobody, "unknown mode": badMode} {
		t.Run(name, func(t *testing.T) {
			_, err := c.BuildRequest(context.Background(), m)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable || pe.Provider != "convertway" {
				t.Fatalf("BuildRequest() = %v; want a permanent convertway error", err)
			}
		})
	}
}

// fakeConvertWay checks what our documented format promises and answers
// status with answer once the request is well formed.
type fakeConvertWay struct {
	t      *testing.T
	status int
	answer string

	mu  sync.Mutex
	got []map[string]any
}

func (f *fakeConvertWay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-License-Key") != testLicenseKey || r.Header.Get("X-Shop-Domain") != testShop {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"success":false,"message":"Invalid licence key for this shop"}`)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/nector/events" || r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("request = %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("body is not JSON: %v", err)
	}
	if body["idempotency_key"] != r.Header.Get("Idempotency-Key") || body["shop"] != testShop {
		f.t.Errorf("body idempotency_key/shop = %v/%v; headers say %s/%s", body["idempotency_key"], body["shop"], r.Header.Get("Idempotency-Key"), testShop)
	}
	f.mu.Lock()
	f.got = append(f.got, body)
	f.mu.Unlock()
	w.WriteHeader(f.status)
	io.WriteString(w, f.answer)
}

func (f *fakeConvertWay) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.got...)
}

func startFake(t *testing.T, status int, answer string) (*fakeConvertWay, string) {
	t.Helper()
	f := &fakeConvertWay{t: t, status: status, answer: answer}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/nector/events"
}

func TestSendTemplate(t *testing.T) {
	f, endpoint := startFake(t, http.StatusOK, `{"success":true}`)
	c := newTestClient(t, endpoint, 0)
	res, err := c.Send(context.Background(), couponCreated())
	if err != nil || res != (app.SendResult{}) {
		t.Fatalf("Send() = %+v, %v; want an empty result", res, err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("fake got %d requests; want 1", len(reqs))
	}
	tpl := reqs[0]["template"].(map[string]any)
	var values []string
	for _, v := range tpl["values"].([]any) {
		values = append(values, v.(string))
	}
	if tpl["name"] != "coupon_ready" || strings.Join(values, "|") != "Priya|NECTOR-8F2K|₹250" {
		t.Errorf("template = %v; want coupon_ready with values in order", tpl)
	}
	if reqs[0]["event"] != "loyalty.coupon_created" || reqs[0]["customer"].(map[string]any)["phone"] != "+919876543210" {
		t.Errorf("body = %v", reqs[0])
	}
}

func TestSendBadLicenceKeyIsPermanent(t *testing.T) {
	_, endpoint := startFake(t, http.StatusOK, "")
	creds := testCreds(endpoint)
	creds["license_key"] = "CWL-wrong"
	c, err := New(creds, adapters.Options{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), walletCoins())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 || pe.Message != "Invalid licence key for this shop" {
		t.Fatalf("Send() = %v; want permanent 401 with the answer's message", err)
	}
}

func TestSendStatusClassification(t *testing.T) {
	tests := []struct {
		status        int
		answer        string
		wantErr       bool
		wantRetryable bool
		wantMessage   string
	}{
		{200, `{"success":true}`, false, false, ""},
		{202, ``, false, false, ""},
		{204, ``, false, false, ""},
		{400, `{"success":false,"message":"Event loyalty.points_earned is not enabled for this shop"}`, true, false, "is not enabled for this shop"},
		{403, `{"error":"Nector integration is disabled"}`, true, false, "Nector integration is disabled"},
		{404, `Not Found`, true, false, "Not Found"},
		{422, `{"error":{"code":"customer_not_found"}}`, true, false, "customer_not_found"},
		{408, ``, true, true, ""},
		{429, `{"message":"Too many requests"}`, true, true, "Too many requests"},
		{500, `{"message":"Internal server error"}`, true, true, "Internal server error"},
		{502, `<html><h1>502 Bad Gateway</h1></html>`, true, true, "502 Bad Gateway"},
		{503, ``, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			_, endpoint := startFake(t, tt.status, tt.answer)
			c := newTestClient(t, endpoint, 0)
			_, err := c.Send(context.Background(), walletCoins())
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send() = %v; want success", err)
				}
				return
			}
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("Send() = %v; want *app.ProviderError", err)
			}
			if pe.Retryable != tt.wantRetryable || pe.Status != tt.status || pe.Provider != "convertway" {
				t.Errorf("error = %+v; want status %d retryable %v", pe, tt.status, tt.wantRetryable)
			}
			if !strings.Contains(pe.Message, tt.wantMessage) {
				t.Errorf("Message = %q; want it to contain %q", pe.Message, tt.wantMessage)
			}
			if strings.Contains(err.Error(), testLicenseKey) {
				t.Errorf("error %q shows the licence key", err)
			}
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/nector/events", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v2/events", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/v2/events", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/nector/events", 0)
	_, err := c.Send(context.Background(), walletCoins())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusMovedPermanently || pe.Retryable {
		t.Fatalf("Send() = %v; want permanent 301", err)
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newTestClient(t, serverURL+"/nector/events?token=s3cr3t", timeout).Send(ctx, walletCoins())
		return err
	}, testLicenseKey, "s3cr3t")
}

func TestVerifySendsNothing(t *testing.T) {
	f, endpoint := startFake(t, http.StatusOK, "")
	c := newTestClient(t, endpoint, 0)
	if err := c.Verify(context.Background()); err != nil {
		t.Fatalf("Verify() = %v; want nil", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("Verify sent %d requests; want none (no fake customer events)", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var pe *app.ProviderError
	if err := c.Verify(ctx); !errors.As(err, &pe) || !pe.Retryable {
		t.Errorf("Verify(cancelled) = %v; want retryable", err)
	}
}

func TestParseWebhookReportsNothing(t *testing.T) {
	report, err := ParseWebhook(http.Header{}, []byte(`{"event":"message.delivered","id":"x"}`))
	if err != nil || len(report.Statuses) != 0 || len(report.Replies) != 0 {
		t.Errorf("ParseWebhook() = %+v, %v; want an empty report", report, err)
	}
}
