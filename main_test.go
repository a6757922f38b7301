package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/handlers"
	"github.com/storebridge/storebridge/store/redistest"
)

// syncBuffer is a log sink the server and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name     string
		vars     map[string]string
		variable string
	}{
		{"port not a number", map[string]string{"PORT": "eighty", "DATA_DIR": dir}, "PORT"},
		{"port out of range", map[string]string{"PORT": "70000", "DATA_DIR": dir}, "PORT"},
		{"secret key required with redis", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "DATA_DIR": dir}, "SECRET_KEY"},
		{"secret key too short", map[string]string{"SECRET_KEY": "short", "DATA_DIR": dir}, "SECRET_KEY"},
		{"redis url scheme", map[string]string{"REDIS_URL": "http://x", "SECRET_KEY": strings.Repeat("k", 32), "APP_URL": e2eAppURL}, "REDIS_URL"},
		{"retry schedule", map[string]string{"DELIVERY_RETRY_SCHEDULE": "10s,soon", "DATA_DIR": dir}, "DELIVERY_RETRY_SCHEDULE"},
		{"worker concurrency not a number", map[string]string{"WORKER_CONCURRENCY": "many", "DATA_DIR": dir}, "WORKER_CONCURRENCY"},
		{"worker concurrency zero", map[string]string{"WORKER_CONCURRENCY": "0", "DATA_DIR": dir}, "WORKER_CONCURRENCY"},
		{"log format", map[string]string{"LOG_FORMAT": "xml", "DATA_DIR": dir}, "LOG_FORMAT"},
		{"allow insecure", map[string]string{"ALLOW_INSECURE_OUTBOUND": "maybe", "DATA_DIR": dir}, "ALLOW_INSECURE_OUTBOUND"},
		{"app url", map[string]string{"APP_URL": "not a url", "DATA_DIR": dir}, "APP_URL"},
		{"redis prefix braces", map[string]string{"REDIS_PREFIX": "sb:{x}", "DATA_DIR": dir}, "REDIS_PREFIX"},
		{"shopify key without secret", map[string]string{"SHOPIFY_API_KEY": "abc", "DATA_DIR": dir}, "SHOPIFY_API_SECRET"},
		{"redis not answering", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": strings.Repeat("k", 32), "APP_URL": e2eAppURL}, "REDIS_URL"},
		{"metrics port not a number", map[string]string{"METRICS_PORT": "ninety", "DATA_DIR": dir}, "METRICS_PORT"},
		{"metrics port is the main port", map[string]string{"METRICS_PORT": "8080", "DATA_DIR": dir}, "METRICS_PORT"},
		{"app url required with redis", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": strings.Repeat("k", 32)}, "APP_URL"},
		{"app url https with redis", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0", "SECRET_KEY": strings.Repeat("k", 32), "APP_URL": "http://bridge.example.com"}, "APP_URL"},
		{"client ip header not a header name", map[string]string{"CLIENT_IP_HEADER": "Fly Client IP", "DATA_DIR": dir}, "CLIENT_IP_HEADER"},
		{"client ip header a list the client writes to", map[string]string{"CLIENT_IP_HEADER": "x-forwarded-for", "DATA_DIR": dir}, "CLIENT_IP_HEADER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out syncBuffer
			err := run(ctx, []string{"storebridge"}, env(tc.vars), &out)
			if err == nil || !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("run() = %v; want an error naming %s", err, tc.variable)
			}
		})
	}
}

// TestAppURLDefault: without REDIS_URL (go run . with no environment) the
// public URL defaults to localhost; with it, the value given is kept.
func TestAppURLDefault(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "http://localhost:8080"},
		{map[string]string{"PORT": "9000"}, "http://localhost:9000"},
		{map[string]string{"APP_URL": "http://192.168.1.5:8080/"}, "http://192.168.1.5:8080"},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:6379", "SECRET_KEY": strings.Repeat("k", 32), "APP_URL": "https://bridge.example.com/"}, "https://bridge.example.com"},
	}
	for _, tc := range cases {
		cfg, err := loadConfig(env(tc.vars))
		if err != nil || cfg.AppURL.String() != tc.want {
			t.Errorf("loadConfig(%v).AppURL = %v, %v; want %s", tc.vars, cfg.AppURL, err, tc.want)
		}
	}
}

