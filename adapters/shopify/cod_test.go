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

	"github.com/storebridge/storebridge/app"
)

const (
	testOrderID  = "5923817263541"
	testOrderGID = "gid://shopify/Order/5923817263541"
	testHandle   = "storebridge-cod"
	testNote     = "awaiting WhatsApp confirmation"
)

// codOperation names the operation of a COD query or mutation by the
// field it calls.
func codOperation(query string) string {
	for _, op := range []string{"fulfillmentOrderReleaseHold(", "fulfillmentOrderHold(", "fulfillmentOrders(", "tagsAdd(", "tagsRemove(", "orderCancel("} {
		if strings.Contains(query, op) {
			return strings.TrimSuffix(op, "(")
		}
	}
	return ""
}

// codEndpoint is the fake GraphQL endpoint for the COD calls: answer gives
// the body for each request, and calls returns the requests made, in
// order.
func codEndpoint(t *testing.T, answer func(op string, req graphQLRequest) string) (a *Admin, calls func() []graphQLRequest) {
	t.Helper()
	var mu sync.Mutex
	var got []graphQLRequest
	srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
		mu.Lock()
		got = append(got, req)
		mu.Unlock()
		op := codOperation(req.Query)
		if op == "" {
			t.Errorf("unexpected query %q", req.Query)
		}
		io.WriteString(w, answer(op, req))
	})
	return newTestAdmin(t, srv), func() []graphQLRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]graphQLRequest(nil), got...)
	}
}

// fulfillmentOrdersAnswer is the answer of the fulfillment orders query.
func fulfillmentOrdersAnswer(t *testing.T, req graphQLRequest, nodes string) string {
	t.Helper()
	if req.Variables["id"] != testOrderGID || !strings.Contains(req.Query, "fulfillmentOrders(first: 20)") ||
		!strings.Contains(req.Query, "status") || !strings.Contains(req.Query, "fulfillmentHolds { id handle heldByRequestingApp }") {
		t.Errorf("fulfillment orders query = %q with %v; want order %s with status and holds", req.Query, req.Variables, testOrderGID)
	}
	return `{"data":{"order":{"fulfillmentOrders":{"nodes":[` + nodes + `]}}}}`
}

func fo(id int, status string, holds ...string) string {
	return fmt.Sprintf(`{"id":"gid://shopify/FulfillmentOrder/%d","status":%q,"fulfillmentHolds":[%s]}`, id, status, strings.Join(holds, ","))
}

func hold(id int, handle string, ours bool) string {
	return fmt.Sprintf(`{"id":"gid://shopify/FulfillmentHold/%d","handle":%q,"heldByRequestingApp":%t}`, id, handle, ours)
}

const okHold = `{"data":{"fulfillmentOrderHold":{"fulfillmentHold":{"id":"gid://shopify/FulfillmentHold/1","handle":"storebridge-cod"},"userErrors":[]}}}`

func ops(calls []graphQLRequest) []string {
	var names []string
	for _, c := range calls {
		names = append(names, codOperation(c.Query))
	}
	return names
}

func wantPermanent(t *testing.T, what string, err error, message string) {
	t.Helper()
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Provider != "shopify" || pe.Message != message {
		t.Fatalf("%s = %v; want a permanent shopify ProviderError with message %q", what, err, message)
	}
}

func TestHoldFulfillmentHoldsOpenFulfillmentOrders(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		if op == "fulfillmentOrders" {
			return fulfillmentOrdersAnswer(t, req, strings.Join([]string{fo(11, "OPEN"), fo(12, "CLOSED"), fo(13, "SCHEDULED")}, ","))
		}
		return okHold
	})
	if err := a.HoldFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle, testNote); err != nil {
		t.Fatalf("HoldFulfillment() = %v", err)
	}
	got := calls()
	if want := []string{"fulfillmentOrders", "fulfillmentOrderHold", "fulfillmentOrderHold"}; !reflect.DeepEqual(ops(got), want) {
		t.Fatalf("operations = %v; want %v", ops(got), want)
	}
	for i, id := range []string{"gid://shopify/FulfillmentOrder/11", "gid://shopify/FulfillmentOrder/13"} {
		req := got[i+1]
		wantHold := map[string]any{"reason": "OTHER", "reasonNotes": testNote, "handle": testHandle, "notifyMerchant": false}
		if req.Variables["id"] != id || !reflect.DeepEqual(req.Variables["fulfillmentHold"], wantHold) ||
			!strings.Contains(req.Query, "fulfillmentOrderHold(id: $id, fulfillmentHold: $fulfillmentHold)") || !strings.Contains(req.Query, "userErrors { field message code }") {
			t.Errorf("hold %d = %q with %v; want %s held with %v", i, req.Query, req.Variables, id, wantHold)
		}
	}
}

