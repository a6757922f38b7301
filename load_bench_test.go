package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/store/redistest"
)

// BenchmarkEndToEndLoad runs the whole service (run(), as main does, on a
// private redis-server) under a steady stream of distinct signed Shopify
// orders/create webhooks, and follows each to the fake Interakt's send
// endpoint. It reports the accepted and delivered rates, the time from a
// webhook's 200 to the provider call (p50, p99), how many messages were lost
// or sent twice (both must be 0), and the process RSS at the end.
//
// The load runs once, whatever b.N is. Tune it with the environment:
//
//	STOREBRIDGE_LOAD_RATE       webhooks per second (default 1000)
//	STOREBRIDGE_LOAD_SECONDS    how long they are sent (default 30)
//	STOREBRIDGE_LOAD_MERCHANTS  shops the orders are spread over (default:
//	                            enough to keep each under 16/s, below
//	                            Interakt's documented 20/s per account,
//	                            which the service enforces)
//	STOREBRIDGE_LOAD_SENDERS    sender goroutines (default 16)
//	STOREBRIDGE_LOAD_DRAIN_SECONDS  how long to wait for the last messages
//	                            after the sends stop (default 60)
//	STOREBRIDGE_LOAD_ROLES      "all" (default): one process; "split": a
//	                            --role=web and a --role=worker process
//	                            (both run() in this test process) on the
//	                            one Redis, as a deploy runs them
//	STOREBRIDGE_LOAD_WORKERS    worker processes with "split" (default 1)
//	STOREBRIDGE_LOAD_PROVIDER_MS  how long the fake Interakt takes to
//	                            answer a send (default 0)
//	STOREBRIDGE_LOAD_MONITOR    a file to write Redis's MONITOR trace to
//	                            (every command, scripts' inner ones
//	                            included), to read one message's commands
//
// For example:
//
//	STOREBRIDGE_LOAD_SECONDS=5 STOREBRIDGE_LOAD_RATE=300 go test -run '^$' -bench EndToEndLoad -benchtime 1x .
func BenchmarkEndToEndLoad(b *testing.B) {
	rate := loadEnvInt(b, "STOREBRIDGE_LOAD_RATE", 1000)
	seconds := loadEnvInt(b, "STOREBRIDGE_LOAD_SECONDS", 30)
	merchants := loadEnvInt(b, "STOREBRIDGE_LOAD_MERCHANTS", (rate+15)/16)
	senders := loadEnvInt(b, "STOREBRIDGE_LOAD_SENDERS", 16)
	drain := time.Duration(loadEnvInt(b, "STOREBRIDGE_LOAD_DRAIN_SECONDS", 60)) * time.Second
	for i := 0; i < b.N; i++ {
		if i > 0 {
			continue // one load per benchmark call, whatever b.N is
		}
		runEndToEndLoad(b, rate, seconds, merchants, senders, drain)
	}
}

