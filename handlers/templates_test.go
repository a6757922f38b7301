package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/meta"
	"github.com/storebridge/storebridge/adapters/wati"
	"github.com/storebridge/storebridge/app"
)

const (
	watiTestToken = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiIxMjM0NTYifQ.c2lnbmF0dXJl"
	metaTestToken = "EAAGm0PX4ZCpsBAKZCtestTOKEN9xYz"
)

// watiTemplatesAnswer is one page of Wati's getMessageTemplates answer:
// an approved positional template, an approved named one, a pending one.
const watiTemplatesAnswer = `{"result":"success","messageTemplates":[` +
	`{"id":"66f2a91c","elementName":"order_placed","category":"UTILITY","status":"APPROVED","language":{"key":"English","value":"en","text":"English"},"body":"Hi {{1}}, thank you for your order {{2}} of {{3}}.","bodyOriginal":"Hi {{1}}, thank you for your order {{2}} of {{3}}.","customParams":[{"paramName":"1","paramValue":"Asha"},{"paramName":"2","paramValue":"#1001"},{"paramName":"3","paramValue":"₹499"}]},` +
	`{"id":"66f2a9d4","elementName":"wallet_coins_rewarded","category":"MARKETING","status":"APPROVED","language":{"key":"Hindi","value":"hi","text":"Hindi"},"body":"Hey {{user_name}}, {{amount}} coins!","customParams":[{"paramName":"user_name","paramValue":"Riya"},{"paramName":"amount","paramValue":"100"}]},` +
	`{"id":"66f2aa0e","elementName":"diwali_sale","category":"MARKETING","status":"PENDING","language":{"key":"English","value":"en","text":"English"},"body":"Hi {{1}}","customParams":[{"paramName":"1","paramValue":"Asha"}]}` +
	`],"link":{"prevPage":null,"nextPage":null}}`

