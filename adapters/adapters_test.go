package adapters

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/storebridge/storebridge/app"
)

func TestCheckURL(t *testing.T) {
	cases := []struct {
		raw      string
		insecure bool
		ok       bool
	}{
		{"https://live-mt-server.wati.io/123456", false, true},
		{"https://api.interakt.ai", false, true},
		{"https://API.Interakt.AI/v1/public/message/", false, true},
		{"https://graph.facebook.com/v24.0", false, true},
		{"https://graph.facebook.com./v24.0", false, true},
		{"https://shop.myshopify.com:443/", false, true},
		{"https://1password.com/", false, true},
		{"https://8.8.8.8/", false, true},
		{"https://[2606:4700::1111]/", false, true},
		{"http://api.interakt.ai", false, false},
		{"http://127.0.0.1:8080", true, true},
		{"https://user:pass@example.com/", false, false},
		{"ftp://example.com/", false, false},
		{"example.com/path", false, false},

		// Addresses, IPv4 and IPv6, special-purpose or embedding IPv4.
		{"https://127.0.0.1", false, false},
		{"https://127.0.0.1:8443/", false, false},
		{"https://10.0.0.5/hook", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://100.64.1.1/", false, false},
		{"https://0.0.0.0/", false, false},
		{"https://0.1.2.3/", false, false},
		{"https://192.88.99.1/", false, false},
		{"https://192.31.196.1/", false, false},
		{"https://[::1]/", false, false},
		{"https://[::1]:8443/", false, false},
		{"https://[::]/", false, false},
		{"https://[::127.0.0.1]/", false, false},
		{"https://[::7f00:1]:28443/", false, false},
		{"https://[::8.8.8.8]/", false, false},
		{"https://[::ffff:127.0.0.1]/", false, false},
		{"https://[::ffff:7f00:1]/", false, false},
		{"https://[::ffff:8.8.8.8]/", false, false},
		{"https://[::ffff:0:7f00:1]/", false, false},
		{"https://[64:ff9b::7f00:1]/", false, false},
		{"https://[64:ff9b:1::a00:1]/", false, false},
		{"https://[2002:7f00:1::1]/", false, false},
		{"https://[2001::1]/", false, false},
		{"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", false, false},
		{"https://[100::1]/", false, false},
		{"https://[fec0::1]/", false, false},
		{"https://[3fff::1]/", false, false},
		{"https://[5f00::1]/", false, false},
		{"https://[fe80::1%25eth0]/", false, false},
		{"https://[2606:4700::1111%25eth0]/", false, false},

		// Names of this host or of private networks.
		{"https://localhost/", false, false},
		{"https://localhost./", false, false},
		{"https://LOCALHOST/", false, false},
		{"https://localhost.localdomain/", false, false},
		{"https://app.localhost/", false, false},
		{"https://printer.local/", false, false},
		{"https://metadata.google.internal/", false, false},
		{"https://metadata.google.internal./", false, false},
		{"https://router.home.arpa/", false, false},
		{"https://db.localdomain/", false, false},
		{"https://intranet/", false, false},
		{"https://intranet./", false, false},
		{"https://a..b/", false, false},
		{"https://ⓛocalhost/", false, false},
		{"https://app.ⓛocalhost/", false, false},
		{"https://ＬＯＣＡＬＨＯＳＴ.ｌｏｃａｌｄｏｍａｉｎ/", false, false},
		{"https://127.0.0.①/", false, false},
		{"https://127．0．0．1/", false, false},
		{"https://münchen-shop.de/", false, true},

		// IPv4 in the forms inet_aton, browsers and curl accept.
		{"https://127.1/", false, false},
		{"https://127.0.1/", false, false},
		{"https://0177.0.0.1/", false, false},
		{"https://0x7f.0.0.1/", false, false},
		{"https://0X7F.0.0.1/", false, false},
		{"https://2130706433/", false, false},
		{"https://0x7f000001/", false, false},
		{"https://017700000001/", false, false},
		{"https://127.0.0.1./", false, false},
		{"https://10.0.0.5./", false, false},
		{"https://0x8.0x8.0x8.0x8/", false, false},
		{"https://1.2.3.4.5/", false, false},
	}
	for _, tc := range cases {
		_, err := CheckURL(tc.raw, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, insecure=%v) = %v; want ok=%v", tc.raw, tc.insecure, err, tc.ok)
		}
	}
}

