// Package webhook posts storebridge events to a URL of the merchant's
// choosing: an automation tool (Zapier, Make, n8n) or the merchant's own
// server, which then sends the WhatsApp message itself.
//
// Each delivery is one POST of a JSON body (README.md has the schema) to the
// configured URL, signed as the Standard Webhooks specification
// (standardwebhooks.com) says: Webhook-Id, Webhook-Timestamp and
// Webhook-Signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>". A
// receiver can verify it with VerifySignature, with a Standard Webhooks
// library (when the secret has the "whsec_" form those libraries expect) or
// with the few lines in README.md.
//
// Success is any 2xx answer. Redirects are not followed: a signed body goes to
// the configured URL or nowhere. 410 Gone means the receiver wants no more
// and is permanent; 408, 425, 429 and 5xx are retryable; other answers are
// permanent. Webhook-Id is our delivery id and stays the same when the
// delivery is retried, so receivers can drop duplicates by it.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant settings and errors.
const Name = "webhook"

// PingEvent is the type of the event Verify sends; receivers answer it 2xx
// and otherwise ignore it.
const PingEvent = "storebridge.ping"

// Headers of every delivery, as Standard Webhooks names them.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, the value Standard Webhooks recommends.
const DefaultTolerance = 5 * time.Minute

// MinSecretLength is the shortest secret accepted, in characters.
const MinSecretLength = 16

// secretPrefix marks a Standard Webhooks secret: base64 key bytes follow.
const secretPrefix = "whsec_"

// Signature verification errors; each means the request must be refused.
var (
	ErrMissingHeaders   = errors.New("webhook: missing Webhook-Id, Webhook-Timestamp or Webhook-Signature")
	ErrStaleTimestamp   = errors.New("webhook: timestamp is outside the tolerance")
	ErrInvalidSignature = errors.New("webhook: no signature matches")
)

// Client posts events to one merchant's URL.
type Client struct {
	http   *http.Client
	target string
	secret string
	now    func() time.Time
}

var _ app.Provider = (*Client)(nil)

// New checks the merchant's url and secret and returns a client.
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	fields := map[string]string{}

	target := adapters.Endpoint(creds, "url", opts, fields)

	secret := strings.TrimSpace(creds["secret"])
	switch {
	case secret == "":
		fields["credentials.secret"] = "required"
	case strings.HasPrefix(secret, secretPrefix):
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
		if err != nil || len(key) < MinSecretLength {
			fields["credentials.secret"] = fmt.Sprintf("a whsec_ secret must be base64 of at least %d bytes", MinSecretLength)
		}
	case utf8.RuneCountInString(secret) < MinSecretLength:
		fields["credentials.secret"] = fmt.Sprintf("must be at least %d characters", MinSecretLength)
	}

	if len(fields) > 0 {
		return nil, &app.ValidationError{Fields: fields}
	}
	return &Client{http: adapters.WithoutRedirects(opts.HTTPClient()), target: target, secret: secret, now: time.Now}, nil
}

// Name returns "webhook".
func (c *Client) Name() string { return Name }

// Event is the JSON body of a delivery; README.md documents it for
// receivers.
type Event struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	OccurredAt time.Time         `json:"occurred_at"`
	Customer   *Customer         `json:"customer,omitempty"`
	Template   *Template         `json:"template,omitempty"`
	Buttons    []Button          `json:"buttons,omitempty"`
	Properties map[string]string `json:"properties"`
}

// Customer is who the message is for.
type Customer struct {
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	ID    string `json:"id,omitempty"`
}

// Template is the merchant's rule in template mode: Values in template
// order, Names the variable each value came from.
type Template struct {
	Name     string   `json:"name,omitempty"`
	Language string   `json:"language,omitempty"`
	Values   []string `json:"values"`
	Names    []string `json:"names"`
}