// TestWorkerConcurrency: the workers run 128 jobs at once unless
// WORKER_CONCURRENCY says otherwise.
func TestWorkerConcurrency(t *testing.T) {
	for raw, want := range map[string]int{"": 128, "32": 32, " 512 ": 512} {
		cfg, err := loadConfig(env(map[string]string{"WORKER_CONCURRENCY": raw}))
		if err != nil || cfg.WorkerConcurrency != want {
			t.Errorf("loadConfig(WORKER_CONCURRENCY=%q).WorkerConcurrency = %d, %v; want %d", raw, cfg.WorkerConcurrency, err, want)
		}
	}
}

func TestRunRefusesSplitRolesOnTheEmbeddedStore(t *testing.T) {
	for _, role := range []string{"--role=web", "--role=worker"} {
		err := run(context.Background(), []string{"storebridge", "serve", role}, env(map[string]string{"DATA_DIR": t.TempDir()}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
			t.Errorf("serve %s without REDIS_URL = %v; want a refusal naming REDIS_URL", role, err)
		}
	}
}

func TestRunRefusesUnknownCommandAndRole(t *testing.T) {
	for _, args := range [][]string{{"storebridge", "launch"}, {"storebridge", "serve", "--role=admin"}} {
		err := run(context.Background(), args, env(nil), io.Discard)
		if err == nil {
			t.Errorf("run(%v) = nil; want an error", args)
		}
	}
}

// startRun runs the service in the background and waits until it answers.
func startRun(t *testing.T, vars map[string]string, args ...string) (base string, logs *syncBuffer, stop func() error) {
	t.Helper()
	port := freePort(t)
	vars["HOST"] = "127.0.0.1"
	vars["PORT"] = strconv.Itoa(port)
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"storebridge"}, args...), env(vars), logs) }()
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
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
			t.Fatalf("run() ended at start: %v\nlogs:\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("service did not answer /healthz: %v\nlogs:\n%s", err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(shutdownTimeout + 5*time.Second):
				runErr = fmt.Errorf("run() did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return base, logs, stop
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := getStatus(t, url)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s = %d; want %d", url, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunReadyzFollowsRedis(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{Save: redistest.PersistentSave})
	base, logs, stop := startRun(t, map[string]string{
		"REDIS_URL":    redis.URL(),
		"REDIS_PREFIX": "test:readyz:",
		"SECRET_KEY":   strings.Repeat("s3cret-", 6),
		"APP_URL":      e2eAppURL,
	})
	waitStatus(t, base+"/readyz", http.StatusOK)
	redis.Kill()
	waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if got := getStatus(t, base+"/healthz"); got != http.StatusOK {
		t.Errorf("GET /healthz with Redis down = %d; want 200 (the process lives)", got)
	}
	redis.Restart(t)
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("run() after SIGTERM-like cancel = %v; want nil\nlogs:\n%s", err, logs)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs lack the clean stop:\n%s", logs)
	}
}

func TestRunEmbeddedGeneratesSecretKeyOnce(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir}
	base, logs, stop := startRun(t, vars)
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	if !strings.Contains(logs.String(), "SECRET_KEY is not set") {
		t.Errorf("first start did not warn about the generated key:\n%s", logs)
	}
	key, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil || len(strings.TrimSpace(string(key))) < 32 {
		t.Fatalf("secret.key = %q, %v; want a generated key of 32+ characters", key, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("secret.key mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}

	base, logs, stop = startRun(t, vars)
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("second run() = %v", err)
	}
	if strings.Contains(logs.String(), "SECRET_KEY is not set") {
		t.Errorf("second start generated a key again:\n%s", logs)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "secret.key"))
	if !bytes.Equal(key, again) {
		t.Error("secret.key changed between starts")
	}
}