func TestHoldFulfillmentSkips(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []string
		wantHeld []string
	}{
		{"already held under our handle", []string{fo(21, "ON_HOLD", hold(1, testHandle, true))}, nil},
		{"fulfilled", []string{fo(22, "CLOSED"), fo(23, "CANCELLED")}, nil},
		{"in progress or incomplete", []string{fo(24, "IN_PROGRESS"), fo(25, "INCOMPLETE")}, nil},
		{"no fulfillment orders", nil, nil},
		{"held by the merchant or another app", []string{
			fo(26, "ON_HOLD", hold(2, "", false)),
			fo(27, "ON_HOLD", hold(3, testHandle, false)), // same handle, another app's
			fo(28, "ON_HOLD", hold(4, "other", true), hold(5, testHandle, true)),
		}, []string{"gid://shopify/FulfillmentOrder/26", "gid://shopify/FulfillmentOrder/27"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
				if op == "fulfillmentOrders" {
					return fulfillmentOrdersAnswer(t, req, strings.Join(tc.nodes, ","))
				}
				return okHold
			})
			if err := a.HoldFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle, testNote); err != nil {
				t.Fatalf("HoldFulfillment() = %v", err)
			}
			var held []string
			for _, c := range calls()[1:] {
				held = append(held, c.Variables["id"].(string))
			}
			if !reflect.DeepEqual(held, tc.wantHeld) {
				t.Fatalf("held %v; want %v", held, tc.wantHeld)
			}
		})
	}
}

func TestHoldFulfillmentUserErrors(t *testing.T) {
	tests := []struct {
		name    string
		errors  string
		wantErr string
	}{
		{"held meanwhile", `[{"field":["fulfillmentHold","handle"],"message":"The handle provided for the fulfillment hold is already in use by this app for another hold on this fulfillment order.","code":"DUPLICATE_FULFILLMENT_HOLD_HANDLE"}]`, ""},
		{"limit", `[{"field":["id"],"message":"The maximum number of fulfillment holds for this fulfillment order has been reached for this app.","code":"FULFILLMENT_ORDER_HOLD_LIMIT_REACHED"}]`, "The maximum number of fulfillment holds for this fulfillment order has been reached for this app."},
		{"not found", `[{"field":["id"],"message":"Fulfillment order does not exist.","code":"FULFILLMENT_ORDER_NOT_FOUND"}]`, "Fulfillment order does not exist."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := codEndpoint(t, func(op string, req graphQLRequest) string {
				if op == "fulfillmentOrders" {
					return fulfillmentOrdersAnswer(t, req, fo(31, "OPEN"))
				}
				return `{"data":{"fulfillmentOrderHold":{"fulfillmentHold":null,"userErrors":` + tc.errors + `}}}`
			})
			err := a.HoldFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle, testNote)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("HoldFulfillment() = %v; want nil", err)
				}
				return
			}
			wantPermanent(t, "HoldFulfillment()", err, tc.wantErr)
		})
	}
}

func TestHoldFulfillmentOrderNotFound(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string { return `{"data":{"order":null}}` })
	err := a.HoldFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle, testNote)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Code != "NOT_FOUND" || len(calls()) != 1 {
		t.Fatalf("HoldFulfillment(no such order) = %v after %d calls; want a permanent NOT_FOUND after 1", err, len(calls()))
	}
}

