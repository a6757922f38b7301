// Package convertway pushes storebridge events to ConvertWay, the Shopify
// WhatsApp/SMS automation app, where they trigger the automations and preset
// templates the merchant enabled (ConvertWay → Integrations).
//
// ConvertWay publishes no API. Nector's integration shows only that events go
// to ConvertWay identified by the shop (xxxx.myshopify.com) and the licence
// key from Settings → Profile → License Key. So the request below is our own
// documented format, not ConvertWay's: it goes to the endpoint ConvertWay
// gives the merchant, and must be confirmed with ConvertWay before launch.
//
//	POST {endpoint}
//	Content-Type: application/json
//	X-License-Key: {license_key}
//	X-Shop-Domain: {shop}
//	Idempotency-Key: {delivery id}
//
//	{"event":"loyalty.points_earned","shop":"asha-naturals.myshopify.com",
//	 "idempotency_key":"dlv_…","occurred_at":"2026-05-22T10:15:30Z",
//	 "customer":{"phone":"+919876543210","email":"…","name":"…","id":"…","identity":"…"},
//	 "template":{"name":"points_earned","language":"en","values":["Priya","120"],"names":[…]},
//	 "properties":{"points.amount":"120"}}
//
// "template" is present in template mode only; occurred_at is when this
// attempt was sent. Success is any 2xx answer; 408, 425, 429 and 5xx are
// retryable, other answers permanent. Redirects are not followed.
//
// Verify cannot prove the licence key: there is no harmless call to make, and
// a fake customer event could message a real customer. It only re-checks the
// fields New accepted; a test event from the admin is the real check.
// ConvertWay's status callbacks are unknown, so ParseWebhook reports nothing.
package convertway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant settings and errors.
const Name = "convertway"

// Request headers of our format.
const (
	HeaderLicenseKey  = "X-License-Key"
	HeaderShop        = "X-Shop-Domain"
	HeaderIdempotency = "Idempotency-Key"
)

const maxLicenseKey = 256

var shopPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)

// Client pushes one merchant's events to ConvertWay.
type Client struct {
	http       *http.Client
	endpoint   string
	shop       string
	licenseKey string
	now        func() time.Time
}

var _ app.Provider = (*Client)(nil)

// New checks shop, license_key and endpoint and returns a client.
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	fields := map[string]string{}

	// Merchants paste the shop as they see it in the browser.
	shop := strings.ToLower(strings.TrimSpace(creds["shop"]))
	shop = strings.TrimPrefix(strings.TrimPrefix(shop, "https://"), "http://")
	shop = strings.TrimSuffix(shop, "/")
	switch {
	case shop == "":
		fields["credentials.shop"] = "required"
	case !shopPattern.MatchString(shop):
		fields["credentials.shop"] = "must be the Shopify store name in xxxx.myshopify.com form"
	}

	key := strings.TrimSpace(creds["license_key"])
	switch {
	case key == "":
		fields["credentials.license_key"] = "required"
	case len(key) > maxLicenseKey || strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		fields["credentials.license_key"] = "must be the License Key from ConvertWay → Settings → Profile, without spaces"
	}

	endpoint := adapters.Endpoint(creds, "endpoint", opts, fields)
	if fields["credentials.endpoint"] == "required" {
		fields["credentials.endpoint"] = "required: the event URL ConvertWay gives for the integration"
	}

	if len(fields) > 0 {
		return nil, &app.ValidationError{Fields: fields}
	}
	return &Client{http: adapters.WithoutRedirects(opts.HTTPClient()), endpoint: endpoint, shop: shop, licenseKey: key, now: time.Now}, nil
}

// Name returns "convertway".
func (c *Client) Name() string { return Name }

type event struct {
	Event          string            `json:"event"`
	Shop           string            `json:"shop"`
	IdempotencyKey string            `json:"idempotency_key"`
	OccurredAt     time.Time         `json:"occurred_at"`
	Customer       customer          `json:"customer"`
	Template       *template         `json:"template,omitempty"`
	Properties     map[string]string `json:"properties"`
}

type customer struct {
	Phone    string `json:"phone,omitempty"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	ID       string `json:"id,omitempty"`
	Identity string `json:"identity,omitempty"`
}

type template struct {
	Name     string   `json:"name,omitempty"`
	Language string   `json:"language,omitempty"`
	Values   []string `json:"values"`
	Names    []string `json:"names"`
}

// BuildRequest builds the POST for m without sending it.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	if m.DeliveryID == "" {
		return nil, permanent("message has no delivery id for the idempotency key")
	}
	if m.Event == "" {
		return nil, permanent("message has no event name")
	}
	if m.To.Phone == "" && m.To.Email == "" {
		return nil, permanent("recipient has neither phone nor email")
	}
	ev := event{
		Event:          m.Event,
		Shop:           c.shop,
		IdempotencyKey: m.DeliveryID,
		OccurredAt:     c.now().UTC().Truncate(time.Second),
		Customer:       customer{Phone: m.To.Phone, Email: m.To.Email, Name: m.To.Name, ID: m.To.CustomerID, Identity: m.To.Identity},
		Properties:     m.Properties,
	}
	if ev.Properties == nil {
		ev.Properties = map[string]string{}
	}
	switch m.Mode {
	case "template":
		ev.Template = &template{Name: m.Template, Language: m.Language, Values: nonNil(m.Values), Names: nonNil(m.Names)}
	case "event":
	default:
		return nil, permanent(fmt.Sprintf("unknown message mode %q", m.Mode))
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, permanent("encoding the event: " + err.Error())
	}
	req, err := adapters.NewRequest(ctx, Name, http.MethodPost, c.endpoint, bytes.NewReader(bytes.TrimSpace(buf.Bytes())))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderLicenseKey, c.licenseKey)
	req.Header.Set(HeaderShop, c.shop)
	req.Header.Set(HeaderIdempotency, m.DeliveryID)
	return req, nil
}

// Send pushes m once. ConvertWay's answer carries no message id we know of,
// so SendResult is empty.
func (c *Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	req, err := c.BuildRequest(ctx, m)
	if err != nil {
		return app.SendResult{}, err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return app.SendResult{}, err // adapters.Do's error shows no URL or address
	}
	if resp.Status >= 200 && resp.Status <= 299 {
		return app.SendResult{}, nil
	}
	if resp.Status >= 300 && resp.Status <= 399 {
		return app.SendResult{}, adapters.StatusError(Name, resp, "", "endpoint redirected; redirects are not followed, set the final URL")
	}
	return app.SendResult{}, adapters.StatusError(Name, resp, "", answerMessage(resp.Body))
}

// Verify only re-checks the configuration: see the package doc.
func (c *Client) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &app.ProviderError{Provider: Name, Retryable: true, Message: "verify cancelled", Err: err}
	}
	return nil
}

// ParseWebhook reads a ConvertWay callback. None is documented, so it
// reports nothing; it exists so the provider webhook route treats every
// provider alike.
func ParseWebhook(_ http.Header, _ []byte) (app.ProviderReport, error) {
	return app.ProviderReport{}, nil
}

// answerMessage picks a message out of a JSON error answer, if it has one
// in a common shape; the caller falls back to an excerpt of the body.
func answerMessage(body []byte) string {
	var answer struct {
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return ""
	}
	for _, raw := range []json.RawMessage{answer.Message, answer.Error} {
		var s string
		if json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) != "" {
			return adapters.Excerpt([]byte(s))
		}
	}
	return ""
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
