package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	goredis "github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/store/redistest"
)

// BenchmarkBurstLoad is the whole-process burst load (issue 10, targets 1,
// 4 and 6). Each server runs in its own process, a child of this test
// binary that calls run() as main does (or, for the baseline, serves a
// bare handler), on a private redis-server or the embedded store; this
// process only sends webhooks and plays the fake Interakt. In one run:
//
//	all       serve --role=all on Redis, workers on
//	web       serve --role=web on Redis; a --role=worker process drains
//	          the queue after the burst
//	bare      a bare Echo handler: the HMAC, then one Lua script that
//	          claims the event id and enqueues the body (the baseline)
//	embedded  serve --role=all on the embedded store in a fresh DATA_DIR
//
// Each gets a burst of distinct signed ~5 KB Shopify orders/create over
// keep-alive connections (after a small warm-up, drained first), and must
// answer every one 2xx; the queue must then drain to zero with exactly one
// provider call per webhook. The spike (target 4) then sends webhooks all
// at once over many new connections to all and to embedded: no 5xx, no
// answer slower than 5 s, each delivered exactly once.
//
// The environment tunes it:
//
//	STOREBRIDGE_BURST_WEBHOOKS     webhooks per burst (default 20000)
//	STOREBRIDGE_BURST_ROUNDS       cut each burst into this many rounds,
//	                               which go round the targets (default 1;
//	                               more evens out a busy machine)
//	STOREBRIDGE_BURST_CONNS        keep-alive connections (default 32)
//	STOREBRIDGE_BURST_SPIKE        webhooks of the spike (default 10000)
//	STOREBRIDGE_BURST_SPIKE_CONNS  its connections (default 256)
//	STOREBRIDGE_BURST_MERCHANTS    shops the orders go to (default 100)
//	STOREBRIDGE_BURST_TARGETS      which to run, in order (default
//	                               "bare,all,web,embedded")
//	STOREBRIDGE_BURST_DRAIN_SECONDS  wait for the queue to drain (default 300)
//	STOREBRIDGE_BURST_PROFILE      a directory: each server writes the CPU
//	                               profile of its (first round's) burst
//	                               there, as <target>.pprof
//
// Run it with (make load):
//
//	go test -run '^$' -bench BurstLoad -benchtime 1x -timeout 60m .
func BenchmarkBurstLoad(b *testing.B) {
	cfg := burstConfig{
		webhooks:   loadEnvInt(b, "STOREBRIDGE_BURST_WEBHOOKS", 20000),
		rounds:     loadEnvInt(b, "STOREBRIDGE_BURST_ROUNDS", 1),
		conns:      loadEnvInt(b, "STOREBRIDGE_BURST_CONNS", 32),
		spike:      loadEnvInt(b, "STOREBRIDGE_BURST_SPIKE", 10000),
		spikeConns: loadEnvInt(b, "STOREBRIDGE_BURST_SPIKE_CONNS", 256),
		merchants:  loadEnvInt(b, "STOREBRIDGE_BURST_MERCHANTS", 100),
		drain:      time.Duration(loadEnvInt(b, "STOREBRIDGE_BURST_DRAIN_SECONDS", 300)) * time.Second,
		profileDir: os.Getenv("STOREBRIDGE_BURST_PROFILE"),
	}
	targets := strings.Split(cmpOr(os.Getenv("STOREBRIDGE_BURST_TARGETS"), "bare,all,web,embedded"), ",")
	for i := 0; i < b.N; i++ {
		if i > 0 {
			continue // one load per benchmark call, whatever b.N is
		}
		runBurstLoad(b, cfg, targets)
	}
}

