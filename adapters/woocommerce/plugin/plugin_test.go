package plugin_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/sandbox"
	"github.com/storebridge/storebridge/adapters/woocommerce/plugin"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/handlers"
	"github.com/storebridge/storebridge/store/embedded"
)

const secretKey = "plugin-test-secret-key-0123456789abcdef"

// phpBinary is the PHP CLI the tests run: Debian's php-cli, which .ci/run
// installs when it is missing. Missing PHP fails the tests: they never skip.
func phpBinary(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php is not installed: apt-get install -y php-cli (.ci/run does this)")
	}
	return php
}

// TestZipIsInstallable: the zip WordPress uploads has one top folder, the
// plugin's slug, with the main file (and its plugin header) and readme.txt
// in it, and every file the source folder has.
func TestZipIsInstallable(t *testing.T) {
	var buf bytes.Buffer
	if err := plugin.WriteZip(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, plugin.Slug+"/") {
			t.Errorf("zip entry %s is outside %s/", f.Name, plugin.Slug)
		}
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(body)
	}
	var onDisk []string
	err = filepath.WalkDir(plugin.Slug, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			onDisk = append(onDisk, filepath.ToSlash(path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range onDisk {
		if _, ok := got[name]; !ok {
			t.Errorf("zip lacks %s", name)
		}
	}
	if len(got) != len(onDisk) {
		t.Errorf("zip has %d files; the folder %d", len(got), len(onDisk))
	}
	main := got[plugin.Slug+"/"+plugin.Slug+".php"]
	for _, header := range []string{"Plugin Name:", "Description:", "Version:", "Requires at least:", "Requires PHP:", "License:", "Text Domain:", "WC requires at least:"} {
		if !regexp.MustCompile(`(?m)^ \* ` + regexp.QuoteMeta(header) + ` +\S`).MatchString(main) {
			t.Errorf("main file's plugin header lacks %q", header)
		}
	}
	version := regexp.MustCompile(`(?m)^ \* Version: +(\S+)`).FindStringSubmatch(main)
	readme := got[plugin.Slug+"/readme.txt"]
	if version == nil || !strings.Contains(readme, "Stable tag: "+version[1]) || !strings.HasPrefix(readme, "=== ") {
		t.Errorf("readme.txt's stable tag does not match the plugin's version %v", version)
	}
	if !strings.Contains(main, "define( 'STOREBRIDGE_CART_VERSION', '"+version[1]+"' )") {
		t.Error("STOREBRIDGE_CART_VERSION differs from the header's version")
	}
	var again bytes.Buffer
	if err := plugin.WriteZip(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("two zips of the same build differ")
	}
}

// TestPHPLint runs php -l on every PHP file of the plugin and the harness.
func TestPHPLint(t *testing.T) {
	php := phpBinary(t)
	files, _ := filepath.Glob(filepath.Join("testdata", "*.php"))
	err := filepath.WalkDir(plugin.Slug, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".php") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("found %d PHP files; want the plugin's 6 and the harness", len(files))
	}
	for _, f := range files {
		if out, err := exec.Command(php, "-l", f).CombinedOutput(); err != nil {
			t.Errorf("php -l %s: %v\n%s", f, err, out)
		}
	}
}

// clock is real time moved by an offset the test sets, or, frozen, one
// moment.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

// Freeze stops the clock where it is.
func (c *clock) Freeze() {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

// bridge is a real storebridge behind the real router, on a test clock,
// with running workers.
type bridge struct {
	url   string
	svc   *app.Service
	store app.Store
	now   *clock
}

func newBridge(t *testing.T, setup ...func(*app.Service)) *bridge {
	t.Helper()
	clk := &clock{}
	clk.Set(time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) // 11:30 in Kolkata
	st, err := embedded.Open(filepath.Join(t.TempDir(), "p.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(secretKey)
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log, Now: clk.Now,
		Providers: map[string]app.ProviderKit{app.ProviderSandbox: sandbox.Kit()},
		CheckURL:  func(raw string) (*url.URL, error) { return adapters.CheckURL(raw, false) },
	})
	for _, f := range setup {
		f(svc)
	}
	metrics := handlers.NewMetrics(st, log)
	e := handlers.NewEcho(log, metrics)
	handlers.New(handlers.Options{Service: svc, Store: st, Metrics: metrics, Logger: log, AppURL: "https://bridge.example.in"}).Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	w := app.NewWorkers(st, app.WorkerOptions{Concurrency: 2, Lease: 2 * time.Second, PollInterval: 10 * time.Millisecond, Now: clk.Now})
	w.HandleAll(svc.JobHandlers())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &bridge{url: srv.URL, svc: svc, store: st, now: clk}
}

// store is a WooCommerce merchant with sandbox as its provider and a
// delayed cart reminder, and its store token.
func (b *bridge) wooStore(t *testing.T, storeURL string) (app.Merchant, string) {
	t.Helper()
	ctx := context.Background()
	m, _, err := b.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: storeURL, Name: "Asha Naturals", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = b.svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: app.ProviderSandbox}); err != nil {
		t.Fatal(err)
	}
	// The plugin stamps carts with the real time, so the reminder falls an
	// hour after the real now: at night in Kolkata it would wait for the
	// quiet hours to end, past the test's wait.
	off := "off"
	if m, err = b.svc.UpdateSettings(ctx, m.ID, app.SettingsInput{QuietHours: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.PutRule(ctx, m.ID, app.EventCartAbandoned, app.RuleInput{Template: "cart_reminder", Variables: []string{"cart.recovery_url", "cart.total"}, Delay: "1h"}); err != nil {
		t.Fatal(err)
	}
	tok, err := b.svc.NewCartToken(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m, tok.Token
}

// pastReminder moves the clock past the rule's 1h delay, so the cart
// flow's step jobs run (a step's delivery is made when its step runs).
// The delay counts from the capture's updated_at, which the plugin
// stamps with the real time, not the test clock's.
func (b *bridge) pastReminder() {
	b.now.Set(latest(b.now.Now(), time.Now()).Add(time.Hour + time.Minute))
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// delivery waits for the cart reminder of a cart, as storebridge planned it.
func (b *bridge) delivery(t *testing.T, merchant, subject string) app.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, _, err := b.store.ListDeliveries(context.Background(), merchant, app.DeliveryFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			if d.Subject == subject {
				return d
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no delivery for %s", subject)
	return app.Delivery{}
}

type stepResult struct {
	OK       bool              `json:"ok"`
	Status   int               `json:"status"`
	Outcome  string            `json:"outcome"`
	Error    string            `json:"error"`
	Reason   string            `json:"reason"`
	Skipped  bool              `json:"skipped"`
	Payload  map[string]any    `json:"payload"`
	Valid    bool              `json:"valid"`
	Snapshot map[string]any    `json:"snapshot"`
	Blocked  bool              `json:"blocked"`
	Failure  map[string]any    `json:"failure"`
	Requests int               `json:"requests"`
	Seconds  float64           `json:"seconds"`
	Settings map[string]string `json:"settings"`
}

type harnessOut struct {
	Steps    []stepResult `json:"steps"`
	raw      []json.RawMessage
	Requests []struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
		Timeout float64           `json:"timeout"`
	} `json:"requests"`
}

// runPlugin runs the plugin's code under PHP CLI with the given options
// (storebridge_cart_settings and the others) and steps.
func runPlugin(t *testing.T, home string, options map[string]any, steps ...map[string]any) harnessOut {
	t.Helper()
	dir, _ := filepath.Abs(plugin.Slug)
	spec, _ := json.Marshal(map[string]any{"plugin": dir, "home": home, "options": options, "steps": steps})
	cmd := exec.Command(phpBinary(t), "-d", "display_errors=stderr", "-d", "error_reporting=-1", filepath.Join("testdata", "harness.php"))
	cmd.Stdin = bytes.NewReader(spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("harness: %v\nstderr: %s\nstdout: %s", err, stderr.String(), raw)
	}
	var out harnessOut
	var rawSteps struct {
		Steps []json.RawMessage `json:"steps"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || json.Unmarshal(raw, &rawSteps) != nil {
		t.Fatalf("harness output %s: %v", raw, err)
	}
	out.raw = rawSteps.Steps
	return out
}

func settings(url, token, consent string) map[string]any {
	return map[string]any{"storebridge_cart_settings": map[string]string{"url": url, "token": token, "consent": consent}}
}

func capture(cartID string, version int64, consent string) map[string]any {
	req := map[string]any{"email": "riya@example.in", "phone": "098765 43210", "first_name": "Riya", "last_name": "Sharma", "country": "IN"}
	if consent != "" {
		req["consent"] = consent
	}
	return map[string]any{
		"op": "capture", "cart_id": cartID, "version": version, "currency": "INR", "request": req,
		"cart": map[string]any{"total": 1499, "lines": []map[string]any{
			{"name": "Kurta &ndash; Blue", "price": "599", "quantity": 2, "product_id": 41, "variation_id": 57, "variation": map[string]string{"attribute_pa_size": "m"}},
			{"name": "Dupatta", "price": 301, "quantity": 1, "product_id": 42},
		}},
	}
}

// TestPluginForwardsCartsToStorebridge: the plugin's own forwarding code,
// under PHP, against a real storebridge: the cart arrives as the cart
// flow's reminder with the phone in E.164 and the plugin's restore link;
// versions are idempotent; the link verifies only untampered.
func TestPluginForwardsCartsToStorebridge(t *testing.T) {
	b := newBridge(t)
	const home = "https://shop.ashanaturals.in"
	m, token := b.wooStore(t, home+"/")
	out := runPlugin(t, home, settings(b.url, token, "checkbox"),
		capture("c9f1e2", 0, ""), // checkbox not ticked: nothing leaves the store
		capture("c9f1e2", 1700000000001, "1"),
		capture("c9f1e2", 1700000000001, "1"),
		capture("c9f1e2", 1700000000000, "1"),
	)
	s := out.Steps
	if !s[0].Skipped || s[0].Requests != 0 {
		t.Errorf("capture without the ticked box = %+v; want skipped, no request", s[0])
	}
	if !s[1].OK || s[1].Status != 202 || s[1].Outcome != "accepted" {
		t.Fatalf("first capture = %+v; want 202 accepted", s[1])
	}
	for i, want := range []string{"stale", "stale"} {
		if r := s[2+i]; !r.OK || r.Status != 200 || r.Outcome != want {
			t.Errorf("repeat %d = %+v; want 200 %s", i, r, want)
		}
	}
	req := out.Requests[0]
	if req.URL != b.url+"/api/v1/carts" || req.Headers["Authorization"] != "Bearer "+token || req.Timeout > 3 {
		t.Errorf("request = %s %v timeout %v; want the token as bearer, at most 3 s", req.URL, req.Headers, req.Timeout)
	}

	// A cart converted before its reminder's time gets none.
	out = runPlugin(t, home, settings(b.url, token, "checkbox"),
		capture("e5", 1700000000300, "1"),
		map[string]any{"op": "ending", "cart_id": "e5", "status": "converted", "order_id": "728"},
	)
	if r := out.Steps[1]; !r.OK || r.Status != 202 {
		t.Errorf("converted = %+v; want 202", r)
	}
	b.pastReminder()
	d := b.delivery(t, m.ID, "cart:woo:c9f1e2")
	var ev app.Event
	if err := json.Unmarshal(d.EventData, &ev); err != nil {
		t.Fatal(err)
	}
	recovery := s[1].Payload["recovery_url"].(string)
	if d.Event != app.EventCartAbandoned || d.Phone != "+919876543210" {
		t.Errorf("delivery = %s %s %s; want a cart.abandoned to +919876543210", d.Event, d.Status, d.Phone)
	}
	waitFor(t, "the reminder sent", func() bool {
		st := b.delivery(t, m.ID, "cart:woo:c9f1e2").Status
		return st == app.DeliverySent || st == app.DeliveryDelivered
	})
	for path, want := range map[string]any{
		"cart.recovery_url": recovery, "cart.total": "₹1,499.00", "cart.items": "2 × Kurta – Blue, 1 × Dupatta",
		"cart.token": "woo:c9f1e2", "customer.first_name": "Riya",
	} {
		if got, _ := ev.Lookup(path); got != want {
			t.Errorf("%s = %v; want %v", path, got, want)
		}
	}
	if ev.Customer.Consent != app.ConsentGranted {
		t.Errorf("consent = %q; want granted from the ticked box", ev.Customer.Consent)
	}
	if !strings.HasPrefix(recovery, home+"/?storebridge_restore=c9f1e2&exp=") {
		t.Errorf("recovery_url = %s", recovery)
	}

	// The link verifies with the secret of the store that signed it.
	opts := settings(b.url, token, "none")
	opts["storebridge_cart_secret"] = strings.Repeat("ab", 32)
	// Another customer, who never opted in.
	other := func(version int64) map[string]any {
		step := capture("d4", version, "")
		step["request"].(map[string]any)["phone"] = "098765 11111"
		return step
	}
	out = runPlugin(t, home, opts, other(1700000000100))
	link := out.Steps[0].Payload["recovery_url"].(string)
	tampered := strings.Replace(link, "storebridge_restore=d4", "storebridge_restore=d5", 1)
	out = runPlugin(t, home, opts,
		other(1700000000200),
		map[string]any{"op": "verify", "url": link},
		map[string]any{"op": "verify", "url": tampered},
		map[string]any{"op": "verify", "url": strings.Replace(link, "&sig=", "&sig=0", 1)},
	)
	if v := out.Steps[1]; !v.Valid || v.Snapshot == nil {
		t.Errorf("verify(link) = %+v; want valid with the kept cart", v)
	}
	if items, _ := out.Steps[1].Snapshot["items"].([]any); len(items) != 2 {
		t.Errorf("snapshot = %v; want the two lines to restore", out.Steps[1].Snapshot)
	}
	if out.Steps[2].Valid || out.Steps[3].Valid {
		t.Error("a tampered link verifies")
	}
	// No checkbox asked for: captured, and storebridge keeps the reminder
	// from customers who have not opted in (marketing consent "required").
	if d := b.delivery(t, m.ID, "cart:woo:d4"); d.Status != app.DeliverySkipped || !strings.Contains(d.Error, "opted in") {
		t.Errorf("no-consent capture = %s %q; want skipped for consent", d.Status, d.Error)
	}

	waitFor(t, "the queue to settle", func() bool {
		d, err := b.store.Depth(context.Background())
		return err == nil && d.Ready == 0 && d.Running == 0
	})
	list, _, err := b.store.ListDeliveries(context.Background(), m.ID, app.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Subject == "cart:woo:e5" && d.Status != app.DeliverySkipped {
			t.Errorf("reminder of the converted cart is %s; want none sent", d.Status)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPluginShowsRefusedTokens: an expired, a regenerated-away and a
// forged token each get storebridge's 401; the plugin keeps the reason and
// the fix for its settings page, stops sending until a new token is saved,
// and saving one starts it again.
func TestPluginShowsRefusedTokens(t *testing.T) {
	b := newBridge(t)
	const home = "https://shop.ashanaturals.in"
	m, token := b.wooStore(t, home)

	fresh, err := b.svc.NewCartToken(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	forged := fresh.Token[:strings.LastIndex(fresh.Token, ".")+1] + "c2lnbmF0dXJlLW5vdC1vdXJz"
	for _, tc := range []struct {
		name, token, reason, says string
	}{
		{"regenerated away", token, "replaced", "replaced by a newer one"},
		{"forged", forged, "invalid", "not one storebridge issued"},
	} {
		out := runPlugin(t, home, settings(b.url, tc.token, "none"), capture("r1", 1700000000001, ""), capture("r1", 1700000000002, ""))
		first, second := out.Steps[0], out.Steps[1]
		if first.OK || first.Status != 401 || first.Reason != tc.reason || !first.Blocked {
			t.Errorf("%s: capture = %+v; want 401 %s, then blocked", tc.name, first, tc.reason)
		}
		msg, _ := first.Failure["message"].(string)
		if !strings.Contains(msg, tc.says) || !strings.Contains(msg, "generate a new token in storebridge → Cart capture") {
			t.Errorf("%s: failure kept = %v; want storebridge's reason and fix", tc.name, first.Failure)
		}
		if second.Requests != 0 || second.OK || second.Reason != "blocked" {
			t.Errorf("%s: capture after the refusal = %+v; want no request until a new token", tc.name, second)
		}
	}

	b.now.Set(fresh.ExpiresAt.Add(time.Hour))
	out := runPlugin(t, home, settings(b.url, fresh.Token, "none"),
		capture("r2", 1700000000001, ""),
		map[string]any{"op": "save_settings", "input": map[string]string{"url": b.url, "token": "not a token"}},
		map[string]any{"op": "save_settings", "input": map[string]string{"url": b.url, "token": token}},
	)
	exp := out.Steps[0]
	msg, _ := exp.Failure["message"].(string)
	if exp.Status != 401 || exp.Reason != "expired" || !strings.Contains(msg, "expired on "+fresh.ExpiresAt.Format("2 Jan 2006")) {
		t.Errorf("expired token = %+v; want 401 expired, saying when", exp)
	}
	if s := out.Steps[1]; !s.Blocked || s.Settings["token"] != fresh.Token {
		t.Errorf("saving a malformed token = %+v; want it refused and capture still blocked", s)
	}
	if s := out.Steps[2]; s.Blocked || len(s.Failure) != 0 || s.Settings["token"] != token {
		t.Errorf("saving a new token = %+v; want the refusal cleared", s)
	}
}

// TestPluginNeverWaitsLong: storebridge too slow or down costs the
// store at most the 3 s timeout, and the capture is simply not sent.
func TestPluginNeverWaitsLong(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	started := time.Now()
	out := runPlugin(t, "https://shop.ashanaturals.in", settings(slow.URL, "a.b.c", "none"), capture("s1", 1, ""))
	out2 := runPlugin(t, "https://shop.ashanaturals.in", settings(down.URL, "a.b.c", "none"), capture("s1", 1, ""))
	for name, r := range map[string]stepResult{"slow": out.Steps[0], "down": out2.Steps[0]} {
		if r.OK || r.Reason != "unreachable" || r.Blocked || r.Seconds > 5 {
			t.Errorf("%s storebridge: %+v; want unreachable within the timeout, not blocked", name, r)
		}
	}
	if took := time.Since(started); took > 12*time.Second {
		t.Errorf("both runs took %s", took)
	}
}

// TestPluginBacksOffWhenLimited: after storebridge's 429 (once the
// store's burst of 200 is spent) the store stops calling for Retry-After.
func TestPluginBacksOffWhenLimited(t *testing.T) {
	b := newBridge(t)
	const home = "https://shop.ashanaturals.in"
	_, token := b.wooStore(t, home)
	b.now.Freeze() // no slot of the limit frees while the captures go
	var steps []map[string]any
	for i := range 210 {
		steps = append(steps, capture("l"+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)), int64(1700000000000+i), ""))
	}
	out := runPlugin(t, home, settings(b.url, token, "none"), steps...)
	limited := -1
	for i, r := range out.Steps {
		if r.Status == 429 {
			limited = i
			break
		}
	}
	if limited != 200 {
		t.Fatalf("first 429 at capture %d of %d; want it once the burst of 200 is spent", limited, len(out.Steps))
	}
	next := out.Steps[limited+1]
	if next.Requests != 0 || next.Reason != "rate_limited" || next.Blocked {
		t.Errorf("capture after the 429 = %+v; want held back locally, not blocked", next)
	}
}

// flowResult is what the harness answers for the WordPress-facing steps.
type flowResult struct {
	Answered bool              `json:"answered"`
	Success  bool              `json:"success"`
	Code     int               `json:"code"`
	Data     map[string]any    `json:"data"`
	Session  map[string]any    `json:"session"`
	Valid    bool              `json:"valid"`
	Added    []map[string]any  `json:"added"`
	Customer map[string]string `json:"customer"`
	Meta     map[string]string `json:"meta"`
	Requests int               `json:"requests"`
	Applied  []string          `json:"applied"`
	Refused  []string          `json:"refused"`
	URL      string            `json:"url"`
}

func (o harnessOut) flow(t *testing.T, i int) flowResult {
	t.Helper()
	var r flowResult
	if err := json.Unmarshal(o.raw[i], &r); err != nil {
		t.Fatalf("step %d: %s: %v", i, o.raw[i], err)
	}
	return r
}

func ajax(nonce string, post map[string]string) map[string]any {
	p := map[string]string{"action": "storebridge_capture", "nonce": nonce}
	for k, v := range post {
		p[k] = v
	}
	lines := []map[string]any{
		{"name": "Kurta", "price": "599", "quantity": 2, "product_id": 41, "variation_id": 57, "variation": map[string]string{"attribute_pa_size": "m"}},
		{"name": "Dupatta", "price": 301, "quantity": 1, "product_id": 42},
	}
	return map[string]any{"op": "ajax", "post": p, "cart": map[string]any{"total": 1499, "lines": lines}}
}

// TestPluginCheckoutFlow runs the plugin's WordPress-facing code with
// WooCommerce's cart, session, customer and order stubbed, against a real
// storebridge: the store's capture endpoint (its nonce, a valid contact,
// the consent box, repeats), the recovery link followed on another
// device, the order's meta and its conversion, and an emptied cart.
func TestPluginCheckoutFlow(t *testing.T) {
	b := newBridge(t)
	const home = "https://shop.ashanaturals.in"
	m, token := b.wooStore(t, home)
	opts := settings(b.url, token, "checkbox")
	opts["storebridge_cart_secret"] = strings.Repeat("cd", 32)
	nonce := "valid-nonce-storebridge_capture"
	contact := func(phone, consent string) map[string]string {
		c := map[string]string{"email": "riya@example.in", "phone": phone, "first_name": "Riya", "last_name": "Sharma", "country": "IN"}
		if consent != "" {
			c["consent"] = consent
		}
		return c
	}
	out := runPlugin(t, home, opts,
		ajax("forged", contact("098765 43210", "1")),
		ajax(nonce, map[string]string{"email": "riya@", "phone": "12", "consent": "1"}),
		ajax(nonce, contact("098765 43210", "")), // the box asked for, not ticked
		ajax(nonce, contact("098765 43210", "1")),
		ajax(nonce, contact("098765 43210", "1")),
	)
	answer := func(i int) (flowResult, string) {
		r := out.flow(t, i)
		outcome, _ := r.Data["outcome"].(string)
		return r, outcome
	}
	if r, _ := answer(0); !r.Answered || r.Success || r.Code != 403 || r.Requests != 0 {
		t.Errorf("forged nonce = %+v; want 403 and no call", r)
	}
	for i, want := range map[int]string{1: "skipped", 2: "skipped", 3: "sent", 4: "unchanged"} {
		if r, got := answer(i); !r.Success || got != want {
			t.Errorf("ajax %d = %+v; want %s", i, r, want)
		}
	}
	if r, _ := answer(3); r.Requests != 1 {
		t.Errorf("the capture made %d calls to storebridge; want 1", r.Requests)
	}
	sent, _ := answer(3)
	cartID, _ := sent.Session["storebridge_cart_id"].(string)
	if len(cartID) != 32 {
		t.Fatalf("session cart id = %q; want 32 hex characters", cartID)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(out.Requests[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	if items := body["items"].([]any); len(items) != 2 || body["total"] != "1499.00" || body["currency"] != "INR" || body["consent"] != true {
		t.Errorf("forwarded body = %v; want the cart as WooCommerce holds it, with consent", body)
	}
	b.pastReminder()
	if d := b.delivery(t, m.ID, "cart:woo:"+cartID); d.Event != app.EventCartAbandoned || d.Phone != "+919876543210" {
		t.Fatalf("reminder = %s %s to %s; want a cart.abandoned to +919876543210", d.Event, d.Status, d.Phone)
	}

	// The customer follows the link on another device, then buys. (The
	// store keeps the cart in a transient: the same run, as the same
	// WordPress database.)
	out = runPlugin(t, home, opts,
		ajax(nonce, contact("098765 43210", "1")),
		map[string]any{"op": "restore", "url": "last"},
		map[string]any{"op": "order", "post": map[string]string{"woocommerce-process-checkout-nonce": "n", "storebridge_whatsapp_optin": "1"}},
	)
	cartID, _ = out.flow(t, 0).Session["storebridge_cart_id"].(string)
	restored := out.flow(t, 1)
	if !restored.Valid || len(restored.Added) != 2 || restored.Customer["set_billing_email"] != "riya@example.in" || restored.Session["storebridge_cart_id"] != cartID {
		t.Fatalf("restore = %+v; want both lines back, the checkout filled, the same cart id", restored)
	}
	if v := restored.Added[0]; v["product_id"] != float64(41) || v["quantity"] != float64(2) || v["variation_id"] != float64(57) {
		t.Errorf("restored line = %v", v)
	}
	order := out.flow(t, 2)
	if order.Meta["_storebridge_cart"] != cartID || order.Meta["_storebridge_whatsapp_optin"] != "yes" || order.Session["storebridge_cart_id"] != nil {
		t.Errorf("order = %+v; want the cart id and opt-in as meta, and a fresh cart id next", order)
	}
	// The restoring session never sent a capture, so it tells storebridge
	// nothing: the order's meta recovers the cart when the order arrives.
	if order.Requests != 0 {
		t.Errorf("order made %d calls; want none from a session that sent no capture", order.Requests)
	}

	// A session that captured and then places its order tells storebridge
	// at once; one that empties its cart ends the reminder too.
	out = runPlugin(t, home, opts,
		ajax(nonce, contact("098765 22222", "1")),
		map[string]any{"op": "order", "post": map[string]string{}},
		ajax(nonce, contact("098765 33333", "1")),
		map[string]any{"op": "empty"},
	)
	for _, i := range []int{1, 3} {
		if r := out.flow(t, i); r.Requests != 1 {
			t.Errorf("step %d made %d calls; want the ending sent", i, r.Requests)
		}
	}
	converted, _ := out.flow(t, 0).Session["storebridge_cart_id"].(string)
	emptied, _ := out.flow(t, 2).Session["storebridge_cart_id"].(string)
	if after := out.flow(t, 3).Session["storebridge_cart_id"]; after != nil {
		t.Errorf("cart id after emptying = %v; want a new cart next", after)
	}
	if converted == "" || emptied == "" || converted == emptied {
		t.Fatalf("cart ids %q and %q; want two carts", converted, emptied)
	}
	b.pastReminder() // their steps' time comes, and they must send nothing
	waitFor(t, "the queue to settle", func() bool {
		d, err := b.store.Depth(context.Background())
		return err == nil && d.Ready == 0 && d.Running == 0
	})
	list, _, err := b.store.ListDeliveries(context.Background(), m.ID, app.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if (d.Subject == "cart:woo:"+converted || d.Subject == "cart:woo:"+emptied) && d.Event == app.EventCartAbandoned && d.Status != app.DeliverySkipped {
			t.Errorf("reminder of %s is %s; want none waiting after the order or the empty cart", d.Subject, d.Status)
		}
	}
}

// TestPluginRestoreAppliesTheStepsCode: the plugin's restore link with the
// code storebridge adds (sb_coupon, after the signed parameters, as
// app/cartcodes.go writes it) restores the cart and applies the code
// through WooCommerce; a link whose signed part was changed restores
// nothing and applies no code; a code swapped in by hand goes through
// WooCommerce's checks like one typed in the coupon box.
func TestPluginRestoreAppliesTheStepsCode(t *testing.T) {
	b := newBridge(t)
	const home = "https://shop.ashanaturals.in"
	_, token := b.wooStore(t, home)
	opts := settings(b.url, token, "none")
	opts["storebridge_cart_secret"] = strings.Repeat("ef", 32)
	const code = "CART-7QX2-K9"
	contact := map[string]string{"email": "riya@example.in", "phone": "098765 43210", "first_name": "Riya", "last_name": "Sharma", "country": "IN"}
	withCode := "&sb_coupon=" + url.QueryEscape(code)
	restore := func(extra map[string]any) map[string]any {
		step := map[string]any{"op": "restore", "url": "last", "append": withCode, "coupons": []string{"cart-7qx2-k9"}}
		for k, v := range extra {
			step[k] = v
		}
		return step
	}
	out := runPlugin(t, home, opts,
		ajax("valid-nonce-storebridge_capture", contact),
		restore(nil),
		restore(map[string]any{"replace": [][]string{{"&sig=", "&sig=1"}}}),
		restore(map[string]any{"replace": [][]string{{"&exp=", "&exp=9"}}}),
		restore(map[string]any{"append": "&sb_coupon=STAFF50"}),
		restore(map[string]any{"append": ""}),
	)
	if r := out.flow(t, 0); !r.Success || r.Requests != 1 {
		t.Fatalf("capture = %+v; want it sent", r)
	}
	ok := out.flow(t, 1)
	if !strings.Contains(ok.URL, "&sig=") || !strings.HasSuffix(ok.URL, withCode) {
		t.Fatalf("link = %s; want the signed link with the code after it", ok.URL)
	}
	if !ok.Valid || len(ok.Added) != 2 || fmt.Sprint(ok.Applied) != "[cart-7qx2-k9]" {
		t.Errorf("restore with the code = valid %v, %d lines, applied %v; want the cart back and the code applied", ok.Valid, len(ok.Added), ok.Applied)
	}
	for _, i := range []int{2, 3} {
		if r := out.flow(t, i); r.Valid || len(r.Added) != 0 || len(r.Applied)+len(r.Refused) != 0 || len(r.Session) != 0 {
			t.Errorf("tampered link %s = %+v; want refused: no cart, no code tried", r.URL, r)
		}
	}
	swapped := out.flow(t, 4)
	if !swapped.Valid || len(swapped.Applied) != 0 || fmt.Sprint(swapped.Refused) != "[staff50]" {
		t.Errorf("another code = applied %v refused %v; want the cart back and WooCommerce to judge the code (refused here)", swapped.Applied, swapped.Refused)
	}
	if plain := out.flow(t, 5); !plain.Valid || len(plain.Added) != 2 || len(plain.Applied)+len(plain.Refused) != 0 {
		t.Errorf("link without a code = %+v; want the cart back, no code tried", plain)
	}
}

// wooCodes stands for the store's coupon API: it makes every code asked.
type wooCodes struct {
	mu    sync.Mutex
	asked []app.DiscountRequest
}

func (w *wooCodes) CreateDiscount(ctx context.Context, m app.Merchant, r app.DiscountRequest) (app.DiscountCode, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asked = append(w.asked, r)
	return app.DiscountCode{Code: r.Code}, nil
}

// TestStepCodeReachesTheRestoredCart: the whole way round. The plugin
// captures a cart; storebridge's step with a discount makes its code and
// sends the plugin's restore link with the code on it; that very link,
// followed at the store, restores the cart and applies the code.
func TestStepCodeReachesTheRestoredCart(t *testing.T) {
	codes := &wooCodes{}
	b := newBridge(t, func(svc *app.Service) {
		dc := app.NewDiscountCodes([]byte("plugin-test-signing-key"))
		dc.Set(app.PlatformWooCommerce, codes)
		svc.SetCartDiscounts(dc)
	})
	const home = "https://shop.ashanaturals.in"
	m, token := b.wooStore(t, home)
	if _, err := b.svc.PutRule(context.Background(), m.ID, app.EventCartAbandoned, app.RuleInput{Steps: []app.CartStepInput{{
		Delay: "1h", Template: "cart_code", Variables: []string{"coupon.code", "cart.recovery_url"},
		Discount: &app.CartDiscountInput{Type: "percent", Value: "10"},
	}}}); err != nil {
		t.Fatal(err)
	}
	opts := settings(b.url, token, "checkbox")
	opts["storebridge_cart_secret"] = strings.Repeat("a1", 32)
	if out := runPlugin(t, home, opts, capture("w1", 1700000000001, "1")); !out.Steps[0].OK {
		t.Fatalf("capture = %+v", out.Steps[0])
	}
	b.pastReminder()
	var link, code string
	waitFor(t, "the step sent with its code", func() bool {
		d := b.delivery(t, m.ID, "cart:woo:w1")
		var ev app.Event
		if d.Status == app.DeliverySkipped || d.Status == app.DeliveryFailed {
			t.Fatalf("step = %s %q; want it sent", d.Status, d.Error)
		}
		if d.Status != app.DeliverySent && d.Status != app.DeliveryDelivered || json.Unmarshal(d.EventData, &ev) != nil {
			return false
		}
		l, _ := ev.Lookup("cart.recovery_url")
		c, _ := ev.Lookup("coupon.code")
		link, _ = l.(string)
		code, _ = c.(string)
		return true
	})
	if code == "" || !strings.HasPrefix(link, home+"/?storebridge_restore=w1&exp=") || !strings.HasSuffix(link, "&sb_coupon="+url.QueryEscape(code)) {
		t.Fatalf("sent link %q with code %q; want the plugin's signed link carrying the code", link, code)
	}
	codes.mu.Lock()
	asked := len(codes.asked)
	codes.mu.Unlock()
	if asked != 1 {
		t.Errorf("the store was asked for %d codes; want 1", asked)
	}
	// The store still holds the cart (the same WordPress database: the
	// capture again keeps its snapshot), and the customer follows the
	// link storebridge sent.
	out := runPlugin(t, home, opts,
		capture("w1", 1700000000001, "1"),
		map[string]any{"op": "restore", "url": link, "coupons": []string{strings.ToLower(code)}},
	)
	r := out.flow(t, 1)
	if !r.Valid || len(r.Added) != 2 || fmt.Sprint(r.Applied) != "["+strings.ToLower(code)+"]" {
		t.Errorf("restore of the sent link = valid %v, %d lines, applied %v; want the cart back with %s", r.Valid, len(r.Added), r.Applied, code)
	}
}
