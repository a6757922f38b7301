package adapters

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
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
		{"http://api.interakt.ai", false, false},
		{"http://127.0.0.1:8080", true, true},
		{"https://127.0.0.1", false, false},
		{"https://10.0.0.5/hook", false, false},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[::1]/", false, false},
		{"https://100.64.1.1/", false, false},
		{"https://localhost/", false, false},
		{"https://metadata.google.internal/", false, false},
		{"https://intranet/", false, false},
		{"https://user:pass@example.com/", false, false},
		{"ftp://example.com/", false, false},
		{"example.com/path", false, false},
		{"https://8.8.8.8/", false, true},
	}
	for _, tc := range cases {
		_, err := CheckURL(tc.raw, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, insecure=%v) = %v; want ok=%v", tc.raw, tc.insecure, err, tc.ok)
		}
	}
}

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fc00::1": false,
		"::ffff:127.0.0.1": false, "100.64.0.1": false, "198.18.0.1": false, "224.0.0.1": false,
	} {
		if got := IsPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsPublic(%s) = %v; want %v", addr, got, want)
		}
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
	if resp, err := Do(client, "meta", req); err != nil || len(resp.Body) != MaxResponseBody {
		t.Errorf("Do(big) = %d bytes, %v; want the body capped at %d", len(resp.Body), err, MaxResponseBody)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = NewRequest(ctx, "meta", http.MethodGet, srv.URL, nil)
	if _, err := Do(client, "meta", req); !app.IsRetryable(err) {
		t.Errorf("Do(cancelled) = %v; want retryable", err)
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