type burstConfig struct {
	webhooks, rounds, conns, spike, spikeConns, merchants int
	drain                                                 time.Duration
	profileDir                                            string
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// burstResult is one target's figures.
type burstResult struct {
	name  string
	burst burstSent
	spike *burstSent
	drain time.Duration // from the end of the last round to its last send
}

// burstTarget is one target's processes and what it was sent.
type burstTarget struct {
	name     string
	vars     map[string]string
	proc     *burstProc
	provider *loadInterakt
	shops    []string
	client   *http.Client
	expected int  // webhooks accepted, each to be sent exactly once
	failed   bool // a check failed: later rounds skip it
	res      burstResult
}

func runBurstLoad(b *testing.B, cfg burstConfig, targets []string) {
	b.StopTimer()
	redis := redistest.Start(b, redistest.Options{Save: redistest.PersistentSave})
	var seq atomic.Int64 // order numbers, distinct across targets
	var all []*burstTarget
	for _, name := range targets {
		all = append(all, startBurstTarget(b, cfg, name, redis, &seq))
	}
	// The rounds go round the targets, each drained before the next
	// starts, so load from elsewhere on the machine falls on all alike.
	for round := range cfg.rounds {
		n := cfg.webhooks / cfg.rounds
		if round == cfg.rounds-1 {
			n = cfg.webhooks - n*(cfg.rounds-1)
		}
		for _, tg := range all {
			if !tg.failed {
				tg.burstRound(b, cfg, &seq, n, cfg.profileDir != "" && round == 0)
			}
		}
	}
	for _, tg := range all {
		if !tg.failed && (tg.name == "all" || tg.name == "embedded") {
			tg.spikeRound(b, cfg, &seq)
		}
	}

	var table strings.Builder
	fmt.Fprintf(&table, "burst of %d distinct signed orders/create (%d bytes) in %d round(s) over %d keep-alive connections, %d shops\n",
		cfg.webhooks, len(burstOrder(1)), cfg.rounds, cfg.conns, cfg.merchants)
	fmt.Fprintf(&table, "%-9s %11s %9s %9s %9s %10s\n", "target", "webhooks/s", "p50 ms", "p99 ms", "max ms", "drained in")
	rates := map[string]float64{}
	for _, tg := range all {
		r := tg.res
		slices.Sort(r.burst.latency)
		rates[r.name] = r.burst.rate()
		drained := "-"
		if r.drain > 0 {
			drained = r.drain.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&table, "%-9s %11.0f %9.1f %9.1f %9.1f %10s\n", r.name, r.burst.rate(), r.burst.quantile(0.5), r.burst.quantile(0.99), r.burst.quantile(1), drained)
		b.ReportMetric(r.burst.rate(), r.name+"-webhooks/s")
	}
	ratio := func(label, num, den string) {
		if rates[num] > 0 && rates[den] > 0 {
			fmt.Fprintf(&table, "%s %.2f  ", label, rates[num]/rates[den])
			b.ReportMetric(rates[num]/rates[den], num+"/"+den)
		}
	}
	ratio("all/bare", "all", "bare")
	ratio("web/bare", "web", "bare")
	ratio("embedded/all", "embedded", "all")
	fmt.Fprintln(&table)
	for _, tg := range all {
		s := tg.res.spike
		if s == nil {
			continue
		}
		fmt.Fprintf(&table, "spike on %s: %d webhooks at once over %d connections: %.0f webhooks/s, p50 %.0f ms, p99 %.0f ms, max %.0f ms, %d 5xx, %d not 2xx\n",
			tg.name, len(s.latency), cfg.spikeConns, s.rate(), s.quantile(0.5), s.quantile(0.99), s.quantile(1), s.serverErrors, s.bad)
		b.ReportMetric(s.quantile(1), tg.name+"-spike-max-ms")
	}
	b.Log(table.String())
}

// startBurstTarget starts one target's process and its shops, and sends a
// warm-up (connections, caches, scripts), drained before the rounds.
func startBurstTarget(b *testing.B, cfg burstConfig, name string, redis *redistest.Server, seq *atomic.Int64) *burstTarget {
	tg := &burstTarget{name: name, provider: newLoadInterakt(b, 0), res: burstResult{name: name}}
	tg.vars = map[string]string{
		"APP_URL":                 e2eAppURL,
		"SECRET_KEY":              strings.Repeat("bur5t-k3y-", 5),
		"ADMIN_TOKEN":             e2eAdminToken,
		"METRICS_TOKEN":           burstMetricsToken,
		"SHOPIFY_API_KEY":         "burst-key",
		"SHOPIFY_API_SECRET":      e2eShopifySecret,
		"ALLOW_INSECURE_OUTBOUND": "true",
		"LOG_LEVEL":               "warn",
	}
	mode := "serve:all"
	switch name {
	case "all":
	case "web":
		mode = "serve:web"
	case "bare":
		mode = "bare"
	case "embedded":
		tg.vars["DATA_DIR"] = b.TempDir()
		tg.vars["APP_URL"] = ""
	default:
		b.Fatalf("STOREBRIDGE_BURST_TARGETS: unknown target %q; want bare, all, web or embedded", name)
	}
	if name != "embedded" {
		tg.vars["REDIS_URL"] = redis.URL()
		tg.vars["REDIS_PREFIX"] = "burst:" + name + ":"
	}
	tg.proc = startBurstProc(b, name, mode, tg.vars, cfg.profileDir)
	tg.shops = make([]string, cfg.merchants)
	for i := range tg.shops {
		tg.shops[i] = fmt.Sprintf("burst-shop-%03d.myshopify.com", i)
		if name != "bare" {
			burstMerchant(b, tg.proc.base, tg.shops[i], tg.provider.srv.URL)
		}
	}
	tg.client = burstClient(cfg.conns)
	b.Cleanup(tg.client.CloseIdleConnections)
	warm := burstSend(tg.client, tg.proc.base, burstWebhooks(seq, tg.shops, 2*cfg.conns), cfg.conns)
	tg.failed = !warm.check(b, name+" warm-up")
	tg.expected += len(warm.latency)
	if !tg.failed {
		tg.failed = !tg.drained(b, cfg, "warm-up")
	}
	return tg
}

// drained waits for the target's queue to drain (the web role's through a
// worker process started for it) and checks every send.
func (tg *burstTarget) drained(b *testing.B, cfg burstConfig, what string) bool {
	switch tg.name {
	case "bare":
		return true
	case "web":
		// The web role has no workers: a worker process drains its queue.
		worker := startBurstProc(b, "worker", "serve:worker", tg.vars, "")
		defer worker.stop(b)
	}
	return burstDrained(b, tg.name+" "+what, tg.proc, tg.provider, tg.expected, cfg.drain)
}

// burstRound sends n webhooks (with profile, the server's CPU profile of
// them), then waits for the drain.
func (tg *burstTarget) burstRound(b *testing.B, cfg burstConfig, seq *atomic.Int64, n int, profile bool) {
	webhooks := burstWebhooks(seq, tg.shops, n)
	if profile {
		tg.proc.signal(b, syscall.SIGUSR1)
	}
	sent := burstSend(tg.client, tg.proc.base, webhooks, cfg.conns)
	if profile {
		tg.proc.signal(b, syscall.SIGUSR2)
	}
	end := time.Now()
	tg.res.burst.add(sent)
	tg.expected += len(sent.latency)
	if !sent.check(b, tg.name+" burst") || !tg.drained(b, cfg, "burst") {
		tg.failed = true
		return
	}
	if tg.name != "bare" {
		tg.res.drain = tg.provider.last().Sub(end)
	}
}

// spikeRound sends the spike at once over new connections: no 5xx, no
// answer slower than Shopify's 5 s, each delivered exactly once.
func (tg *burstTarget) spikeRound(b *testing.B, cfg burstConfig, seq *atomic.Int64) {
	client := burstClient(cfg.spikeConns)
	spike := burstSend(client, tg.proc.base, burstWebhooks(seq, tg.shops, cfg.spike), cfg.spikeConns)
	client.CloseIdleConnections()
	tg.res.spike = &spike
	ok := spike.check(b, tg.name+" spike")
	if max := spike.quantile(1); max >= 5000 {
		b.Errorf("%s spike: slowest answer %.0f ms; want under 5 s (Shopify's timeout)", tg.name, max)
	}
	tg.expected += len(spike.latency)
	if !ok || !tg.drained(b, cfg, "spike") {
		tg.failed = true
	}
}

const burstMetricsToken = "burst-metrics-token-0001"

// burstMerchant adds shop with its Interakt account and an order.placed
// rule, as the operator would.
func burstMerchant(b *testing.B, base, shop, providerURL string) {
	m := loadAdmin(b, base, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": shop, "access_token": "shpat_burst", "name": shop, "country": "IN", "timezone": "Asia/Kolkata",
	}, http.StatusCreated)
	id, _ := m["id"].(string)
	loadAdmin(b, base, "PUT", "/api/admin/merchants/"+id+"/provider", map[string]any{
		"provider": "interakt", "common_property": "phone",
		"credentials": map[string]string{"api_key": e2eInteraktKey, "base_url": providerURL},
	}, http.StatusOK)
	loadAdmin(b, base, "PUT", "/api/admin/merchants/"+id+"/rules/order.placed", map[string]any{
		"template": "order_placed", "language": "en", "variables": []string{"user_name", "order.number", "order.total"},
	}, http.StatusOK)
}

func burstClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

// burstDrained waits until the provider has a send for every one of the
// expected orders and the process's queue is empty, then checks that no
// order was sent twice.
func burstDrained(b *testing.B, what string, proc *burstProc, provider *loadInterakt, expected int, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for provider.distinct() < expected && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var depth map[string]float64
	for {
		depth = proc.queueDepth(b)
		if depth["ready"]+depth["scheduled"]+depth["running"] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for a second copy to show up
	sends, fails := provider.snapshot()
	total, twice := 0, 0
	for _, got := range sends {
		total += len(got)
		if len(got) > 1 {
			twice++
		}
	}
	ok := true
	if len(sends) != expected || total != expected || twice > 0 {
		b.Errorf("%s: %d orders sent (%d calls, %d orders more than once); want each of %d sent exactly once\nlast logs:\n%s",
			what, len(sends), total, twice, expected, loadTail(proc.logs.String(), 20))
		ok = false
	}
	if depth["ready"]+depth["scheduled"]+depth["running"]+depth["dead"] != 0 {
		b.Errorf("%s: queue holds %v after the drain; want all zero", what, depth)
		ok = false
	}
	if len(fails) > 0 {
		b.Errorf("%s: the fake Interakt refused %d requests; first: %s", what, len(fails), fails[0])
		ok = false
	}
	return ok
}

// last is when the latest send arrived.
func (p *loadInterakt) last() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var last time.Time
	for _, got := range p.sends {
		for _, t := range got {
			if t.After(last) {
				last = t
			}
		}
	}
	return last
}