func TestReleaseFulfillmentReleasesOurHoldsOnly(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		if op == "fulfillmentOrders" {
			return fulfillmentOrdersAnswer(t, req, strings.Join([]string{
				fo(41, "ON_HOLD", hold(1, testHandle, true), hold(2, "fraud-check", false), hold(3, testHandle, false), hold(4, "other", true)),
				fo(42, "ON_HOLD", hold(5, "fraud-check", false)),
				fo(43, "OPEN"),
				fo(44, "ON_HOLD", hold(6, testHandle, true)),
			}, ","))
		}
		return `{"data":{"fulfillmentOrderReleaseHold":{"fulfillmentOrder":{"id":"x","status":"OPEN"},"userErrors":[]}}}`
	})
	if err := a.ReleaseFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle); err != nil {
		t.Fatalf("ReleaseFulfillment() = %v", err)
	}
	got := calls()
	if want := []string{"fulfillmentOrders", "fulfillmentOrderReleaseHold", "fulfillmentOrderReleaseHold"}; !reflect.DeepEqual(ops(got), want) {
		t.Fatalf("operations = %v; want %v", ops(got), want)
	}
	want := []map[string]any{
		{"id": "gid://shopify/FulfillmentOrder/41", "holdIds": []any{"gid://shopify/FulfillmentHold/1"}},
		{"id": "gid://shopify/FulfillmentOrder/44", "holdIds": []any{"gid://shopify/FulfillmentHold/6"}},
	}
	for i, w := range want {
		req := got[i+1]
		if !reflect.DeepEqual(req.Variables, w) || !strings.Contains(req.Query, "fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds)") {
			t.Errorf("release %d = %q with %v; want %v", i, req.Query, req.Variables, w)
		}
	}
}

func TestReleaseFulfillmentNothingToRelease(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		return fulfillmentOrdersAnswer(t, req, strings.Join([]string{fo(51, "OPEN"), fo(52, "ON_HOLD", hold(1, "fraud-check", false)), fo(53, "CLOSED")}, ","))
	})
	if err := a.ReleaseFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle); err != nil || len(calls()) != 1 {
		t.Fatalf("ReleaseFulfillment() = %v after %d calls; want nil after the query only", err, len(calls()))
	}
}

func TestReleaseFulfillmentUserError(t *testing.T) {
	a, _ := codEndpoint(t, func(op string, req graphQLRequest) string {
		if op == "fulfillmentOrders" {
			return fulfillmentOrdersAnswer(t, req, fo(61, "ON_HOLD", hold(1, testHandle, true)))
		}
		return `{"data":{"fulfillmentOrderReleaseHold":{"fulfillmentOrder":null,"userErrors":[{"field":["id"],"message":"Fulfillment order is not in a releasable state.","code":"INVALID"}]}}}`
	})
	err := a.ReleaseFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle)
	wantPermanent(t, "ReleaseFulfillment()", err, "Fulfillment order is not in a releasable state.")
}

func TestTag(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		return `{"data":{"` + op + `":{"node":{"id":"` + testOrderGID + `"},"userErrors":[]}}}`
	})
	if err := a.Tag(context.Background(), testShop, testToken, testOrderID, []string{"cod:confirmed"}, []string{"cod:pending", "cod:reminded"}); err != nil {
		t.Fatalf("Tag() = %v", err)
	}
	got := calls()
	if want := []string{"tagsAdd", "tagsRemove"}; !reflect.DeepEqual(ops(got), want) {
		t.Fatalf("operations = %v; want %v", ops(got), want)
	}
	if w := map[string]any{"id": testOrderGID, "tags": []any{"cod:confirmed"}}; !reflect.DeepEqual(got[0].Variables, w) || !strings.Contains(got[0].Query, "tagsAdd(id: $id, tags: $tags)") {
		t.Errorf("tagsAdd = %q with %v; want %v", got[0].Query, got[0].Variables, w)
	}
	if w := map[string]any{"id": testOrderGID, "tags": []any{"cod:pending", "cod:reminded"}}; !reflect.DeepEqual(got[1].Variables, w) || !strings.Contains(got[1].Query, "tagsRemove(id: $id, tags: $tags)") {
		t.Errorf("tagsRemove = %q with %v; want %v", got[1].Query, got[1].Variables, w)
	}

	a, calls = codEndpoint(t, func(op string, req graphQLRequest) string {
		return `{"data":{"` + op + `":{"node":{"id":"` + testOrderGID + `"},"userErrors":[]}}}`
	})
	if err := a.Tag(context.Background(), testShop, testToken, testOrderID, []string{"cod:pending"}, nil); err != nil || !reflect.DeepEqual(ops(calls()), []string{"tagsAdd"}) {
		t.Fatalf("Tag(add only) = %v with %v; want tagsAdd only", err, ops(calls()))
	}
	a, calls = codEndpoint(t, func(op string, req graphQLRequest) string { return "" })
	if err := a.Tag(context.Background(), testShop, testToken, testOrderID, nil, nil); err != nil || len(calls()) != 0 {
		t.Fatalf("Tag(nothing) = %v after %d calls; want nil and no call", err, len(calls()))
	}
}

