package shopify

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

// fakeDiscounts plays a shop's code discounts: it checks what Shopify
// checks of discountCodeBasicCreate (the required fields, one value kind,
// a context), refuses a code the shop holds with TAKEN (codes compare
// case-insensitively) and finds discounts by code.
type fakeDiscounts struct {
	t      *testing.T
	mu     sync.Mutex
	codes  map[string]map[string]any // upper-case code → the input
	inputs []map[string]any
	// fail answers the next calls instead, one each.
	fail []func(w http.ResponseWriter)
}

func (f *fakeDiscounts) serve(w http.ResponseWriter, req graphQLRequest) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		next := f.fail[0]
		f.fail = f.fail[1:]
		next(w)
		return
	}
	switch {
	case strings.Contains(req.Query, "discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount)"):
		in, _ := req.Variables["basicCodeDiscount"].(map[string]any)
		f.inputs = append(f.inputs, in)
		if problem := checkDiscountInput(in); problem != "" {
			fmt.Fprintf(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount"],"message":%q,"code":"INVALID"}]}}}`, problem)
			return
		}
		code := strings.ToUpper(in["code"].(string))
		if _, taken := f.codes[code]; taken {
			io.WriteString(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"message":"Code must be unique. Please try a different code.","code":"TAKEN"}]}}}`)
			return
		}
		f.codes[code] = in
		fmt.Fprintf(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":{"id":"gid://shopify/DiscountCodeNode/%d","codeDiscount":{"endsAt":%s}},"userErrors":[]}}}`, len(f.codes), jsonOf(in["endsAt"]))
	case strings.Contains(req.Query, "codeDiscountNodeByCode(code: $code)"):
		code, _ := req.Variables["code"].(string)
		in, ok := f.codes[strings.ToUpper(code)]
		if !ok {
			io.WriteString(w, `{"data":{"codeDiscountNodeByCode":null}}`)
			return
		}
		value := in["customerGets"].(map[string]any)["value"].(map[string]any)
		answer := `{"percentage":` + jsonOf(value["percentage"]) + `}`
		if amount, ok := value["discountAmount"].(map[string]any); ok {
			answer = `{"amount":{"amount":` + jsonOf(amount["amount"]) + `,"currencyCode":"INR"}}`
		}
		fmt.Fprintf(w, `{"data":{"codeDiscountNodeByCode":{"id":"gid://shopify/DiscountCodeNode/1","codeDiscount":{"endsAt":%s,"customerGets":{"value":%s}}}}}`, jsonOf(in["endsAt"]), answer)
	default:
		f.t.Errorf("unexpected query %q", req.Query)
	}
}