// Button is a quick-reply button the message should offer (COD
// Confirm/Cancel).
type Button struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// BuildRequest builds the signed POST for m without sending it.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	if m.DeliveryID == "" {
		return nil, permanent("message has no delivery id to use as Webhook-Id")
	}
	if m.Event == "" {
		return nil, permanent("message has no event type")
	}
	ev := Event{
		ID:         m.DeliveryID,
		Type:       m.Event,
		OccurredAt: c.now().UTC().Truncate(time.Second),
		Properties: m.Properties,
	}
	if ev.Properties == nil {
		ev.Properties = map[string]string{}
	}
	if r := m.To; r.Phone != "" || r.Email != "" || r.Name != "" || r.CustomerID != "" {
		ev.Customer = &Customer{Phone: r.Phone, Email: r.Email, Name: r.Name, ID: r.CustomerID}
	}
	switch m.Mode {
	case "template":
		ev.Template = &Template{Name: m.Template, Language: m.Language, Values: nonNil(m.Values), Names: nonNil(m.Names)}
		for _, b := range m.Buttons {
			ev.Buttons = append(ev.Buttons, Button(b))
		}
	case "event":
	default:
		return nil, permanent(fmt.Sprintf("unknown message mode %q", m.Mode))
	}
	return c.request(ctx, ev)
}

func (c *Client) request(ctx context.Context, ev Event) (*http.Request, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, permanent("encoding the event: " + err.Error())
	}
	body := bytes.TrimSpace(buf.Bytes())
	req, err := adapters.NewRequest(ctx, Name, http.MethodPost, c.target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ev.OccurredAt.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(c.secret, ev.ID, ev.OccurredAt, body))
	return req, nil
}

// Send posts m once. The receiver's answer body is not read for an id:
// SendResult is empty and Webhook-Id (our delivery id) is the reference.
func (c *Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	req, err := c.BuildRequest(ctx, m)
	if err != nil {
		return app.SendResult{}, err
	}
	return app.SendResult{}, c.do(req)
}

// Verify posts a storebridge.ping event, proving the URL answers 2xx to a
// signed request. It names no customer and can be ignored by receivers.
func (c *Client) Verify(ctx context.Context) error {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return &app.ProviderError{Provider: Name, Retryable: true, Message: "making a ping id", Err: err}
	}
	req, err := c.request(ctx, Event{
		ID:         "ping_" + hex.EncodeToString(id[:]),
		Type:       PingEvent,
		OccurredAt: c.now().UTC().Truncate(time.Second),
		Properties: map[string]string{},
	})
	if err != nil {
		return err
	}
	return c.do(req)
}

func (c *Client) do(req *http.Request) error {
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return err // adapters.Do's error shows no URL or address
	}
	switch {
	case resp.Status >= 200 && resp.Status <= 299:
		return nil
	case resp.Status == http.StatusGone:
		pe := adapters.StatusError(Name, resp, "", "")
		pe.Message = strings.TrimSpace("receiver answered 410 Gone and wants no more deliveries " + pe.Message)
		pe.Retryable = false
		return pe
	case resp.Status >= 300 && resp.Status <= 399:
		// Location is left out: it may carry the receiver's token.
		return adapters.StatusError(Name, resp, "", "receiver redirected; redirects are not followed, set the final URL")
	default:
		return adapters.StatusError(Name, resp, "", "")
	}
}

func permanent(message string) *app.ProviderError {
	return &app.ProviderError{Provider: Name, Message: message}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Sign returns the Webhook-Signature value for a delivery: "v1," and the
// base64 HMAC-SHA256 of "<id>.<unix seconds>.<body>". A "whsec_" secret is
// keyed with its base64-decoded bytes, as Standard Webhooks libraries do;
// any other secret with its UTF-8 bytes.
func Sign(secret, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, id, ts string, body []byte) []byte {
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, secretPrefix); ok {
		if decoded, err := base64.StdEncoding.DecodeString(rest); err == nil {
			key = decoded
		}
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a delivery as a receiver should: the three headers
// are present, the timestamp is within tolerance of now (DefaultTolerance
// when tolerance ≤ 0), and one of the space-separated "v1,<base64>"
// signatures matches, compared in constant time. body must be the raw bytes
// as received.
func VerifySignature(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	if secret == "" {
		return errors.New("webhook: no secret to verify with")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrStaleTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	want := mac(secret, id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		version, encoded, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(encoded)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrInvalidSignature
}