func runEndToEndLoad(b *testing.B, rate, seconds, merchants, senders int, drain time.Duration) {
	b.StopTimer()
	provider := newLoadInterakt(b, time.Duration(loadEnvInt(b, "STOREBRIDGE_LOAD_PROVIDER_MS", 0, true))*time.Millisecond)
	redis := redistest.Start(b, redistest.Options{Save: redistest.PersistentSave})
	if path := os.Getenv("STOREBRIDGE_LOAD_MONITOR"); path != "" {
		loadMonitor(b, redis.Addr(), path)
	}
	roles := os.Getenv("STOREBRIDGE_LOAD_ROLES")
	vars := map[string]string{
		"REDIS_URL":               redis.URL(),
		"APP_URL":                 e2eAppURL,
		"REDIS_PREFIX":            "load:",
		"SECRET_KEY":              strings.Repeat("l0ad-k3y-", 5),
		"ADMIN_TOKEN":             e2eAdminToken,
		"SHOPIFY_API_KEY":         "load-key",
		"SHOPIFY_API_SECRET":      e2eShopifySecret,
		"ALLOW_INSECURE_OUTBOUND": "true",
		"LOG_LEVEL":               "warn",
	}
	var base string
	var logs *syncBuffer
	switch roles {
	case "", "all":
		base, logs = loadStartRun(b, vars)
	case "split":
		base, logs = loadStartRun(b, maps.Clone(vars), "--role=web")
		for w := range loadEnvInt(b, "STOREBRIDGE_LOAD_WORKERS", 1) {
			_, workerLogs := loadStartRun(b, maps.Clone(vars), "--role=worker")
			b.Cleanup(func() {
				if n := strings.Count(workerLogs.String(), "level=WARN") + strings.Count(workerLogs.String(), "level=ERROR"); n > 0 {
					b.Logf("worker process %d: %d warnings or errors; first:\n%s", w+1, n, loadFirstWarnings(workerLogs.String(), 3))
				}
			})
		}
	default:
		b.Fatalf("STOREBRIDGE_LOAD_ROLES=%q: want all or split", roles)
	}

	// The shops, each with its own Interakt account and an order.placed rule.
	shops := make([]string, merchants)
	for i := range shops {
		shops[i] = fmt.Sprintf("load-shop-%03d.myshopify.com", i)
		m := loadAdmin(b, base, "POST", "/api/admin/merchants", map[string]any{
			"platform": "shopify", "shop_domain": shops[i], "access_token": "shpat_load", "name": fmt.Sprintf("Load Shop %d", i), "country": "IN", "timezone": "Asia/Kolkata",
		}, http.StatusCreated)
		id, _ := m["id"].(string)
		loadAdmin(b, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
			"provider": "interakt", "common_property": "phone",
			"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": provider.srv.URL},
		}, http.StatusOK)
		loadAdmin(b, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
			"template": "order_placed", "language": "en", "variables": []string{"user_name", "order.number", "order.total"},
		}, http.StatusOK)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: senders, MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	defer client.CloseIdleConnections()

	// The pacer releases webhook numbers at the rate, reckoned from the
	// start so ticker jitter does not drift it; the senders take them.
	total := rate * seconds
	accepted := make([]time.Time, total) // zero: not accepted
	answered := make([]time.Duration, total)
	var rejected atomic.Int64
	var firstReject atomic.Value
	var maxLag atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	due := loadPace(&wg, start, total, rate)
	for range senders {
		wg.Go(func() {
			for k := range due {
				scheduled := start.Add(time.Duration(float64(k) / float64(rate) * float64(time.Second)))
				lag := time.Since(scheduled)
				for old := maxLag.Load(); int64(lag) > old && !maxLag.CompareAndSwap(old, int64(lag)); old = maxLag.Load() {
				}
				sent := time.Now()
				status, answer, err := loadPost(client, base, shops[k%len(shops)], k, loadOrder(k))
				answered[k] = time.Since(sent)
				if err != nil || status != http.StatusOK || !strings.Contains(answer, `"outcome":"accepted"`) {
					rejected.Add(1)
					firstReject.CompareAndSwap(nil, fmt.Sprintf("webhook %d: %d %q %v", k, status, answer, err))
					continue
				}
				accepted[k] = time.Now()
			}
		})
	}
	b.StartTimer()
	wg.Wait()
	sendsTook := time.Since(start)

	// Wait for every accepted webhook's message, then a little more for a
	// second copy to show up.
	want := total - int(rejected.Load())
	deadline := time.Now().Add(drain)
	for provider.distinct() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	time.Sleep(500 * time.Millisecond)
	rss, peak := loadRSS(b)
	commands := loadRedisCommands(b, redis.Addr())

	// Match each accepted webhook with its sends.
	sends, fails := provider.snapshot()
	var latencies []time.Duration
	lost, duplicated := 0, 0
	var lastSend time.Time
	perShop := make([][]time.Time, len(shops)) // every send, by shop
	for k, at := range accepted {
		got := sends[loadOrderName(k)]
		perShop[k%len(shops)] = append(perShop[k%len(shops)], got...)
		delete(sends, loadOrderName(k))
		if at.IsZero() {
			duplicated += len(got) // a refused webhook must send nothing
			continue
		}
		if len(got) == 0 {
			lost++
			continue
		}
		duplicated += len(got) - 1
		latencies = append(latencies, got[0].Sub(at))
		for _, t := range got {
			if t.After(lastSend) {
				lastSend = t
			}
		}
	}
	for _, got := range sends { // sends for orders never posted
		duplicated += len(got)
	}
	pct := loadPercentile(latencies)
	ingest := loadPercentile(answered)
	acceptedRate := float64(want) / sendsTook.Seconds()
	deliveredRate := 0.0
	if !lastSend.IsZero() {
		deliveredRate = float64(len(latencies)) / lastSend.Sub(start).Seconds()
	}
	warnings := strings.Count(logs.String(), "level=WARN")
	errorsLogged := strings.Count(logs.String(), "level=ERROR")

	b.ReportMetric(acceptedRate, "webhooks/s")
	b.ReportMetric(deliveredRate, "messages/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(ingest(0.50), "ingest-p50-ms")
	b.ReportMetric(ingest(0.99), "ingest-p99-ms")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(duplicated), "duplicated")
	b.ReportMetric(float64(rejected.Load()), "rejected")
	perMessage := 0.0
	if len(latencies) > 0 {
		perMessage = float64(commands.total) / float64(len(latencies))
	}
	b.ReportMetric(perMessage, "redis-cmds/msg")
	// Interakt's limit (20/s per account, each shop its own) must hold
	// across every worker process: the most sends of one shop in any
	// second, which the throttle keeps within the limit.
	shopMax := 0
	for _, times := range perShop {
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		for i, j := 0, 0; j < len(times); j++ {
			for times[j].Sub(times[i]) >= time.Second {
				i++
			}
			shopMax = max(shopMax, j-i+1)
		}
	}
	b.ReportMetric(float64(shopMax), "shop-max-per-s")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(peak, "peak-rss-MB")
	b.Logf("roles %s; target %d/s for %ds over %d shops, %d senders: %d sent in %.1fs (max send lag %s), %d accepted, %d refused\n"+
		"webhook answered in p50 %.1f ms, p99 %.1f ms; accepted %.0f webhooks/s; delivered %.0f messages/s; accepted→provider p50 %.1f ms, p99 %.1f ms, max %.1f ms\n"+
		"lost %d, duplicated %d; rss %.0f MB (peak %.0f MB); service log: %d warnings, %d errors\n"+
		"redis: %.1f commands per message, those run inside scripts included (%s)",
		cmp.Or(roles, "all"), rate, seconds, merchants, senders, total, sendsTook.Seconds(), time.Duration(maxLag.Load()).Round(time.Millisecond), want, rejected.Load(),
		ingest(0.50), ingest(0.99), acceptedRate, deliveredRate, pct(0.50), pct(0.99), pct(1), lost, duplicated, rss, peak, warnings, errorsLogged,
		perMessage, commands.top(len(latencies), 16))
	if warnings+errorsLogged > 0 {
		b.Logf("first service warnings:\n%s", loadFirstWarnings(logs.String(), 3))
	}
	if s, ok := firstReject.Load().(string); ok {
		b.Errorf("%d webhooks were not accepted; first: %s", rejected.Load(), s)
	}
	if len(fails) > 0 {
		b.Errorf("the fake Interakt refused %d requests; first: %s", len(fails), fails[0])
	}
	if lost > 0 || duplicated > 0 {
		b.Errorf("lost %d, duplicated %d messages; want 0 and 0\nlast service logs:\n%s", lost, duplicated, loadTail(logs.String(), 20))
	}
}

