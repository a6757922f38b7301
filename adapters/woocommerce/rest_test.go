package woocommerce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
)

const (
	restCK = "ck_4d1f0c9e8b7a6d5c4b3a2918f7e6d5c4b3a29180"
	restCS = "cs_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
)

// wooAPI is a fake store behind TLS that checks what WooCommerce checks
// over HTTPS: Basic auth with the key pair, then the route.
func wooAPI(t *testing.T, route func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *woocommerce.REST, app.WooCredentials) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, cs, ok := r.BasicAuth()
		if !ok || ck != restCK || cs != restCS {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"Consumer secret is invalid.","data":{"status":401}}`)
			return
		}
		route(w, r)
	}))
	t.Cleanup(srv.Close)
	// 127.0.0.1 is not public: the test server needs AllowInsecure.
	client := woocommerce.NewREST(adapters.Options{Client: srv.Client(), AllowInsecure: true})
	return srv, client, app.WooCredentials{StoreURL: srv.URL, ConsumerKey: restCK, ConsumerSecret: restCS}
}

func TestRESTListWebhooksPages(t *testing.T) {
	var pages []string
	_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/wp-json/wc/v3/webhooks" || r.URL.Query().Get("per_page") != "100" {
			t.Errorf("request = %s %s; want GET /wp-json/wc/v3/webhooks?per_page=100", r.Method, r.URL)
		}
		page := r.URL.Query().Get("page")
		pages = append(pages, page)
		n := map[string]int{"1": 100, "2": 3}[page]
		hooks := make([]map[string]any, n)
		for i := range hooks {
			hooks[i] = map[string]any{"id": i + 1, "name": "h", "status": "active", "topic": "order.created", "delivery_url": "https://x/" + page, "hooks": []string{"woocommerce_new_order"}}
		}
		w.Header().Set("X-WP-TotalPages", "2")
		json.NewEncoder(w).Encode(hooks)
	})
	hooks, err := client.ListWebhooks(context.Background(), store)
	if err != nil {
		t.Fatalf("ListWebhooks() = %v", err)
	}
	if len(hooks) != 103 || fmt.Sprint(pages) != "[1 2]" || hooks[102].DeliveryURL != "https://x/2" || hooks[0].Status != "active" {
		t.Fatalf("ListWebhooks() = %d hooks over pages %v; want 103 over [1 2]", len(hooks), pages)
	}
}

func TestRESTCreateAndUpdateWebhook(t *testing.T) {
	var bodies []map[string]any
	_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s content type = %q; want application/json", r.Method, r.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		bodies = append(bodies, body)
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/wp-json/wc/v3/webhooks":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"id":142,"name":%q,"status":"active","topic":%q,"delivery_url":%q}`, body["name"], body["topic"], body["delivery_url"])
		case r.Method == http.MethodPut && r.URL.Path == "/wp-json/wc/v3/webhooks/142":
			io.WriteString(w, `{"id":142,"status":"active","topic":"order.created","delivery_url":"https://app.example/webhooks/woocommerce/m_1"}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ctx := context.Background()
	created, err := client.CreateWebhook(ctx, store, app.WooWebhook{Name: "storebridge order.created", Topic: "order.created", DeliveryURL: "https://app.example/webhooks/woocommerce/m_1", Secret: "S3cretAlnum"})
	if err != nil || created.ID != 142 || created.Status != "active" {
		t.Fatalf("CreateWebhook() = %+v, %v; want id 142 active", created, err)
	}
	updated, err := client.UpdateWebhook(ctx, store, 142, app.WooWebhookUpdate{Status: "active"})
	if err != nil || updated.ID != 142 {
		t.Fatalf("UpdateWebhook() = %+v, %v", updated, err)
	}
	want := []string{
		`map[delivery_url:https://app.example/webhooks/woocommerce/m_1 name:storebridge order.created secret:S3cretAlnum topic:order.created]`,
		`map[status:active]`,
	}
	if len(bodies) != 2 || fmt.Sprint(bodies[0]) != want[0] || fmt.Sprint(bodies[1]) != want[1] {
		t.Errorf("bodies = %v; want %v", bodies, want)
	}
}