func TestIsPublic(t *testing.T) {
	public := []string{
		"8.8.8.8", "1.1.1.1", "157.240.1.35", "223.255.255.254",
		"100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1", "192.0.1.1",
		"192.88.98.1", "192.167.255.255", "192.169.0.1", "198.17.255.255", "198.20.0.1",
		"2606:4700::1111", "2001:4860:4860::8888", "2a03:2880:f12f:83:face:b00c:0:25de",
		"2001:200::1", "2003::1", "2001:db9::1", "2620:4f:8001::1",
	}
	refused := []string{
		// IPv4 Special-Purpose Address Registry, multicast, reserved.
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
		"127.0.0.1", "127.255.255.254", "169.254.169.254", "172.16.0.1", "172.31.255.255",
		"192.0.0.1", "192.0.0.9", "192.0.0.170", "192.0.2.1", "192.31.196.1", "192.52.193.1",
		"192.88.99.1", "192.168.1.1", "192.175.48.1", "198.18.0.1", "198.19.255.255",
		"198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
		"255.255.255.254", "255.255.255.255",
		// IPv6 Special-Purpose Address Registry and the forms that embed IPv4.
		"::", "::1", "::7f00:1", "::127.0.0.1", "::8.8.8.8", "::ffff:127.0.0.1",
		"::ffff:8.8.8.8", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::808:808",
		"64:ff9b:1::1", "100::1", "100::ffff:ffff:ffff:ffff", "2001::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:1::1", "2001:2::1", "2001:3::1",
		"2001:4:112::1", "2001:10::1", "2001:20::1", "2001:30::1", "2001:1ff:ffff::1",
		"2001:db8::1", "2002::1", "2002:7f00:1::1", "2002:808:808::1", "2620:4f:8000::1",
		"3fff::1", "3fff:fff:ffff::1", "5f00::1", "fc00::1", "fd12:3456::1", "fe80::1",
		"febf::1", "fec0::1", "feff::1", "ff02::1", "ff0e::1", "4000::1", "ffff::1",
		// Zones only make sense on scoped addresses.
		"fe80::1%eth0", "2606:4700::1111%eth0",
	}
	for _, s := range public {
		if !IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("IsPublic(%s) = false; want true", s)
		}
	}
	for _, s := range refused {
		if IsPublic(netip.MustParseAddr(s)) {
			t.Errorf("IsPublic(%s) = true; want false", s)
		}
	}
	if IsPublic(netip.Addr{}) {
		t.Error("IsPublic(zero Addr) = true; want false")
	}
}

// The dial guard judges the address the dialer is about to connect to,
// after resolution, by the same table as IsPublic.
func TestDialGuard(t *testing.T) {
	for address, ok := range map[string]bool{
		"8.8.8.8:443": true, "[2606:4700::1111]:443": true, "[2001:4860:4860::8888]:443": true,
		"127.0.0.1:443": false, "[::1]:443": false, "[::7f00:1]:28443": false,
		"[::127.0.0.1]:443": false, "[::ffff:127.0.0.1]:443": false, "[::ffff:8.8.8.8]:443": false,
		"[64:ff9b::a00:1]:443": false, "[64:ff9b:1::1]:443": false, "[2002:a00:1::1]:443": false,
		"[2001::1]:443": false, "[100::1]:443": false, "[fec0::1]:443": false,
		"[fe80::1%eth0]:443": false, "[2606:4700::1111%eth0]:443": false,
		"0.0.0.0:80": false, "169.254.169.254:80": false, "192.0.0.170:80": false,
		"[3fff::1]:443": false, "[5f00::1]:443": false, "[ff02::1]:443": false,
		"localhost:443": false, "garbage": false,
	} {
		err := refuseNonPublic("tcp", address, nil)
		if (err == nil) != ok {
			t.Errorf("refuseNonPublic(%q) = %v; want ok=%v", address, err, ok)
		}
	}
}

