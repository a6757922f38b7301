package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// deepProperties nests levels maps: {"p":{"p":…{"p":1}}}.
func deepProperties(levels int) string {
	return strings.Repeat(`{"p":`, levels) + "1" + strings.Repeat("}", levels)
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":1`, i)
	}
	return "{" + strings.Join(keys, ",") + "}"
}

func manyVariables(n int) string {
	vars := make([]string, n)
	for i := range vars {
		vars[i] = `"order.number"`
	}
	return "[" + strings.Join(vars, ",") + "]"
}

type inputCase struct {
	name, method, path, body string
	want                     int
	field                    string // the field the 422 names
}

func runInputCases(t *testing.T, send func(method, path, body string) (int, string), cases []inputCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(tc.method, tc.path, tc.body)
			if code != tc.want {
				t.Fatalf("%s %s = %d %.300s; want %d", tc.method, tc.path, code, body, tc.want)
			}
			if tc.want != http.StatusUnprocessableEntity {
				return
			}
			var answer errorBody
			if err := json.Unmarshal([]byte(body), &answer); err != nil {
				t.Fatalf("answer %.300s is not the error shape: %v", body, err)
			}
			if _, ok := answer.Fields[tc.field]; !ok {
				t.Errorf("fields = %v; want %q named", answer.Fields, tc.field)
			}
			if len(body) > 4096 {
				t.Errorf("the 422 is %d bytes; want a short answer, not the input echoed", len(body))
			}
			for name := range answer.Fields {
				if !plainFieldName(name) {
					t.Errorf("field name %q carries control characters or is long", name)
				}
			}
		})
	}
}

func plainFieldName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// inputServer is the admin router with one merchant, its order.placed
// rule set.
func inputServer(t *testing.T) (*echo.Echo, string) {
	t.Helper()
	e, _, _ := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com","country":"IN"}`)
	var m map[string]any
	_ = json.Unmarshal(created.Body.Bytes(), &m)
	id := m["id"].(string)
	if rec := call(e, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", operatorToken, `{"template":"order_placed","variables":["order.number"]}`); rec.Code != 200 {
		t.Fatalf("rule = %d %s", rec.Code, rec.Body)
	}
	return e, id
}

func TestRuleInputLimits(t *testing.T) {
	e, id := inputServer(t)
	rule := "/api/admin/merchants/" + id + "/rules/"
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []inputCase{
		// Rules: template names as WhatsApp takes them in template mode.
		{"template of 900 KB", "PUT", rule + "order.placed", `{"template":"` + long(900_000) + `"}`, 422, "template"},
		{"template of 512", "PUT", rule + "order.placed", `{"template":"` + long(512) + `"}`, 200, ""},
		{"template of 513", "PUT", rule + "order.placed", `{"template":"` + long(513) + `"}`, 422, "template"},
		{"template with capitals and spaces", "PUT", rule + "order.placed", `{"template":"Order Placed"}`, 422, "template"},
		{"template with a control character", "PUT", rule + "order.placed", `{"template":"order\u0000placed"}`, 422, "template"},
		{"template of letters digits and underscores", "PUT", rule + "order.placed", `{"template":"order_placed_v2"}`, 200, ""},
		// Event mode: the provider's event name, capitals and spaces allowed.
		{"event name with capitals and spaces", "PUT", rule + "loyalty.points_earned", `{"mode":"event","template":"Points Earned"}`, 200, ""},
		{"event name with markup", "PUT", rule + "loyalty.points_earned", `{"mode":"event","template":"<script>alert(1)</script>"}`, 422, "template"},
		{"event name of 121", "PUT", rule + "loyalty.points_earned", `{"mode":"event","template":"` + long(121) + `"}`, 422, "template"},
		// Languages: a BCP-47-like code.
		{"language with markup", "PUT", rule + "order.placed", `{"template":"order_placed","language":"<script>"}`, 422, "language"},
		{"language with a control character", "PUT", rule + "order.placed", `{"template":"order_placed","language":"en\nUS"}`, 422, "language"},
		{"language of 16", "PUT", rule + "order.placed", `{"template":"order_placed","language":"en_` + long(13) + `"}`, 422, "language"},
		{"language en_US", "PUT", rule + "order.placed", `{"template":"order_placed","language":"en_US"}`, 200, ""},
		{"language pt_BR", "PUT", rule + "order.placed", `{"template":"order_placed","language":"pt_BR"}`, 200, ""},
		{"language hi", "PUT", rule + "order.placed", `{"template":"order_placed","language":"hi"}`, 200, ""},
		{"language zh-Hant", "PUT", rule + "order.placed", `{"template":"order_placed","language":"zh-Hant"}`, 200, ""},
		// Variables: at most 20, each a known path of bounded length.
		{"20 variables", "PUT", rule + "order.placed", `{"template":"order_placed","variables":` + manyVariables(20) + `}`, 200, ""},
		{"21 variables", "PUT", rule + "order.placed", `{"template":"order_placed","variables":` + manyVariables(21) + `}`, 422, "variables"},
		{"60,000 variables", "PUT", rule + "order.placed", `{"template":"order_placed","variables":` + manyVariables(60_000) + `}`, 422, "variables"},
		{"a custom variable of 200", "PUT", rule + "order.placed", `{"template":"order_placed","variables":["properties.` + long(189) + `"]}`, 422, "variables[0]"},
		{"an unknown variable of 100 KB", "PUT", rule + "order.placed", `{"template":"order_placed","variables":["` + long(100_000) + `"]}`, 422, "variables[0]"},
		{"event type of 101", "PUT", rule + "loyalty." + long(93), `{"template":"order_placed"}`, 422, "event"},
	}
	runInputCases(t, func(method, path, body string) (int, string) {
		rec := call(e, method, path, operatorToken, body)
		return rec.Code, rec.Body.String()
	}, cases)
}