func TestTagUserErrors(t *testing.T) {
	for _, op := range []string{"tagsAdd", "tagsRemove"} {
		t.Run(op, func(t *testing.T) {
			a, calls := codEndpoint(t, func(got string, req graphQLRequest) string {
				if got == op {
					return `{"data":{"` + got + `":{"node":null,"userErrors":[{"field":["tags"],"message":"Tags is too long"}]}}}`
				}
				return `{"data":{"` + got + `":{"node":{"id":"` + testOrderGID + `"},"userErrors":[]}}}`
			})
			err := a.Tag(context.Background(), testShop, testToken, testOrderID, []string{"a"}, []string{"b"})
			wantPermanent(t, "Tag()", err, "Tags is too long")
			if op == "tagsAdd" && len(calls()) != 1 {
				t.Errorf("calls after a failed tagsAdd = %v; want no tagsRemove", ops(calls()))
			}
		})
	}
}

func TestCancelOrder(t *testing.T) {
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		return `{"data":{"orderCancel":{"job":{"id":"gid://shopify/Job/1","done":false},"orderCancelUserErrors":[]}}}`
	})
	if err := a.CancelOrder(context.Background(), testShop, testToken, testOrderID, "COD not confirmed on WhatsApp"); err != nil {
		t.Fatalf("CancelOrder() = %v", err)
	}
	got := calls()
	want := map[string]any{
		"orderId": testOrderGID, "reason": "CUSTOMER", "refundMethod": map[string]any{"originalPaymentMethodsRefund": false}, "restock": true,
		"notifyCustomer": true, "staffNote": "COD not confirmed on WhatsApp",
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0].Variables, want) ||
		!strings.Contains(got[0].Query, "orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock, notifyCustomer: $notifyCustomer, staffNote: $staffNote)") ||
		!strings.Contains(got[0].Query, "orderCancelUserErrors { field message code }") {
		t.Fatalf("calls = %+v; want one orderCancel with %v", got, want)
	}
}

func TestCancelOrderUserErrors(t *testing.T) {
	tests := []struct {
		name    string
		errors  string
		wantErr string
	}{
		{"already cancelled", `[{"field":["orderId"],"message":"Order has already been cancelled","code":"INVALID"}]`, ""},
		{"already canceled", `[{"field":["orderId"],"message":"Cannot cancel an order that has already been canceled.","code":"INVALID"}]`, ""},
		{"fulfilled", `[{"field":["orderId"],"message":"Cannot cancel an order with outstanding fulfillments","code":"INVALID"}]`, "Cannot cancel an order with outstanding fulfillments"},
		{"not found", `[{"field":["orderId"],"message":"Order does not exist","code":"NOT_FOUND"}]`, "Order does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := codEndpoint(t, func(op string, req graphQLRequest) string {
				return `{"data":{"orderCancel":{"job":null,"orderCancelUserErrors":` + tc.errors + `}}}`
			})
			err := a.CancelOrder(context.Background(), testShop, testToken, testOrderID, "note")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CancelOrder() = %v; want nil", err)
				}
				return
			}
			wantPermanent(t, "CancelOrder()", err, tc.wantErr)
		})
	}
}

// codCalls runs each COD method once.
var codCalls = map[string]func(a *Admin, shop, token, orderID string) error{
	"HoldFulfillment": func(a *Admin, shop, token, orderID string) error {
		return a.HoldFulfillment(context.Background(), shop, token, orderID, testHandle, testNote)
	},
	"ReleaseFulfillment": func(a *Admin, shop, token, orderID string) error {
		return a.ReleaseFulfillment(context.Background(), shop, token, orderID, testHandle)
	},
	"Tag": func(a *Admin, shop, token, orderID string) error {
		return a.Tag(context.Background(), shop, token, orderID, []string{"cod:pending"}, []string{"cod:confirmed"})
	},
	"CancelOrder": func(a *Admin, shop, token, orderID string) error {
		return a.CancelOrder(context.Background(), shop, token, orderID, "note")
	},
}

