package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

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
