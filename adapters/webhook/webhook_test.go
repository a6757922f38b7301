package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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

const testSecret = "n8n-hook-secret-4f9a2c71"

// whsecSecret is a Standard Webhooks secret: base64 of 24 random bytes.
const whsecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var fixedNow = time.Date(2026, 5, 22, 10, 15, 30, 0, time.UTC)

func newTestClient(t *testing.T, target, secret string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(map[string]string{"url": target, "secret": secret}, adapters.Options{AllowInsecure: true, Timeout: timeout})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	c.now = func() time.Time { return fixedNow }
	return c
}

func orderPlaced() app.Message {
	return app.Message{
		DeliveryID: "dlv_01JZ8Q6M3T1N0R4K7P9B2C5D8E",
		Mode:       "template",
		Template:   "order_placed",
		Language:   "en",
		Names:      []string{"customer.first_name", "order.number", "order.total"},
		Values:     []string{"Priya", "#1042", "₹1,499.00"},
		Event:      "order.placed",
		Properties: map[string]string{"order.number": "#1042", "order.total": "₹1,499.00", "shop.name": "Asha Naturals & Co"},
		To:         app.Recipient{Phone: "+919876543210", Email: "priya.sharma@example.in", CustomerID: "7390152605948", Name: "Priya Sharma", Identity: "+919876543210"},
	}
}

func codAsk() app.Message {
	return app.Message{
		DeliveryID: "dlv_cod_8812",
		Mode:       "template",
		Template:   "cod_confirm",
		Language:   "hi",
		Names:      []string{"customer.first_name", "order.total"},
		Values:     []string{"ज्योति", "₹899.00"},
		Event:      "cod.confirmation_requested",
		Properties: map[string]string{"order.number": "#2207", "order.total": "₹899.00"},
		To:         app.Recipient{Phone: "+918123456789", Name: "ज्योति वर्मा"},
		Buttons:    []app.Button{{ID: "cod:confirm:ord_2207", Title: "Confirm ✅"}, {ID: "cod:cancel:ord_2207", Title: "Cancel"}},
	}
}

func pointsEarned() app.Message {
	return app.Message{
		DeliveryID: "dlv_loy_5521",
		Mode:       "event",
		Event:      "loyalty.points_earned",
		Properties: map[string]string{"points.amount": "120", "points.balance": "860", "customer.first_name": "Anaïs"},
		To:         app.Recipient{Email: "anais.dubois@example.fr", Name: "Anaïs Dubois", Identity: "anais.dubois@example.fr"},
	}
}

// referenceSignature computes Webhook-Signature independently of Sign, the
// way a receiver following README.md would.
func referenceSignature(secret, id, ts string, body []byte) string {
	key := []byte(secret)
	if strings.HasPrefix(secret, "whsec_") {
		key, _ = base64.StdEncoding.DecodeString(secret[len("whsec_"):])
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		creds      map[string]string
		insecure   bool
		wantFields []string
	}{
		{"valid", map[string]string{"url": "https://hooks.zapier.com/hooks/catch/123456/abcdef/", "secret": testSecret}, false, nil},
		{"standard webhooks secret", map[string]string{"url": "https://n8n.example.in/webhook/wa", "secret": whsecSecret}, false, nil},
		{"nothing", map[string]string{}, false, []string{"credentials.url", "credentials.secret"}},
		{"http in production", map[string]string{"url": "http://hooks.example.com/x", "secret": testSecret}, false, []string{"credentials.url"}},
		{"private address", map[string]string{"url": "https://10.0.0.7/hook", "secret": testSecret}, false, []string{"credentials.url"}},
		{"metadata address", map[string]string{"url": "https://169.254.169.254/latest", "secret": testSecret}, false, []string{"credentials.url"}},
		{"localhost", map[string]string{"url": "https://localhost/hook", "secret": testSecret}, false, []string{"credentials.url"}},
		{"credentials in url", map[string]string{"url": "https://user:pw@hooks.example.com/x", "secret": testSecret}, false, []string{"credentials.url"}},
		{"short secret", map[string]string{"url": "https://hooks.example.com/x", "secret": "tooshort"}, false, []string{"credentials.secret"}},
		{"bad whsec secret", map[string]string{"url": "https://hooks.example.com/x", "secret": "whsec_not*base64"}, false, []string{"credentials.secret"}},
		{"http allowed in dev", map[string]string{"url": "http://127.0.0.1:8081/hook", "secret": testSecret}, true, nil},
		{"base_url in production", map[string]string{"url": "https://hooks.example.com/x", "base_url": "https://fake.example.com", "secret": testSecret}, false, []string{"credentials.base_url"}},
		{"base_url alone in dev", map[string]string{"base_url": "http://127.0.0.1:9000/hook", "secret": testSecret}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.creds, adapters.Options{AllowInsecure: tt.insecure})
			if len(tt.wantFields) == 0 {
				if err != nil || c.Name() != "webhook" {
					t.Fatalf("New() = %v, %v; want a webhook client", c, err)
				}
				return
			}
			adapterstest.RefusedCredentials(t, err, tt.wantFields, tt.creds["secret"])
		})
	}
}

func TestBuildRequestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  app.Message
	}{
		{"template", orderPlaced()},
		{"template_buttons", codAsk()},
		{"event", pointsEarned()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, "https://hooks.example.in/storebridge", testSecret, 0)
			req, err := c.BuildRequest(context.Background(), tt.msg)
			if err != nil {
				t.Fatalf("BuildRequest() = %v", err)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			adapterstest.Golden(t, tt.name+".golden.json", body)
			wantHeaders := map[string]string{
				"Content-Type":      "application/json",
				"User-Agent":        "storebridge/1",
				"Webhook-Id":        tt.msg.DeliveryID,
				"Webhook-Timestamp": "1779444930",
				"Webhook-Signature": referenceSignature(testSecret, tt.msg.DeliveryID, "1779444930", body),
			}
			for k, v := range wantHeaders {
				if got := req.Header.Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
			if req.Method != http.MethodPost || req.URL.String() != "https://hooks.example.in/storebridge" {
				t.Errorf("request = %s %s", req.Method, req.URL)
			}
		})
	}
}

func TestBuildRequestRefuses(t *testing.T) {
	noID := orderPlaced()
	noID.DeliveryID = ""
	noType := pointsEarned()
	noType.Event = ""
	badMode := orderPlaced()
	badMode.Mode = "sms"
	c := newTestClient(t, "https://hooks.example.in/storebridge", testSecret, 0)
	for name, m := range map[string]app.Message{"no delivery id": noID, "no event type": noType, "unknown mode": badMode} {
		t.Run(name, func(t *testing.T) {
			_, err := c.BuildRequest(context.Background(), m)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable || pe.Provider != "webhook" {
				t.Fatalf("BuildRequest() = %v; want a permanent webhook error", err)
			}
		})
	}
}

// receiver is a fake merchant endpoint that verifies every request as a
// careful receiver would, then answers status.
type receiver struct {
	t      *testing.T
	secret string
	status int
	answer string

	mu     sync.Mutex
	events []Event
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("reading body: %v", err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/catch/123456/t0k3n/" {
		rc.t.Errorf("request = %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rc.t.Errorf("Content-Type = %q", ct)
	}
	if err := VerifySignature(rc.secret, r.Header, body, time.Now(), 0); err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id, ts := r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp")
	if got, want := r.Header.Get("Webhook-Signature"), referenceSignature(rc.secret, id, ts, body); got != want {
		rc.t.Errorf("Webhook-Signature = %q; the reference computation gives %q", got, want)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("body is not an Event: %v", err)
	}
	if ev.ID != id || strconv.FormatInt(ev.OccurredAt.Unix(), 10) != ts {
		rc.t.Errorf("body id/occurred_at = %s/%v; headers say %s/%s", ev.ID, ev.OccurredAt, id, ts)
	}
	rc.mu.Lock()
	rc.events = append(rc.events, ev)
	rc.mu.Unlock()
	w.WriteHeader(rc.status)
	io.WriteString(w, rc.answer)
}

func (rc *receiver) got() []Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Event(nil), rc.events...)
}

func startReceiver(t *testing.T, secret string, status int, answer string) (*receiver, string) {
	t.Helper()
	rc := &receiver{t: t, secret: secret, status: status, answer: answer}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL + "/hooks/catch/123456/t0k3n/"
}