// Both layers refuse, each on its own: CheckURL the URL a merchant gives,
// the dialer the address a literal (or a name) comes to.
func TestGuardRefusesRealDials(t *testing.T) {
	reached := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached <- struct{}{} }))
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	client := NewHTTPClient(time.Second, false)
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "[::7f00:1]", "[::127.0.0.1]", "127.1", "0x7f000001", "localhost"} {
		if _, err := CheckURL("https://"+host+":"+port+"/", false); err == nil {
			t.Errorf("CheckURL(https://%s:%s/) = nil; want an error", host, port)
		}
		// Names (127.1 is one to Go's resolver) may fail at DNS instead:
		// either way nothing reaches the server.
		req, _ := NewRequest(context.Background(), "wati", http.MethodPost, "http://"+host+":"+port+"/", strings.NewReader("{}"))
		_, err := Do(client, "wati", req)
		var pe *app.ProviderError
		if !errors.As(err, &pe) {
			t.Errorf("Do(http://%s:%s/) = %v; want a ProviderError", host, port, err)
		}
		if strings.HasPrefix(host, "[") || host == "127.0.0.1" {
			if !errors.Is(err, ErrForbiddenAddress) || app.IsRetryable(err) {
				t.Errorf("Do(http://%s:%s/) = %v; want a permanent ErrForbiddenAddress", host, port, err)
			}
		}
	}
	select {
	case <-reached:
		t.Error("a refused address reached the server")
	default:
	}
}

// The production client refuses to connect to loopback even when the
// name looked harmless: the check runs on the resolved address.
func TestHTTPClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	req, _ := NewRequest(context.Background(), "wati", http.MethodGet, srv.URL+"/api/v1/getMessageTemplates?token=s3cret", nil)
	_, err := Do(NewHTTPClient(time.Second, false), "wati", req)
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("Do(loopback) = %v; want a permanent ErrForbiddenAddress", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "getMessageTemplates") {
		t.Errorf("Do() error = %q; leaks the URL's path or query", err)
	}

	req, _ = NewRequest(context.Background(), "wati", http.MethodGet, srv.URL, nil)
	if resp, err := Do(NewHTTPClient(time.Second, true), "wati", req); err != nil || resp.Status != 200 {
		t.Errorf("Do(loopback, insecure allowed) = %+v, %v; want 200", resp, err)
	}
}

func TestDoClassifies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/big":
			w.Write([]byte(strings.Repeat("x", MaxResponseBody+1000)))
		}
	}))
	defer srv.Close()
	client := NewHTTPClient(100*time.Millisecond, true)

	req, _ := NewRequest(context.Background(), "meta", http.MethodGet, srv.URL+"/slow", nil)
	if _, err := Do(client, "meta", req); !app.IsRetryable(err) || !strings.HasPrefix(err.Error(), "meta: ") {
		t.Errorf("Do(slow) = %v; want a retryable error naming meta", err)
	}
	req, _ = NewRequest(context.Background(), "meta", http.MethodGet, srv.URL+"/big", nil)
	// Its own timeout: 1 MiB under -race on a busy machine can take 100ms.
	if resp, err := Do(NewHTTPClient(5*time.Second, true), "meta", req); err != nil || len(resp.Body) != MaxResponseBody {
		t.Errorf("Do(big) = %d bytes, %v; want the body capped at %d", len(resp.Body), err, MaxResponseBody)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = NewRequest(ctx, "meta", http.MethodGet, srv.URL, nil)
	if _, err := Do(client, "meta", req); !app.IsRetryable(err) {
		t.Errorf("Do(cancelled) = %v; want retryable", err)
	}
}