// loadInterakt is a fake Interakt that checks what fakeInterakt checks and
// records when each send arrived, by the order number in its values.
type loadInterakt struct {
	srv   *httptest.Server
	mu    sync.Mutex
	sends map[string][]time.Time
	fails []string
	n     atomic.Int64
}

// loadPace releases webhook numbers 0..total-1 at rate per second,
// reckoned from start so ticker jitter does not drift it, on a goroutine of
// wg; the senders take them from the channel, which closes after the last.
func loadPace(wg *sync.WaitGroup, start time.Time, total, rate int) <-chan int {
	due := make(chan int, total)
	wg.Go(func() {
		defer close(due)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		released := 0
		for released < total {
			<-tick.C
			until := min(total, int(time.Since(start).Seconds()*float64(rate)))
			for ; released < until; released++ {
				due <- released
			}
		}
	})
	return due
}

func newLoadInterakt(b *testing.B, delay time.Duration) *loadInterakt {
	p := &loadInterakt{sends: map[string][]time.Time{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		if delay > 0 && r.URL.Path == "/v1/public/message/" {
			defer time.Sleep(delay) // the send counts when it arrived
		}
		if r.Header.Get("Authorization") != "Basic "+e2eInteraktKey {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"result":false,"message":"Invalid API key"}`)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			p.fail("%s with content type %q", r.Method, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/v1/public/apis/users/":
			io.WriteString(w, `{"result":true,"data":{"customers":[]}}`)
		case "/v1/public/message/":
			var body struct {
				CountryCode  string `json:"countryCode"`
				PhoneNumber  string `json:"phoneNumber"`
				CallbackData string `json:"callbackData"`
				Type         string `json:"type"`
				Template     struct {
					Name       string   `json:"name"`
					BodyValues []string `json:"bodyValues"`
				} `json:"template"`
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				p.fail("body: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if body.CountryCode != "+91" || body.PhoneNumber != "9876543210" || body.Type != "Template" ||
				body.Template.Name != "order_placed" || len(body.Template.BodyValues) != 3 || body.CallbackData == "" {
				p.fail("unexpected send %+v", body)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			p.mu.Lock()
			p.sends[body.Template.BodyValues[1]] = append(p.sends[body.Template.BodyValues[1]], at)
			p.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"result":true,"message":"Message created successfully","id":"load-msg-%d"}`, p.n.Add(1))
		default:
			p.fail("unexpected path %s", r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	b.Cleanup(p.srv.Close)
	return p
}

func (p *loadInterakt) fail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails = append(p.fails, fmt.Sprintf(format, args...))
}

// distinct counts the orders that got at least one send.
func (p *loadInterakt) distinct() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sends)
}