// fakeWatiTenant is a Wati tenant at /123456: Verify's one-template read
// and the listing are the same call with other page sizes. refuse makes
// it refuse the token, as after a rotation.
func fakeWatiTenant(t *testing.T, refuse *atomic.Bool, listings *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+watiTestToken || refuse.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/123456/api/v1/getMessageTemplates" {
			t.Errorf("%s %s; want the template listing", r.Method, r.URL.Path)
		}
		if r.URL.Query().Get("pageSize") == "100" {
			listings.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, watiTemplatesAnswer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeGraph answers Meta's Verify (the phone number) and the business
// account's template listing, one page.
func fakeGraph(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+metaTestToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190,"fbtrace_id":"H1"}}`)
			return
		}
		switch r.URL.Path {
		case "/v24.0/106540352242922":
			_, _ = io.WriteString(w, `{"display_phone_number":"+91 80 4718 2290","verified_name":"Kesar Kitchen","id":"106540352242922"}`)
		case "/v24.0/102290129340398/message_templates":
			if q := r.URL.Query(); q.Get("status") != "APPROVED" || q.Get("fields") != "name,language,status,category,components,parameter_format" {
				t.Errorf("listing query %q", r.URL.RawQuery)
			}
			_, _ = io.WriteString(w, `{"data":[{"name":"order_shipped","parameter_format":"NAMED","components":[{"type":"BODY","text":"Good news {{first_name}}! Order {{order_number}} has shipped."}],"language":"en_US","status":"APPROVED","category":"UTILITY","id":"1019283746503456"}],"paging":{"cursors":{"before":"QQ","after":"QUZA"}}}`)
		default:
			t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// templatesServer is the real router over the embedded store with the
// real Wati and Meta adapters (pointed at fakes) and the sandbox.
func templatesServer(t *testing.T) (*echo.Echo, *app.Service) {
	t.Helper()
	st := newEmbeddedStore(t)
	keyring, _ := app.NewKeyring(testSecretKey)
	log := slog.New(slog.DiscardHandler)
	opts := adapters.Options{AllowInsecure: true}
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log, CheckURL: strictURLs,
		Providers: map[string]app.ProviderKit{
			app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return sandboxProvider{}, nil }},
			wati.Name:           {New: func(c map[string]string) (app.Provider, error) { return wati.New(c, opts) }},
			meta.Name:           {New: func(c map[string]string) (app.Provider, error) { return meta.New(c, opts) }},
		},
	})
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in"}).Register(e)
	return e, svc
}

func createTestMerchant(t *testing.T, e *echo.Echo, shop string) string {
	t.Helper()
	rec := call(e, "POST", "/api/admin/merchants", operatorToken, `{"platform":"shopify","shop_domain":"`+shop+`","country":"IN","timezone":"Asia/Kolkata"}`)
	if rec.Code != 201 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var m struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestListTemplates(t *testing.T) {
	e, _ := templatesServer(t)
	var refuse atomic.Bool
	var listings atomic.Int32
	tenant := fakeWatiTenant(t, &refuse, &listings)
	graph := fakeGraph(t)

	watiMerchant := createTestMerchant(t, e, "kesar-kitchen.myshopify.com")
	metaMerchant := createTestMerchant(t, e, "asha-naturals.myshopify.com")
	bare := createTestMerchant(t, e, "chai-point.myshopify.com")
	metaCreds := `"access_token":"` + metaTestToken + `","phone_number_id":"106540352242922","app_secret":"3c9d5e1f0a7b24c68e1d2f3a4b5c6d7e","verify_token":"kesar-verify-7Qk2","base_url":"` + graph.URL + `/v24.0"`

	cases := []struct {
		name, method, path, body string
		token                    string
		want                     int
		contains, absent         []string
	}{
		{name: "no token", method: "GET", path: "/api/admin/merchants/" + watiMerchant + "/templates", want: 401},
		{name: "unknown merchant", method: "GET", path: "/api/admin/merchants/m_nobody/templates", token: operatorToken, want: 404},
		{name: "no provider: cannot list", method: "GET", path: "/api/admin/merchants/" + bare + "/templates", token: operatorToken, want: 200,
			contains: []string{`"templates":[]`, `"supported":false`, `"reason":"no messaging provider is connected"`}},
		{name: "connect wati", method: "PUT", path: "/api/admin/merchants/" + watiMerchant + "/provider", token: operatorToken, want: 200,
			body: `{"provider":"wati","credentials":{"api_token":"Bearer ` + watiTestToken + `","server_url":"` + tenant.URL + `/123456"}}`},
		{name: "a rule one variable short", method: "PUT", path: "/api/admin/merchants/" + watiMerchant + "/rules/order.placed", token: operatorToken, want: 200,
			body: `{"template":"order_placed","language":"en","variables":["customer.first_name","order.number"]}`},
		{name: "a rule that fits", method: "PUT", path: "/api/admin/merchants/" + watiMerchant + "/rules/loyalty.points_earned", token: operatorToken, want: 200,
			body: `{"template":"wallet_coins_rewarded","language":"hi","variables":["user_name","amount"]}`},
		{name: "wati lists its approved templates", method: "GET", path: "/api/admin/merchants/" + watiMerchant + "/templates", token: operatorToken, want: 200,
			contains: []string{
				`"supported":true`,
				`{"name":"order_placed","language":"en","category":"UTILITY","variables":["1","2","3"]}`,
				`{"name":"wallet_coins_rewarded","language":"hi","category":"MARKETING","variables":["user_name","amount"]}`,
				`"warnings":{"order.placed":"the template order_placed (en) takes 3 variables; this rule gives 2"}`,
			},
			absent: []string{"diwali_sale", "loyalty.points_earned", watiTestToken, "reason"}},
		{name: "connect meta without its business account id", method: "PUT", path: "/api/admin/merchants/" + metaMerchant + "/provider", token: operatorToken, want: 200,
			body: `{"provider":"meta","credentials":{` + metaCreds + `}}`},
		{name: "meta cannot list without it", method: "GET", path: "/api/admin/merchants/" + metaMerchant + "/templates", token: operatorToken, want: 200,
			contains: []string{`"supported":false`, `waba_id`, `"templates":[]`}},
		{name: "a bad business account id is refused", method: "PUT", path: "/api/admin/merchants/" + metaMerchant + "/provider", token: operatorToken, want: 422,
			body:     `{"provider":"meta","credentials":{` + metaCreds + `,"waba_id":"Kesar WABA"}}`,
			contains: []string{`"credentials.waba_id"`}},
		{name: "connect meta with it", method: "PUT", path: "/api/admin/merchants/" + metaMerchant + "/provider", token: operatorToken, want: 200,
			body: `{"provider":"meta","credentials":{` + metaCreds + `,"waba_id":"102290129340398"}}`},
		{name: "meta lists named variables", method: "GET", path: "/api/admin/merchants/" + metaMerchant + "/templates", token: operatorToken, want: 200,
			contains: []string{`"supported":true`, `{"name":"order_shipped","language":"en_US","category":"UTILITY","variables":["first_name","order_number"]}`, `"warnings":{}`},
			absent:   []string{metaTestToken}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := call(e, tc.method, tc.path, tc.token, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s = %d %s; want %d", tc.method, tc.path, rec.Code, rec.Body, tc.want)
			}
			for _, s := range tc.contains {
				if !strings.Contains(rec.Body.String(), s) {
					t.Errorf("body = %s; want it to contain %s", rec.Body, s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("body = %s; must not contain %s", rec.Body, s)
				}
			}
		})
	}

	// The page asks on every load; within a minute the provider is asked once.
	before := listings.Load()
	if rec := call(e, "GET", "/api/admin/merchants/"+watiMerchant+"/templates", operatorToken, ""); rec.Code != 200 || listings.Load() != before {
		t.Errorf("again = %d, %d listings; want the cached answer", rec.Code, listings.Load()-before)
	}
}

func TestListTemplatesProviderRefuses(t *testing.T) {
	e, _ := templatesServer(t)
	var refuse atomic.Bool
	var listings atomic.Int32
	tenant := fakeWatiTenant(t, &refuse, &listings)
	id := createTestMerchant(t, e, "kesar-kitchen.myshopify.com")
	if rec := call(e, "PUT", "/api/admin/merchants/"+id+"/provider", operatorToken,
		`{"provider":"wati","credentials":{"api_token":"`+watiTestToken+`","server_url":"`+tenant.URL+`/123456"}}`); rec.Code != 200 {
		t.Fatalf("connect = %d %s", rec.Code, rec.Body)
	}
	refuse.Store(true) // the token was rotated in Wati's dashboard
	rec := call(e, "GET", "/api/admin/merchants/"+id+"/templates", operatorToken, "")
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), `"provider":"wati: permanent status 401: the access token was refused`) {
		t.Fatalf("templates = %d %s; want 422 with Wati's refusal on provider", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), watiTestToken) || strings.Contains(rec.Body.String(), tenant.URL) {
		t.Errorf("body %s shows the token or the tenant's address", rec.Body)
	}
}
