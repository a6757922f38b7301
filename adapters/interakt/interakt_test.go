package interakt

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

// A Secret Key as Interakt shows it: base64 of "<raw>:".
const testKey = "cmF3LXNlY3JldC1rZXktZm9yLXRlc3RzOg=="

func templateMessage() app.Message {
	return app.Message{
		DeliveryID: "dlv_01J9ZK3Q7W",
		Mode:       "template",
		Template:   "order_placed",
		Language:   "en",
		Names:      []string{"customer.first_name", "order.number", "order.total", "order.tracking_url"},
		Values:     []string{"ज्योति", "#1042", "₹1,499.00", "https://shop.example.in/track?o=1042&t=abc"},
		To:         app.Recipient{Phone: "+919876543210", Name: "ज्योति शर्मा", Identity: "+919876543210"},
		Buttons:    []app.Button{{ID: "cod_confirm", Title: "Confirm"}},
	}
}

func eventMessage() app.Message {
	return app.Message{
		DeliveryID: "dlv_01J9ZK4XYZ",
		Mode:       "event",
		Event:      "loyalty.points_earned",
		Properties: map[string]string{"points.amount": "100", "points.balance": "1,250", "customer.first_name": "Anaïs"},
		To:         app.Recipient{Phone: "+971501234567", Email: "anais@example.fr", CustomerID: "7712", Identity: "7712"},
	}
}

