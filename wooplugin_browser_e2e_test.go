package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// checkoutPages serves stand-ins of WooCommerce's checkout pages with the
// plugin's real checkout.js and the configuration the plugin localizes,
// and records what the script posts to admin-ajax.php.
type checkoutPages struct {
	mu    sync.Mutex
	posts []url.Values
}

func (p *checkoutPages) snapshot() []url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]url.Values(nil), p.posts...)
}

func newCheckoutPages(t *testing.T) (*checkoutPages, *httptest.Server) {
	t.Helper()
	script, err := os.ReadFile("adapters/woocommerce/plugin/storebridge-cart-capture/assets/checkout.js")
	if err != nil {
		t.Fatal(err)
	}
	p := &checkoutPages{}
	config := func(consent string) string {
		return fmt.Sprintf(`<script>var storebridgeCart = {"ajaxUrl":"/wp-admin/admin-ajax.php","action":"storebridge_capture","nonce":"n0nce","consent":%q,"field":"storebridge_whatsapp_optin","label":"Send me my cart on WhatsApp"};</script>`, consent)
	}
	mux := http.NewServeMux()
	// The classic (shortcode) checkout's field ids, no consent box asked.
	mux.HandleFunc("GET /classic", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body><form class="checkout">
<input id="billing_first_name"><input id="billing_last_name">
<select id="billing_country"><option value="IN" selected>India</option></select>
<input id="billing_phone" type="tel"><input id="billing_email" type="email">
</form>`+config("none")+`<script src="/checkout.js"></script></body></html>`)
	})
	// The block checkout's field ids, with the consent box asked for: the
	// script adds it.
	mux.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><body><div class="wc-block-checkout">
<div class="wc-block-components-text-input"><input id="email" type="email"></div>
<div class="wc-block-components-text-input"><input id="billing-first_name"></div>
<div class="wc-block-components-text-input"><input id="billing-phone" type="tel"></div>
</div>`+config("checkbox")+`<script src="/checkout.js"></script></body></html>`)
	})
	mux.HandleFunc("GET /checkout.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(script)
	})
	mux.HandleFunc("POST /wp-admin/admin-ajax.php", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(400)
			return
		}
		p.mu.Lock()
		p.posts = append(p.posts, r.PostForm)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"success":true,"data":{"outcome":"sent"}}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return p, srv
}

// waitPosts waits for n posts, then a little longer to see no more come.
func (p *checkoutPages) waitPosts(t *testing.T, n int) []url.Values {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(p.snapshot()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // past the 800 ms debounce
	got := p.snapshot()
	if len(got) != n {
		t.Fatalf("the script posted %d times; want %d: %v", len(got), n, got)
	}
	return got
}

// TestCheckoutScriptCapturesAsTheCustomerTypes drives the plugin's
// checkout.js in headless Chromium: nothing is posted until the email or
// phone is valid, typing is debounced into one post, and with the consent
// box asked for (the block checkout, where the script adds the box)
// nothing is posted until it is ticked, and unticking says so once.
func TestCheckoutScriptCapturesAsTheCustomerTypes(t *testing.T) {
	pages, srv := newCheckoutPages(t)
	browser := newBrowser(t)

	b := newTab(t, browser)
	b.open(srv.URL+"/classic", "#billing_email")
	b.do("type a name and a partial email",
		chromedp.SendKeys(chromedp.CSS("#billing_first_name"), "Riya"),
		chromedp.SendKeys(chromedp.CSS("#billing_email"), "riya@examp"))
	pages.waitPosts(t, 0)
	b.do("finish the email", chromedp.SendKeys(chromedp.CSS("#billing_email"), "le.in"))
	posts := pages.waitPosts(t, 1)
	if got := posts[0]; got.Get("action") != "storebridge_capture" || got.Get("nonce") != "n0nce" || got.Get("email") != "riya@example.in" ||
		got.Get("first_name") != "Riya" || got.Get("country") != "IN" || got.Has("consent") || got.Get("phone") != "" {
		t.Errorf("post = %v; want the action, nonce, valid email, name and country, no consent", got)
	}
	b.do("type a phone, key by key", chromedp.SendKeys(chromedp.CSS("#billing_phone"), "098765 43210"))
	posts = pages.waitPosts(t, 2)
	if got := posts[1]; got.Get("phone") != "098765 43210" || got.Get("email") != "riya@example.in" {
		t.Errorf("second post = %v; want one post with the whole phone", got)
	}
	b.do("blur and refocus without a change", chromedp.Click(chromedp.CSS("#billing_first_name")), chromedp.Click(chromedp.CSS("#billing_phone")))
	pages.waitPosts(t, 2)

	pages.mu.Lock()
	pages.posts = nil
	pages.mu.Unlock()
	blk := newTab(t, browser)
	blk.open(srv.URL+"/block", "#billing-phone")
	blk.do("type a phone", chromedp.SendKeys(chromedp.CSS("#billing-phone"), "+91 98765 43210"))
	pages.waitPosts(t, 0)
	blk.do("tick the box the script added", chromedp.WaitVisible(chromedp.CSS("#storebridge_whatsapp_optin")), chromedp.Click(chromedp.CSS("#storebridge_whatsapp_optin")))
	posts = pages.waitPosts(t, 1)
	if got := posts[0]; got.Get("consent") != "1" || got.Get("phone") != "+91 98765 43210" {
		t.Errorf("post after ticking = %v; want consent 1 and the phone", got)
	}
	if label := blk.text("label.storebridge-optin"); !strings.Contains(label, "Send me my cart on WhatsApp") {
		t.Errorf("the box's label = %q", label)
	}
	blk.do("untick it", chromedp.Click(chromedp.CSS("#storebridge_whatsapp_optin")))
	posts = pages.waitPosts(t, 2)
	if got := posts[1]; got.Get("consent") != "0" {
		t.Errorf("post after unticking = %v; want consent 0", got)
	}
	blk.do("type more while unticked", chromedp.SendKeys(chromedp.CSS("#billing-first_name"), "Riya"))
	pages.waitPosts(t, 2)
}