// burstWebhook is one signed delivery, built before the clock starts.
type burstWebhook struct {
	shop, event string
	body        []byte
	hmac        string
}

func burstWebhooks(seq *atomic.Int64, shops []string, n int) []burstWebhook {
	out := make([]burstWebhook, n)
	for i := range out {
		k := int(seq.Add(1))
		body := burstOrder(k)
		out[i] = burstWebhook{
			shop:  shops[k%len(shops)],
			event: fmt.Sprintf("9d3f6b2a-burst-4c1e-8a7b-%012d", k),
			body:  body,
			hmac:  hmacBase64(e2eShopifySecret, body),
		}
	}
	return out
}

// burstOrder is loadOrder(k) with the note attributes a storefront adds
// (a gift message, delivery instructions): about 5 KB.
func burstOrder(k int) []byte {
	return bytes.Replace(loadOrder(k), []byte(`"note_attributes":[]`), []byte(burstNoteAttributes), 1)
}

const burstNoteAttributes = `"note_attributes":[` +
	`{"name":"gift_message","value":"जन्मदिन की हार्दिक शुभकामनाएँ! Happy birthday, Didi — wear the blue kurta to the family dinner on Sunday, and keep the dupatta for Diwali. With love from all of us in Pune."},` +
	`{"name":"delivery_instructions","value":"Please call before delivery. Ring the bell twice; the guard at the main gate of Shanti Apartments keeps parcels if nobody is home between 11 am and 4 pm. Do not leave the parcel outside flat 4B."},` +
	`{"name":"preferred_slot","value":"weekday evening, 6 pm to 9 pm"},` +
	`{"name":"utm_source","value":"instagram"},{"name":"utm_medium","value":"paid_social"},{"name":"utm_campaign","value":"festive-kurta-sale-2026-03"},` +
	`{"name":"landing_page","value":"/collections/festive-kurtas?variant=9000000001&utm_source=instagram&utm_medium=paid_social&utm_campaign=festive-kurta-sale-2026-03&fbclid=IwAR3x0q7v1c2b3n4m5a6s7d8f9g0h1j2k3l4"},` +
	`{"name":"cod_confirmation","value":"pending"},{"name":"whatsapp_opt_in","value":"yes"}]`

// burstSent is what one burst measured.
type burstSent struct {
	elapsed      time.Duration
	latency      []time.Duration // sorted after send
	bad          int             // not answered 2xx accepted
	serverErrors int             // answered 5xx
	firstBad     string
}

// add counts another round in s.
func (s *burstSent) add(o burstSent) {
	s.elapsed += o.elapsed
	s.latency = append(s.latency, o.latency...)
	s.bad += o.bad
	s.serverErrors += o.serverErrors
	if s.firstBad == "" {
		s.firstBad = o.firstBad
	}
}

func (s burstSent) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(len(s.latency)) / s.elapsed.Seconds()
}