// A request without an answer tells its caller a plain reason and nothing
// of the address, port or OS error behind it, and whether the provider
// may have got it (Ambiguous: a retry may send twice).
func TestDoNoAnswer(t *testing.T) {
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hang.Close()
	// Closes the connection once the headers are in, the body unread. The
	// client had written the request in full by then, so to it this looks
	// like a provider that acted and crashed: ambiguous.
	closeUnread := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer closeUnread.Close()
	// Accepts and closes at once. Whether that is ambiguous depends on
	// whether the client finished writing before it saw the close: a small
	// request often does (ambiguous), one larger than the socket buffers
	// never does, which is the case tested.
	closeOnAccept, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer closeOnAccept.Close()
	go func() {
		for {
			conn, err := closeOnAccept.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	untrusted.StartTLS()
	defer untrusted.Close()
	redirect := httptest.NewServer(http.RedirectHandler("http://example.com/", http.StatusFound))
	defer redirect.Close()
	open := httptest.NewServer(http.NotFoundHandler())
	defer open.Close()

	// Generous timeouts, for -race on a loaded machine; only the hanging
	// server waits for one.
	dev := NewHTTPClient(5*time.Second, true)
	impatient := NewHTTPClient(time.Second, true)
	production := NewHTTPClient(5*time.Second, false)
	// The production redirect rule on a client that may reach loopback.
	followsHTTPS := NewHTTPClient(5*time.Second, true)
	followsHTTPS.CheckRedirect = production.CheckRedirect
	noDNS := NewHTTPClient(5*time.Second, true)
	noDNS.Transport.(*http.Transport).DialContext = (&net.Dialer{Resolver: &net.Resolver{PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no DNS server here") },
	}}).DialContext
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	small, large := `{"a":1}`, strings.Repeat("x", 16<<20)
	cases := []struct {
		name      string
		client    *http.Client
		ctx       context.Context
		url, body string
		want      string
		retryable bool
		ambiguous bool
		status    int
	}{
		{"hangs after reading the body", impatient, context.Background(), hang.URL, small, "timed out", true, true, 0},
		{"closes before reading the body", dev, context.Background(), closeUnread.URL, small, "connection lost", true, true, 0},
		{"closes on accept", dev, context.Background(), "http://" + closeOnAccept.Addr().String(), large, "connection lost", true, false, 0},
		{"refused port", dev, context.Background(), gone.URL, small, "could not connect", true, false, 0},
		{"guard", production, context.Background(), open.URL, small, "refused: not a public address", false, false, 0},
		{"untrusted certificate", dev, context.Background(), untrusted.URL, small, "TLS handshake failed", true, false, 0},
		{"DNS", noDNS, context.Background(), "http://shop.example.com:8443", small, "DNS lookup failed", true, false, 0},
		{"cancelled before writing", dev, cancelled, open.URL, small, "cancelled", true, false, 0},
		{"redirect to http", followsHTTPS, context.Background(), redirect.URL, small, "redirect refused: only https is allowed", false, false, http.StatusFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := NewRequest(tc.ctx, "wati", http.MethodPost, tc.url+"/api/v1/sendTemplateMessage?token=s3cret", strings.NewReader(tc.body))
			_, err := Do(tc.client, "wati", req)
			var pe *app.ProviderError
			if !errors.As(err, &pe) || pe.Retryable != tc.retryable || pe.Ambiguous != tc.ambiguous || pe.Status != tc.status {
				t.Fatalf("Do() = %#v; want retryable=%v, ambiguous=%v, status %d", err, tc.retryable, tc.ambiguous, tc.status)
			}
			if got := pe.Err.Error(); got != tc.want {
				t.Errorf("Do() reason = %q (%v); want %q", got, err, tc.want)
			}
			assertPlain(t, err, tc.url)
		})
	}
}

// Errors of clients Do does not trace (go-shopify's) get the same reasons.
func TestTransportError(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv6loopback, Port: 28443}
	op := func(op string, err error) error {
		return &url.Error{Op: "Post", URL: "https://[::7f00:1]:28443/hook?token=s3cret", Err: &net.OpError{Op: op, Net: "tcp", Addr: addr, Err: err}}
	}
	for want, err := range map[string]error{
		"could not connect":             op("dial", syscall.EHOSTUNREACH),
		"refused: not a public address": op("dial", ErrForbiddenAddress),
		"DNS lookup failed":             op("dial", &net.DNSError{Err: "no such host", Name: "shop.example.com", Server: "10.0.0.2:53", IsNotFound: true}),
		"connection lost":               op("read", syscall.ECONNRESET),
		"timed out":                     op("read", os.ErrDeadlineExceeded),
		"cancelled":                     &url.Error{Op: "Get", URL: "https://10.0.0.5/", Err: context.Canceled},
		"TLS handshake failed":          &url.Error{Op: "Get", URL: "https://10.0.0.5/", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}},
	} {
		pe := TransportError("shopify", err)
		if pe.Err == nil || pe.Err.Error() != want {
			t.Errorf("TransportError(%v) reason = %v; want %q", err, pe.Err, want)
		}
		assertPlain(t, pe, "https://[::7f00:1]:28443")
		if strings.Contains(pe.Error(), "10.0.0") || strings.Contains(pe.Error(), "shop.example.com") {
			t.Errorf("TransportError(%v) = %q; shows an address", err, pe)
		}
	}
}

