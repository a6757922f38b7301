package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// BenchmarkIngestRatio measures what the real webhook path costs next to
// the least an exactly-once ingest can do. Distinct signed Shopify
// orders/create webhooks (~4 KB each) go over real HTTP on loopback, from
// many keep-alive connections at once, to three servers in turn:
//
//	real    the real router and service on redisstore
//	bare-a  a bare Echo handler: read the body, verify the HMAC
//	bare-b  bare-a plus one Lua script: SET NX the idempotency key with a
//	        TTL, HSET the job and ZADD its due time in the same slot
//
// The three are interleaved round by round (real, bare-a, bare-b, real, ...)
// so that noise from the machine falls on all of them alike. b.N is the
// number of requests each target gets in total, cut into rounds of
// STOREBRIDGE_BENCH_ROUND (default 500); STOREBRIDGE_BENCH_CONCURRENCY sets
// the senders (default 48). Run it with e.g.
//
//	go test -run '^$' -bench IngestRatio -benchtime 6000x ./handlers/
//
// It fails when a real request was not answered 200 "accepted", or when the
// real queue does not hold exactly one job per request sent to it.
func BenchmarkIngestRatio(b *testing.B) {
	round := benchEnvInt(b, "STOREBRIDGE_BENCH_ROUND", 500)
	conc := benchEnvInt(b, "STOREBRIDGE_BENCH_CONCURRENCY", 48)
	if body := benchOrder(7); !json.Valid(body) || !bytes.Contains(body, []byte(`"id":5801234000007,`)) || !bytes.Contains(body, []byte(`"name":"#1007"`)) {
		b.Fatalf("benchOrder(7) is not the order it should be: %s", body)
	}
	ctx := context.Background()
	srv := redistest.Start(b, redistest.Options{})
	log := slog.New(slog.DiscardHandler)

	// real: the router and service as main.go builds them, on Redis.
	st := redisstore.New(benchRedisClient(srv.URL()), redisstore.Options{Prefix: "bench:real:"})
	b.Cleanup(func() { st.Close() })
	keyring, err := app.NewKeyring(testSecretKey)
	if err != nil {
		b.Fatal(err)
	}
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, ShopifyAPISecret: shopifyAppSecret, Logger: log})
	svcCtx, stopSvc := context.WithCancel(ctx)
	svcDone := make(chan struct{})
	go func() { svc.Run(svcCtx); close(svcDone) }()
	b.Cleanup(func() { stopSvc(); <-svcDone })
	if _, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: ashaShop, Name: "Asha Naturals", Country: "IN"}); err != nil {
		b.Fatal(err)
	}
	metrics := NewMetrics(st, log)
	realEcho := NewEcho(log, metrics)
	New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log}).Register(realEcho)

	// bare-a and bare-b.
	bareA := echo.New()
	bareA.POST("/webhooks/shopify", func(c echo.Context) error {
		if _, ok, err := bareVerified(c); err != nil || !ok {
			return err
		}
		return answerWebhook(c, app.WebhookAccepted)
	})
	bareRDB := benchRedisClient(srv.URL())
	b.Cleanup(func() { bareRDB.Close() })
	claim := redis.NewScript(bareClaimEnqueueLua)
	const bareMerchant = "m_bare"
	bareB := echo.New()
	bareB.POST("/webhooks/shopify", func(c echo.Context) error {
		body, ok, err := bareVerified(c)
		if err != nil || !ok {
			return err
		}
		header := c.Request().Header
		id := header.Get("X-Shopify-Event-Id")
		base := "bench:bare:m:{" + bareMerchant + "}:"
		keys := []string{base + "idem:shopify:" + id + ":" + header.Get("X-Shopify-Topic"), base + "q:jobs", base + "q:due"}
		n, err := claim.Run(c.Request().Context(), bareRDB, keys, (48 * time.Hour).Milliseconds(), id, body, time.Now().UnixMilli()).Int()
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
		}
		outcome := app.WebhookAccepted
		if n == 0 {
			outcome = app.WebhookDuplicate
		}
		return answerWebhook(c, outcome)
	})

	targets := []*ingestTarget{
		{name: "real", url: benchServe(b, realEcho)},
		{name: "bare-a", url: benchServe(b, bareA)},
		{name: "bare-b", url: benchServe(b, bareB)},
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 4 * conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	b.Cleanup(client.CloseIdleConnections)

	// Warm up: connections, the merchant cache, the scripts.
	var seq atomic.Int64
	for _, tg := range targets {
		tg.run(b, client, benchWebhooks(&seq, min(200, 4*conc)), conc, false)
	}

	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for _, tg := range targets {
			b.StopTimer()
			reqs := benchWebhooks(&seq, n)
			b.StartTimer()
			tg.run(b, client, reqs, conc, true)
		}
	}
	b.StopTimer()

	// Correctness of the real path: every request accepted, one job each.
	real := targets[0]
	depth, err := st.Depth(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if real.bad > 0 {
		b.Errorf("real: %d of %d requests were not answered 200 accepted; first: %s", real.bad, real.sent, real.firstBad)
	}
	if depth.Ready+depth.Scheduled != real.sent {
		b.Errorf("real: queue holds %d jobs (ready %d, scheduled %d); want exactly %d, one per request", depth.Ready+depth.Scheduled, depth.Ready, depth.Scheduled, real.sent)
	}
	for _, tg := range targets[1:] {
		if tg.bad > 0 {
			b.Errorf("%s: %d requests not answered 200 accepted; first: %s", tg.name, tg.bad, tg.firstBad)
		}
	}
	bareJobs, err := bareRDB.HLen(ctx, "bench:bare:m:{"+bareMerchant+"}:q:jobs").Result()
	if err != nil || bareJobs != targets[2].sent {
		b.Errorf("bare-b: queue holds %d jobs, %v; want %d", bareJobs, err, targets[2].sent)
	}

	var table strings.Builder
	fmt.Fprintf(&table, "%d requests per target in rounds of %d, %d senders, GOMAXPROCS %d, body %d bytes\n",
		b.N, round, conc, runtime.GOMAXPROCS(0), len(benchOrder(1)))
	fmt.Fprintf(&table, "%-7s %10s %9s %9s %11s\n", "target", "req/s", "p50 ms", "p99 ms", "accepted")
	for _, tg := range targets {
		p50, p99 := tg.percentiles()
		fmt.Fprintf(&table, "%-7s %10.0f %9.2f %9.2f %11s\n", tg.name, tg.rate(), p50, p99, fmt.Sprintf("%d/%d", tg.measured-tg.badMeasured, tg.measured))
		b.ReportMetric(tg.rate(), tg.name+"-req/s")
		b.ReportMetric(p50, tg.name+"-p50-ms")
		b.ReportMetric(p99, tg.name+"-p99-ms")
	}
	ratioB, ratioA := real.rate()/targets[2].rate(), real.rate()/targets[1].rate()
	fmt.Fprintf(&table, "real/bare-b %.2f (target >= 0.80), real/bare-a %.2f; real queue %d jobs for %d requests, %d not accepted",
		ratioB, ratioA, depth.Ready+depth.Scheduled, real.sent, real.bad)
	// The framework keeps about ten lines of a benchmark's log, across its
	// calls: the table is logged only by runs of a round or more.
	if b.N >= round {
		b.Log(table.String())
	}
	b.ReportMetric(ratioB, "real/b-ratio")
	b.ReportMetric(ratioA, "real/a-ratio")
	b.ReportMetric(float64(depth.Ready+depth.Scheduled), "real-jobs")
	b.ReportMetric(float64(real.bad), "real-not-accepted")
}

