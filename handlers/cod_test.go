package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// codShop is a merchant whose COD flow is on, with orders awaiting their
// customers' answers.
func codShop(t *testing.T, svc *app.Service, domain, name string, orders map[string]string) app.Merchant {
	t.Helper()
	ctx := context.Background()
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://" + domain, Name: name, Country: "IN"})
	if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: app.ProviderSandbox}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutRule(ctx, m.ID, app.EventCODConfirmationAsked, app.RuleInput{Template: "cod_confirm", Variables: []string{"customer.first_name", "order.number"}}); err != nil {
		t.Fatal(err)
	}
	m, err := svc.Merchant(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	var events []app.Event
	for id, customer := range orders {
		events = append(events, app.Event{
			Type: app.EventCODConfirmationAsked, Subject: "order:" + id,
			Customer:   app.Customer{FirstName: customer, Phone: "+919845012345"},
			Properties: map[string]any{"order": map[string]any{"number": "#" + id, "total": "₹1,697.00"}},
		})
	}
	if err := svc.ProcessEvents(ctx, m, events); err != nil {
		t.Fatal(err)
	}
	return m
}

func codState(t *testing.T, svc *app.Service, merchant, order string) string {
	t.Helper()
	o, err := svc.CODOrder(context.Background(), merchant, order)
	if err != nil {
		t.Fatalf("CODOrder(%s) = %v", order, err)
	}
	return o.State
}

func TestCODAPI(t *testing.T) {
	e, svc := pagesServer(t)
	mine := codShop(t, svc, "mine.example.in", "Mine", map[string]string{"5001": "Meera", "5002": "Kabir"})
	theirs := codShop(t, svc, "theirs.example.in", "Theirs", map[string]string{"9001": "Zoya"})
	session, _, err := svc.NewSession(mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	orders := "/api/admin/merchants/" + mine.ID + "/cod/orders"
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
		contains, absent                []string
	}{
		{name: "queue", method: "GET", path: orders, token: operatorToken, want: 200,
			contains: []string{`"id":"5001"`, `"id":"5002"`, `"state":"pending"`, `"phone":"+91******2345"`, `"reminders_sent":0`, `"number":"#5001"`},
			absent:   []string{"+919845012345", "9001", "decided_by"}},
		{name: "queue, the merchant's own session", method: "GET", path: orders + "?state=pending&limit=1", token: session, want: 200, contains: []string{`"state":"pending"`}},
		{name: "an unknown state", method: "GET", path: orders + "?state=awaiting", token: operatorToken, want: 422, contains: []string{`"state"`}},
		{name: "a bad limit", method: "GET", path: orders + "?limit=lots", token: operatorToken, want: 422, contains: []string{`"limit"`}},
		{name: "another merchant's queue", method: "GET", path: "/api/admin/merchants/" + theirs.ID + "/cod/orders", token: session, want: 403},
		{name: "an unknown merchant", method: "GET", path: "/api/admin/merchants/nobody/cod/orders", token: operatorToken, want: 404},
		{name: "a bad decision", method: "POST", path: orders + "/5001/decision", token: session, body: `{"decision":"refund"}`, want: 422, contains: []string{`"decision":"must be confirm or cancel"`}},
		{name: "no decision", method: "POST", path: orders + "/5001/decision", token: session, body: ``, want: 422, contains: []string{`"decision"`}},
		{name: "not JSON", method: "POST", path: orders + "/5001/decision", token: session, body: `decision=confirm`, want: 400},
		{name: "confirm", method: "POST", path: orders + "/5001/decision", token: session, body: `{"decision":"confirm"}`, want: 200,
			contains: []string{`"id":"5001"`, `"state":"confirmed"`, `"decided_by":"merchant"`, `"decided_at":"`}},
		{name: "a second decision", method: "POST", path: orders + "/5001/decision", token: operatorToken, body: `{"decision":"cancel"}`, want: 409,
			contains: []string{`"error":"this order was already confirmed in the admin"`}},
		{name: "another merchant's order under mine", method: "POST", path: orders + "/9001/decision", token: session, body: `{"decision":"cancel"}`, want: 404},
		{name: "an unknown order", method: "POST", path: orders + "/404404/decision", token: operatorToken, body: `{"decision":"cancel"}`, want: 404},
		{name: "after the decision", method: "GET", path: orders + "?state=confirmed", token: operatorToken, want: 200,
			contains: []string{`"id":"5001"`, `"decided_by":"merchant"`}, absent: []string{`"id":"5002"`}},
	} {
		rec := call(e, tc.method, tc.path, tc.token, tc.body)
		if rec.Code != tc.want {
			t.Errorf("%s: %s %s = %d; want %d\n%s", tc.name, tc.method, tc.path, rec.Code, tc.want, rec.Body)
			continue
		}
		for _, s := range tc.contains {
			if !strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: answer lacks %s\n%s", tc.name, s, rec.Body)
			}
		}
		for _, s := range tc.absent {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s: answer shows %s\n%s", tc.name, s, rec.Body)
			}
		}
	}
	if got := codState(t, svc, theirs.ID, "9001"); got != app.CODPending {
		t.Errorf("the other merchant's order is %s; want still pending", got)
	}
	if got := codState(t, svc, mine.ID, "5002"); got != app.CODPending {
		t.Errorf("order 5002 is %s; want untouched", got)
	}
	var list struct {
		Orders []codOrderView `json:"orders"`
	}
	rec := call(e, "GET", orders, operatorToken, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Orders) != 2 || list.Orders[0].ID != "5002" || list.Orders[1].ID != "5001" {
		t.Errorf("queue after the decision = %s; want the awaiting order first", rec.Body)
	}
}

