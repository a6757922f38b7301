package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters/nector"
	"github.com/storebridge/storebridge/app"
)

// nectorEnv is the real router and service over the embedded store, with
// the Nector decoder, the sandbox provider, and one Indian Shopify
// merchant who sends loyalty.points_earned.
type nectorEnv struct {
	e     *echo.Echo
	st    app.Store
	svc   *app.Service
	id    string // the merchant
	inbox string // its Nector inbox address, as the merchant view shows it
}

func newNectorEnv(t *testing.T) *nectorEnv {
	t.Helper()
	st := newEmbeddedStore(t)
	keyring, _ := app.NewKeyring(testSecretKey)
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log,
		Providers: map[string]app.ProviderKit{app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return sandboxProvider{}, nil }}},
		Nector:    nector.Decode,
		CheckURL:  strictURLs,
	})
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in"}).Register(e)
	env := &nectorEnv{e: e, st: st, svc: svc}
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com","name":"Kesar Kitchen","country":"IN","timezone":"Asia/Kolkata"}`)
	var m struct {
		ID       string            `json:"id"`
		Webhooks map[string]string `json:"webhooks"`
	}
	if created.Code != http.StatusCreated || json.Unmarshal(created.Body.Bytes(), &m) != nil {
		t.Fatalf("create merchant = %d %s", created.Code, created.Body)
	}
	env.id = m.ID
	for _, step := range []struct{ method, path, body string }{
		{"PUT", "/api/admin/merchants/" + m.ID + "/settings", `{"quiet_hours":"off"}`},
		{"PUT", "/api/admin/merchants/" + m.ID + "/provider", `{"provider":"sandbox"}`},
		{"PUT", "/api/admin/merchants/" + m.ID + "/rules/loyalty.points_earned", `{"mode":"template","template":"points_earned","language":"en","variables":["customer.first_name","points.amount"]}`},
	} {
		if rec := call(e, step.method, step.path, operatorToken, step.body); rec.Code != http.StatusOK {
			t.Fatalf("%s %s = %d %s", step.method, step.path, rec.Code, rec.Body)
		}
	}
	view := call(e, "GET", "/api/admin/merchants/"+m.ID, operatorToken, "")
	if err := json.Unmarshal(view.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	env.inbox = m.Webhooks["nector"]
	if !strings.HasPrefix(env.inbox, "https://bridge.example.in/webhooks/nector/"+m.ID+"?token=") || len(env.inbox) < 60 {
		t.Fatalf("merchant view webhooks = %v; want the Nector inbox with its token", m.Webhooks)
	}
	return env
}

