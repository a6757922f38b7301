package handlers

import (
	"encoding/json"
	"strings"
	"testing"
)

// The loyalty program and a customer's points through the router: 422s
// with fields, another merchant's 403, an unknown merchant's 404.
func TestLoyaltyAPI(t *testing.T) {
	e, _, svc := adminServer(t)
	create := func(domain string) string {
		rec := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"`+domain+`","country":"IN"}`)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return m["id"].(string)
	}
	own, other := create("kesar-kitchen.myshopify.com"), create("chai-house.myshopify.com")
	session, _, err := svc.NewSession(own)
	if err != nil {
		t.Fatal(err)
	}
	base := "/api/admin/merchants/" + own
	cases := []struct {
		name, method, path, token, body string
		want                            int
		contains                        []string
	}{
		{"default program", "GET", base + "/loyalty", session, "", 200,
			[]string{`"enabled":false`, `"points_per_unit":1`, `"on":"paid"`, `"expiry":"none"`, `"expiry_reminders":["30d","3d"]`}},
		{"save a program", "PUT", base + "/loyalty", session,
			`{"enabled":true,"earn":{"points_per_unit":0.05,"on":"fulfilled","exclude_shipping":true},"approve_after":"7d","expiry":"365d","expiry_reminders":["30d","3d"],"tiers":[{"name":"Gold","threshold":5000,"basis":"points","period":"rolling_year","multiplier":1.5}]}`,
			200, []string{`"points_per_unit":0.05`, `"on":"fulfilled"`, `"name":"Gold"`}},
		{"saved", "GET", base + "/loyalty", session, "", 200, []string{`"approve_after":"7d"`, `"expiry":"365d"`, `"exclude_shipping":true`}},
		{"bad values", "PUT", base + "/loyalty", session,
			`{"earn":{"points_per_unit":-1,"on":"shipped"},"approve_after":"soon","expiry":"0d","expiry_reminders":["x"],"tiers":[{"name":"","threshold":0,"basis":"orders","period":"week","multiplier":0.5}]}`,
			422, []string{`"earn.points_per_unit"`, `"earn.on"`, `"approve_after"`, `"expiry"`, `"expiry_reminders[0]"`, `"tiers[0].name"`, `"tiers[0].threshold"`, `"tiers[0].basis"`, `"tiers[0].period"`, `"tiers[0].multiplier"`}},
		{"bad redeem settings", "PUT", base + "/loyalty", session,
			`{"redeem":{"enabled":true,"points_per_unit":0,"min_points":0,"max_points":-1,"expires_in":"12h","minimum_subtotal":"1e3"}}`,
			422, []string{`"redeem.points_per_unit"`, `"redeem.min_points"`, `"redeem.max_points"`, `"redeem.expires_in":"must be at least 1 day"`, `"redeem.minimum_subtotal"`}},
		{"redeem settings saved, the rest kept", "PUT", base + "/loyalty", session,
			`{"enabled":true,"expiry":"365d","redeem":{"enabled":true,"points_per_unit":50}}`,
			200, []string{`"redeem":{"enabled":true,"points_per_unit":50,"min_points":100,"max_points":0,"expires_in":"30d","minimum_subtotal":""}`}},
		{"what a body leaves out keeps its default", "PUT", "/api/admin/merchants/" + other + "/loyalty", operatorToken, `{"enabled":true,"earn":{"points_per_unit":2}}`, 200,
			[]string{`"enabled":true`, `"points_per_unit":2`, `"on":"paid"`, `"approve_after":"0s"`, `"expiry":"none"`, `"tiers":[]`}},
		{"another merchant's program", "GET", "/api/admin/merchants/" + other + "/loyalty", session, "", 403, nil},
		{"another merchant's points", "GET", "/api/admin/merchants/" + other + "/customers/c1/points", session, "", 403, nil},
		{"unknown merchant", "GET", "/api/admin/merchants/m_nobody/loyalty", operatorToken, "", 404, nil},
		{"unknown merchant's points", "POST", "/api/admin/merchants/m_nobody/customers/c1/points/adjust", operatorToken, `{"points":5,"reason":"x"}`, 404, nil},
		{"no points yet", "GET", base + "/customers/c1/points", session, "", 200, []string{`"customer":"c1"`, `"balance":0`, `"entries":[]`, `"next_expiry":null`}},
		{"adjust up", "POST", base + "/customers/c1/points/adjust", session, `{"points":120,"reason":"apology"}`, 200, []string{`"kind":"adjust"`, `"points":120`}},
		{"adjust below zero", "POST", base + "/customers/c1/points/adjust", session, `{"points":-500,"reason":"oops"}`, 422, []string{`"points":"insufficient points: the balance is 120"`}},
		{"adjust without reason", "POST", base + "/customers/c1/points/adjust", session, `{"points":5}`, 422, []string{`"reason"`}},
		{"adjust zero", "POST", base + "/customers/c1/points/adjust", session, `{"points":0,"reason":"x"}`, 422, []string{`"points"`}},
		{"points after", "GET", base + "/customers/c1/points", session, "", 200, []string{`"balance":120`, `"reason":"apology"`, `"next_expiry":{"points":120,"on":"`}},
		{"a phone customer", "POST", base + "/customers/+919876543210/points/adjust", session, `{"points":7,"reason":"guest"}`, 200, []string{`"points":7`}},
		{"a phone customer's points", "GET", base + "/customers/+919876543210/points", session, "", 200, []string{`"customer":"+919876543210"`, `"balance":7`}},
		{"a bad phone", "GET", base + "/customers/+12/points", session, "", 422, []string{`"customer"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(e, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body %s lacks %s", rec.Body, s)
				}
			}
		})
	}
}