func TestCODPageQueue(t *testing.T) {
	e, svc := pagesServer(t)
	mine := codShop(t, svc, "mine.example.in", "Mine", map[string]string{"5001": `<script>alert("cod")</script>`, "5002": "Kabir"})
	theirs := codShop(t, svc, "theirs.example.in", "Theirs", map[string]string{"9001": "Zoya"})
	b := signedIn(t, e, svc, mine.ID)
	question := app.Reply{Phone: "+919845012345", Text: `<b>Friday?</b>`}
	if err := svc.ApplyProviderReport(context.Background(), mine.ID, app.ProviderReport{Replies: []app.Reply{question}}); err != nil {
		t.Fatal(err)
	}

	page := b.get("/admin/cod")
	body := page.Body.String()
	if page.Code != 200 {
		t.Fatalf("GET /admin/cod = %d\n%s", page.Code, body)
	}
	if strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(&#34;cod&#34;)&lt;/script&gt;") ||
		strings.Contains(body, "<b>Friday") || !strings.Contains(body, "<q>&lt;b&gt;Friday?&lt;/b&gt;</q>") {
		t.Fatalf("the customer's name or answer is not shown as text:\n%s", body)
	}
	for _, want := range []string{
		`action="/admin/cod/orders/5001"`, `action="/admin/cod/orders/5002"`, `name="decision" value="confirm"`, `name="decision" value="cancel"`,
		`data-confirm="Cancel order #5001?`, "91******2345", "awaiting", "Settings",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the COD page lacks %s", want)
		}
	}
	if strings.Contains(body, "9001") || strings.Contains(body, "Zoya") || strings.Contains(body, "+919845012345") {
		t.Fatalf("the COD page shows another merchant's order or a full phone:\n%s", body)
	}
	if n := strings.Count(body, `name="csrf"`); n < 5 { // the settings form and two per order
		t.Errorf("the page carries %d CSRF fields; want one in every form", n)
	}
	token := b.csrf("/admin/cod")

	// Refused, nothing changed: no CSRF token, another shop's order, a bad decision.
	if rec := b.post("/admin/cod/orders/5001", url.Values{"decision": {"confirm"}}); rec.Code != http.StatusForbidden {
		t.Errorf("Confirm without the CSRF token = %d; want 403", rec.Code)
	}
	if rec := b.post("/admin/cod/orders/9001", url.Values{"decision": {"cancel"}, "csrf": {token}}); rec.Code != http.StatusNotFound {
		t.Errorf("Cancel of another merchant's order = %d; want 404\n%s", rec.Code, rec.Body)
	}
	if rec := b.post("/admin/cod/orders/5001", url.Values{"decision": {"ship"}, "csrf": {token}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a bad decision = %d; want 422", rec.Code)
	}
	if got := codState(t, svc, mine.ID, "5001"); got != app.CODPending {
		t.Fatalf("a refused form changed order 5001 to %s", got)
	}
	if got := codState(t, svc, theirs.ID, "9001"); got != app.CODPending {
		t.Fatalf("the other merchant's order is %s; want still pending", got)
	}

	rec := b.post("/admin/cod/orders/5001", url.Values{"decision": {"confirm"}, "csrf": {token}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/cod?done=cod-confirmed" {
		t.Fatalf("Confirm = %d %q; want See Other back to the queue\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if got := codState(t, svc, mine.ID, "5001"); got != app.CODConfirmed {
		t.Fatalf("order 5001 is %s after Confirm", got)
	}
	body = b.get(rec.Header().Get("Location")).Body.String()
	if !strings.Contains(body, "Order confirmed.") || !strings.Contains(body, "by you") {
		t.Errorf("the queue after Confirm lacks the notice or who decided:\n%s", body)
	}
	if strings.Contains(body, `action="/admin/cod/orders/5001"`) {
		t.Errorf("a decided order still has its buttons")
	}
	// A second decision, from a page loaded before the first.
	rec = b.post("/admin/cod/orders/5001", url.Values{"decision": {"cancel"}, "csrf": {token}})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "this order was already confirmed in the admin.") {
		t.Errorf("a second decision = %d; want 409 with the order's state\n%s", rec.Code, rec.Body)
	}
	if got := codState(t, svc, mine.ID, "5001"); got != app.CODConfirmed {
		t.Fatalf("order 5001 is %s after a refused Cancel", got)
	}
	rec = b.post("/admin/cod/orders/5002", url.Values{"decision": {"cancel"}, "csrf": {token}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/cod?done=cod-cancelled" || codState(t, svc, mine.ID, "5002") != app.CODCancelled {
		t.Fatalf("Cancel = %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if body := b.get("/admin/cod?state=pending").Body.String(); !strings.Contains(body, "No cash-on-delivery orders here") {
		t.Errorf("the awaiting queue with none left lacks its empty state:\n%s", body)
	}
}

func TestCODPageEmptyForANewShop(t *testing.T) {
	e, svc := pagesServer(t)
	m := newMerchant(t, svc, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://new.example.in", Name: "New", Country: "IN"})
	rec := signedIn(t, e, svc, m.ID).get("/admin/cod")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "No cash-on-delivery orders here") {
		t.Fatalf("GET /admin/cod for a new shop = %d\n%s", rec.Code, rec.Body)
	}
}