// post sends body to a path (with its query) on the router, with Nector's
// headers when given.
func (env *nectorEnv) post(t *testing.T, address, topic, deliveryID string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	u, err := url.Parse(address)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, u.RequestURI(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if topic != "" {
		req.Header.Set("X-Nector-Topic", topic)
	}
	if deliveryID != "" {
		req.Header.Set("X-Nector-Delivery-Id", deliveryID)
	}
	return serve(env.e, req)
}

// drain runs every queued job as the workers would, burying what fails
// for good, until the queue is empty.
func (env *nectorEnv) drain(t *testing.T) (buried []error) {
	t.Helper()
	ctx := context.Background()
	handlers := env.svc.JobHandlers()
	for range 20 {
		jobs := queuedJobs(t, env.st)
		if len(jobs) == 0 {
			if err := env.svc.FlushCounters(ctx); err != nil {
				t.Fatal(err)
			}
			return buried
		}
		for _, job := range jobs {
			err := handlers[job.Kind](ctx, job)
			var permanent *app.PermanentError
			switch {
			case err == nil:
				err = env.st.Ack(ctx, job)
			case errors.As(err, &permanent):
				buried = append(buried, err)
				err = env.st.Bury(ctx, job, err.Error())
			}
			if err != nil {
				t.Fatalf("job %s: %v", job.Kind, err)
			}
		}
	}
	t.Fatal("the queue never emptied")
	return nil
}

func (env *nectorEnv) inputs(t *testing.T) map[string]float64 {
	t.Helper()
	if err := env.svc.FlushCounters(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := call(env.e, "GET", "/api/admin/merchants/"+env.id+"/stats", operatorToken, "")
	var stats struct {
		Inputs map[string]float64 `json:"inputs"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &stats) != nil {
		t.Fatalf("stats = %d %s", rec.Code, rec.Body)
	}
	return stats.Inputs
}

func (env *nectorEnv) deliveries(t *testing.T) []map[string]any {
	t.Helper()
	rec := call(env.e, "GET", "/api/admin/merchants/"+env.id+"/deliveries", operatorToken, "")
	var got struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("deliveries = %d %s", rec.Code, rec.Body)
	}
	return got.Deliveries
}

func nectorTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "adapters", "nector", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNectorInboxRefusesWithoutItsToken: a request without the inbox's
// own token is 401 and stores nothing: no job, no counter.
func TestNectorInboxRefusesWithoutItsToken(t *testing.T) {
	env := newNectorEnv(t)
	other := newNectorEnv(t) // another deployment's merchant and token
	body := nectorTestdata(t, "walletreward_create.json")
	token := strings.SplitN(env.inbox, "?token=", 2)[1]
	path := "/webhooks/nector/" + env.id
	for _, tc := range []struct{ name, address string }{
		{"no token", path},
		{"empty token", path + "?token="},
		{"wrong token", path + "?token=" + strings.Repeat("x", len(token))},
		{"token one character short", path + "?token=" + token[:len(token)-1]},
		{"another merchant's token", path + "?token=" + strings.SplitN(other.inbox, "?token=", 2)[1]},
		{"unknown merchant", "/webhooks/nector/m_nope?token=" + token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := env.post(t, tc.address, "walletreward_create", "dlv-1", body)
			if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"error":"unauthorized"`) {
				t.Fatalf("POST %s = %d %s; want 401", tc.address, rec.Code, rec.Body)
			}
			if jobs := queuedJobs(t, env.st); len(jobs) != 0 {
				t.Fatalf("refused request queued %d jobs", len(jobs))
			}
		})
	}
	for outcome, n := range env.inputs(t) {
		if n != 0 {
			t.Errorf("inputs %s = %v; want nothing counted for refused requests", outcome, n)
		}
	}
	// The address the merchant view shows is accepted.
	if rec := env.post(t, env.inbox, "walletreward_create", "dlv-1", body); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"outcome":"accepted"`) {
		t.Fatalf("POST the shown inbox = %d %s; want 200 accepted", rec.Code, rec.Body)
	}
}

// TestNectorInboxOncePerEvent: Nector's retries of one event (same
// delivery id; or, without one, the same body) send one message.
func TestNectorInboxOncePerEvent(t *testing.T) {
	env := newNectorEnv(t)
	body := nectorTestdata(t, "walletreward_create.json")
	outcomes := map[string]int{}
	send := func(deliveryID string, body []byte) {
		rec := env.post(t, env.inbox, "walletreward_create", deliveryID, body)
		var answer struct{ Outcome string }
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &answer) != nil {
			t.Fatalf("POST = %d %s; want 200", rec.Code, rec.Body)
		}
		outcomes[answer.Outcome]++
	}
	for range 3 { // Nector retries one delivery
		send("dlv-88123", body)
	}
	if buried := env.drain(t); len(buried) != 0 {
		t.Fatalf("buried %v", buried)
	}
	send("dlv-88123", body) // a retry after the first was processed
	env.drain(t)
	if d := env.deliveries(t); len(d) != 1 || d[0]["status"] != "sent" || d[0]["template"] != "points_earned" || d[0]["event"] != app.EventPointsEarned {
		t.Fatalf("deliveries = %v; want one points_earned sent", d)
	}

	// No delivery id: the body names the event.
	other := bytes.Replace(body, []byte(`"amount": 100`), []byte(`"amount": 40`), 1)
	if bytes.Equal(other, body) {
		t.Fatal("testdata changed: no amount 100 to vary")
	}
	send("", other)
	send("", other)
	env.drain(t)
	if d := env.deliveries(t); len(d) != 2 {
		t.Fatalf("deliveries = %d; want 2 (one per distinct event)", len(d))
	}
	if outcomes["accepted"] != 2 || outcomes["duplicate"] != 4 {
		t.Errorf("outcomes = %v; want 2 accepted, 4 duplicate", outcomes)
	}
	if inputs := env.inputs(t); inputs["accepted"] != 2 || inputs["duplicate"] != 4 {
		t.Errorf("inputs = %v; want 2 accepted, 4 duplicate", inputs)
	}
}

// TestNectorInboxKeepsWhatItCannotUse: an event name with no mapping, a
// body that is not JSON, or no customer at all is acknowledged (Nector
// would retry anything else), kept in the dead letters and counted; an
// event without a phone becomes a skipped delivery, as on the events API.
func TestNectorInboxKeepsWhatItCannotUse(t *testing.T) {
	env := newNectorEnv(t)
	for _, tc := range []struct{ topic, body string }{
		{"lead_create", `{"user_mobile":"9876543210","user_name":"Riya"}`},
		{"", `{"topic":"unusedcouponrequest_create","user_mobile":"9876543210"}`},
		{"walletreward_create", `not json`},
		{"walletreward_create", `{"amount":100}`},
	} {
		if rec := env.post(t, env.inbox, tc.topic, "", []byte(tc.body)); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"outcome":"accepted"`) {
			t.Fatalf("POST %s %s = %d %s; want 200 accepted", tc.topic, tc.body, rec.Code, rec.Body)
		}
	}
	if rec := env.post(t, env.inbox, "walletreward_create", "", []byte(`{"user_email":"riya@example.in","amount":100}`)); rec.Code != http.StatusOK {
		t.Fatalf("POST without a phone = %d %s", rec.Code, rec.Body)
	}
	buried := env.drain(t)
	if len(buried) != 4 {
		t.Fatalf("buried %d jobs (%v); want the 4 unusable ones", len(buried), buried)
	}
	dead, err := env.st.DeadJobs(context.Background(), env.id, 10)
	if err != nil || len(dead) != 4 {
		t.Fatalf("DeadJobs = %d, %v; want 4 kept for inspection", len(dead), err)
	}
	for _, j := range dead {
		if j.Kind != app.JobNectorEvent || len(j.Payload) == 0 {
			t.Errorf("dead job %s with %d bytes; want the Nector event as it came", j.Kind, len(j.Payload))
		}
	}
	if inputs := env.inputs(t); inputs["unknown_topic"] != 2 || inputs["invalid"] != 2 || inputs["accepted"] != 5 {
		t.Errorf("inputs = %v; want 5 accepted, then 2 unknown_topic and 2 invalid", inputs)
	}
	d := env.deliveries(t)
	if len(d) != 1 || d[0]["status"] != "skipped" {
		t.Fatalf("deliveries = %v; want the phoneless event skipped", d)
	}
}
