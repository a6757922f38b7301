// Package adapters holds what every outbound client shares: an HTTP client
// that refuses private addresses in production, capped body reads, and the
// mapping of HTTP answers to retryable or permanent app.ProviderErrors.
// Each provider and store platform lives in its own folder below.
package adapters

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/storebridge/storebridge/app"
)

// DefaultTimeout bounds one outbound call, connection included.
const DefaultTimeout = 10 * time.Second

// MaxResponseBody caps how much of an answer is read.
const MaxResponseBody = 1 << 20

// ErrForbiddenAddress is returned for a URL or connection that would reach
// loopback, private, link-local or otherwise non-public addresses.
var ErrForbiddenAddress = errors.New("address is not public")

// Redirects the production client will not follow; the text is the
// reason a caller sees.
var (
	errRedirect         = errors.New("redirect refused")
	errTooManyRedirects = fmt.Errorf("%w: too many redirects", errRedirect)
	errInsecureRedirect = fmt.Errorf("%w: only https is allowed", errRedirect)
)

// Options configure an outbound client.
type Options struct {
	// Client sends the requests; nil means NewHTTPClient(Timeout,
	// AllowInsecure).
	Client *http.Client
	// AllowInsecure permits http:// and non-public addresses (dev and
	// tests only: ALLOW_INSECURE_OUTBOUND).
	AllowInsecure bool
	Timeout       time.Duration
}

// HTTPClient returns the client to use for o.
func (o Options) HTTPClient() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return NewHTTPClient(o.Timeout, o.AllowInsecure)
}

// NewHTTPClient builds a client with a timeout and a transport cloned from
// http.DefaultTransport. Unless allowInsecure, the dialer refuses
// non-public addresses at connect time, after DNS resolution, so a host that
// resolves (or rebinds) to 127.0.0.1 or 169.254.169.254 cannot be reached.
func NewHTTPClient(timeout time.Duration, allowInsecure bool) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	if !allowInsecure {
		dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: refuseNonPublic}
		transport.DialContext = dialer.DialContext
		transport.Proxy = nil
	}
	client := &http.Client{Timeout: timeout, Transport: transport}
	if !allowInsecure {
		client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errTooManyRedirects
			}
			if req.URL.Scheme != "https" {
				return errInsecureRedirect
			}
			return nil
		}
	}
	return client
}

// CheckURL parses an outbound base URL given by a merchant or operator and
// refuses what production must not call: anything but https, credentials in
// the URL, non-public IP literals (IsPublic), IPv4 in any other spelling
// (127.1, 0x7f000001), and names of this host or of private networks.
// Names that resolve to non-public addresses are refused when dialled.
func CheckURL(raw string, allowInsecure bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("not an absolute URL: %q", raw)
	}
	if u.User != nil {
		return nil, errors.New("URL must not carry credentials")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowInsecure {
			return nil, errors.New("URL must use https")
		}
	default:
		return nil, fmt.Errorf("URL scheme %q is not allowed", u.Scheme)
	}
	if allowInsecure {
		return u, nil
	}
	if !publicHost(u.Hostname()) {
		return nil, ErrForbiddenAddress
	}
	return u, nil
}

// Endpoint reads the URL a merchant pasted into creds[field]: https and
// public unless opts.AllowInsecure. In dev and tests a "base_url" credential,
// accepted only with AllowInsecure, replaces it, so every provider can be
// pointed at a fake the same way. Problems go into fields under
// "credentials.<name>".
func Endpoint(creds map[string]string, field string, opts Options, fields map[string]string) string {
	endpoint := ""
	base := strings.TrimSpace(creds["base_url"])
	if base != "" {
		if !opts.AllowInsecure {
			fields["credentials.base_url"] = "only allowed when ALLOW_INSECURE_OUTBOUND is set"
		} else if u, err := CheckURL(base, true); err != nil {
			fields["credentials.base_url"] = err.Error()
		} else {
			endpoint = u.String()
		}
	}
	if raw := strings.TrimSpace(creds[field]); raw != "" {
		if u, err := CheckURL(raw, opts.AllowInsecure); err != nil {
			fields["credentials."+field] = err.Error()
		} else if endpoint == "" {
			endpoint = u.String()
		}
	} else if base == "" {
		fields["credentials."+field] = "required"
	}
	return endpoint
}

