package woocommerce_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// readJSON checks the request is JSON and returns its body as raw text and
// decoded, so tests can compare both the exact fields and their values.
func readJSON(t *testing.T, r *http.Request) (string, map[string]any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s content type = %q; want application/json", r.Method, r.URL.Path, ct)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("body %s: %v", raw, err)
	}
	return string(raw), body
}

func TestRESTSetOrderStatus(t *testing.T) {
	for _, tc := range []struct{ asked, sent string }{
		{"processing", "processing"},
		{"cancelled", "cancelled"},
		{"wc-on-hold", "on-hold"}, // the post status prefix is dropped
	} {
		t.Run(tc.asked, func(t *testing.T) {
			var calls atomic.Int32
			_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Method != http.MethodPut || r.URL.Path != "/wp-json/wc/v3/orders/727" {
					t.Errorf("request = %s %s; want PUT /wp-json/wc/v3/orders/727", r.Method, r.URL.Path)
				}
				raw, _ := readJSON(t, r)
				if want := `{"status":"` + tc.sent + `"}`; raw != want {
					t.Errorf("body = %s; want %s", raw, want)
				}
				io.WriteString(w, `{"id":727,"number":"727","status":"`+tc.sent+`","payment_method":"cod","billing":{"phone":"098765 43210"},"meta_data":[]}`)
			})
			if err := client.SetOrderStatus(context.Background(), store, "727", tc.asked); err != nil {
				t.Fatalf("SetOrderStatus(727, %s) = %v", tc.asked, err)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("the store received %d requests; want 1", n)
			}
		})
	}
}

// TestRESTSetOrderStatusKept: a plugin that vetoes or redirects the change
// answers 200 with the status the order kept.
func TestRESTSetOrderStatusKept(t *testing.T) {
	for _, tc := range []struct{ answer, want string }{
		{`{"id":727,"status":"on-hold"}`, `kept status "on-hold"`},
		{`{"id":727}`, `without a status`},
	} {
		_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, tc.answer)
		})
		err := client.SetOrderStatus(context.Background(), store, "727", "processing")
		var pe *app.ProviderError
		if !errors.As(err, &pe) || pe.Retryable || pe.Provider != "woocommerce" || pe.Status != 200 {
			t.Fatalf("SetOrderStatus(answer %s) = %v; want a permanent woocommerce error", tc.answer, err)
		}
		if !strings.Contains(pe.Message, tc.want) || !strings.Contains(pe.Message, `"processing"`) || !strings.Contains(pe.Message, "727") {
			t.Errorf("message = %q; want the order, the asked status and %s", pe.Message, tc.want)
		}
		if app.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true; want false", err)
		}
	}
}

func TestRESTAddOrderNote(t *testing.T) {
	const note = "Customer confirmed the COD order on WhatsApp (+91 98765 43210). ₹1,299 to collect — ठीक है"
	var calls atomic.Int32
	_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/shop/wp-json/wc/v3/orders/727/notes" {
			t.Errorf("request = %s %s; want POST /shop/wp-json/wc/v3/orders/727/notes", r.Method, r.URL.Path)
		}
		_, body := readJSON(t, r)
		// customer_note must be sent false, not left out: it is what keeps
		// the note from being emailed to the customer.
		if len(body) != 3 || body["note"] != note || body["customer_note"] != false || body["added_by_user"] != false {
			t.Errorf("body = %v; want the note, customer_note false, added_by_user false", body)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":3187,"author":"WooCommerce","date_created":"2026-11-22T10:35:00","note":"x","customer_note":false}`)
	})
	store.StoreURL += "/shop" // WordPress in a subdirectory
	if err := client.AddOrderNote(context.Background(), store, "727", note); err != nil {
		t.Fatalf("AddOrderNote() = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the store received %d requests; want 1", n)
	}
}

func TestRESTOrderErrors(t *testing.T) {
	cases := []struct {
		name          string
		status        int
		body          string
		wantRetryable bool
		wantCode      string
	}{
		{"order deleted", 404, `{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}`, false, "woocommerce_rest_shop_order_invalid_id"},
		{"unknown status", 400, `{"code":"rest_invalid_param","message":"Invalid parameter(s): status","data":{"status":400}}`, false, "rest_invalid_param"},
		{"maintenance", 503, `<html>Briefly unavailable for scheduled maintenance.</html>`, true, ""},
		{"throttled", 429, `Too Many Requests`, true, ""},
	}
	calls := map[string]func(client app.WooOrders, store app.WooCredentials) error{
		"SetOrderStatus": func(client app.WooOrders, store app.WooCredentials) error {
			return client.SetOrderStatus(context.Background(), store, "727", "processing")
		},
		"AddOrderNote": func(client app.WooOrders, store app.WooCredentials) error {
			return client.AddOrderNote(context.Background(), store, "727", "Customer declined the order on WhatsApp.")
		},
	}
	for _, tc := range cases {
		for name, call := range calls {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
				})
				err := call(client, store)
				var pe *app.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("%s() = %v; want a *app.ProviderError", name, err)
				}
				if pe.Provider != "woocommerce" || pe.Retryable != tc.wantRetryable || pe.Code != tc.wantCode || pe.Status != tc.status {
					t.Errorf("error = %+v; want woocommerce, status %d, retryable %v, code %q", pe, tc.status, tc.wantRetryable, tc.wantCode)
				}
				if app.IsRetryable(err) != tc.wantRetryable {
					t.Errorf("IsRetryable(%v) = %v; want %v", err, !tc.wantRetryable, tc.wantRetryable)
				}
			})
		}
	}
}

// TestRESTOrderBadInput: an id or status that is not one never reaches
// the store (the id goes into the path), and fails for good.
func TestRESTOrderBadInput(t *testing.T) {
	var calls atomic.Int32
	_, client, store := wooAPI(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		t.Errorf("unexpected %s %s", r.Method, r.URL)
		io.WriteString(w, `{"id":727,"status":"processing"}`)
	})
	ctx := context.Background()
	permanent := func(what string, err error) {
		t.Helper()
		var pe *app.ProviderError
		if !errors.As(err, &pe) || pe.Retryable || pe.Provider != "woocommerce" || pe.Status != 0 {
			t.Errorf("%s = %v; want a permanent woocommerce error without status", what, err)
		}
	}
	for _, id := range []string{"", "0", "0727", "-1", "72a", " 727", "727 ", "1e3", "727/notes", "../webhooks", "727?force=true", "%37%32%37", "99999999999999999999", "٧٢٧"} {
		permanent("SetOrderStatus("+id+")", client.SetOrderStatus(ctx, store, id, "processing"))
		permanent("AddOrderNote("+id+")", client.AddOrderNote(ctx, store, id, "note"))
	}
	for _, status := range []string{"", "wc-", "Processing", "on hold", "processing?x=1", "../cancelled", "-pending", "a-status-of-18-chr", "प्रोसेसिंग"} {
		permanent("SetOrderStatus(727, "+status+")", client.SetOrderStatus(ctx, store, "727", status))
	}
	for _, note := range []string{"", " \n\t"} {
		permanent("AddOrderNote(727, empty)", client.AddOrderNote(ctx, store, "727", note))
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the store received %d requests; want none", n)
	}
}