func TestAdminInputLimits(t *testing.T) {
	e, id := inputServer(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []inputCase{
		// Test events: the event, the phone and the properties bounded.
		{"test event: event of 101", "POST", "/api/admin/merchants/" + id + "/test-events", `{"event":"loyalty.` + long(93) + `","phone":"+919876543210"}`, 422, "event"},
		{"test event: phone of 33", "POST", "/api/admin/merchants/" + id + "/test-events", `{"event":"order.placed","phone":"+91` + strings.Repeat("9", 30) + `"}`, 422, "phone"},
		{"test event: properties 6 deep", "POST", "/api/admin/merchants/" + id + "/test-events", `{"event":"order.placed","phone":"+919876543210","properties":` + deepProperties(6) + `}`, 422, "properties"},
		{"test event: 101 properties", "POST", "/api/admin/merchants/" + id + "/test-events", `{"event":"order.placed","phone":"+919876543210","properties":` + manyKeys(101) + `}`, 422, "properties"},
		{"test event: a value of 1001", "POST", "/api/admin/merchants/" + id + "/test-events", `{"event":"order.placed","phone":"+919876543210","properties":{"order":{"number":"` + long(1001) + `"}}}`, 422, "properties"},

		// Status maps: entries bounded, names never echoed raw.
		{"status map: 101 entries", "PUT", "/api/admin/merchants/" + id + "/status-map", manyStatuses(101), 422, "status_map"},
		{"status map: 100 entries", "PUT", "/api/admin/merchants/" + id + "/status-map", manyStatuses(100), 200, ""},
		{"status map: event of 101", "PUT", "/api/admin/merchants/" + id + "/status-map", `{"shipped":"order.` + long(95) + `"}`, 422, "shipped"},
		{"status map: a status of 10 KB with control characters", "PUT", "/api/admin/merchants/" + id + "/status-map", `{"` + long(10_000) + `\u0000\r\n":"order.shipped"}`, 422, "status_map"},

		// Delivery filters: the event must be an event name.
		{"bulk retry: event with markup", "POST", "/api/admin/merchants/" + id + "/deliveries/retry", `{"status":"failed","event":"<script>"}`, 422, "event"},
		{"bulk retry: event of 10 KB", "POST", "/api/admin/merchants/" + id + "/deliveries/retry", `{"status":"failed","event":"order.` + long(10_000) + `"}`, 422, "event"},
		{"bulk retry: an event name", "POST", "/api/admin/merchants/" + id + "/deliveries/retry", `{"status":"failed","event":"order.placed"}`, 200, ""},
		{"deliveries: event of 10 KB", "GET", "/api/admin/merchants/" + id + "/deliveries?event=order." + long(10_000), "", 422, "event"},
	}
	runInputCases(t, func(method, path, body string) (int, string) {
		rec := call(e, method, path, operatorToken, body)
		return rec.Code, rec.Body.String()
	}, cases)
}

func manyStatuses(n int) string {
	entries := make([]string, n)
	for i := range entries {
		entries[i] = fmt.Sprintf(`"custom-%d":"order.shipped"`, i)
	}
	return "{" + strings.Join(entries, ",") + "}"
}

func TestEventsAPIInputLimits(t *testing.T) {
	e, _, _ := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com","country":"IN"}`)
	var m map[string]any
	_ = json.Unmarshal(created.Body.Bytes(), &m)
	key := m["api_key"].(string)
	long := func(n int) string { return strings.Repeat("a", n) }
	event := func(id, customer, properties string) string {
		return `{"id":"` + id + `","event":"loyalty.points_earned","customer":` + customer + `,"properties":` + properties + `}`
	}
	phone := `{"phone":"+919876543210"}`
	cases := []inputCase{
		{"a plain event", "POST", "/api/v1/events", event("txn-1", phone, `{"amount":100}`), 202, ""},
		{"id with a line break", "POST", "/api/v1/events", event(`txn\n2`, phone, `{}`), 422, "id"},
		{"id with NUL", "POST", "/api/v1/events", event(`txn\u00002`, phone, `{}`), 422, "id"},
		{"id of 201", "POST", "/api/v1/events", event(long(201), phone, `{}`), 422, "id"},
		{"id of 200", "POST", "/api/v1/events", event(long(200), phone, `{}`), 202, ""},
		{"first name of 101", "POST", "/api/v1/events", event("txn-3", `{"phone":"+919876543210","first_name":"`+long(101)+`"}`, `{}`), 422, "customer.first_name"},
		{"last name with a control character", "POST", "/api/v1/events", event("txn-4", `{"phone":"+919876543210","last_name":"Sharma\r\nX: 1"}`, `{}`), 422, "customer.last_name"},
		{"email of 255", "POST", "/api/v1/events", event("txn-5", `{"email":"`+long(245)+`@example.in"}`, `{}`), 422, "customer.email"},
		{"phone of 33", "POST", "/api/v1/events", event("txn-6", `{"phone":"+91`+strings.Repeat("9", 30)+`"}`, `{}`), 422, "customer.phone"},
		{"customer id of 101", "POST", "/api/v1/events", event("txn-7", `{"id":"`+long(101)+`"}`, `{}`), 422, "customer.id"},
		{"properties 5 deep", "POST", "/api/v1/events", event("txn-8", phone, deepProperties(5)), 202, ""},
		{"properties 6 deep", "POST", "/api/v1/events", event("txn-9", phone, deepProperties(6)), 422, "properties"},
		{"properties 6 deep through a dotted key", "POST", "/api/v1/events", event("txn-10", phone, `{"a.b.c":{"d":{"e":{"f":1}}}}`), 422, "properties"},
		{"100 properties", "POST", "/api/v1/events", event("txn-11", phone, manyKeys(100)), 202, ""},
		{"101 properties", "POST", "/api/v1/events", event("txn-12", phone, manyKeys(101)), 422, "properties"},
		{"101 properties across levels", "POST", "/api/v1/events", event("txn-13", phone, `{"a":`+manyKeys(60)+`,"b":`+manyKeys(40)+`}`), 422, "properties"},
		{"an array of 500 items", "POST", "/api/v1/events", event("txn-14", phone, `{"items":[`+strings.Repeat("1,", 499)+`1]}`), 422, "properties"},
		{"a value of 1000", "POST", "/api/v1/events", event("txn-15", phone, `{"note":"`+long(1000)+`"}`), 202, ""},
		{"a value of 1001", "POST", "/api/v1/events", event("txn-16", phone, `{"note":"`+long(1001)+`"}`), 422, "properties"},
		{"a key of 101", "POST", "/api/v1/events", event("txn-17", phone, `{"`+long(101)+`":1}`), 422, "properties"},
	}
	runInputCases(t, func(method, path, body string) (int, string) {
		rec := call(e, method, path, key, body)
		return rec.Code, rec.Body.String()
	}, cases)
}