// fakeInterakt is a stand-in for api.interakt.ai that checks what the real
// service checks before answering.
func fakeInterakt(t *testing.T, wantPath string, answer func(w http.ResponseWriter, r *http.Request, body map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		if r.URL.Path != wantPath {
			t.Errorf("path %s, want %s", r.URL.Path, wantPath)
		}
		if got := r.Header.Get("Authorization"); got != "Basic "+testKey {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"result":false,"message":"Invalid API Key"}`)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		answer(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, baseURL string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(map[string]string{"api_key": testKey, "base_url": baseURL}, adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestNewCredentials(t *testing.T) {
	tests := []struct {
		name      string
		creds     map[string]string
		insecure  bool
		wantField string // "" = valid
		wantAuth  string
		wantBase  string
	}{
		{name: "pasted key", creds: map[string]string{"api_key": testKey}, wantAuth: "Basic " + testKey, wantBase: defaultBaseURL},
		{name: "spaces around", creds: map[string]string{"api_key": "  " + testKey + "\n"}, wantAuth: "Basic " + testKey, wantBase: defaultBaseURL},
		{name: "pasted with Basic prefix", creds: map[string]string{"api_key": "Basic " + testKey}, wantAuth: "Basic " + testKey, wantBase: defaultBaseURL},
		{name: "missing", creds: map[string]string{}, wantField: "credentials.api_key"},
		{name: "two words", creds: map[string]string{"api_key": "abc def"}, wantField: "credentials.api_key"},
		{name: "quote pasted along", creds: map[string]string{"api_key": `"` + testKey + `"`}, wantField: "credentials.api_key"},
		{name: "base_url refused in production", creds: map[string]string{"api_key": testKey, "base_url": "https://api.whatsappbiz.com"}, wantField: "credentials.base_url"},
		{name: "base_url under insecure", creds: map[string]string{"api_key": testKey, "base_url": "http://127.0.0.1:9999/"}, insecure: true, wantAuth: "Basic " + testKey, wantBase: "http://127.0.0.1:9999"},
		{name: "bad base_url under insecure", creds: map[string]string{"api_key": testKey, "base_url": "ftp://x"}, insecure: true, wantField: "credentials.base_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.creds, adapters.Options{AllowInsecure: tt.insecure})
			if tt.wantField != "" {
				adapterstest.RefusedCredentials(t, err, []string{tt.wantField}, testKey)
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.auth != tt.wantAuth || c.baseURL != tt.wantBase {
				t.Fatalf("auth %q base %q, want %q %q", c.auth, c.baseURL, tt.wantAuth, tt.wantBase)
			}
			if c.Name() != "interakt" {
				t.Fatalf("Name %q", c.Name())
			}
		})
	}
}

func TestSplitPhone(t *testing.T) {
	tests := []struct {
		phone, cc, national string
	}{
		{"+919876543210", "+91", "9876543210"},
		{"+14155552671", "+1", "4155552671"},
		{"+447911123456", "+44", "7911123456"},
		{"+971501234567", "+971", "501234567"},
		{"+6591234567", "+65", "91234567"},
		{"+390612345678", "+39", "0612345678"}, // Italy keeps its leading zero
		{"+8801712345678", "+880", "1712345678"},
	}
	for _, tt := range tests {
		cc, national, err := splitPhone(tt.phone)
		if err != nil || cc != tt.cc || national != tt.national {
			t.Errorf("splitPhone(%s) = %q %q %v, want %q %q", tt.phone, cc, national, err, tt.cc, tt.national)
		}
	}
	for _, bad := range []string{"", "9876543210", "+91 98765 43210", "+0123456789"} {
		if _, _, err := splitPhone(bad); err == nil {
			t.Errorf("splitPhone(%q) accepted", bad)
		}
	}
}

func TestBuildRequestGolden(t *testing.T) {
	c, err := New(map[string]string{"api_key": testKey}, adapters.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		golden, path string
		msg          app.Message
	}{
		{"template.golden.json", "https://api.interakt.ai/v1/public/message/", templateMessage()},
		{"event.golden.json", "https://api.interakt.ai/v1/public/track/events/", eventMessage()},
		{"event_phone_identity.golden.json", "https://api.interakt.ai/v1/public/track/events/", func() app.Message {
			m := eventMessage()
			m.To = app.Recipient{Phone: "+919812345678", Identity: "+919812345678"}
			return m
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			req, err := c.BuildRequest(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("BuildRequest: %v", err)
			}
			if req.Method != http.MethodPost || req.URL.String() != tt.path {
				t.Fatalf("%s %s, want POST %s", req.Method, req.URL, tt.path)
			}
			if req.Header.Get("Authorization") != "Basic "+testKey || req.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", req.Header)
			}
			body, _ := io.ReadAll(req.Body)
			adapterstest.Golden(t, tt.golden, body)
		})
	}
}

func TestBuildRequestRejects(t *testing.T) {
	c, _ := New(map[string]string{"api_key": testKey}, adapters.Options{})
	bad := []struct {
		name string
		edit func(*app.Message)
	}{
		{"no template", func(m *app.Message) { m.Template = "" }},
		{"local phone", func(m *app.Message) { m.To.Phone = "09876543210" }},
		{"unknown mode", func(m *app.Message) { m.Mode = "sms" }},
		{"event without name", func(m *app.Message) { m.Mode = "event"; m.Event = "" }},
		{"event without anyone", func(m *app.Message) { m.Mode = "event"; m.Event = "cart.abandoned"; m.To = app.Recipient{} }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			m := templateMessage()
			tt.edit(&m)
			_, err := c.BuildRequest(context.Background(), m)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable || pe.Provider != Name {
				t.Fatalf("error %v, want a permanent interakt ProviderError", err)
			}
			if strings.Contains(err.Error(), "9876543210") {
				t.Fatalf("error shows the phone: %v", err)
			}
		})
	}
}

func TestSendTemplate(t *testing.T) {
	srv := fakeInterakt(t, messagePath, func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		tpl, _ := body["template"].(map[string]any)
		values, _ := tpl["bodyValues"].([]any)
		if body["countryCode"] != "+91" || body["phoneNumber"] != "9876543210" || body["callbackData"] != "dlv_01J9ZK3Q7W" || body["type"] != "Template" {
			t.Errorf("body %v", body)
		}
		if len(values) != 4 || values[0] != "ज्योति" || values[2] != "₹1,499.00" {
			t.Errorf("bodyValues out of order: %v", values)
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"result":true,"message":"Message created successfully","id":"2b3c7d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"}`)
	})
	res, err := newClient(t, srv.URL, time.Second).Send(context.Background(), templateMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderMessageID != "2b3c7d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e" {
		t.Fatalf("message id %q", res.ProviderMessageID)
	}
}