func (p *loadInterakt) snapshot() (map[string][]time.Time, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sends := make(map[string][]time.Time, len(p.sends))
	for k, v := range p.sends {
		sends[k] = slices.Clone(v)
	}
	return sends, slices.Clone(p.fails)
}

// loadStartRun is startRun for a benchmark: run() in the background,
// stopped (and checked) when the benchmark ends.
func loadStartRun(b *testing.B, vars map[string]string, flags ...string) (string, *syncBuffer) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	vars["HOST"] = "127.0.0.1"
	vars["PORT"] = strconv.Itoa(port)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"storebridge"}, flags...), env(vars), logs) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			cancel()
			b.Fatalf("run() ended at start: %v\nlogs:\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			b.Fatalf("service did not answer /healthz: %v\nlogs:\n%s", err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("run() = %v at the end of the load", err)
			}
		case <-time.After(shutdownTimeout + 5*time.Second):
			b.Errorf("run() did not return after cancel")
		}
	})
	return base, logs
}

// loadAdmin calls the operator API and decodes the answer.
func loadAdmin(b *testing.B, base, method, path string, body any, wantStatus int) map[string]any {
	b.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		b.Fatalf("%s %s = %d %s; want %d", method, path, resp.StatusCode, answer, wantStatus)
	}
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		b.Fatalf("%s %s: answer %s is not JSON: %v", method, path, answer, err)
	}
	return out
}