func TestCODTransientErrorsAreRetryable(t *testing.T) {
	answers := []struct {
		name   string
		status int
		body   string
	}{
		{"throttled", http.StatusOK, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}]}`},
		{"too many requests", http.StatusTooManyRequests, `{"errors":"Exceeded 2 calls per second for api client."}`},
		{"server error", http.StatusInternalServerError, `{"errors":"Internal Server Error"}`},
		{"proxy page", http.StatusBadGateway, `<html>Bad Gateway</html>`},
		{"unavailable", http.StatusServiceUnavailable, `{"errors":"Service Unavailable"}`},
	}
	for name, call := range codCalls {
		for _, ans := range answers {
			t.Run(name+"/"+ans.name, func(t *testing.T) {
				srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
					w.WriteHeader(ans.status)
					io.WriteString(w, ans.body)
				})
				err := call(newTestAdmin(t, srv), testShop, testToken, testOrderID)
				var pe *app.ProviderError
				if !errors.As(err, &pe) || !pe.Retryable || pe.Provider != "shopify" {
					t.Fatalf("%s() = %v; want a retryable shopify ProviderError", name, err)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Fatalf("%s() = %v; the error carries the token", name, err)
				}
			})
		}
	}
}

func TestCODRefusals(t *testing.T) {
	for name, call := range codCalls {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			requests := 0
			srv := graphQLEndpoint(t, func(w http.ResponseWriter, req graphQLRequest) {
				mu.Lock()
				requests++
				mu.Unlock()
				io.WriteString(w, `{"data":{}}`)
			})
			a := newTestAdmin(t, srv)
			var pe *app.ProviderError

			// A wrong or revoked token: 401, permanent, and the token is
			// never in the error.
			err := call(a, testShop, "shpat_revoked_secret", testOrderID)
			if !errors.As(err, &pe) || pe.Retryable || pe.Status != http.StatusUnauthorized || strings.Contains(err.Error(), "shpat_revoked_secret") {
				t.Errorf("%s(wrong token) = %v; want a permanent 401 without the token", name, err)
			}
			// A shop that is not a myshopify.com domain is refused unsent.
			err = call(a, "evil.example.com", testToken, testOrderID)
			if !errors.As(err, &pe) || pe.Retryable || strings.Contains(err.Error(), testToken) {
				t.Errorf("%s(foreign shop) = %v; want a permanent refusal", name, err)
			}
			// An order id that is not numeric is refused unsent.
			err = call(a, testShop, testToken, `1"){ shop { name } }`)
			if !errors.As(err, &pe) || pe.Retryable {
				t.Errorf("%s(bad order id) = %v; want a permanent refusal", name, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if requests != 0 {
				t.Errorf("%s: %d requests reached the GraphQL answer; want none", name, requests)
			}
		})
	}
}

func TestCODVariablesAreJSON(t *testing.T) {
	// The hold notes and staff note travel as variables, never spliced
	// into the query text.
	note := `"quoted" } mutation { x }`
	a, calls := codEndpoint(t, func(op string, req graphQLRequest) string {
		switch op {
		case "fulfillmentOrders":
			return fulfillmentOrdersAnswer(t, req, fo(71, "OPEN"))
		case "fulfillmentOrderHold":
			return okHold
		}
		return `{"data":{"orderCancel":{"job":null,"orderCancelUserErrors":[]}}}`
	})
	if err := a.HoldFulfillment(context.Background(), testShop, testToken, testOrderID, testHandle, note); err != nil {
		t.Fatal(err)
	}
	if err := a.CancelOrder(context.Background(), testShop, testToken, testOrderID, note); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls() {
		if strings.Contains(c.Query, note) {
			t.Errorf("query %q holds the note", c.Query)
		}
		b, _ := json.Marshal(c.Variables)
		if op := codOperation(c.Query); op != "fulfillmentOrders" && !strings.Contains(string(b), `\"quoted\"`) {
			t.Errorf("%s variables = %s; want the note", op, b)
		}
	}
}