// assertPlain fails t when err's text shows the host or port of target,
// or any part of a raw transport error.
func assertPlain(t *testing.T, err error, target string) {
	t.Helper()
	u, perr := url.Parse(target)
	if perr != nil {
		t.Fatal(perr)
	}
	text := err.Error()
	for _, leak := range []string{u.Hostname(), u.Port(), "dial", "tcp", "read ", "write ", "connect:", "s3cret", "sendTemplateMessage", "no route", "no DNS server", "no such host"} {
		if leak != "" && strings.Contains(text, leak) {
			t.Errorf("error %q shows %q", text, leak)
		}
	}
}

func TestStatusError(t *testing.T) {
	for status, retryable := range map[int]bool{400: false, 401: false, 404: false, 408: true, 425: true, 429: true, 500: true, 503: true} {
		err := StatusError("wati", Response{Status: status, Body: []byte(`{"info":"x"}`)}, "", "")
		if err.Retryable != retryable || err.Message != `{"info":"x"}` {
			t.Errorf("StatusError(%d) = %+v; want retryable=%v with the body as message", status, err, retryable)
		}
	}
}

func TestExcerptKeepsCharactersWhole(t *testing.T) {
	body := []byte(strings.Repeat("₹", 200) + "\n\t tail")
	got := Excerpt(body)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || len(got) > 310 {
		t.Errorf("Excerpt() = %q; want valid UTF-8, cut with an ellipsis", got)
	}
	if got := Excerpt([]byte("  a \n b  ")); got != "a b" {
		t.Errorf("Excerpt() = %q; want %q", got, "a b")
	}
}

func TestPhoneFromDigits(t *testing.T) {
	for digits, want := range map[string]string{
		"919876543210":     "+919876543210",
		"6834002":          "+6834002", // Niue: 7 digits in all
		"683400":           "",
		"1234567890123456": "",
		"0919876543210":    "",
		"+919876543210":    "",
		"1800FLOWERS":      "",
		`{"":""}`:          "",
		"":                 "",
	} {
		if got := PhoneFromDigits(digits); got != want {
			t.Errorf("PhoneFromDigits(%q) = %q; want %q", digits, got, want)
		}
	}
}
