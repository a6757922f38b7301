package woocommerce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// answering is a transport that answers every request with one status,
// header and body, as a store (or whatever sits at its URL) might.
type answering struct {
	status     int
	totalPages string
	body       []byte
}

func (a answering) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{"Content-Type": {"application/json"}}
	if a.totalPages != "" {
		h.Set("X-WP-TotalPages", a.totalPages)
	}
	return &http.Response{StatusCode: a.status, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), Request: req}, nil
}

func restAnswering(status uint16, totalPages string, body []byte) *REST {
	code := int(status)
	if code < 100 || code > 599 {
		code = 200 + code%400
	}
	client := &http.Client{Transport: answering{status: code, totalPages: totalPages, body: body}}
	return NewREST(adapters.Options{Client: client})
}

var fuzzStore = app.WooCredentials{StoreURL: "https://asha.example.com", ConsumerKey: "ck_1", ConsumerSecret: "cs_1"}

// providerError fails t unless err is the app's *ProviderError: the
// reconciliation and connect flows read its status and retryability.
func providerError(t *testing.T, call string, err error) {
	t.Helper()
	var pe *app.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("%s error %v (%T) is not a *app.ProviderError", call, err, err)
	}
}

// FuzzListOrders: whatever a store answers to GET orders (any status, any
// body, any X-WP-TotalPages), ListOrders never panics, and either fails
// with a ProviderError or lists exactly the orders of the JSON array, each
// with the id, status and modification date its own JSON says and that
// JSON as its body, ready to queue like a webhook.
func FuzzListOrders(f *testing.F) {
	for name, body := range testdataBodies(f) {
		if strings.HasPrefix(name, "order") {
			f.Add(uint16(200), "3", append(append([]byte("["), body...), ']'))
		}
	}
	f.Add(uint16(200), "", []byte(`[]`))
	f.Add(uint16(200), "-1", []byte(`[{"id":1},{"id":0}]`))
	f.Add(uint16(200), "x", []byte(`[{"id":1,"status":7}]`))
	f.Add(uint16(200), "1", []byte(`[null]`))
	f.Add(uint16(200), "1", []byte(`{"code":"rest_no_route"}`))
	f.Add(uint16(200), "1", []byte(`<html>Just a moment...</html>`))
	f.Add(uint16(401), "", []byte(`{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}`))
	f.Add(uint16(403), "", []byte(`{"code":[1],"message":{"x":1}}`))
	f.Fuzz(func(t *testing.T, status uint16, totalPages string, body []byte) {
		rest := restAnswering(status, totalPages, body)
		page, err := rest.ListOrders(context.Background(), fuzzStore, app.WooOrderQuery{ModifiedAfter: time.Unix(1778494500, 0), Page: 1, PerPage: 100})
		if err != nil {
			providerError(t, "ListOrders", err)
			return
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("ListOrders listed %d orders from a body that is not a JSON array: %v", len(page.Orders), err)
		}
		if len(page.Orders) != len(raw) {
			t.Fatalf("ListOrders listed %d orders of %d", len(page.Orders), len(raw))
		}
		if n, err := strconv.Atoi(totalPages); err == nil && page.TotalPages != n || err != nil && page.TotalPages != 0 {
			t.Fatalf("TotalPages = %d from header %q", page.TotalPages, totalPages)
		}
		for i, o := range page.Orders {
			var head struct {
				ID              int64  `json:"id"`
				Status          string `json:"status"`
				DateModifiedGMT string `json:"date_modified_gmt"`
			}
			if err := json.Unmarshal(o.Body, &head); err != nil || !json.Valid(o.Body) || !bytes.Equal(o.Body, raw[i]) {
				t.Fatalf("order %d body %q is not the listed JSON: %v", i, o.Body, err)
			}
			if o.ID == 0 || o.ID != head.ID || o.Status != head.Status || o.DateModifiedGMT != head.DateModifiedGMT {
				t.Fatalf("order %d = %d %q %q; its JSON says %+v", i, o.ID, o.Status, o.DateModifiedGMT, head)
			}
		}
	})
}

// FuzzListWebhooks: whatever a store answers to GET webhooks, page after
// page, ListWebhooks never panics or loops past its page limit, and
// either fails with a ProviderError or lists the webhooks the pages hold.
func FuzzListWebhooks(f *testing.F) {
	f.Add(uint16(200), "1", []byte(`[{"id":41,"name":"storebridge order.updated","status":"active","topic":"order.updated","delivery_url":"https://storebridge.example/webhooks/woocommerce/m1","hooks":["woocommerce_update_order"]}]`))
	f.Add(uint16(200), "", []byte(`[]`))
	f.Add(uint16(200), "99", []byte(`[{"id":"41"}]`))
	f.Add(uint16(200), "1", []byte(`null`))
	f.Add(uint16(301), "", []byte(``))
	f.Add(uint16(400), "", []byte(`{"code":"rest_invalid_param","message":"Invalid parameter(s): per_page"}`))
	f.Fuzz(func(t *testing.T, status uint16, totalPages string, body []byte) {
		rest := restAnswering(status, totalPages, body)
		hooks, err := rest.ListWebhooks(context.Background(), fuzzStore)
		if err != nil {
			providerError(t, "ListWebhooks", err)
			return
		}
		var page []restWebhook
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("ListWebhooks listed %d webhooks from a body that is not a JSON array: %v", len(hooks), err)
		}
		if len(page) == 0 && len(hooks) != 0 || len(page) > 0 && (len(hooks) == 0 || len(hooks)%len(page) != 0 || len(hooks) > restMaxWebhookPages*len(page)) {
			t.Fatalf("ListWebhooks listed %d webhooks from pages of %d", len(hooks), len(page))
		}
		for i, h := range hooks {
			if want := page[i%len(page)].app(); h != want {
				t.Fatalf("webhook %d = %+v; the page says %+v", i, h, want)
			}
		}
	})
}