func TestSendIsSignedAndVerifiable(t *testing.T) {
	for _, secret := range []string{testSecret, whsecSecret} {
		t.Run(secret[:6], func(t *testing.T) {
			rc, target := startReceiver(t, secret, http.StatusOK, `{"status":"success","attempt":"0198ff2c"}`)
			c := newTestClient(t, target, secret, 0)
			c.now = time.Now
			res, err := c.Send(context.Background(), codAsk())
			if err != nil {
				t.Fatalf("Send() = %v", err)
			}
			if res != (app.SendResult{}) {
				t.Errorf("SendResult = %+v; want empty", res)
			}
			events := rc.got()
			if len(events) != 1 {
				t.Fatalf("receiver accepted %d events; want 1", len(events))
			}
			ev := events[0]
			if ev.Type != "cod.confirmation_requested" || ev.Customer.Phone != "+918123456789" ||
				strings.Join(ev.Template.Values, "|") != "ज्योति|₹899.00" || len(ev.Buttons) != 2 || ev.Buttons[0].ID != "cod:confirm:ord_2207" {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func TestSendWrongSecretIsRejectedByReceiver(t *testing.T) {
	_, target := startReceiver(t, "the-receivers-own-secret", http.StatusOK, "")
	c := newTestClient(t, target, testSecret, 0)
	c.now = time.Now
	_, err := c.Send(context.Background(), orderPlaced())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Retryable {
		t.Fatalf("Send() = %v; want permanent 401", err)
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
		{200, `{"status":"success"}`, false, false, ""},
		{201, ``, false, false, ""},
		{202, `Accepted`, false, false, ""},
		{204, ``, false, false, ""},
		{400, `{"error":"unknown event type"}`, true, false, "unknown event type"},
		{404, `{"code":404,"message":"The requested webhook \"wa\" is not registered."}`, true, false, "is not registered"},
		{410, `{"status":"gone"}`, true, false, "410 Gone"},
		{408, ``, true, true, ""},
		{425, ``, true, true, ""},
		{429, `{"error":"rate limited, retry after 30s"}`, true, true, "rate limited"},
		{500, `<html>Internal Server Error</html>`, true, true, "Internal Server Error"},
		{502, `Bad Gateway`, true, true, "Bad Gateway"},
		{503, `{"message":"Scenario is disabled"}`, true, true, "Scenario is disabled"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			_, target := startReceiver(t, testSecret, tt.status, tt.answer)
			c := newTestClient(t, target, testSecret, 0)
			c.now = time.Now
			_, err := c.Send(context.Background(), orderPlaced())
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
			if pe.Retryable != tt.wantRetryable || pe.Status != tt.status || pe.Provider != "webhook" {
				t.Errorf("error = %+v; want status %d retryable %v", pe, tt.status, tt.wantRetryable)
			}
			if !strings.Contains(pe.Message, tt.wantMessage) {
				t.Errorf("Message = %q; want it to contain %q", pe.Message, tt.wantMessage)
			}
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/new?token=s3cr3t", http.StatusFound)
	})
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := newTestClient(t, srv.URL+"/old", testSecret, 0)
	_, err := c.Send(context.Background(), orderPlaced())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusFound || pe.Retryable {
		t.Fatalf("Send() = %v; want permanent 302", err)
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %q shows the Location", err)
	}
}

func TestSendTransportFailures(t *testing.T) {
	adapterstest.TransportFailures(t, func(ctx context.Context, serverURL string, timeout time.Duration) error {
		_, err := newTestClient(t, serverURL+"/hooks/catch/123456/t0k3n/", testSecret, timeout).Send(ctx, orderPlaced())
		return err
	}, "t0k3n", testSecret)
}

func TestSendConnectionRefusedHidesURLPath(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	target := srv.URL + "/hooks/catch/123456/t0k3n/"
	srv.Close()
	c := newTestClient(t, target, testSecret, time.Second)
	_, err := c.Send(context.Background(), orderPlaced())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || !pe.Retryable {
		t.Fatalf("Send() = %v; want retryable", err)
	}
	if strings.Contains(err.Error(), "t0k3n") || !strings.HasPrefix(err.Error(), "webhook: ") {
		t.Errorf("error = %q; want the webhook prefix and no URL path", err)
	}
}

func TestVerifyPings(t *testing.T) {
	rc, target := startReceiver(t, testSecret, http.StatusNoContent, "")
	c := newTestClient(t, target, testSecret, 0)
	c.now = time.Now
	if err := c.Verify(context.Background()); err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	events := rc.got()
	if len(events) != 1 {
		t.Fatalf("receiver got %d events; want 1 ping", len(events))
	}
	ev := events[0]
	if ev.Type != "storebridge.ping" || !strings.HasPrefix(ev.ID, "ping_") || ev.Customer != nil || ev.Template != nil || len(ev.Properties) != 0 {
		t.Errorf("ping = %+v", ev)
	}

	_, gone := startReceiver(t, testSecret, http.StatusGone, "")
	c = newTestClient(t, gone, testSecret, 0)
	c.now = time.Now
	var pe *app.ProviderError
	if err := c.Verify(context.Background()); !errors.As(err, &pe) || pe.Retryable || pe.Status != 410 {
		t.Errorf("Verify() against 410 = %v; want permanent 410", err)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"id":"dlv_1","type":"order.placed"}`)
	ts := fixedNow
	tsStr := strconv.FormatInt(ts.Unix(), 10)
	sig := Sign(testSecret, "dlv_1", ts, body)
	if sig != referenceSignature(testSecret, "dlv_1", tsStr, body) {
		t.Fatalf("Sign() = %q; the reference computation gives %q", sig, referenceSignature(testSecret, "dlv_1", tsStr, body))
	}
	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		if id != "" {
			h.Set("Webhook-Id", id)
		}
		if ts != "" {
			h.Set("Webhook-Timestamp", ts)
		}
		if sig != "" {
			h.Set("Webhook-Signature", sig)
		}
		return h
	}
	tests := []struct {
		name    string
		header  http.Header
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"valid", headers("dlv_1", tsStr, sig), body, ts, nil},
		{"valid 4 minutes later", headers("dlv_1", tsStr, sig), body, ts.Add(4 * time.Minute), nil},
		{"second of two signatures", headers("dlv_1", tsStr, "v1,bm90IGl0 "+sig), body, ts, nil},
		{"tampered body", headers("dlv_1", tsStr, sig), []byte(`{"id":"dlv_1","type":"order.paid"}`), ts, ErrInvalidSignature},
		{"other id", headers("dlv_2", tsStr, sig), body, ts, ErrInvalidSignature},
		{"replayed 6 minutes later", headers("dlv_1", tsStr, sig), body, ts.Add(6 * time.Minute), ErrStaleTimestamp},
		{"from the future", headers("dlv_1", tsStr, sig), body, ts.Add(-6 * time.Minute), ErrStaleTimestamp},
		{"timestamp not a number", headers("dlv_1", "2026-05-22T10:15:30Z", sig), body, ts, ErrStaleTimestamp},
		{"other version", headers("dlv_1", tsStr, "v1a,"+strings.TrimPrefix(sig, "v1,")), body, ts, ErrInvalidSignature},
		{"not base64", headers("dlv_1", tsStr, "v1,***"), body, ts, ErrInvalidSignature},
		{"no signature", headers("dlv_1", tsStr, ""), body, ts, ErrMissingHeaders},
		{"no id", headers("", tsStr, sig), body, ts, ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifySignature(testSecret, tt.header, tt.body, tt.now, 0); !errors.Is(err, tt.wantErr) {
				t.Errorf("VerifySignature() = %v; want %v", err, tt.wantErr)
			}
		})
	}
	if err := VerifySignature("another-secret-of-16", headers("dlv_1", tsStr, sig), body, ts, 0); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("VerifySignature(wrong secret) = %v; want ErrInvalidSignature", err)
	}
	if err := VerifySignature(testSecret, headers("dlv_1", tsStr, sig), body, ts.Add(time.Hour), 2*time.Hour); err != nil {
		t.Errorf("VerifySignature(tolerance 2h, 1h late) = %v; want nil", err)
	}
}

// TestSignStandardWebhooksVector checks Sign against the test vector of the
// Standard Webhooks specification's reference libraries.
func TestSignStandardWebhooksVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	body := []byte(`{"test": 2432232314}`)
	if got := Sign(secret, id, time.Unix(1614265330, 0), body); got != want {
		t.Errorf("Sign() = %q; want %q", got, want)
	}
}