// quantile answers in milliseconds; 1 is the slowest.
func (s burstSent) quantile(q float64) float64 {
	if len(s.latency) == 0 {
		return 0
	}
	return float64(s.latency[min(int(q*float64(len(s.latency))), len(s.latency)-1)]) / float64(time.Millisecond)
}

func (s burstSent) check(b *testing.B, what string) bool {
	if s.bad > 0 {
		b.Errorf("%s: %d of %d webhooks not answered 2xx accepted (%d 5xx); first: %s", what, s.bad, len(s.latency), s.serverErrors, s.firstBad)
		return false
	}
	return true
}

// burstSend posts every webhook from conns senders at once and waits for
// every answer.
func burstSend(client *http.Client, base string, webhooks []burstWebhook, conns int) burstSent {
	out := burstSent{latency: make([]time.Duration, len(webhooks))}
	var next, bad, server atomic.Int64
	var firstBad atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conns, len(webhooks)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(webhooks) {
					return
				}
				t0 := time.Now()
				status, answer, err := burstPost(client, base, webhooks[i])
				out.latency[i] = time.Since(t0)
				if err != nil || status < 200 || status > 299 || !strings.Contains(answer, `"outcome":"accepted"`) {
					bad.Add(1)
					if status >= 500 {
						server.Add(1)
					}
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", status, answer, err))
				}
			}
		})
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	out.bad, out.serverErrors = int(bad.Load()), int(server.Load())
	if s, ok := firstBad.Load().(string); ok {
		out.firstBad = s
	}
	slices.Sort(out.latency)
	return out
}

// burstPost sends w as Shopify does: the HMAC of the raw body with the
// app's secret, a fresh event id.
func burstPost(client *http.Client, base string, w burstWebhook) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/shopify", bytes.NewReader(w.body))
	if err != nil {
		return 0, "", err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", "orders/create")
	h.Set("X-Shopify-Shop-Domain", w.shop)
	h.Set("X-Shopify-Event-Id", w.event)
	h.Set("X-Shopify-Webhook-Id", "wh-"+w.event)
	h.Set("X-Shopify-Triggered-At", "2026-03-14T04:45:00.000Z")
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

// burstProc is a server child process.
type burstProc struct {
	name, base string
	cmd        *exec.Cmd
	logs       *syncBuffer
	once       sync.Once
	stop       func(b *testing.B) // SIGTERM, and wait for the exit
}

// Child processes: TestBurstChildProcess reads these.
const (
	burstChildEnv   = "STOREBRIDGE_BURST_CHILD"        // serve:<role> or bare
	burstProfileEnv = "STOREBRIDGE_BURST_PROFILE_FILE" // CPU profile from SIGUSR1 to SIGUSR2
)

// startBurstProc starts this test binary as a server child with vars as
// its whole environment (plus PATH, HOME, TMPDIR) on a free port, waits
// for /healthz, and stops it with SIGTERM when the benchmark ends.
func startBurstProc(b *testing.B, name, mode string, vars map[string]string, profileDir string) *burstProc {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBurstChildProcess$", "-test.count=1", "-test.timeout=0")
	for _, v := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC"} {
		if s, ok := os.LookupEnv(v); ok {
			cmd.Env = append(cmd.Env, v+"="+s)
		}
	}
	for k, v := range vars {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, burstChildEnv+"="+mode, "HOST=127.0.0.1", "PORT="+strconv.Itoa(port))
	if profileDir != "" {
		cmd.Env = append(cmd.Env, burstProfileEnv+"="+filepath.Join(profileDir, name+".pprof"))
	}
	p := &burstProc{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logs: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.stop = func(b *testing.B) {
		p.once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					b.Errorf("%s exited with %v after SIGTERM\nlogs:\n%s", name, err, loadTail(p.logs.String(), 20))
				}
			case <-time.After(shutdownTimeout + 5*time.Second):
				_ = cmd.Process.Kill()
				b.Errorf("%s did not stop after SIGTERM", name)
			}
		})
	}
	b.Cleanup(func() { p.stop(b) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-exited:
			exited <- err
			b.Fatalf("%s ended at start: %v\nlogs:\n%s", name, err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not answer /healthz: %v\nlogs:\n%s", name, err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *burstProc) signal(b *testing.B, sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		b.Errorf("signal %s to %s: %v", sig, p.name, err)
	}
}

// queueDepth reads storebridge_queue_jobs from the process's /metrics.
func (p *burstProc) queueDepth(b *testing.B) map[string]float64 {
	req, _ := http.NewRequest(http.MethodGet, p.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+burstMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Errorf("%s /metrics: %v", p.name, err)
		return nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	depth := map[string]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, `storebridge_queue_jobs{state="`)
		if !ok {
			continue
		}
		state, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		depth[state], _ = strconv.ParseFloat(value, 64)
	}
	if len(depth) == 0 {
		b.Errorf("%s /metrics = %d without storebridge_queue_jobs", p.name, resp.StatusCode)
	}
	return depth
}

