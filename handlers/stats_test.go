package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/storebridge/storebridge/app"
)

// statsServer is the admin API with one merchant, made through it, whose
// counters cover three days of November 2026 and one day after them.
func statsServer(t *testing.T) (*echo.Echo, string) {
	t.Helper()
	e, st, _ := adminServer(t)
	created := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"kesar-kitchen.myshopify.com","country":"IN","timezone":"Asia/Kolkata","name":"Kesar Kitchen"}`)
	if created.Code != 201 {
		t.Fatalf("create = %d %s", created.Code, created.Body)
	}
	var m struct{ ID string }
	if err := json.Unmarshal(created.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	c := func(day, subject, outcome string) app.Counter {
		return app.Counter{Merchant: m.ID, Day: day, Subject: subject, Outcome: outcome}
	}
	for n, counters := range map[int64][]app.Counter{
		1: {c("2026-11-01", app.EventOrderPlaced, "received"), c("2026-11-03", app.EventOrderShipped, "dead"),
			c("2026-11-03", app.EventCODConfirmationAsked, "cod.cancelled"), c("2026-11-03", app.EventCODConfirmationAsked, "cod.timed_out"),
			c("2026-11-03", app.EventCartAbandoned, "sent"), c("2026-11-03", app.EventCartAbandoned, "cart.step.2.sent"),
			c("2026-11-03", app.EventCartAbandoned, "cart.recovered"), c("2026-11-03", app.EventCartAbandoned, "cart.step.2.recovered")},
		2: {c("2026-11-01", app.EventOrderPlaced, "sent"), c("2026-11-01", app.EventOrderPlaced, "skipped.no_phone"),
			c("2026-11-01", "inputs", "accepted"), c("2026-11-03", app.EventOrderPlaced, "ambiguous"),
			c("2026-11-01", app.EventCartAbandoned, "cart.carts"), c("2026-11-01", app.EventCartAbandoned, "cart.step.1.sent"),
			c("2026-11-01", app.EventCartAbandoned, "sent")},
		149900: {c("2026-11-03", app.EventCartAbandoned, "cart.revenue.INR")}, // ₹1,499.00 in paise
		3: {c("2026-11-03", app.EventOrderPlaced, "sent"), c("2026-11-03", app.EventOrderPlaced, "delivered"),
			c("2026-11-03", app.EventOrderShipped, "skipped.quiet_hours"), c("2026-11-03", app.EventCODConfirmationAsked, "cod.confirmed")},
		4: {c("2026-11-03", app.EventOrderPlaced, "read"), c("2026-11-03", app.EventOrderPlaced, "failed"),
			c("2026-11-02", "customers", "opted_out"), c("2026-11-01", app.EventCODConfirmationAsked, "cod.asked")},
		9: {c("2026-11-04", app.EventOrderPlaced, "sent"), c("2026-11-04", app.EventOrderPlaced, "skipped.no_rule"), c("2026-11-04", app.EventCartAbandoned, "cart.carts")}, // after the range
	} {
		if err := st.Incr(context.Background(), n, counters...); err != nil {
			t.Fatal(err)
		}
	}
	return e, m.ID
}

func getStats(e *echo.Echo, path, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func TestStatsJSON(t *testing.T) {
	e, id := statsServer(t)
	rec := getStats(e, "/api/admin/merchants/"+id+"/stats?from=2026-11-01&to=2026-11-03", "")
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET stats = %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var got statsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	zeroSkips := func(more map[string]int64) map[string]int64 {
		m := map[string]int64{"duplicate": 0, "opted_out": 0, "no_phone": 0, "no_rule": 0, "no_provider": 0, "no_consent": 0}
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	want := statsResponse{
		From: "2026-11-01", To: "2026-11-03",
		Events: map[string]eventStats{
			app.EventOrderPlaced:          {Received: 1, Sent: 5, Delivered: 3, Read: 4, Failed: 4, Ambiguous: 2, Skipped: zeroSkips(map[string]int64{"no_phone": 2})},
			app.EventOrderShipped:         {Dead: 1, Skipped: zeroSkips(map[string]int64{"quiet_hours": 3})},
			app.EventCODConfirmationAsked: {Skipped: zeroSkips(nil)}, // its flow's counters are outcomes, not messages
			app.EventCartAbandoned:        {Sent: 3, Skipped: zeroSkips(nil)},
		},
		Inputs: map[string]int64{"accepted": 2, "duplicate": 0, "invalid": 0, "unknown_topic": 0},
		Outcomes: statsOutcomes{
			Carts: cartOutcomes{Carts: 2, Recovered: 1, Revenue: map[string]string{"INR": "1499.00"},
				ByStep: map[string]stepOutcomes{"1": {Sent: 2}, "2": {Sent: 1, Recovered: 1}}},
			COD: codOutcomes{Asked: 4, Confirmed: 3, Cancelled: 1, TimedOut: 1},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats JSON = %+v; want %+v", got, want)
	}
	for _, shape := range []string{
		`"outcomes":{"cart.abandoned":{"carts":2,"recovered":1,"revenue":{"INR":"1499.00"},"by_step":{"1":{"sent":2,"recovered":0},"2":{"sent":1,"recovered":1}}}`,
		`"cod.confirmation_requested":{"asked":4,"confirmed":3,"cancelled":1,"timed_out":1}`,
		`"loyalty":{"points_earned":0,"points_redeemed":0,"coupons_created":0,"coupons_used":0,"reviews_requested":0,"reviews_answered":0}}`,
	} {
		if !strings.Contains(rec.Body.String(), shape) {
			t.Errorf("stats JSON = %s; want the outcomes as the contract names them: %s", rec.Body, shape)
		}
	}
}

func TestStatsCSV(t *testing.T) {
	e, id := statsServer(t)
	path := "/api/admin/merchants/" + id + "/stats?from=2026-11-01&to=2026-11-03"
	wantCSV := strings.Join([]string{
		"day,event,received,sent,delivered,read,failed,skipped,ambiguous,dead,skipped_no_phone,skipped_quiet_hours," +
			"carts,recovered,step_1_sent,step_1_recovered,step_2_sent,step_2_recovered,revenue_INR,cod_asked,cod_confirmed,cod_cancelled,cod_timed_out",
		"2026-11-01,cart.abandoned,0,2,0,0,0,0,0,0,0,0,2,0,2,0,0,0,0,0,0,0,0",
		"2026-11-01,cod.confirmation_requested,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,4,0,0,0",
		"2026-11-01,order.placed,1,2,0,0,0,2,0,0,2,0,0,0,0,0,0,0,0,0,0,0,0",
		"2026-11-03,cart.abandoned,0,1,0,0,0,0,0,0,0,0,0,1,0,0,1,1,1499.00,0,0,0,0",
		"2026-11-03,cod.confirmation_requested,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,3,1,1",
		"2026-11-03,order.placed,0,3,3,4,4,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
		"2026-11-03,order.shipped,0,0,0,0,0,3,0,1,0,3,0,0,0,0,0,0,0,0,0,0,0",
	}, "\n") + "\n"
	for _, tc := range []struct{ name, query, accept string }{
		{"format=csv", "&format=csv", ""},
		{"Accept: text/csv", "", "text/csv"},
		{"Accept lists text/csv among others", "", "application/vnd.ms-excel;q=0.5, text/csv;q=0.9"},
		{"format=csv wins over Accept", "&format=csv", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := getStats(e, path+tc.query, tc.accept)
			if rec.Code != 200 {
				t.Fatalf("GET stats as CSV = %d %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type = %q; want text/csv; charset=utf-8", ct)
			}
			wantName := `attachment; filename="storebridge-stats-` + id + `-2026-11-01-2026-11-03.csv"`
			if cd := rec.Header().Get("Content-Disposition"); cd != wantName {
				t.Errorf("Content-Disposition = %q; want %q", cd, wantName)
			}
			if rec.Body.String() != wantCSV {
				t.Errorf("CSV =\n%s\nwant\n%s", rec.Body, wantCSV)
			}
		})
	}

	// Not CSV: no format and an Accept that does not list it, or refuses it.
	for _, accept := range []string{"", "application/json", "text/html,*/*;q=0.8", "text/csv;q=0, application/json"} {
		if rec := getStats(e, path, accept); !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || rec.Code != 200 {
			t.Errorf("GET stats with Accept %q = %d %s; want JSON", accept, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	for _, bad := range []string{"?format=xml", "?format=csv&from=2026-11-03&to=2026-11-01", "?format=csv&from=2025-01-01&to=2026-11-01"} {
		if rec := getStats(e, "/api/admin/merchants/"+id+"/stats"+bad, ""); rec.Code != 422 {
			t.Errorf("GET stats%s = %d %s; want 422", bad, rec.Code, rec.Body)
		}
	}
	if rec := getStats(e, "/api/admin/merchants/m_nobody/stats?format=csv", ""); rec.Code != 404 {
		t.Errorf("GET stats of an unknown merchant as CSV = %d; want 404", rec.Code)
	}
}

// The CSV's columns, summed over its rows, are the JSON's totals, for
// every range: one read of the store, shaped twice.
func TestStatsCSVTotalsAreTheJSONTotals(t *testing.T) {
	e, id := statsServer(t)
	for _, r := range [][2]string{{"2026-11-01", "2026-11-03"}, {"2026-11-02", "2026-11-04"}, {"2026-10-01", "2026-11-30"}, {"2026-11-02", "2026-11-02"}} {
		query := "/api/admin/merchants/" + id + "/stats?from=" + r[0] + "&to=" + r[1]
		var fromJSON statsResponse
		if err := json.Unmarshal(getStats(e, query, "").Body.Bytes(), &fromJSON); err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(strings.NewReader(getStats(e, query+"&format=csv", "").Body.String())).ReadAll()
		if err != nil {
			t.Fatalf("CSV of %v: %v", r, err)
		}
		header := records[0]
		fromCSV := map[string]map[string]int64{}
		for _, rec := range records[1:] {
			if rec[0] < r[0] || rec[0] > r[1] {
				t.Errorf("CSV of %v has a row of %s", r, rec[0])
			}
			if fromCSV[rec[1]] == nil {
				fromCSV[rec[1]] = map[string]int64{}
			}
			for i, col := range header[2:] {
				cell := rec[i+2]
				if strings.HasPrefix(col, "revenue_") {
					cell = strings.Replace(cell, ".", "", 1) // in minor units: every cell has the currency's decimals, or is 0
				}
				n, err := strconv.ParseInt(cell, 10, 64)
				if err != nil {
					t.Fatalf("CSV cell %q: %v", rec[i+2], err)
				}
				fromCSV[rec[1]][col] += n
			}
		}
		outcomes := map[string]map[string]int64{
			app.EventCartAbandoned: {"carts": fromJSON.Outcomes.Carts.Carts, "recovered": fromJSON.Outcomes.Carts.Recovered},
			app.EventCODConfirmationAsked: {"cod_asked": fromJSON.Outcomes.COD.Asked, "cod_confirmed": fromJSON.Outcomes.COD.Confirmed,
				"cod_cancelled": fromJSON.Outcomes.COD.Cancelled, "cod_timed_out": fromJSON.Outcomes.COD.TimedOut},
		}
		for step, so := range fromJSON.Outcomes.Carts.ByStep {
			outcomes[app.EventCartAbandoned]["step_"+step+"_sent"] = so.Sent
			outcomes[app.EventCartAbandoned]["step_"+step+"_recovered"] = so.Recovered
		}
		for currency, amount := range fromJSON.Outcomes.Carts.Revenue {
			n, err := strconv.ParseInt(strings.Replace(amount, ".", "", 1), 10, 64)
			if err != nil {
				t.Fatalf("JSON revenue %q: %v", amount, err)
			}
			outcomes[app.EventCartAbandoned]["revenue_"+currency] = n
		}
		for event, s := range fromJSON.Events {
			want := map[string]int64{"received": s.Received, "sent": s.Sent, "delivered": s.Delivered, "read": s.Read,
				"failed": s.Failed, "ambiguous": s.Ambiguous, "dead": s.Dead}
			for reason, n := range s.Skipped {
				want["skipped"] += n
				if n != 0 {
					want["skipped_"+reason] = n
				}
			}
			for col, n := range outcomes[event] {
				if n != 0 {
					want[col] = n
				}
			}
			got := fromCSV[event]
			for col, n := range want {
				if got[col] != n {
					t.Errorf("range %v, %s: CSV %s sums to %d; JSON says %d", r, event, col, got[col], n)
				}
			}
			for col := range got {
				if _, ok := want[col]; !ok && got[col] != 0 {
					t.Errorf("range %v, %s: CSV column %s = %d; the JSON has no such count", r, event, col, got[col])
				}
			}
		}
		for event := range fromCSV {
			if _, ok := fromJSON.Events[event]; !ok {
				t.Errorf("range %v: CSV has rows of %s; the JSON has no such event", r, event)
			}
		}
	}
}
