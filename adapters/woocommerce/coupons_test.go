package woocommerce_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// fakeCoupons plays a store's coupons route as WooCommerce does: code is
// required, discount_type one of its three, codes are unique (compared
// in lower case, as wc_format_coupon_code and the lookup do) and refused
// with woocommerce_rest_coupon_code_already_exists; GET ?code= finds one.
type fakeCoupons struct {
	mu     sync.Mutex
	byCode map[string]map[string]any
	bodies []map[string]any
	fail   []int // statuses to answer the next calls with
}

func (f *fakeCoupons) route(t *testing.T) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.URL.Path != "/wp-json/wc/v3/coupons" {
			t.Errorf("request %s %s; want /wp-json/wc/v3/coupons", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if len(f.fail) > 0 {
			status := f.fail[0]
			f.fail = f.fail[1:]
			w.WriteHeader(status)
			io.WriteString(w, `{"code":"internal_server_error","message":"There has been a critical error on this website."}`)
			return
		}
		switch r.Method {
		case http.MethodPost:
			var body map[string]any
			if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":"rest_invalid_json","message":"Invalid JSON body passed."}`)
				return
			}
			f.bodies = append(f.bodies, body)
			code, _ := body["code"].(string)
			if code == "" {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":"rest_missing_callback_param","message":"Missing parameter(s): code","data":{"status":400}}`)
				return
			}
			switch body["discount_type"] {
			case "percent", "fixed_cart", "fixed_product":
			default:
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":"rest_invalid_param","message":"Invalid parameter(s): discount_type","data":{"status":400}}`)
				return
			}
			key := strings.ToLower(code)
			if _, taken := f.byCode[key]; taken {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":"woocommerce_rest_coupon_code_already_exists","message":"The coupon code already exists","data":{"status":400}}`)
				return
			}
			stored := map[string]any{"id": 700 + len(f.byCode), "code": key, "amount": body["amount"], "discount_type": body["discount_type"], "date_expires_gmt": body["date_expires_gmt"]}
			f.byCode[key] = stored
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(stored)
		case http.MethodGet:
			found := []any{}
			if c, ok := f.byCode[strings.ToLower(r.URL.Query().Get("code"))]; ok {
				found = append(found, c)
			}
			json.NewEncoder(w).Encode(found)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}
}

func couponStore(t *testing.T) (*fakeCoupons, func(app.DiscountRequest) (app.DiscountCode, error)) {
	f := &fakeCoupons{byCode: map[string]map[string]any{}}
	_, client, store := wooAPI(t, f.route(t))
	return f, func(r app.DiscountRequest) (app.DiscountCode, error) {
		return client.CreateCoupon(context.Background(), store, r)
	}
}

var couponEnds = time.Date(2026, 4, 2, 18, 30, 0, 0, time.UTC)

func couponRequest() app.DiscountRequest {
	return app.DiscountRequest{
		Code: "SB-7K2M9QX4HJ3P", Title: "storebridge loyalty: 500 points", Kind: app.DiscountFixedAmount, Value: "50.00", Currency: "INR",
		Customer: app.Customer{ID: "12", Email: "Riya@Example.in"}, MinimumSubtotal: "200.00", EndsAt: couponEnds,
	}
}

func TestCreateCouponFixedCartForOneEmail(t *testing.T) {
	f, create := couponStore(t)
	got, err := create(couponRequest())
	want := app.DiscountCode{Code: "SB-7K2M9QX4HJ3P", Kind: app.DiscountFixedAmount, Value: "50.00", Currency: "INR", EndsAt: couponEnds, PlatformID: "700"}
	if err != nil || got != want {
		t.Fatalf("CreateCoupon() = %+v, %v; want %+v", got, err, want)
	}
	wantBody := map[string]any{
		"code": "SB-7K2M9QX4HJ3P", "discount_type": "fixed_cart", "amount": "50.00", "description": "storebridge loyalty: 500 points",
		"usage_limit": 1.0, "usage_limit_per_user": 1.0, "individual_use": true,
		"email_restrictions": []any{"riya@example.in"}, "date_expires_gmt": "2026-04-02T18:30:00", "minimum_amount": "200.00",
	}
	if !reflect.DeepEqual(f.bodies[0], wantBody) {
		raw, _ := json.Marshal(f.bodies[0])
		t.Errorf("body = %s; want %v", raw, wantBody)
	}
}

func TestCreateCouponPercentWithoutEmail(t *testing.T) {
	f, create := couponStore(t)
	r := app.DiscountRequest{Code: "CART-ABCDEFGH2345", Title: "cart step 3", Kind: app.DiscountPercentage, Value: "10"}
	got, err := create(r)
	if err != nil || got.Kind != app.DiscountPercentage || got.Value != "10" || !got.EndsAt.IsZero() {
		t.Fatalf("CreateCoupon() = %+v, %v; want a 10 percent coupon with no end", got, err)
	}
	b := f.bodies[0]
	if b["discount_type"] != "percent" || fmt.Sprint(b["email_restrictions"]) != "[]" || b["date_expires_gmt"] != nil || b["minimum_amount"] != nil {
		t.Errorf("body = %v; want percent, no email restriction, no expiry, no minimum", b)
	}
}

// A retried create finds the coupon the first made, in whatever case:
// the store holds one.
func TestCreateCouponTwiceAnswersTheFirst(t *testing.T) {
	f, create := couponStore(t)
	first, err := create(couponRequest())
	if err != nil {
		t.Fatal(err)
	}
	lower := couponRequest()
	lower.Code = strings.ToLower(lower.Code)
	for _, r := range []app.DiscountRequest{couponRequest(), lower} {
		again, err := create(r)
		if err != nil || again.PlatformID != first.PlatformID || again.Value != "50.00" || !again.EndsAt.Equal(couponEnds) {
			t.Fatalf("second CreateCoupon(%s) = %+v, %v; want the first %+v", r.Code, again, err, first)
		}
	}
	if len(f.byCode) != 1 {
		t.Errorf("the store holds %d coupons; want 1", len(f.byCode))
	}
}

func TestCreateCouponErrors(t *testing.T) {
	tests := []struct {
		name          string
		fail          []int
		request       func(r *app.DiscountRequest)
		wantRetryable bool
		wantCode      string
	}{
		{name: "server error", fail: []int{http.StatusInternalServerError}, wantRetryable: true, wantCode: "internal_server_error"},
		{name: "unavailable", fail: []int{http.StatusServiceUnavailable}, wantRetryable: true},
		{name: "no code", request: func(r *app.DiscountRequest) { r.Code = "" }, wantCode: "rest_missing_callback_param"},
		{name: "unknown kind", request: func(r *app.DiscountRequest) { r.Kind = "free_shipping" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, create := couponStore(t)
			f.fail = tc.fail
			r := couponRequest()
			if tc.request != nil {
				tc.request(&r)
			}
			_, err := create(r)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tc.wantRetryable || pe.Provider != "woocommerce" || (tc.wantCode != "" && pe.Code != tc.wantCode) {
				t.Fatalf("CreateCoupon() = %v; want a woocommerce ProviderError, retryable %v, code %q", err, tc.wantRetryable, tc.wantCode)
			}
		})
	}
}
