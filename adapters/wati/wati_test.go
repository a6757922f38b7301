package wati

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

const testToken = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiIxMjM0NTYifQ.c2lnbmF0dXJl"

func templateMessage() app.Message {
	return app.Message{
		DeliveryID: "dlv_01J9ZM0WAT",
		Mode:       "template",
		Template:   "wallet_coins_rewarded",
		Language:   "en",
		Names:      []string{"user_name", "amount", "order.total"},
		Values:     []string{"Riya", "100", "₹2,350.00"},
		To:         app.Recipient{Phone: "+919876543210", Name: "Riya Sen", Identity: "+919876543210"},
	}
}

// fakeWati stands in for a Wati tenant server at /123456, checking what
// Wati checks.
func fakeWati(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			w.WriteHeader(http.StatusUnauthorized)
			return // Wati answers 401 with an empty body
		}
		var body map[string]any
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				t.Errorf("body is not JSON: %v", err)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		answer(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, server string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(map[string]string{"api_token": testToken, "server_url": server + "/123456"}, adapters.Options{AllowInsecure: true, Timeout: timeout})
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
		wantField string
		wantBase  string
	}{
		{name: "as Nector says: no https, no Bearer", creds: map[string]string{"api_token": testToken, "server_url": "live-mt-server.wati.io/123456"}, wantBase: "https://live-mt-server.wati.io/123456"},
		{name: "full URL with Bearer and slash", creds: map[string]string{"api_token": "Bearer " + testToken, "server_url": " https://live-server-98765.wati.io/ "}, wantBase: "https://live-server-98765.wati.io"},
		{name: "lower-case bearer", creds: map[string]string{"api_token": "bearer " + testToken, "server_url": "live-mt-server.wati.io/123456/"}, wantBase: "https://live-mt-server.wati.io/123456"},
		{name: "missing token", creds: map[string]string{"server_url": "live-mt-server.wati.io/123456"}, wantField: "credentials.api_token"},
		{name: "token with space", creds: map[string]string{"api_token": "abc def", "server_url": "live-mt-server.wati.io/123456"}, wantField: "credentials.api_token"},
		{name: "missing server", creds: map[string]string{"api_token": testToken}, wantField: "credentials.server_url"},
		{name: "http refused", creds: map[string]string{"api_token": testToken, "server_url": "http://live-mt-server.wati.io/123456"}, wantField: "credentials.server_url"},
		{name: "private host refused", creds: map[string]string{"api_token": testToken, "server_url": "localhost:8080/1"}, wantField: "credentials.server_url"},
		{name: "query refused", creds: map[string]string{"api_token": testToken, "server_url": "live-mt-server.wati.io/123456?x=1"}, wantField: "credentials.server_url"},
		{name: "http under insecure", creds: map[string]string{"api_token": testToken, "server_url": "http://127.0.0.1:8081/123456"}, insecure: true, wantBase: "http://127.0.0.1:8081/123456"},
		{name: "base_url refused in production", creds: map[string]string{"api_token": testToken, "server_url": "live-mt-server.wati.io/1", "base_url": "https://example.com"}, wantField: "credentials.base_url"},
		{name: "base_url under insecure", creds: map[string]string{"api_token": testToken, "base_url": "http://127.0.0.1:9/t"}, insecure: true, wantBase: "http://127.0.0.1:9/t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.creds, adapters.Options{AllowInsecure: tt.insecure})
			if tt.wantField != "" {
				adapterstest.RefusedCredentials(t, err, []string{tt.wantField}, testToken)
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.baseURL != tt.wantBase || c.auth != "Bearer "+testToken {
				t.Fatalf("base %q auth %q", c.baseURL, c.auth)
			}
			if c.Name() != "wati" {
				t.Fatalf("Name %q", c.Name())
			}
		})
	}
}