// loadPost sends body, order k of shop, as Shopify would: a fresh event
// id, the HMAC of the raw body with the app's secret.
func loadPost(client *http.Client, base, shop string, k int, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/shopify", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	event := fmt.Sprintf("5c1a9e7f-load-4d2b-8e6f-%012d", k)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", "orders/create")
	h.Set("X-Shopify-Shop-Domain", shop)
	h.Set("X-Shopify-Event-Id", event)
	h.Set("X-Shopify-Webhook-Id", "wh-"+event)
	h.Set("X-Shopify-Triggered-At", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	h.Set("X-Shopify-API-Version", "2026-01")
	h.Set("X-Shopify-Hmac-Sha256", hmacBase64(e2eShopifySecret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// loadOrderName is order k's name, the second value of its message.
func loadOrderName(k int) string { return "#" + strconv.Itoa(100000+k) }

// loadOrder is a realistic Shopify orders/create body (about 4 KB): an
// Indian cash-on-delivery order with a phone, so the message is sent.
func loadOrder(k int) []byte {
	id := strconv.Itoa(5_801_234_000_000 + k)
	number := strconv.Itoa(100000 + k)
	return []byte(`{"id":` + id + `,"admin_graphql_api_id":"gid://shopify/Order/` + id + `","name":"#` + number + `","number":` + strconv.Itoa(k) + `,"order_number":` + number + `,"email":"jyoti.sharma@example.in","contact_email":"jyoti.sharma@example.in","phone":null,"created_at":"2026-03-14T10:15:00+05:30","processed_at":"2026-03-14T10:15:00+05:30","updated_at":"2026-03-14T10:15:04+05:30","cancelled_at":null,"cancel_reason":null,"closed_at":null,"currency":"INR","presentment_currency":"INR","total_price":"1499.00","total_price_set":{"shop_money":{"amount":"1499.00","currency_code":"INR"},"presentment_money":{"amount":"1499.00","currency_code":"INR"}},"current_total_price":"1499.00","subtotal_price":"1499.00","total_tax":"0.00","total_discounts":"0.00","total_outstanding":"1499.00","financial_status":"pending","fulfillment_status":null,"confirmed":true,"test":false,"payment_gateway_names":["Cash on Delivery (COD)"],"tags":"","note":null,"buyer_accepts_marketing":false,"customer_locale":"en-IN","order_status_url":"https://asha-naturals.myshopify.com/6612345678/orders/` + number + `/authenticate?key=k` + id + `","token":"tok` + id + `","checkout_token":null,"cart_token":null,"source_name":"web",` +
		`"billing_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"098765 43210"},` +
		`"shipping_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"098765 43210"},` +
		`"customer":{"id":72000000001,"email":"jyoti.sharma@example.in","first_name":"ज्योति","last_name":"शर्मा","phone":null,"state":"enabled","verified_email":true,"tax_exempt":false,"tax_exemptions":[],"currency":"INR","created_at":"2025-11-02T09:00:00+05:30","updated_at":"2026-03-14T10:15:00+05:30","admin_graphql_api_id":"gid://shopify/Customer/72000000001","default_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"+91 98765-43210","id":71000000001,"customer_id":72000000001,"default":true,"country_name":"India"}},` +
		`"line_items":[{"id":14000000001,"admin_graphql_api_id":"gid://shopify/LineItem/14000000001","title":"Kurta","variant_title":"Blue / M","name":"Kurta - Blue / M","quantity":2,"current_quantity":2,"price":"599.00","price_set":{"shop_money":{"amount":"599.00","currency_code":"INR"},"presentment_money":{"amount":"599.00","currency_code":"INR"}},"sku":"SKU-001","vendor":"Asha Naturals","product_id":8000000001,"variant_id":9000000001,"properties":[],"fulfillment_status":null,"requires_shipping":true,"taxable":true,"gift_card":false,"grams":250,"total_discount":"0.00","tax_lines":[],"duties":[],"discount_allocations":[]},` +
		`{"id":14000000002,"admin_graphql_api_id":"gid://shopify/LineItem/14000000002","title":"Dupatta — हाथ से बुना","variant_title":"Default Title","name":"Dupatta - Default Title","quantity":1,"current_quantity":1,"price":"301.00","price_set":{"shop_money":{"amount":"301.00","currency_code":"INR"},"presentment_money":{"amount":"301.00","currency_code":"INR"}},"sku":"SKU-002","vendor":"Asha Naturals","product_id":8000000002,"variant_id":9000000002,"properties":[],"fulfillment_status":null,"requires_shipping":true,"taxable":true,"gift_card":false,"grams":250,"total_discount":"0.00","tax_lines":[],"duties":[],"discount_allocations":[]}],` +
		`"fulfillments":[],"refunds":[],"shipping_lines":[{"id":4100000001,"title":"Standard","code":"Standard","price":"0.00","source":"shopify","discounted_price":"0.00","tax_lines":[]}],"tax_lines":[],"discount_codes":[],"note_attributes":[]}`)
}

// loadRSS reads the process's resident set and its peak, in MB; the
// service runs in this process.
func loadRSS(b *testing.B) (rss, peak float64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Logf("no /proc/self/status: %v", err)
		return 0, 0
	}
	defer f.Close()
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		name, value, ok := strings.Cut(scan.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if name == "VmRSS" {
			rss = kb / 1024
		} else {
			peak = kb / 1024
		}
	}
	return rss, peak
}

// loadEnvInt reads a positive integer (or 0 too, when zero says so).
func loadEnvInt(b *testing.B, name string, def int, zero ...bool) int {
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || (n == 0 && len(zero) == 0) {
		b.Fatalf("%s=%q: want a positive integer", name, raw)
	}
	return n
}

func loadTail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// loadFirstWarnings is the first n WARN or ERROR lines of the service's
// log, each cut to 300 characters.
func loadFirstWarnings(log string, n int) string {
	var out []string
	for line := range strings.SplitSeq(log, "\n") {
		if len(out) == n {
			break
		}
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// loadPercentile sorts d and answers its quantiles in milliseconds.
func loadPercentile(d []time.Duration) func(q float64) float64 {
	slices.Sort(d)
	return func(q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return float64(d[min(int(q*float64(len(d))), len(d)-1)]) / float64(time.Millisecond)
	}
}

// loadMonitor writes every command the benchmark's redis-server runs to
// path until the benchmark ends, over a plain connection in MONITOR mode.
func loadMonitor(b *testing.B, addr, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.WriteString(conn, "MONITOR\r\n"); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(f, conn) // until the connection is closed
	}()
	b.Cleanup(func() {
		conn.Close()
		<-done
		f.Close()
	})
}

// loadCommands is redis-server's count of calls per command.
type loadCommands struct {
	total int64
	calls map[string]int64
}

// loadRedisCommands reads INFO commandstats of the benchmark's private
// redis-server: how many round trips the service made, by command.
func loadRedisCommands(b *testing.B, addr string) loadCommands {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	out := loadCommands{calls: map[string]int64{}}
	if err != nil {
		b.Logf("INFO commandstats: %v", err)
		return out
	}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _ := strconv.ParseInt(rest[:strings.IndexByte(rest+",", ',')], 10, 64)
		out.calls[strings.TrimPrefix(name, "cmdstat_")] = calls
		out.total += calls
	}
	return out
}

// top names the n most called commands, per message delivered.
func (c loadCommands) top(messages, n int) string {
	names := make([]string, 0, len(c.calls))
	for name := range c.calls {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return int(c.calls[b] - c.calls[a]) })
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, float64(c.calls[name])/float64(max(messages, 1))))
	}
	return strings.Join(parts, ", ")
}