// WithoutRedirects copies client so the copy alone refuses redirects: for
// a POST, a 302 would become a GET whose 200 would look like a delivery.
func WithoutRedirects(client *http.Client) *http.Client {
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// Response is an HTTP answer with its body read (up to MaxResponseBody).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req with client and reads the answer. Failures to get an answer
// (connection refused, timeout, a cancelled context) come back as a
// retryable *app.ProviderError naming provider, with a plain reason only
// (see noAnswer), and Ambiguous when the request had been written in full:
// the provider may have acted on it. Any HTTP status is returned as a
// Response for the caller to judge (see StatusError).
func Do(client *http.Client, provider string, req *http.Request) (Response, error) {
	var p progress
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), p.trace()))
	resp, err := client.Do(req)
	if err != nil {
		pe := noAnswerError(provider, err, &p)
		if resp != nil { // a refused redirect: its 3xx did come
			pe.Status = resp.StatusCode
		}
		pe.Ambiguous = p.unanswered.Load()
		return Response{}, pe
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	// Drain a little more so the connection can be reused, but never much.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Response{}, &app.ProviderError{Provider: provider, Status: resp.StatusCode, Retryable: true, Message: "reading the answer failed", Err: classify(err, &p)}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// TransportError is the ProviderError for a request sent without Do (by
// go-shopify's client) that got no answer: the same plain reasons as Do's.
// Untraced, it is never Ambiguous; its one caller lists orders, a read
// that may safely run twice.
func TransportError(provider string, err error) *app.ProviderError {
	return noAnswerError(provider, err, nil)
}

func noAnswerError(provider string, err error, p *progress) *app.ProviderError {
	na := classify(err, p)
	// A later try meets the guard, or the refused redirect, again.
	retryable := !errors.Is(na, ErrForbiddenAddress) && !errors.Is(na, errRedirect)
	return &app.ProviderError{Provider: provider, Retryable: retryable, Message: "request failed", Err: na}
}

// Reasons a request got no answer. They are all a caller learns: a
// transport error names addresses, ports and OS errors ("dial tcp
// [::7f00:1]:28443: connect: no route to host"), which would let a
// merchant map the network behind the service through their delivery log.
const (
	reasonForbidden = "refused: not a public address"
	reasonCancelled = "cancelled"
	reasonTimeout   = "timed out"
	reasonDNS       = "DNS lookup failed"
	reasonTLS       = "TLS handshake failed"
	reasonConnect   = "could not connect"
	reasonLost      = "connection lost"
)

// noAnswer is the Err of a ProviderError for a request without a
// (complete) answer: a plain reason, and for errors.Is only the cause a
// caller may test (ErrForbiddenAddress, context.Canceled,
// context.DeadlineExceeded, a refused redirect). The transport's error
// itself is dropped, so nothing can print it.
type noAnswer struct {
	reason string
	cause  error
}

func (e *noAnswer) Error() string { return e.reason }
func (e *noAnswer) Unwrap() error { return e.cause }

// classify reduces a transport error to a noAnswer; p, when the request
// was traced, tells a failed connection from one lost after connecting.
func classify(err error, p *progress) *noAnswer {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrForbiddenAddress):
		return &noAnswer{reasonForbidden, ErrForbiddenAddress}
	case errors.Is(err, errTooManyRedirects):
		return &noAnswer{errTooManyRedirects.Error(), errTooManyRedirects}
	case errors.Is(err, errInsecureRedirect):
		return &noAnswer{errInsecureRedirect.Error(), errInsecureRedirect}
	case errors.Is(err, context.Canceled):
		return &noAnswer{reasonCancelled, context.Canceled}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &noAnswer{reasonTimeout, context.DeadlineExceeded}
	case errors.As(err, &dnsErr):
		return &noAnswer{reasonDNS, nil}
	case p != nil && p.tlsFailed.Load(), tlsFailure(err):
		return &noAnswer{reasonTLS, nil}
	}
	connected := p != nil && p.connected.Load()
	if p == nil {
		var op *net.OpError
		connected = !errors.As(err, &op) || op.Op != "dial"
	}
	if connected {
		return &noAnswer{reasonLost, nil}
	}
	return &noAnswer{reasonConnect, nil}
}

func tlsFailure(err error) bool {
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &alert)
}

// progress records how far one request got, from httptrace hooks the
// transport may call on its own goroutines.
type progress struct {
	connected atomic.Bool // a connection, TLS included, was ready
	tlsFailed atomic.Bool
	// unanswered: the request was written in full and no byte of an
	// answer followed. Each attempt (the transport resends on its own
	// only what the server cannot have processed) resets it, and the
	// transport waits for its writer before it returns an error.
	unanswered atomic.Bool
}

func (p *progress) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn:              func(httptrace.GotConnInfo) { p.connected.Store(true) },
		WroteRequest:         func(info httptrace.WroteRequestInfo) { p.unanswered.Store(info.Err == nil) },
		GotFirstResponseByte: func() { p.unanswered.Store(false) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				p.tlsFailed.Store(true)
			}
		},
	}
}

// RetryableStatus reports whether an HTTP status is worth retrying: timeouts,
// throttling and server errors.
func RetryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooEarly ||
		status == http.StatusTooManyRequests || status >= 500
}

// StatusError builds the ProviderError for an unsuccessful answer, retryable
// by its status; code and message are the provider's own when the caller
// could read them, else a trimmed copy of the body is the message.
func StatusError(provider string, resp Response, code, message string) *app.ProviderError {
	if message == "" {
		message = Excerpt(resp.Body)
	}
	return &app.ProviderError{
		Provider:  provider,
		Status:    resp.Status,
		Code:      code,
		Message:   message,
		Retryable: RetryableStatus(resp.Status),
	}
}

// Excerpt returns the start of a body for error messages, on one line.
func Excerpt(body []byte) string {
	const max = 300
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " ")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // never split a character (₹, Devanagari) in half
	}
	return s[:cut] + "…"
}

// NewRequest builds a request bound to ctx; a malformed URL is a permanent
// error of the provider's configuration.
func NewRequest(ctx context.Context, provider, method, rawURL string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, &app.ProviderError{Provider: provider, Message: "bad request URL", Err: err}
	}
	req.Header.Set("User-Agent", "storebridge/1")
	return req, nil
}

// Text decodes a JSON string, number, bool or null as a string, and keeps
// objects and arrays as their JSON text: providers send the same field
// (an error code, a timestamp) as a string one day and a number the next.
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	default:
		*t = Text(b)
	}
	return nil
}

// PhoneFromDigits is the E.164 number of the digits a provider gives for a
// customer's WhatsApp number (a wa_id: "919876543210"), or "" when they
// cannot be one: a country code, never 0, and 7 to 15 digits in all.
// Reply.Phone promises E.164, and the phone parser downstream reads
// letters as keypad digits ("1800FLOWERS"), so nothing else may pass.
func PhoneFromDigits(digits string) string {
	if len(digits) < 7 || len(digits) > 15 || digits[0] == '0' {
		return ""
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return ""
		}
	}
	return "+" + digits
}