func TestBuildRequestGolden(t *testing.T) {
	c, err := New(map[string]string{"api_token": testToken, "server_url": "live-mt-server.wati.io/123456"}, adapters.Options{})
	if err != nil {
		t.Fatal(err)
	}
	intl := templateMessage()
	intl.Names = nil // positional only
	intl.Values = []string{"Anaïs", "£12.50"}
	intl.To.Phone = "+447911123456"
	tests := []struct {
		golden, url string
		msg         app.Message
	}{
		{"template.golden.json", "https://live-mt-server.wati.io/123456/api/v2/sendTemplateMessage?whatsappNumber=919876543210", templateMessage()},
		{"template_positional.golden.json", "https://live-mt-server.wati.io/123456/api/v2/sendTemplateMessage?whatsappNumber=447911123456", intl},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			req, err := c.BuildRequest(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("BuildRequest: %v", err)
			}
			if req.Method != http.MethodPost || req.URL.String() != tt.url {
				t.Fatalf("%s %s, want POST %s", req.Method, req.URL, tt.url)
			}
			if req.Header.Get("Authorization") != "Bearer "+testToken || req.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers %v", req.Header)
			}
			body, _ := io.ReadAll(req.Body)
			adapterstest.Golden(t, tt.golden, body)
		})
	}
}

func TestBuildRequestRejects(t *testing.T) {
	c, _ := New(map[string]string{"api_token": testToken, "server_url": "live-mt-server.wati.io/123456"}, adapters.Options{})
	tests := []struct {
		name, want string
		edit       func(*app.Message)
	}{
		{"event mode", "no event API", func(m *app.Message) { m.Mode = "event"; m.Event = "loyalty.points_earned" }},
		{"no template", "no template", func(m *app.Message) { m.Template = " " }},
		{"phone without plus", "E.164", func(m *app.Message) { m.To.Phone = "9876543210" }},
		{"no phone", "E.164", func(m *app.Message) { m.To.Phone = "" }},
		{"unknown mode", "unknown message mode", func(m *app.Message) { m.Mode = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := templateMessage()
			tt.edit(&m)
			_, err := c.BuildRequest(context.Background(), m)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Message, tt.want) {
				t.Fatalf("error %v, want permanent %q", err, tt.want)
			}
			if _, err := c.Send(context.Background(), m); !errors.As(err, &pe) || pe.Retryable {
				t.Fatalf("Send: %v, want the same permanent error", err)
			}
		})
	}
}

