package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	e2eWooCK = "ck_e2e5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7"
	e2eWooCS = "cs_e2e0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c"
)

// e2eWooStore is a WooCommerce store: its REST API checks Basic auth with
// the key pair wc-auth issued, keeps webhooks and orders in memory, and
// pings a new webhook's delivery URL as WooCommerce does.
type e2eWooStore struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	nextID   int
	webhooks []map[string]any // id, name, status, topic, delivery_url, secret
	orders   map[int]string   // id → body
	creates  int
	updates  int
	pings    []int // status of our answer to each ping
	// keyChecks counts the empty batches of the connect's key check.
	keyChecks int
	fails     []string
}

func newE2EWooStore(t *testing.T) *e2eWooStore {
	s := &e2eWooStore{t: t, nextID: 30, orders: map[int]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *e2eWooStore) serve(w http.ResponseWriter, r *http.Request) {
	ck, cs, ok := r.BasicAuth()
	if !ok || ck != e2eWooCK || cs != e2eWooCS {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"woocommerce_rest_authentication_error","message":"Consumer key is invalid.","data":{"status":401}}`)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/wp-json/wc/v3/")
	switch {
	case r.Method == http.MethodGet && path == "webhooks":
		list := []map[string]any{}
		for _, h := range s.webhooks {
			view := map[string]any{}
			for k, v := range h {
				if k != "secret" { // only in the edit context
					view[k] = v
				}
			}
			list = append(list, view)
		}
		json.NewEncoder(w).Encode(list)
	case r.Method == http.MethodPost && path == "webhooks/batch":
		// The connect's key check: an empty batch, which changes nothing.
		var in map[string][]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in["create"])+len(in["update"])+len(in["delete"]) > 0 {
			s.fails = append(s.fails, fmt.Sprintf("batch: %v %v", in, err))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.keyChecks++
		io.WriteString(w, `[]`)
	case r.Method == http.MethodPost && path == "webhooks":
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in["topic"] == nil || in["delivery_url"] == nil {
			s.fails = append(s.fails, fmt.Sprintf("create webhook: %v %v", in, err))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.nextID++
		s.creates++
		in["id"], in["status"] = s.nextID, "active"
		s.webhooks = append(s.webhooks, in)
		s.pings = append(s.pings, e2eWooPing(in["delivery_url"].(string), s.nextID))
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(in)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "webhooks/"):
		id, _ := strconv.Atoi(strings.TrimPrefix(path, "webhooks/"))
		i := slices.IndexFunc(s.webhooks, func(h map[string]any) bool { return h["id"] == id })
		var in map[string]any
		if i < 0 || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		s.updates++
		for k, v := range in {
			s.webhooks[i][k] = v
		}
		json.NewEncoder(w).Encode(s.webhooks[i])
	case r.Method == http.MethodGet && path == "orders":
		q := r.URL.Query()
		after, err := time.Parse("2006-01-02T15:04:05", q.Get("modified_after"))
		if err != nil || q.Get("orderby") != "modified" || q.Get("order") != "asc" || q.Get("per_page") != "100" || q.Get("dates_are_gmt") != "true" {
			s.fails = append(s.fails, "orders query "+r.URL.RawQuery)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var match []string
		for _, body := range s.orders {
			var head struct {
				Modified string `json:"date_modified_gmt"`
			}
			json.Unmarshal([]byte(body), &head)
			if t, _ := time.Parse("2006-01-02T15:04:05", head.Modified); t.After(after) {
				match = append(match, body)
			}
		}
		sort.Strings(match) // bodies start with the same fields; good enough for two orders
		w.Header().Set("X-WP-TotalPages", "1")
		io.WriteString(w, "["+strings.Join(match, ",")+"]")
	default:
		s.fails = append(s.fails, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
	}
}

// e2eWooPing is WooCommerce's deliver_ping(): a form body, no signature, and
// anything but 200 is a failure.
func e2eWooPing(deliveryURL string, id int) int {
	resp, err := http.Post(deliveryURL, "application/x-www-form-urlencoded", strings.NewReader("webhook_id="+strconv.Itoa(id)))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func (s *e2eWooStore) putOrder(id int, phone, status string, modified time.Time) []byte {
	body := strings.NewReplacer(`"id":727`, fmt.Sprintf(`"id":%d`, id), `"number":"727"`, fmt.Sprintf(`"number":"%d"`, id), "098765 43210", phone).
		Replace(string(wooBody(status, modified.UTC().Format("2006-01-02T15:04:05"))))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orders[id] = body
	return []byte(body)
}

// hook returns a copy of our webhook for topic.
func (s *e2eWooStore) hook(topic string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.webhooks {
		if h["topic"] == topic {
			return cloneWooHook(h)
		}
	}
	return nil
}

func cloneWooHook(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (s *e2eWooStore) counts() (hooks, creates, updates int, pings []int, fails []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.webhooks), s.creates, s.updates, slices.Clone(s.pings), slices.Clone(s.fails)
}

// wcAuth plays the merchant's browser and WooCommerce: follow our connect
// redirect to the store's authorize page, then post the new key to the
// callback_url it names, as WC_Auth::post_consumer_data() does. bearer,
// when set, is sent with the connect (a session, or ADMIN_TOKEN). It
// answers the callback's answer, the browser (its cookies kept) and the
// address WooCommerce then sends it to: return_url with success and
// user_id added.
func wcAuth(t *testing.T, base, storeURL, bearer string) (status int, answer string, browser *http.Client, returnURL string) {
	t.Helper()
	// The browser uses APP_URL's host, as the addresses we hand out do.
	appURL := strings.Replace(base, "127.0.0.1", "localhost", 1)
	jar, _ := cookiejar.New(nil)
	browser = &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, appURL+"/woocommerce/connect?store_url="+url.QueryEscape(storeURL), nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Scheme+"://"+loc.Host != storeURL || loc.Path != "/wc-auth/v1/authorize" {
		t.Fatalf("GET /woocommerce/connect = %d to %q; want 302 to %s/wc-auth/v1/authorize", resp.StatusCode, loc, storeURL)
	}
	q := loc.Query()
	if q.Get("scope") != "read_write" || q.Get("app_name") == "" || q.Get("return_url") == "" || q.Get("user_id") == "" {
		t.Fatalf("authorize query = %v; want all five parameters", q)
	}
	body, _ := json.Marshal(map[string]any{
		"key_id": 12, "user_id": q.Get("user_id"), "consumer_key": e2eWooCK,
		"consumer_secret": e2eWooCS, "key_permissions": "read_write",
	})
	status, answer = post(t, q.Get("callback_url"), map[string]string{"Content-Type": "application/json;charset=UTF-8"}, body)
	return status, answer, browser, q.Get("return_url") + "&success=1&user_id=" + url.QueryEscape(q.Get("user_id"))
}

// landsSignedIn follows the return in browser: it must land on /admin
// signed in to the merchant's home.
func landsSignedIn(t *testing.T, browser *http.Client, returnURL, merchantID string) {
	t.Helper()
	resp, err := browser.Get(returnURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/admin" {
		t.Fatalf("return to %s = %d to %v; want 303 to /admin", returnURL, resp.StatusCode, loc)
	}
	resp, err = browser.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	home, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(home, []byte("Sign out")) || !bytes.Contains(home, []byte(`id="setup"`)) {
		t.Fatalf("GET /admin after the return = %d; want the signed-in home:\n%s", resp.StatusCode, home)
	}
	// The merchant's own admin API answers the same cookie.
	u, _ := url.Parse(returnURL)
	resp, err = browser.Get(u.Scheme + "://" + u.Host + "/api/admin/merchants/" + merchantID)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/admin/merchants/%s with the return's session = %d; want 200", merchantID, resp.StatusCode)
	}
	// Once: the same return again signs nobody in.
	fresh, _ := cookiejar.New(nil)
	again := &http.Client{Jar: fresh, Timeout: 10 * time.Second, CheckRedirect: browser.CheckRedirect}
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name != "sb_session" {
			fresh.SetCookies(u, []*http.Cookie{c})
		}
	}
	resp, err = again.Get(returnURL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the same return again = %d; want 401", resp.StatusCode)
	}
}

func waitForWoo(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEndWooCommerceConnectAndReconcile: a store connects through
// wc-auth, gets its five webhooks once, and an order whose webhook never
// came reaches the customer through reconciliation, exactly once, while an
// order the webhook delivered is not sent again.
func TestEndToEndWooCommerceConnectAndReconcile(t *testing.T) {
	wati, sent := fakeWati(t)
	store := newE2EWooStore(t)
	base, logs, _ := startRun(t, map[string]string{
		"DATA_DIR":                t.TempDir(),
		"ADMIN_TOKEN":             e2eAdminToken,
		"ALLOW_INSECURE_OUTBOUND": "true",
	})

	status, answer, browser, returnURL := wcAuth(t, base, store.srv.URL, "")
	if status != http.StatusOK {
		t.Fatalf("callback = %d %s; want exactly 200 (anything else deletes the key)", status, answer)
	}
	store.mu.Lock()
	checked := store.keyChecks
	store.mu.Unlock()
	if checked != 1 {
		t.Fatalf("the store saw %d key checks before the callback answered; want 1", checked)
	}
	var connected struct {
		MerchantID string `json:"merchant_id"`
	}
	json.Unmarshal([]byte(answer), &connected)
	waitForWoo(t, "five webhooks", func() bool { n, _, _, _, _ := store.counts(); return n == 5 })
	created := store.hook("order.created")
	id := connected.MerchantID
	// WooCommerce sends the merchant's browser back: it lands signed in.
	landsSignedIn(t, browser, returnURL, id)
	if created["delivery_url"] != base+"/webhooks/woocommerce/"+id && !strings.HasSuffix(fmt.Sprint(created["delivery_url"]), "/webhooks/woocommerce/"+id) {
		t.Fatalf("order.created webhook = %v; want delivery to /webhooks/woocommerce/%s", created, id)
	}
	secret, _ := created["secret"].(string)
	if len(secret) < 32 || strings.Trim(secret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Fatalf("webhook secret %q; want 32+ letters and digits", secret)
	}

	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "wati", "credentials": map[string]string{"api_token": "Bearer " + e2eWatiToken, "server_url": wati.URL},
	}, 200)
	admin(t, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_confirmed", "variables": []string{"customer.first_name", "order.number", "order.total"},
	}, 200)

	// Order 727 arrives by webhook, signed with the secret we gave the store.
	bodyA := store.putOrder(727, "098765 43210", "processing", time.Now())
	if status, answer := post(t, fmt.Sprint(created["delivery_url"]), map[string]string{
		"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-ID": fmt.Sprint(created["id"]),
		"X-WC-Webhook-Signature": hmacBase64(secret, bodyA),
	}, bodyA); status != 200 {
		t.Fatalf("webhook = %d %s", status, answer)
	}
	waitForSends(t, sent, 1)

	// The store is connected: without a session, nobody gets a connect
	// for it.
	resp, err := http.Get(base + "/woocommerce/connect?store_url=" + url.QueryEscape(store.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /woocommerce/connect of a connected store without a session = %d; want 401", resp.StatusCode)
	}

	// Order 728's webhook is lost, and WooCommerce disabled order.updated
	// after failures. The operator connects the store again: that
	// reconciles now.
	store.putOrder(728, "091234 56789", "processing", time.Now())
	store.mu.Lock()
	for _, h := range store.webhooks {
		if h["topic"] == "order.updated" {
			h["status"] = "disabled"
		}
	}
	store.mu.Unlock()
	if status, answer, _, _ := wcAuth(t, base, store.srv.URL, e2eAdminToken); status != http.StatusOK {
		t.Fatalf("reconnect callback = %d %s; want 200", status, answer)
	}

	waitForSends(t, sent, 2)
	time.Sleep(500 * time.Millisecond) // room for a wrong third send
	sends, queries, _ := sent.snapshot()
	if len(sends) != 2 {
		t.Fatalf("Wati received %d sends; want 2 (727 by webhook, 728 by reconciliation):\n%v\nlogs:\n%s", len(sends), sends, logs)
	}
	if queries[0] != "whatsappNumber=919876543210" || queries[1] != "whatsappNumber=919123456789" {
		t.Errorf("sends went to %v; want 727's customer then 728's", queries)
	}
	hooks, creates, updates, pings, fails := store.counts()
	if hooks != 5 || creates != 5 || updates != 1 || store.hook("order.updated")["status"] != "active" {
		t.Errorf("store has %d webhooks after %d creates and %d updates (order.updated %v); want 5, 5, 1 and re-enabled", hooks, creates, updates, store.hook("order.updated")["status"])
	}
	for _, p := range pings {
		if p != 200 {
			t.Errorf("pings answered %v; want exactly 200 each", pings)
			break
		}
	}
	if len(fails) > 0 {
		t.Errorf("the fake store refused requests: %v", fails)
	}
	if strings.Contains(logs.String(), e2eWooCS) || strings.Contains(logs.String(), secret) {
		t.Error("the logs contain a store secret")
	}
}

// TestEndToEndWooCommerceConnectRefusesUnsafeStores: without
// ALLOW_INSECURE_OUTBOUND, no connect to plain http or private hosts.
func TestEndToEndWooCommerceConnectRefusesUnsafeStores(t *testing.T) {
	base, _, _ := startRun(t, map[string]string{"DATA_DIR": t.TempDir(), "APP_URL": "https://bridge.example.com"})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		storeURL   string
		wantStatus int
	}{
		{"http://shop.chai-point.in", 422},
		{"https://127.0.0.1", 422},
		{"https://localhost:8443", 422},
		{"https://169.254.169.254", 422},
		{"https://shop.chai-point.in", 302},
	}
	for _, tc := range cases {
		resp, err := noFollow.Get(base + "/woocommerce/connect?store_url=" + url.QueryEscape(tc.storeURL))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantStatus {
			t.Errorf("GET /woocommerce/connect?store_url=%s = %d %s; want %d", tc.storeURL, resp.StatusCode, raw, tc.wantStatus)
		}
		if tc.wantStatus == 422 && !bytes.Contains(raw, []byte(`"store_url"`)) {
			t.Errorf("answer %s; want the store_url field named", raw)
		}
	}
	// A forged callback is refused before anything is stored.
	status, _ := post(t, base+"/woocommerce/callback", map[string]string{"Content-Type": "application/json"},
		[]byte(`{"key_id":1,"user_id":"forged","consumer_key":"ck_x","consumer_secret":"cs_x","key_permissions":"read_write"}`))
	if status != http.StatusUnauthorized {
		t.Errorf("forged callback = %d; want 401", status)
	}
}