func TestRESTListOrders(t *testing.T) {
	const order = `{"id":727,"number":"727","status":"processing","date_modified_gmt":"2026-11-22T05:03:00","billing":{"first_name":"Ana\u00efs","phone":"098765 43210"},"_links":{"self":[{"href":"https:\/\/shop\/wp-json\/wc\/v3\/orders\/727"}]}}`
	_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/shop/wp-json/wc/v3/orders" || q.Get("modified_after") != "2026-11-22T05:00:00" || q.Get("dates_are_gmt") != "true" ||
			q.Get("orderby") != "modified" || q.Get("order") != "asc" || q.Get("per_page") != "100" || q.Get("page") != "2" {
			t.Errorf("request = %s; want /shop/wp-json/wc/v3/orders modified after 05:00:00 GMT, by modified asc, 100 per page, page 2", r.URL)
		}
		w.Header().Set("X-WP-TotalPages", "3")
		io.WriteString(w, `[`+order+`,{"id":728,"status":"on-hold","date_modified_gmt":"2026-11-22T05:04:00"}]`)
	})
	store.StoreURL += "/shop/" // WordPress in a subdirectory
	at := time.Date(2026, 11, 22, 10, 30, 0, 0, time.FixedZone("IST", 19800))
	page, err := client.ListOrders(context.Background(), store, app.WooOrderQuery{ModifiedAfter: at, Page: 2, PerPage: 100})
	if err != nil {
		t.Fatalf("ListOrders() = %v", err)
	}
	if page.TotalPages != 3 || len(page.Orders) != 2 {
		t.Fatalf("ListOrders() = %+v; want 2 orders of 3 pages", page)
	}
	first := page.Orders[0]
	if first.ID != 727 || first.Status != "processing" || first.DateModifiedGMT != "2026-11-22T05:03:00" || string(first.Body) != order {
		t.Errorf("order = %+v (body %s); want 727 processing with its raw body untouched", first, first.Body)
	}
}

func TestRESTErrors(t *testing.T) {
	cases := []struct {
		name          string
		status        int
		body          string
		wantRetryable bool
		wantCode      string
	}{
		{"key revoked", 401, `{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}`, false, "woocommerce_rest_cannot_view"},
		{"no permission", 403, `{"code":"woocommerce_rest_cannot_create","message":"Sorry, you are not allowed to create resources.","data":{"status":403}}`, false, "woocommerce_rest_cannot_create"},
		{"throttled", 429, `Too Many Requests`, true, ""},
		{"server error", 500, `{"code":"internal_server_error","message":"There has been a critical error on this website."}`, true, "internal_server_error"},
		{"bad gateway html", 502, `<html>Bad Gateway</html>`, true, ""},
		{"200 that is not json", 200, `<html>Please log in</html>`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			_, err := client.ListWebhooks(context.Background(), store)
			var pe *app.ProviderError
			if !errors.As(err, &pe) {
				t.Fatalf("ListWebhooks() = %v; want a *app.ProviderError", err)
			}
			if pe.Provider != "woocommerce" || pe.Retryable != tc.wantRetryable || pe.Code != tc.wantCode || pe.Status != tc.status {
				t.Errorf("error = %+v; want woocommerce, status %d, retryable %v, code %q", pe, tc.status, tc.wantRetryable, tc.wantCode)
			}
		})
	}
}

func TestRESTWrongKeyAndTimeout(t *testing.T) {
	srv, _, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, `[]`)
	})
	client := woocommerce.NewREST(adapters.Options{Client: srv.Client(), AllowInsecure: true})
	wrong := store
	wrong.ConsumerSecret = "cs_wrong"
	_, err := client.ListWebhooks(context.Background(), wrong)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Status != 401 || pe.Retryable || !strings.Contains(pe.Message, "Consumer secret is invalid") {
		t.Errorf("ListWebhooks(wrong secret) = %v; want a permanent 401 with WooCommerce's message", err)
	}
	if strings.Contains(fmt.Sprint(err), "cs_wrong") {
		t.Errorf("error %v shows the consumer secret", err)
	}

	slow := srv.Client()
	slow.Timeout = 50 * time.Millisecond
	_, err = woocommerce.NewREST(adapters.Options{Client: slow, AllowInsecure: true}).ListWebhooks(context.Background(), store)
	if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 0 {
		t.Errorf("ListWebhooks(slow store) = %v; want a retryable error without status", err)
	}
}

// TestRESTRefusesInsecureStores: without ALLOW_INSECURE_OUTBOUND, keys are
// never sent over plain http nor to a private address.
func TestRESTRefusesInsecureStores(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, `[]`)
	}))
	defer srv.Close()
	client := woocommerce.NewREST(adapters.Options{Client: srv.Client()})
	for _, storeURL := range []string{srv.URL, "http://shop.example.com", "https://127.0.0.1:8443", "https://10.1.2.3", "https://localhost"} {
		_, err := client.ListWebhooks(context.Background(), app.WooCredentials{StoreURL: storeURL, ConsumerKey: restCK, ConsumerSecret: restCS})
		var pe *app.ProviderError
		if !errors.As(err, &pe) || pe.Retryable {
			t.Errorf("ListWebhooks(%s) = %v; want a permanent refusal", storeURL, err)
		}
	}
	_, err := client.ListWebhooks(context.Background(), app.WooCredentials{StoreURL: "https://shop.example.com"})
	if err == nil {
		t.Error("ListWebhooks(no keys) = nil; want an error")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the store received %d requests; want none", n)
	}
	// With ALLOW_INSECURE_OUTBOUND the plain http test store is reachable.
	insecure := woocommerce.NewREST(adapters.Options{Client: srv.Client(), AllowInsecure: true})
	if _, err := insecure.ListWebhooks(context.Background(), app.WooCredentials{StoreURL: srv.URL, ConsumerKey: restCK, ConsumerSecret: restCS}); err != nil || calls.Load() != 1 {
		t.Errorf("ListWebhooks(http, insecure allowed) = %v after %d calls; want one call, no error", err, calls.Load())
	}
}