func TestSend(t *testing.T) {
	srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, body map[string]any) {
		if r.Method != http.MethodPost || r.URL.Path != "/123456/api/v2/sendTemplateMessage" || r.URL.Query().Get("whatsappNumber") != "919876543210" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		params, _ := body["parameters"].([]any)
		got := map[string]any{}
		for _, p := range params {
			p := p.(map[string]any)
			got[p["name"].(string)] = p["value"]
		}
		want := map[string]any{"1": "Riya", "user_name": "Riya", "2": "100", "amount": "100", "3": "₹2,350.00", "order_total": "₹2,350.00"}
		if !reflect.DeepEqual(got, want) || body["template_name"] != "wallet_coins_rewarded" || body["broadcast_name"] != "wallet_coins_rewarded" {
			t.Errorf("body %v", body)
		}
		_, _ = io.WriteString(w, `{"result":true,"error":null,"templateName":"wallet_coins_rewarded","receivers":[{"localMessageId":"5f0c6a8e-2d1b-4b7e-9a51-0c8d2f3e4a6b","waId":"919876543210","isValidWhatsAppNumber":true,"errors":[]}],"parameters":[]}`)
	})
	res, err := newClient(t, srv.URL, time.Second).Send(context.Background(), templateMessage())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ProviderMessageID != "5f0c6a8e-2d1b-4b7e-9a51-0c8d2f3e4a6b" {
		t.Fatalf("message id %q", res.ProviderMessageID)
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
		{"not on WhatsApp", 200, `{"result":true,"error":null,"templateName":"wallet_coins_rewarded","receivers":[{"localMessageId":"x","waId":"919876543210","isValidWhatsAppNumber":false,"errors":[]}]}`, false, "not a valid WhatsApp number"},
		{"v1 invalid number", 200, `{"result":true,"validWhatsAppNumber":false}`, false, "not a valid WhatsApp number"},
		{"receiver errors", 200, `{"result":true,"receivers":[{"localMessageId":"x","isValidWhatsAppNumber":true,"errors":["Invalid parameter: amount"]}]}`, false, "Invalid parameter: amount"},
		{"result false with info", 200, `{"result":false,"info":"Check your template, it cannot have typos or blank text"}`, false, "Check your template, it cannot have typos or blank text"},
		{"result false with error", 200, `{"result":false,"error":"Template not found"}`, false, "Template not found"},
		{"result false with errors object", 200, `{"result":false,"errors":{"error":"Invalid Whatsapp numbers","invalidWhatsappNumbers":["919876543210"],"invalidCustomParameters":["amount"]}}`, false, "Invalid Whatsapp numbers; 1 invalid WhatsApp number(s); invalid parameter amount"},
		{"number echoed in reason", 400, `{"result":false,"info":"Contact 919876543210 is blocked"}`, false, "Contact 91******3210 is blocked"},
		{"number echoed in excerpt", 200, `{"result":true,"receivers":[],"phone_number":"919876543210"}`, false, "91******3210"},
		{"no receivers", 200, `{"result":true,"receivers":[]}`, false, "no receiver"},
		{"unreadable 2xx", 200, `<html>Wati</html>`, false, "unreadable answer"},
		{"not permitted", 403, `{"result":false,"info":"Not permitted"}`, false, "Not permitted"},
		{"not found", 404, ``, false, ""},
		{"wrong method", 405, ``, false, ""},
		{"rate limited", 429, `{"result":false,"info":"Too many requests"}`, true, "Too many requests"},
		{"Wati error", 500, `{"result":false,"info":"Internal server error"}`, true, "Internal server error"},
		{"gateway", 503, `upstream unavailable`, true, "upstream unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeWati(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
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
			if strings.Contains(pe.Error(), testToken) || strings.Contains(pe.Error(), "9876543210") {
				t.Fatalf("error leaks the token or the phone: %v", pe)
			}
		})
	}
}

func TestSendBadTokenIsPermanent(t *testing.T) {
	srv := fakeWati(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) {
		t.Error("unauthorised request answered")
	})
	c, _ := New(map[string]string{"api_token": "expired-token", "server_url": srv.URL}, adapters.Options{AllowInsecure: true})
	_, err := c.Send(context.Background(), templateMessage())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 {
		t.Fatalf("error %v, want permanent 401", err)
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newClient(t, serverURL, timeout).Send(ctx, templateMessage())
		return err
	}, testToken)
}

func TestVerify(t *testing.T) {
	srv := fakeWati(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.Method != http.MethodGet || r.URL.Path != "/123456/api/v1/getMessageTemplates" || r.URL.Query().Get("pageSize") != "1" {
			t.Errorf("%s %s", r.Method, r.URL)
		}
		_, _ = io.WriteString(w, `{"result":"success","messageTemplates":[{"id":"t1","elementName":"wallet_coins_rewarded","status":"APPROVED"}],"link":{"pageNumber":1,"pageSize":1,"total":7}}`)
	})
	if err := newClient(t, srv.URL, time.Second).Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	c, _ := New(map[string]string{"api_token": "rotated-token", "server_url": srv.URL + "/123456"}, adapters.Options{AllowInsecure: true})
	err := c.Verify(context.Background())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Status != 401 || !strings.Contains(pe.Message, "access token was refused") {
		t.Fatalf("bad token: %v, want permanent 401 saying why", err)
	}

	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<!doctype html><title>Some shop</title>")
	}))
	t.Cleanup(html.Close)
	err = newClient(t, html.URL, time.Second).Verify(context.Background())
	if !errors.As(err, &pe) || pe.Retryable || !strings.Contains(pe.Message, "did not answer like Wati") {
		t.Fatalf("wrong server: %v, want permanent", err)
	}
}
