package handlers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// A customers/data_request is listed, masked, for the merchant, and its
// export downloads as a JSON attachment with the customer's data in full.
func TestDataRequestAPI(t *testing.T) {
	ctx := context.Background()
	e, st, svc := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"`+ashaShop+`","country":"IN"}`)
	if created.Code != 201 {
		t.Fatalf("create = %d %s", created.Code, created.Body)
	}
	m, err := st.MerchantByDomain(ctx, app.PlatformShopify, ashaShop)
	if err != nil {
		t.Fatal(err)
	}
	id := m.ID
	if rec := call(e, "PUT", "/api/admin/merchants/"+id+"/provider", operatorToken, `{"provider":"sandbox"}`); rec.Code != 200 {
		t.Fatalf("provider = %d %s", rec.Code, rec.Body)
	}
	if rec := call(e, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", operatorToken, `{"template":"order_placed","variables":["order.number"]}`); rec.Code != 200 {
		t.Fatalf("rule = %d %s", rec.Code, rec.Body)
	}
	if rec := call(e, "POST", "/api/admin/merchants/"+id+"/test-events", operatorToken, `{"event":"order.placed","phone":"+919876543210","properties":{"order":{"number":"#1"}}}`); rec.Code != 200 {
		t.Fatalf("test event = %d %s", rec.Code, rec.Body)
	}
	body := []byte(`{"shop_id":66123456,"shop_domain":"` + ashaShop + `","customer":{"id":7712398123,"email":"riya.sharma@example.in","phone":"+91 98765 43210"},"orders_requested":[5923817263541],"data_request":{"id":91234}}`)
	if outcome, err := svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{Domain: ashaShop, Topic: "customers/data_request", HMAC: sign(shopifyAppSecret, body), EventID: "ev-dr", Body: body}); err != nil || outcome != app.WebhookAccepted {
		t.Fatalf("data request webhook = %v, %v", outcome, err)
	}
	jobs, err := st.ClaimJobs(ctx, time.Minute, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("ClaimJobs() = %d jobs, %v; want the data request", len(jobs), err)
	}
	if err := svc.JobHandlers()[jobs[0].Kind](ctx, jobs[0]); err != nil {
		t.Fatalf("the webhook job (data request) = %v", err)
	}
	other := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"chai-house.myshopify.com"}`)
	otherM, _ := st.MerchantByDomain(ctx, app.PlatformShopify, "chai-house.myshopify.com")
	otherSession, _, err := svc.NewSession(otherM.ID)
	if other.Code != 201 || err != nil {
		t.Fatalf("other merchant = %d, %v", other.Code, err)
	}

	base := "/api/admin/merchants/" + id
	cases := []struct {
		name, path, token string
		want              int
		contains, absent  []string
		attachment        string
	}{
		{"list, masked", base + "/data-requests", operatorToken, 200,
			[]string{`"id":"91234"`, `"status":"open"`, `"customer_id":"7712398123"`, `"phone":"+91******3210"`, `"email":"r***@example.in"`, `"orders_requested":["5923817263541"]`, `"answered_at":null`, `"export_url":"` + base + `/data-requests/91234/export"`},
			[]string{"9876543210", "riya.sharma"}, ""},
		{"export", base + "/data-requests/91234/export", operatorToken, 200,
			[]string{`"request_id": "91234"`, `"phone": "+919876543210"`, `"email": "riya.sharma@example.in"`, `"event": "order.placed"`, `"values": [`}, nil, `attachment; filename="customer-data-91234.json"`},
		{"list after the export", base + "/data-requests", operatorToken, 200, []string{`"status":"answered"`}, []string{`"answered_at":null`}, ""},
		{"export of an unknown request", base + "/data-requests/nope/export", operatorToken, 404, nil, nil, ""},
		{"another merchant's requests", base + "/data-requests", otherSession, 403, nil, []string{"91234"}, ""},
		{"another merchant's export", base + "/data-requests/91234/export", otherSession, 403, nil, []string{"9876543210"}, ""},
		{"ad-hoc export by phone", base + "/customers/export?phone=%2B919876543210", operatorToken, 200,
			[]string{`"phone": "+919876543210"`, `"event": "order.placed"`}, []string{`"request_id"`}, `attachment; filename="customer-data-`},
		{"ad-hoc export, + not encoded", base + "/customers/export?phone=+919876543210", operatorToken, 200, []string{`"phone": "+919876543210"`}, nil, "attachment"},
		{"ad-hoc export by customer id", base + "/customers/export?customer_id=7712398123&email=riya.sharma@example.in", operatorToken, 200,
			[]string{`"id": "7712398123"`, `"email": "riya.sharma@example.in"`, `"id": "91234"`}, nil, "attachment"},
		{"ad-hoc export names no one", base + "/customers/export?email=riya.sharma@example.in", operatorToken, 422, []string{`"customer_id"`}, nil, ""},
		{"ad-hoc export, bad phone", base + "/customers/export?phone=12", operatorToken, 422, []string{`"phone"`}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(e, "GET", tc.path, tc.token, "")
			if rec.Code != tc.want {
				t.Fatalf("GET %s = %d %s; want %d", tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, want := range tc.contains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("GET %s body = %s; want it to contain %s", tc.path, rec.Body, want)
				}
			}
			for _, not := range tc.absent {
				if strings.Contains(rec.Body.String(), not) {
					t.Errorf("GET %s body = %s; must not contain %s", tc.path, rec.Body, not)
				}
			}
			if tc.attachment == "" {
				return
			}
			if got := rec.Header().Get("Content-Disposition"); !strings.HasPrefix(got, tc.attachment) {
				t.Errorf("GET %s Content-Disposition = %q; want %s…", tc.path, got, tc.attachment)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("GET %s Content-Type = %q; want application/json", tc.path, got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("GET %s Cache-Control = %q; want no-store (personal data)", tc.path, got)
			}
		})
	}
}