// bareClaimEnqueueLua is the least an exactly-once ingest needs: KEYS idem,
// jobs, due (one slot); ARGV ttl ms, job id, payload, due ms. Answers 1 when
// the key was new and the job is queued, 0 for a duplicate.
const bareClaimEnqueueLua = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
`

// bareVerified reads the body and checks its Shopify HMAC with the app
// secret; a bad signature is answered 401 here (ok false, err nil).
func bareVerified(c echo.Context) ([]byte, bool, error) {
	req := c.Request()
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	if _, err := buf.ReadFrom(req.Body); err != nil {
		return nil, false, echo.NewHTTPError(http.StatusBadRequest, "request body could not be read")
	}
	got, err := base64.StdEncoding.DecodeString(req.Header.Get("X-Shopify-Hmac-Sha256"))
	mac := hmac.New(sha256.New, []byte(shopifyAppSecret))
	mac.Write(buf.Bytes())
	if err != nil || !hmac.Equal(mac.Sum(nil), got) {
		return nil, false, c.JSON(http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
	}
	return buf.Bytes(), true, nil
}

// benchRedisClient is a client configured as main.go's openStore does.
func benchRedisClient(url string) *redis.Client {
	opts, err := redis.ParseURL(url)
	if err != nil {
		panic(err)
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = 2 * time.Second
	opts.WriteTimeout = 2 * time.Second
	opts.DialerRetries = 1
	opts.MaxRetries = 1
	return redis.NewClient(opts)
}

// benchServe serves h on a loopback port with main.go's server timeouts.
func benchServe(b *testing.B, h http.Handler) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	server := &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
	}
	go func() { _ = server.Serve(l) }()
	b.Cleanup(func() { _ = server.Close() })
	return "http://" + l.Addr().String() + "/webhooks/shopify"
}

// benchWebhook is one signed orders/create delivery.
type benchWebhook struct {
	eventID string
	body    []byte
	hmac    string
}

// benchWebhooks builds n distinct signed webhooks, as Shopify would send
// them: a distinct order and event id each, the HMAC of the raw body.
func benchWebhooks(seq *atomic.Int64, n int) []benchWebhook {
	out := make([]benchWebhook, n)
	for i := range out {
		k := seq.Add(1)
		body := benchOrder(k)
		mac := hmac.New(sha256.New, []byte(shopifyAppSecret))
		mac.Write(body)
		out[i] = benchWebhook{
			eventID: fmt.Sprintf("7b4e2c1d-%04x-4a5b-9c8d-%012x", k>>48&0xffff, k),
			body:    body,
			hmac:    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		}
	}
	return out
}

// ingestTarget accumulates one target's figures over the rounds.
type ingestTarget struct {
	name, url string

	sent, bad             int64 // every request, warm-up included
	measured, badMeasured int64
	firstBad              string
	elapsed               time.Duration
	latencies             []time.Duration
}

// run sends reqs from conc senders at once and waits for every answer.
func (tg *ingestTarget) run(b *testing.B, client *http.Client, reqs []benchWebhook, conc int, measure bool) {
	lat := make([]time.Duration, len(reqs))
	var next, bad atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, len(reqs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				w := reqs[i]
				t0 := time.Now()
				status, answer, err := benchPost(client, tg.url, w)
				lat[i] = time.Since(t0)
				if err != nil || status != http.StatusOK || !strings.Contains(answer, `"outcome":"accepted"`) {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", status, answer, err))
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	tg.sent += int64(len(reqs))
	tg.bad += bad.Load()
	if s, ok := firstBad.Load().(string); ok && tg.firstBad == "" {
		tg.firstBad = s
	}
	if measure {
		tg.measured += int64(len(reqs))
		tg.badMeasured += bad.Load()
		tg.elapsed += took
		tg.latencies = append(tg.latencies, lat...)
	}
}

func (tg *ingestTarget) rate() float64 {
	if tg.elapsed <= 0 {
		return 0
	}
	return float64(tg.measured) / tg.elapsed.Seconds()
}

// percentiles answers p50 and p99 in milliseconds.
func (tg *ingestTarget) percentiles() (p50, p99 float64) {
	if len(tg.latencies) == 0 {
		return 0, 0
	}
	slices.Sort(tg.latencies)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(tg.latencies))), len(tg.latencies)-1)
		return float64(tg.latencies[i]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

func benchPost(client *http.Client, url string, w benchWebhook) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(w.body))
	if err != nil {
		return 0, "", err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", "orders/create")
	h.Set("X-Shopify-Shop-Domain", ashaShop)
	h.Set("X-Shopify-Event-Id", w.eventID)
	h.Set("X-Shopify-Webhook-Id", "wh-"+w.eventID)
	h.Set("X-Shopify-Triggered-At", "2026-11-22T04:45:00.000Z")
	h.Set("X-Shopify-API-Version", "2026-01")
	h.Set("X-Shopify-Hmac-Sha256", w.hmac)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

func benchEnvInt(b *testing.B, name string, def int) int {
	raw := os.Getenv(name)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive integer", name, raw)
	}
	return n
}

// benchOrder is a realistic Shopify orders/create body (about 4 KB, an
// Indian cash-on-delivery order with a phone), for order k.
func benchOrder(k int64) []byte {
	id := strconv.FormatInt(5_801_234_000_000+k, 10)
	values := map[string]string{"{ID}": id, "{N}": strconv.FormatInt(1000+k, 10), "{NN}": strconv.FormatInt(k, 10)}
	out := make([]byte, 0, len(benchOrderTemplate)+64)
	for _, part := range benchOrderParts {
		if v, ok := values[part]; ok {
			out = append(out, v...)
		} else {
			out = append(out, part...)
		}
	}
	return out
}

// benchOrderParts is the template cut at its placeholders, so building a
// body is a few appends.
var benchOrderParts = func() []string {
	var parts []string
	rest := benchOrderTemplate
	for {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest[max(i, 0):], '}')
		if i < 0 || j < 0 {
			return append(parts, rest)
		}
		if name := rest[i : i+j+1]; name == "{ID}" || name == "{N}" || name == "{NN}" {
			parts = append(parts, rest[:i], name)
			rest = rest[i+j+1:]
			continue
		}
		parts = append(parts, rest[:i+1])
		rest = rest[i+1:]
	}
}()

const benchOrderTemplate = `{"id":{ID},"admin_graphql_api_id":"gid://shopify/Order/{ID}","name":"#{N}","number":{NN},"order_number":{N},"email":"jyoti.sharma@example.in","contact_email":"jyoti.sharma@example.in","phone":null,"created_at":"2026-03-14T10:15:00+05:30","processed_at":"2026-03-14T10:15:00+05:30","updated_at":"2026-03-14T10:15:04+05:30","cancelled_at":null,"cancel_reason":null,"closed_at":null,"currency":"INR","presentment_currency":"INR","total_price":"1499.00","total_price_set":{"shop_money":{"amount":"1499.00","currency_code":"INR"},"presentment_money":{"amount":"1499.00","currency_code":"INR"}},"current_total_price":"1499.00","subtotal_price":"1499.00","total_tax":"0.00","total_discounts":"0.00","total_outstanding":"1499.00","financial_status":"pending","fulfillment_status":null,"confirmed":true,"test":false,"payment_gateway_names":["Cash on Delivery (COD)"],"tags":"","note":null,"buyer_accepts_marketing":false,"customer_locale":"en-IN","order_status_url":"https://asha-naturals.myshopify.com/6612345678/orders/{N}/authenticate?key=k{ID}","token":"tok{ID}","checkout_token":null,"cart_token":null,"source_name":"web","billing_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"098765 43210"},"shipping_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"098765 43210"},"customer":{"id":72000000001,"email":"jyoti.sharma@example.in","first_name":"ज्योति","last_name":"शर्मा","phone":null,"state":"enabled","verified_email":true,"tax_exempt":false,"tax_exemptions":[],"currency":"INR","created_at":"2025-11-02T09:00:00+05:30","updated_at":"2026-03-14T10:15:00+05:30","admin_graphql_api_id":"gid://shopify/Customer/72000000001","default_address":{"first_name":"ज्योति","last_name":"शर्मा","name":"ज्योति शर्मा","address1":"12 MG Road","address2":null,"city":"Jaipur","zip":"302001","province":"Rajasthan","country":"India","country_code":"IN","province_code":null,"company":null,"latitude":null,"longitude":null,"phone":"+91 98765-43210","id":71000000001,"customer_id":72000000001,"default":true,"country_name":"India"}},"line_items":[{"id":14000000001,"admin_graphql_api_id":"gid://shopify/LineItem/14000000001","title":"Kurta","variant_title":"Blue / M","name":"Kurta - Blue / M","quantity":2,"current_quantity":2,"price":"599.00","price_set":{"shop_money":{"amount":"599.00","currency_code":"INR"},"presentment_money":{"amount":"599.00","currency_code":"INR"}},"sku":"SKU-001","vendor":"Asha Naturals","product_id":8000000001,"variant_id":9000000001,"properties":[],"fulfillment_status":null,"requires_shipping":true,"taxable":true,"gift_card":false,"grams":250,"total_discount":"0.00","tax_lines":[],"duties":[],"discount_allocations":[]},{"id":14000000002,"admin_graphql_api_id":"gid://shopify/LineItem/14000000002","title":"Dupatta — हाथ से बुना","variant_title":"Default Title","name":"Dupatta - Default Title","quantity":1,"current_quantity":1,"price":"301.00","price_set":{"shop_money":{"amount":"301.00","currency_code":"INR"},"presentment_money":{"amount":"301.00","currency_code":"INR"}},"sku":"SKU-002","vendor":"Asha Naturals","product_id":8000000002,"variant_id":9000000002,"properties":[],"fulfillment_status":null,"requires_shipping":true,"taxable":true,"gift_card":false,"grams":250,"total_discount":"0.00","tax_lines":[],"duties":[],"discount_allocations":[]}],"fulfillments":[],"refunds":[],"shipping_lines":[{"id":4100000001,"title":"Standard","code":"Standard","price":"0.00","source":"shopify","discounted_price":"0.00","tax_lines":[]}],"tax_lines":[],"discount_codes":[],"note_attributes":[]}`