// TestRunEmbeddedMakesAnOperatorTokenToSignInWith: a fresh `go run .`
// can be signed in to at /admin/login, with a token in DATA_DIR that the
// log points at and never prints.
func TestRunEmbeddedMakesAnOperatorTokenToSignInWith(t *testing.T) {
	dir := t.TempDir()
	base, logs, stop := startRun(t, map[string]string{"DATA_DIR": dir})
	defer stop()
	path := filepath.Join(dir, "admin.token")
	raw, err := os.ReadFile(path)
	token := strings.TrimSpace(string(raw))
	if err != nil || len(token) < 32 {
		t.Fatalf("admin.token = %q, %v; want a generated token", raw, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode = %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if !strings.Contains(logs.String(), path) || strings.Contains(logs.String(), token) {
		t.Errorf("the log should name %s and never print the token:\n%s", path, logs)
	}
	resp, err := http.Get(base + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), path) {
		t.Errorf("the sign-in page does not say where the token is:\n%s", page)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = client.PostForm(base+"/admin/login", url.Values{"secret": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/merchants" {
		t.Fatalf("signing in with the generated token = %d → %q, want 303 → /admin/merchants", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestDevOperatorTokenOnlyOnTheEmbeddedStore(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []Config{
		{DataDir: dir, RedisURL: "redis://127.0.0.1:6379/0"},
		{DataDir: dir, AdminToken: "set-by-the-operator-0000000000000000"},
	} {
		want := cfg.AdminToken
		if err := ensureDevAdminToken(&cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.AdminToken != want || cfg.AdminTokenFile != "" {
			t.Errorf("ensureDevAdminToken(%+v) made a token", cfg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.token")); !os.IsNotExist(err) {
		t.Errorf("admin.token written where it must not be: %v", err)
	}
}

func TestRunWorkerRoleServesOnlyOps(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{Save: redistest.PersistentSave})
	metricsPort := freePort(t)
	base, _, _ := startRun(t, map[string]string{
		"REDIS_URL": redis.URL(), "REDIS_PREFIX": "test:worker:", "SECRET_KEY": strings.Repeat("s3cret-", 6), "APP_URL": e2eAppURL,
		"METRICS_PORT": strconv.Itoa(metricsPort),
	}, "serve", "--role=worker")
	waitStatus(t, base+"/readyz", http.StatusOK)
	if got := getStatus(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)); got != http.StatusOK {
		t.Errorf("GET /metrics on a worker's METRICS_PORT = %d; want 200", got)
	}
	if got := getStatus(t, base+"/webhooks/shopify"); got != http.StatusNotFound && got != http.StatusMethodNotAllowed {
		t.Errorf("GET /webhooks/shopify on a worker = %d; want no such route", got)
	}
}

// TestRunMetricsStayOffThePublicPort: in production (REDIS_URL) /metrics
// is not on the public port unless METRICS_TOKEN guards it; METRICS_PORT
// serves it on a port of its own, which the graceful stop closes too.
func TestRunMetricsStayOffThePublicPort(t *testing.T) {
	redis := redistest.Start(t, redistest.Options{Save: redistest.PersistentSave})
	const token = "metrics-token-for-tests-42"
	get := func(t *testing.T, url, auth string) int {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	vars := func(prefix string, more ...string) map[string]string {
		v := redisVars(redis.URL())
		v["REDIS_PREFIX"] = prefix
		for i := 0; i+1 < len(more); i += 2 {
			v[more[i]] = more[i+1]
		}
		return v
	}

	t.Run("neither set", func(t *testing.T) {
		base, _, _ := startRun(t, vars("test:m1:"))
		if got := get(t, base+"/metrics", ""); got != http.StatusNotFound {
			t.Errorf("GET /metrics on the public port in production = %d; want 404", got)
		}
		if got := get(t, base+"/readyz", ""); got != http.StatusOK {
			t.Errorf("GET /readyz = %d; want 200 (the checks stay on the main port)", got)
		}
	})
	t.Run("token", func(t *testing.T) {
		base, _, _ := startRun(t, vars("test:m2:", "METRICS_TOKEN", token))
		for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer " + token: 200} {
			if got := get(t, base+"/metrics", auth); got != want {
				t.Errorf("GET /metrics with Authorization %q = %d; want %d", auth, got, want)
			}
		}
	})
	t.Run("own port", func(t *testing.T) {
		port := freePort(t)
		metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
		base, _, stop := startRun(t, vars("test:m3:", "METRICS_PORT", strconv.Itoa(port)))
		if got := get(t, metricsURL, ""); got != http.StatusOK {
			t.Errorf("GET /metrics on METRICS_PORT = %d; want 200", got)
		}
		if got := get(t, base+"/metrics", ""); got != http.StatusNotFound {
			t.Errorf("GET /metrics on the public port with METRICS_PORT set = %d; want 404", got)
		}
		if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), ""); got != http.StatusNotFound {
			t.Errorf("GET /readyz on METRICS_PORT = %d; want 404 (only /metrics there)", got)
		}
		if err := stop(); err != nil {
			t.Fatalf("run() = %v", err)
		}
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			conn.Close()
			t.Error("METRICS_PORT still accepts connections after the stop")
		}
	})
}

// TestFlyConfigMatchesBinary keeps fly.toml honest: every process command
// parses as this binary's command line, every checked path is a route of
// the role that serves it, and [env] with the deploy secrets loads.
func TestFlyConfigMatchesBinary(t *testing.T) {
	raw, err := os.ReadFile("fly.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)

	processes := tomlSection(text, "processes")
	commands := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(processes, -1)
	if len(commands) < 2 {
		t.Fatalf("fly.toml [processes] = %q; want web and worker", processes)
	}
	roles := map[string]string{}
	for _, c := range commands {
		command, role, err := parseCommand(strings.Fields(c[2]), io.Discard)
		if err != nil || command != "serve" {
			t.Errorf("process %s = %q: parseCommand() = %q, %v; want serve", c[1], c[2], command, err)
		}
		roles[c[1]] = role
	}
	if roles["web"] != "web" || roles["worker"] != "worker" {
		t.Errorf("process roles = %v; want web→web, worker→worker", roles)
	}

	h := handlers.New(handlers.Options{Metrics: handlers.NewMetrics(nil, nil)})
	e := handlers.NewEcho(nil, handlers.NewMetrics(nil, nil))
	h.RegisterOps(e) // what a worker serves on its main port; the web role adds to it
	routes := map[string]bool{}
	for _, r := range e.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	pathRE := regexp.MustCompile(`(?m)^\s*path\s*=\s*"([^"]+)"`)
	metricsSection := tomlSection(text, "metrics")
	paths := pathRE.FindAllStringSubmatch(strings.Replace(text, metricsSection, "", 1), -1)
	if len(paths) == 0 {
		t.Fatal("fly.toml has no check paths")
	}
	for _, p := range paths {
		if !routes["GET "+p[1]] {
			t.Errorf("fly.toml checks %s, which the binary does not serve on the main port", p[1])
		}
	}

	// [env] with the secrets the deploy steps set must be a configuration
	// the binary starts with in production.
	vars := map[string]string{"REDIS_URL": "rediss://default:x@fly-storebridge.upstash.io:6379", "SECRET_KEY": strings.Repeat("s3cret-", 6)}
	for _, kv := range regexp.MustCompile(`(?m)^\s*([A-Z_]+)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(tomlSection(text, "env"), -1) {
		vars[kv[1]] = kv[2]
	}
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatalf("fly.toml [env] with REDIS_URL and SECRET_KEY: loadConfig() = %v; want a configuration that starts", err)
	}
	if cfg.AppURL.Scheme != "https" || strings.Contains(cfg.AppURL.Host, "localhost") {
		t.Errorf("fly.toml APP_URL = %s; want the app's public https:// address", cfg.AppURL)
	}

	// Fly's scraper sends no headers: it must find /metrics on
	// METRICS_PORT, a port the HTTP service does not expose.
	metricsPort := regexp.MustCompile(`(?m)^\s*port\s*=\s*(\d+)`).FindStringSubmatch(metricsSection)
	metricsPath := pathRE.FindStringSubmatch(metricsSection)
	if metricsPort == nil || metricsPath == nil || metricsPort[1] != strconv.Itoa(cfg.MetricsPort) {
		t.Errorf("fly.toml [metrics] = %q; want port = METRICS_PORT (%d) and a path", metricsSection, cfg.MetricsPort)
	}
	if internal := regexp.MustCompile(`(?m)^\s*internal_port\s*=\s*(\d+)`).FindStringSubmatch(text); internal == nil || internal[1] != strconv.Itoa(cfg.Port) || cfg.MetricsPort == cfg.Port {
		t.Errorf("fly.toml internal_port = %v; want PORT (%d), apart from METRICS_PORT", internal, cfg.Port)
	}
	if cfg.MetricsToken != "" || metricsOnMainPort(cfg) {
		t.Error("fly.toml: /metrics must be served on METRICS_PORT without a token, which Fly's scraper cannot send")
	}
	me := handlers.NewEcho(nil, handlers.NewMetrics(nil, nil))
	h.RegisterMetrics(me, cfg.MetricsToken)
	rec := httptest.NewRecorder()
	if metricsPath != nil {
		me.ServeHTTP(rec, httptest.NewRequest("GET", metricsPath[1], nil))
	}
	if rec.Code != http.StatusOK {
		t.Errorf("GET %v on the metrics port = %d; want 200", metricsPath, rec.Code)
	}

	kill := regexp.MustCompile(`(?m)^kill_timeout\s*=\s*(\d+)`).FindStringSubmatch(text)
	if kill == nil {
		t.Fatal("fly.toml has no kill_timeout")
	}
	if seconds, _ := strconv.Atoi(kill[1]); time.Duration(seconds)*time.Second <= shutdownTimeout {
		t.Errorf("kill_timeout = %ss; want more than the graceful stop (%s)", kill[1], shutdownTimeout)
	}
	if !strings.Contains(text, `kill_signal = "SIGTERM"`) && !strings.Contains(text, `kill_signal = "SIGINT"`) {
		t.Error("fly.toml kill_signal must be SIGTERM or SIGINT, the signals run() stops on")
	}
}

// tomlSection returns the lines of a [name] table up to the next header.
func tomlSection(text, name string) string {
	header := regexp.MustCompile(`(?m)^\s*\[` + regexp.QuoteMeta(name) + `\]\s*$`).FindStringIndex(text)
	if header == nil {
		return ""
	}
	rest := text[header[1]:]
	if next := regexp.MustCompile(`(?m)^\s*\[`).FindStringIndex(rest); next != nil {
		rest = rest[:next[0]]
	}
	return rest
}

// TestDemo runs the demo as a merchant would and checks the messages it
// prints: both platforms, COD confirmations, formatted money, tracking.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out syncBuffer
	port := freePort(t)
	err := run(ctx, []string{"storebridge", "demo", "--once"}, env(map[string]string{"PORT": strconv.Itoa(port)}), &out)
	if err != nil {
		t.Fatalf("demo = %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		`order.placed                to +91******2345   template order_placed      ["Meera","#1042","₹1,697.00"]  sent`,
		`cod.confirmation_requested  to +91******2345   template cod_confirm       ["Meera","#1042","₹1,697.00"]  sent`,
		`https://www.delhivery.com/track/package/DLV5512340098`,
		`order.out_for_delivery      to +91******2345`,
		`cart.abandoned              to +91******1223`,
		`["Anaïs","#8812","₹2,350.00"]  sent`,
		`https://www.bluedart.com/tracking?awb=BD77120045IN`,
		"demo done",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "+919845012345") {
		t.Error("demo output shows a full phone number")
	}
}

// TestRunOnRedisCluster: REDIS_URL naming one node of a Redis Cluster is
// enough; the service finds the cluster and works across its nodes.
func TestRunOnRedisCluster(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	base, logs, stop := startRun(t, map[string]string{
		"REDIS_URL": "redis://" + addrs[0], "SECRET_KEY": strings.Repeat("s3cret-", 6), "ADMIN_TOKEN": e2eAdminToken, "APP_URL": e2eAppURL,
	})
	waitStatus(t, base+"/readyz", http.StatusOK)
	// Merchants land on different nodes by their hash tags.
	for i := range 6 {
		m := admin(t, base, "POST", "/api/admin/merchants", map[string]any{"platform": "shopify", "shop_domain": fmt.Sprintf("cluster-%d.myshopify.com", i)}, 201)
		admin(t, base, "PUT", "/api/admin/merchants/"+m["id"].(string)+"/provider", map[string]any{"provider": "sandbox"}, 200)
		admin(t, base, "PUT", "/api/admin/merchants/"+m["id"].(string)+"/rules/order.placed", map[string]any{"template": "order_placed", "variables": []string{"order.number"}}, 200)
		test := admin(t, base, "POST", "/api/admin/merchants/"+m["id"].(string)+"/test-events", map[string]any{"event": "order.placed", "phone": "+919876543210", "properties": map[string]any{"order": map[string]any{"number": "#1"}}}, 200)
		if test["status"] != "sent" {
			t.Fatalf("test send on the cluster = %v\nlogs:\n%s", test, logs)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
}

// TestRunLimitsFailedSignInsPerClient: the limits are wired in, and with
// CLIENT_IP_HEADER the proxy's header, not the socket, names the client.
func TestRunLimitsFailedSignInsPerClient(t *testing.T) {
	base, _, _ := startRun(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": e2eAdminToken, "CLIENT_IP_HEADER": "Fly-Client-IP"})
	signIn := func(client string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/admin/merchants/m_nobody", nil)
		req.Header.Set("Authorization", "Bearer wrong-guess")
		req.Header.Set("Fly-Client-IP", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range 10 {
		if status, _ := signIn("203.0.113.7"); status != http.StatusUnauthorized {
			t.Fatalf("failed sign-in %d = %d; want 401", i+1, status)
		}
	}
	if status, wait := signIn("203.0.113.7"); status != http.StatusTooManyRequests || wait == "" {
		t.Errorf("failed sign-in 11 = %d (Retry-After %q); want 429 with Retry-After", status, wait)
	}
	if status, _ := signIn("198.51.100.9"); status != http.StatusUnauthorized {
		t.Errorf("another client through the same proxy = %d; want 401", status)
	}
}