// TestBurstChildProcess is a server of BenchmarkBurstLoad: run() as main
// runs it, or the bare baseline handler.
func TestBurstChildProcess(t *testing.T) {
	mode := os.Getenv(burstChildEnv)
	if mode == "" {
		t.Skip("only runs as a child of BenchmarkBurstLoad")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	prof := startBurstProfiler(os.Getenv(burstProfileEnv))
	defer prof.stop()
	var err error
	if role, ok := strings.CutPrefix(mode, "serve:"); ok {
		err = run(ctx, []string{"storebridge", "serve", "--role=" + role}, os.Getenv, os.Stdout)
	} else {
		err = serveBare(ctx, os.Getenv)
	}
	if err != nil {
		t.Fatalf("%s: %v", mode, err)
	}
}

// burstProfiler takes a CPU profile into path between SIGUSR1 and SIGUSR2
// (or the end of the process).
type burstProfiler struct {
	mu   sync.Mutex
	path string
	file *os.File
}

func startBurstProfiler(path string) *burstProfiler {
	p := &burstProfiler{path: path}
	if path == "" {
		return p
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range sig {
			if s == syscall.SIGUSR2 {
				p.stop()
				continue
			}
			p.mu.Lock()
			if p.file == nil {
				if f, err := os.Create(p.path); err == nil && pprof.StartCPUProfile(f) == nil {
					p.file = f
				}
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *burstProfiler) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.file != nil {
		pprof.StopCPUProfile()
		p.file.Close()
		p.file = nil
	}
}

// bareClaimEnqueue is the least an exactly-once ingest needs: KEYS idem,
// jobs, due (one slot); ARGV ttl ms, job id, payload, due ms.
const bareClaimEnqueue = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
`

// serveBare is the baseline: an Echo handler that reads the body, checks
// the Shopify HMAC and runs one claim+enqueue script on REDIS_URL.
func serveBare(ctx context.Context, getenv func(string) string) error {
	opts, err := goredis.ParseURL(getenv("REDIS_URL"))
	if err != nil {
		return err
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	secret := []byte(getenv("SHOPIFY_API_SECRET"))
	prefix := getenv("REDIS_PREFIX")
	claim := goredis.NewScript(bareClaimEnqueue)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/metrics", func(c echo.Context) error { return c.String(http.StatusOK, "") })
	e.POST("/webhooks/shopify", func(c echo.Context) error {
		req := c.Request()
		var body bytes.Buffer
		if req.ContentLength > 0 {
			body.Grow(int(req.ContentLength))
		}
		if _, err := body.ReadFrom(req.Body); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "unreadable body"})
		}
		got, err := base64.StdEncoding.DecodeString(req.Header.Get("X-Shopify-Hmac-Sha256"))
		mac := hmac.New(sha256.New, secret)
		mac.Write(body.Bytes())
		if err != nil || !hmac.Equal(mac.Sum(nil), got) {
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		}
		id := req.Header.Get("X-Shopify-Event-Id")
		base := prefix + "m:{" + req.Header.Get("X-Shopify-Shop-Domain") + "}:"
		keys := []string{base + "idem:shopify:" + id + ":" + req.Header.Get("X-Shopify-Topic"), base + "q:jobs", base + "q:due"}
		n, err := claim.Run(req.Context(), rdb, keys, (48 * time.Hour).Milliseconds(), id, body.Bytes(), time.Now().UnixMilli()).Int()
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"error": "store unavailable"})
		}
		outcome := "accepted"
		if n == 0 {
			outcome = "duplicate"
		}
		return c.JSON(http.StatusOK, map[string]string{"outcome": outcome})
	})
	server := &http.Server{
		Addr: net.JoinHostPort(getenv("HOST"), getenv("PORT")), Handler: e,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
	}
	failed := make(chan error, 1)
	go func() { failed <- server.ListenAndServe() }()
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