func jsonOf(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// checkDiscountInput says what Shopify would refuse in a
// DiscountCodeBasicInput, or "".
func checkDiscountInput(in map[string]any) string {
	for _, field := range []string{"title", "code", "startsAt", "customerGets", "context"} {
		if v, ok := in[field]; !ok || v == "" || v == nil {
			return field + " is required"
		}
	}
	if _, ok := in["customerSelection"]; ok {
		return "customerSelection is deprecated; use context"
	}
	if _, err := time.Parse(time.RFC3339, in["startsAt"].(string)); err != nil {
		return "startsAt is not a DateTime"
	}
	gets := in["customerGets"].(map[string]any)
	value, _ := gets["value"].(map[string]any)
	if len(value) != 1 {
		return "customerGets.value must hold exactly one of discountAmount, percentage"
	}
	if p, ok := value["percentage"].(float64); ok && (p <= 0 || p > 1) {
		return "percentage must be between 0 and 1"
	}
	if items, _ := gets["items"].(map[string]any); items["all"] != true {
		return "customerGets.items is required"
	}
	ctx := in["context"].(map[string]any)
	if len(ctx) != 1 || (ctx["all"] != nil && ctx["all"] != "ALL") {
		return "context must be all buyers or customers"
	}
	return ""
}

func newFakeDiscounts(t *testing.T) (*Admin, *fakeDiscounts) {
	f := &fakeDiscounts{t: t, codes: map[string]map[string]any{}}
	return newTestAdmin(t, graphQLEndpoint(t, f.serve)), f
}

var testEndsAt = time.Date(2026, 4, 2, 18, 30, 0, 0, time.UTC)

func fixedRequest() app.DiscountRequest {
	return app.DiscountRequest{
		Code: "SB-7K2M9QX4HJ3P", Title: "storebridge loyalty: 500 points", Kind: app.DiscountFixedAmount, Value: "50.00", Currency: "INR",
		Customer: app.Customer{ID: "7712398123", Email: "riya@example.in"}, MinimumSubtotal: "200.00",
		StartsAt: time.Date(2026, 3, 3, 18, 30, 0, 0, time.UTC), EndsAt: testEndsAt,
	}
}

func TestCreateDiscountCodeFixedAmountForOneCustomer(t *testing.T) {
	a, shop := newFakeDiscounts(t)
	got, err := a.CreateDiscountCode(context.Background(), testShop, testToken, fixedRequest())
	want := app.DiscountCode{Code: "SB-7K2M9QX4HJ3P", Kind: app.DiscountFixedAmount, Value: "50.00", Currency: "INR", EndsAt: testEndsAt, PlatformID: "gid://shopify/DiscountCodeNode/1"}
	if err != nil || got != want {
		t.Fatalf("CreateDiscountCode() = %+v, %v; want %+v", got, err, want)
	}
	in := shop.inputs[0]
	wantInput := map[string]any{
		"title": "storebridge loyalty: 500 points", "code": "SB-7K2M9QX4HJ3P",
		"startsAt": "2026-03-03T18:30:00Z", "endsAt": "2026-04-02T18:30:00Z",
		"usageLimit": 1.0, "appliesOncePerCustomer": true,
		"context": map[string]any{"customers": map[string]any{"add": []any{"gid://shopify/Customer/7712398123"}}},
		"customerGets": map[string]any{
			"value": map[string]any{"discountAmount": map[string]any{"amount": "50.00", "appliesOnEachItem": false}},
			"items": map[string]any{"all": true},
		},
		"minimumRequirement": map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": "200.00"}},
	}
	if !reflect.DeepEqual(in, wantInput) {
		t.Errorf("input = %s\nwant %s", jsonOf(in), jsonOf(wantInput))
	}
}

func TestCreateDiscountCodePercentageForAll(t *testing.T) {
	a, shop := newFakeDiscounts(t)
	r := app.DiscountRequest{Code: "CART-ABCDEFGH2345", Title: "cart step 3", Kind: app.DiscountPercentage, Value: "10",
		Customer: app.Customer{Phone: "+919876543210"}}
	got, err := a.CreateDiscountCode(context.Background(), testShop, testToken, r)
	if err != nil || got.Code != r.Code || got.Kind != app.DiscountPercentage || got.Value != "10" || !got.EndsAt.IsZero() {
		t.Fatalf("CreateDiscountCode() = %+v, %v; want the percentage code with no end", got, err)
	}
	in := shop.inputs[0]
	if !reflect.DeepEqual(in["context"], map[string]any{"all": "ALL"}) || in["endsAt"] != nil || in["minimumRequirement"] != nil {
		t.Errorf("input = %s; want all buyers, no end, no minimum", jsonOf(in))
	}
	if v := in["customerGets"].(map[string]any)["value"]; !reflect.DeepEqual(v, map[string]any{"percentage": 0.1}) {
		t.Errorf("value = %v; want percentage 0.1", v)
	}
}

// A retried create (the first answer lost) finds the shop's discount by
// its code and answers it: the shop holds one.
func TestCreateDiscountCodeTwiceAnswersTheFirst(t *testing.T) {
	a, shop := newFakeDiscounts(t)
	first, err := a.CreateDiscountCode(context.Background(), testShop, testToken, fixedRequest())
	if err != nil {
		t.Fatal(err)
	}
	lower := fixedRequest()
	lower.Code = strings.ToLower(lower.Code)
	for _, r := range []app.DiscountRequest{fixedRequest(), lower} {
		again, err := a.CreateDiscountCode(context.Background(), testShop, testToken, r)
		if err != nil || again.PlatformID != first.PlatformID || again.Value != "50.00" || again.Kind != app.DiscountFixedAmount || !again.EndsAt.Equal(testEndsAt) {
			t.Fatalf("second CreateDiscountCode(%s) = %+v, %v; want the first %+v", r.Code, again, err, first)
		}
	}
	if len(shop.codes) != 1 {
		t.Errorf("the shop holds %d codes; want 1", len(shop.codes))
	}
}

func TestCreateDiscountCodeErrors(t *testing.T) {
	tests := []struct {
		name          string
		token         string
		fail          func(w http.ResponseWriter)
		request       func(r *app.DiscountRequest)
		wantRetryable bool
		wantMessage   string
	}{
		{name: "user error", request: func(r *app.DiscountRequest) { r.Title = "" }, wantMessage: "title is required"},
		{name: "missing scope", fail: func(w http.ResponseWriter) {
			io.WriteString(w, `{"errors":[{"message":"Access denied for discountCodeBasicCreate field. Required access: `+"`write_discounts`"+` access scope.","extensions":{"code":"ACCESS_DENIED"}}]}`)
		}, wantMessage: "write_discounts"},
		{name: "forbidden", fail: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":"This action requires merchant approval for write_discounts scope."}`)
		}, wantMessage: "write_discounts"},
		{name: "throttled", fail: func(w http.ResponseWriter) {
			io.WriteString(w, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}]}`)
		}, wantRetryable: true, wantMessage: "Throttled"},
		{name: "server error", fail: func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `<html>502 Bad Gateway</html>`)
		}, wantRetryable: true, wantMessage: "502"},
		{name: "wrong token", token: "shpat_wrong", wantMessage: "Invalid API key"},
		{name: "bad percentage", request: func(r *app.DiscountRequest) { r.Kind, r.Value = app.DiscountPercentage, "150" }, wantMessage: "not between 0 and 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, shop := newFakeDiscounts(t)
			if tc.fail != nil {
				shop.fail = []func(http.ResponseWriter){tc.fail}
			}
			token := testToken
			if tc.token != "" {
				token = tc.token
			}
			r := fixedRequest()
			if tc.request != nil {
				tc.request(&r)
			}
			_, err := a.CreateDiscountCode(context.Background(), testShop, token, r)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tc.wantRetryable || pe.Provider != Name || !strings.Contains(pe.Error(), tc.wantMessage) {
				t.Fatalf("CreateDiscountCode() = %v; want a shopify ProviderError, retryable %v, saying %q", err, tc.wantRetryable, tc.wantMessage)
			}
		})
	}
}

// A code another kind of discount holds (Shopify says TAKEN, and no code
// discount reads back) is a permanent error, not a stranger's discount.
func TestCreateDiscountCodeTakenElsewhere(t *testing.T) {
	a, shop := newFakeDiscounts(t)
	shop.fail = []func(http.ResponseWriter){func(w http.ResponseWriter) {
		io.WriteString(w, `{"data":{"discountCodeBasicCreate":{"codeDiscountNode":null,"userErrors":[{"field":["basicCodeDiscount","code"],"message":"Code must be unique.","code":"TAKEN"}]}}}`)
	}}
	_, err := a.CreateDiscountCode(context.Background(), testShop, testToken, fixedRequest())
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Code != "TAKEN" {
		t.Fatalf("CreateDiscountCode() = %v; want a permanent TAKEN", err)
	}
}