// wooKeyStore is a store behind TLS with several API keys, each with its
// permissions, checked as WC_REST_Authentication does over HTTPS: a key
// or secret it does not know is 401, and so is a key without read
// permission on GET or without write permission on POST, PUT, PATCH and
// DELETE (woocommerce.md §2.1). It serves the two routes of the key check
// and records every request.
type wooKeyStore struct {
	srv      *httptest.Server
	mu       sync.Mutex
	keys     map[string][2]string // ck → secret, permissions
	seen     []string             // "METHOD path?query body"
	batchErr int                  // answer the batch with this status
}

func newWooKeyStore(t *testing.T) *wooKeyStore {
	t.Helper()
	s := &wooKeyStore{keys: map[string][2]string{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *wooKeyStore) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
	ck, cs, _ := r.BasicAuth()
	key, ok := s.keys[ck]
	if !ok || key[0] != cs {
		// An unknown key leaves the request anonymous; the route's own
		// check then refuses it (rest_authorization_required_code: 401).
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}`)
		return
	}
	switch perms := key[1]; r.Method {
	case http.MethodGet, http.MethodHead:
		if perms != "read" && perms != "read_write" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"The API key provided does not have read permissions.","data":{"status":401}}`)
			return
		}
	default:
		if perms != "write" && perms != "read_write" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"The API key provided does not have write permissions.","data":{"status":401}}`)
			return
		}
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/wp-json/wc/v3/webhooks":
		io.WriteString(w, `[{"id":3,"name":"Zapier","status":"active","topic":"order.created","delivery_url":"https://hooks.zapier.example/1"}]`)
	case r.Method == http.MethodPost && r.URL.Path == "/wp-json/wc/v3/webhooks/batch":
		if s.batchErr != 0 {
			w.WriteHeader(s.batchErr)
			io.WriteString(w, `<html>Service Unavailable</html>`)
			return
		}
		// batch_items() with nothing to create, update or delete.
		io.WriteString(w, `[]`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":"rest_no_route","message":"No route was found matching the URL and request method.","data":{"status":404}}`)
	}
}

func (s *wooKeyStore) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func TestRESTCheckKey(t *testing.T) {
	store := newWooKeyStore(t)
	store.keys = map[string][2]string{
		"ck_rw": {"cs_rw", "read_write"},
		"ck_r":  {"cs_r", "read"},
		"ck_w":  {"cs_w", "write"},
	}
	client := woocommerce.NewREST(adapters.Options{Client: store.srv.Client(), AllowInsecure: true})
	creds := func(ck, cs string) app.WooCredentials {
		return app.WooCredentials{StoreURL: store.srv.URL, ConsumerKey: ck, ConsumerSecret: cs}
	}
	ctx := context.Background()

	// A read_write key: one read of one webhook, one empty batch, nothing
	// changed.
	if err := client.CheckKey(ctx, creds("ck_rw", "cs_rw")); err != nil {
		t.Fatalf("CheckKey(read_write key) = %v; want nil", err)
	}
	want := []string{
		"GET /wp-json/wc/v3/webhooks?per_page=1",
		`POST /wp-json/wc/v3/webhooks/batch {"create":[],"update":[],"delete":[]}`,
	}
	if got := store.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("requests = %q; want %q", got, want)
	}

	cases := []struct {
		name, ck, cs, wantIn string
		wantRequests         int
	}{
		{"read only", "ck_r", "cs_r", "write permissions", 2},
		{"write only", "ck_w", "cs_w", "read permissions", 1},
		{"unknown key", "ck_someone_elses", "cs_rw", "cannot list", 1},
		{"wrong secret", "ck_rw", "cs_guess", "cannot list", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(store.requests())
			err := client.CheckKey(ctx, creds(tc.ck, tc.cs))
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Status != 401 || pe.Retryable || !strings.Contains(pe.Message, tc.wantIn) {
				t.Fatalf("CheckKey(%s) = %v; want a permanent 401 saying %q", tc.name, err, tc.wantIn)
			}
			if n := len(store.requests()) - before; n != tc.wantRequests {
				t.Errorf("CheckKey(%s) made %d requests; want %d", tc.name, n, tc.wantRequests)
			}
			if strings.Contains(err.Error(), tc.cs) {
				t.Errorf("error %v shows the consumer secret", err)
			}
		})
	}

	// A store that fails for a passing reason: retryable, so the caller
	// can tell it from a refused key.
	store.mu.Lock()
	store.batchErr = http.StatusServiceUnavailable
	store.mu.Unlock()
	err := client.CheckKey(ctx, creds("ck_rw", "cs_rw"))
	var pe *app.ProviderError
	if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 503 {
		t.Errorf("CheckKey(store answering 503) = %v; want a retryable 503", err)
	}
}