func TestSendEvent(t *testing.T) {
	srv := fakeInterakt(t, eventPath, func(w http.ResponseWriter, _ *http.Request, body map[string]any) {
		traits, _ := body["traits"].(map[string]any)
		if body["event"] != "loyalty.points_earned" || body["userId"] != "7712" || body["countryCode"] != "+971" || body["phoneNumber"] != "501234567" || traits["customer.first_name"] != "Anaïs" {
			t.Errorf("body %v", body)
		}
		// The track API answers without an id.
		_, _ = io.WriteString(w, `{"result":true,"message":"Event tracked successfully"}`)
	})
	res, err := newClient(t, srv.URL, time.Second).Send(context.Background(), eventMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderMessageID != "" {
		t.Fatalf("message id %q, want none", res.ProviderMessageID)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		retryable bool
		wantMsg   string
	}{
		{"template not approved", 200, `{"result":false,"message":"No approved template found with name 'order_placed' and language 'en'"}`, false, "No approved template found with name 'order_placed' and language 'en'"},
		{"customer unknown", 400, `{"result":false,"message":"Customer is not available for the organization"}`, false, "Customer is not available for the organization"},
		{"bad key", 401, `{"result":false,"message":"Invalid API Key"}`, false, "Invalid API Key"},
		{"forbidden plan", 403, `{"detail":"Public APIs are not available on the Starter plan"}`, false, "Public APIs are not available on the Starter plan"},
		{"rate limited", 429, `{"result":false,"message":"Rate limit exceeded for this resource"}`, true, "Rate limit exceeded for this resource"},
		{"internal error", 500, `{"result":false,"message":"Internal Server Error"}`, true, "Internal Server Error"},
		{"bad gateway html", 502, `<html><body>502 Bad Gateway</body></html>`, true, "502 Bad Gateway"},
		{"phone echoed back", 400, `{"result":false,"message":"Customer +919876543210 has not messaged within last 24 hours"}`, false, "Customer +91******3210 has not messaged within last 24 hours"},
		{"2xx without result", 200, `{"message":"ok"}`, false, "answer without result"},
		{"2xx not json", 200, `<html>maintenance</html>`, false, "unreadable answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeInterakt(t, messagePath, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := newClient(t, srv.URL, time.Second).Send(context.Background(), templateMessage())
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want ProviderError", err)
			}
			if pe.Provider != Name || pe.Retryable != tt.retryable || pe.Status != tt.status || !strings.Contains(pe.Message, tt.wantMsg) {
				t.Fatalf("got %+v, want status %d retryable %v message %q", pe, tt.status, tt.retryable, tt.wantMsg)
			}
			if app.IsRetryable(err) != tt.retryable {
				t.Fatalf("IsRetryable disagrees")
			}
			if strings.Contains(err.Error(), "9876543210") || strings.Contains(err.Error(), testKey) {
				t.Fatalf("error leaks a phone or key: %v", err)
			}
		})
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newClient(t, serverURL, timeout).Send(ctx, templateMessage())
		return err
	}, testKey)
}

func TestVerify(t *testing.T) {
	srv := fakeInterakt(t, usersPath, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if q := r.URL.RawQuery; q != "limit=1&offset=0" {
			t.Errorf("query %q, want one user", q)
		}
		if _, ok := body["filters"].([]any); !ok {
			t.Errorf("users body %v, want filters", body)
		}
		_, _ = io.WriteString(w, `{"result":true,"message":"Customers","data":{"total_customers":1,"customers":[{"id":"c1","traits":{"name":"Riya"}}]}}`)
	})
	if err := newClient(t, srv.URL, time.Second).Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	c, err := New(map[string]string{"api_key": "d3Jvbmcta2V5Og==", "base_url": srv.URL}, adapters.Options{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Verify(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 || pe.Message != "Invalid API Key" {
		t.Fatalf("bad key: %v, want permanent 401 with Interakt's reason", err)
	}
}
