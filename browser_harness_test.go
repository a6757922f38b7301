package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browserStep bounds one step of a browser test: a page load and what it
// waits for. Pages answer in milliseconds; this only ends a hung test.
const browserStep = 20 * time.Second

// chromiumPath is Debian's chromium, or $CHROMIUM. A missing browser fails
// the test: the browser tests are part of the suite, not optional.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("headless Chromium is needed for the admin pages' browser tests and is not at %s (%v): install Debian's chromium (apt-get install -y chromium; .ci/run does) or set CHROMIUM to its path", path, err)
	}
	return path
}

// newBrowser starts one headless Chromium for the test, with a fresh
// profile and no way out of this machine: every host but 127.0.0.1 and
// localhost (where APP_URL points by default, so the links the service
// makes open) fails to resolve, so Shopify's CDN (app-bridge.js) is
// unreachable, as it is offline, and the pages must work without it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout, which
	// would end the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// tab is one browser tab of a test. Its steps fail the test with a
// screenshot and the page's HTML saved, so a failure can be looked at.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("opening a tab: %v", err)
	}
	b := &tab{t: t, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
		}
		cancel()
	})
	return b
}

// do runs the steps, failing the test at the first that does not finish.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// load runs steps that load a page (a navigation, a click on a link or a
// submit) and answers the page's HTTP status once it has loaded.
func (b *tab) load(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	if resp == nil {
		b.t.Fatalf("%s: no page loaded", what)
	}
	return resp.Status
}

// open loads the address and waits for the selector to show.
func (b *tab) open(url, visible string) {
	b.t.Helper()
	if status := b.load("open "+url, chromedp.Navigate(url)); status != 200 {
		b.t.Fatalf("GET %s = %d; want 200", url, status)
	}
	b.do("wait for "+visible, chromedp.WaitVisible(chromedp.CSS(visible)))
}

// click clicks what loads the next page, checks its status, and waits for
// the selector to show on it.
func (b *tab) click(sel string, wantStatus int64, visible string) {
	b.t.Helper()
	if status := b.load("click "+sel, chromedp.Click(chromedp.CSS(sel))); status != wantStatus {
		b.t.Fatalf("click %s: page answered %d; want %d", sel, status, wantStatus)
	}
	b.do("wait for "+visible, chromedp.WaitVisible(chromedp.CSS(visible)))
}

// text is the element's visible text.
func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a script in the page (awaiting a promise it answers) and
// decodes its value.
func eval[T any](b *tab, script string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

// until waits for a script's condition on the page as it is (no
// navigation in between).
func (b *tab) until(what, condition string) {
	b.t.Helper()
	b.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](condition, chromedp.WithPollingTimeout(browserStep))(ctx, t)
		return err
	}))
}

// saveArtifacts keeps the failed page's screenshot and HTML in a folder
// that outlives the test (t.TempDir would be removed with it), and logs
// the HTML.
func (b *tab) saveArtifacts() {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(b.t.Name(), "_")
	dir, err := os.MkdirTemp("", "storebridge-browser-"+name+"-")
	if err != nil {
		b.t.Logf("browser artifacts: %v", err)
		return
	}
	location, _ := chromedp.Run(ctx, chromedp.Location())
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err == nil {
		_ = os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "page.png"), png, 0o644)
	}
	b.t.Logf("browser at %s; screenshot and HTML saved in %s\n%s", location, dir, html)
}

// failedRequests records the requests the browser could not make from
// now on: with every outside host unresolvable, the Shopify CDN's.
func (b *tab) failedRequests() func() []string {
	b.t.Helper()
	var mu sync.Mutex
	var failed []string
	urls := map[network.RequestID]string{}
	if err := chromedp.Listen(b.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[ev.RequestID] = ev.Request.URL
		case *network.EventLoadingFailed:
			failed = append(failed, fmt.Sprintf("%s (%s)", urls[ev.RequestID], ev.ErrorText))
		}
	}); err != nil {
		b.t.Fatalf("listening to the network: %v", err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), failed...)
	}
}
