// Package wati sends WhatsApp template messages through Wati (wati.io), on
// the merchant's own tenant server ("API Endpoint" on Wati's API Docs page)
// with its Bearer access token.
//
// Sends go to POST {server}/api/v2/sendTemplateMessage?whatsappNumber=<digits>.
// v2 rather than v1: its answer carries receivers[].localMessageId, the id
// Wati's status webhooks carry, so statuses can be matched (v1 answers
// model.ids, which the webhooks do not name). Success is HTTP 2xx AND
// "result": true AND the receiver being a valid WhatsApp number; anything
// else is permanent with Wati's own reason, except network failures, 408,
// 429 and 5xx, which are retryable.
//
// Parameters: Wati fills a template's placeholders by name and ignores
// names the template does not use. Each value is sent twice: under its
// position ("1", "2", …, for templates written with {{1}} {{2}}, as in
// Nector's setup guide) and under the rule's variable path with dots made
// underscores ("customer.first_name" → "customer_first_name", "order.total"
// → "order_total"; the Nector names "user_name" and "amount" stay as they
// are), for templates with named placeholders. A merchant names Wati
// variables either way.
//
// Wati has no event-tracking API: event mode is a permanent error.
package wati

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant configuration and errors.
const Name = "wati"

const (
	sendPath      = "/api/v2/sendTemplateMessage"
	templatesPath = "/api/v1/getMessageTemplates"
)

// Client sends through one merchant's Wati tenant.
type Client struct {
	baseURL string // https://host[/tenant], no trailing slash
	auth    string // "Bearer <token>"
	http    *http.Client
}

var _ app.Provider = (*Client)(nil)

// New checks the merchant's credentials. "server_url" is the API Endpoint,
// with or without https:// ("live-mt-server.wati.io/123456"); http:// only
// with opts.AllowInsecure. "api_token" is the access token with or without
// "Bearer ". "base_url", honoured only with opts.AllowInsecure (tests),
// replaces server_url.
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	token := strings.TrimSpace(creds["api_token"])
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	switch {
	case token == "":
		return nil, app.Invalid("credentials.api_token", "missing: copy the Access Token from Wati's API Docs page")
	case strings.ContainsAny(token, " \t\r\n\"'"):
		return nil, app.Invalid("credentials.api_token", "not a Wati access token: it is one word, with no spaces or quotes")
	}

	field, raw := "credentials.server_url", strings.TrimSpace(creds["server_url"])
	if b := strings.TrimSpace(creds["base_url"]); b != "" {
		if !opts.AllowInsecure {
			return nil, app.Invalid("credentials.base_url", "only allowed when ALLOW_INSECURE_OUTBOUND is set (dev and tests)")
		}
		field, raw = "credentials.base_url", b
	}
	base, reason := normaliseServer(raw, opts.AllowInsecure)
	if reason != "" {
		return nil, app.Invalid(field, reason)
	}
	return &Client{baseURL: base, auth: "Bearer " + token, http: opts.HTTPClient()}, nil
}

// normaliseServer turns what the merchant pasted into https://host/path, or
// says why it cannot.
func normaliseServer(raw string, allowInsecure bool) (string, string) {
	if raw == "" {
		return "", "missing: copy the API Endpoint from Wati's API Docs page (e.g. live-mt-server.wati.io/123456)"
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := adapters.CheckURL(raw, allowInsecure)
	if err != nil {
		return "", err.Error()
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "must be the API Endpoint only, without ? or #"
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"), ""
}

// Name returns "wati".
func (c *Client) Name() string { return Name }

type parameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type sendRequest struct {
	TemplateName  string      `json:"template_name"`
	BroadcastName string      `json:"broadcast_name"`
	Parameters    []parameter `json:"parameters"`
}

// BuildRequest builds the send for m without sending it. The broadcast name
// is the template's, so Wati's broadcast report groups sends by template.
// Buttons are not sent: a Wati template's quick replies are part of it.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	switch m.Mode {
	case "template":
	case "event":
		return nil, permanent("Wati has no event API: use template mode for this rule")
	default:
		return nil, permanent("unknown message mode " + strconv.Quote(m.Mode))
	}
	if strings.TrimSpace(m.Template) == "" {
		return nil, permanent("the rule names no template")
	}
	number, ok := waNumber(m.To.Phone)
	if !ok {
		return nil, permanent("the recipient's phone is missing or not in E.164 form")
	}
	body := sendRequest{TemplateName: m.Template, BroadcastName: m.Template, Parameters: parameters(m.Names, m.Values)}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep URLs in values readable (&, <, >)
	if err := enc.Encode(body); err != nil {
		return nil, &app.ProviderError{Provider: Name, Message: "encoding the request failed", Err: err}
	}
	rawURL := c.baseURL + sendPath + "?" + url.Values{"whatsappNumber": {number}}.Encode()
	req, err := adapters.NewRequest(ctx, Name, http.MethodPost, rawURL, bytes.NewReader(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	if err != nil {
		return nil, err
	}
	c.authorise(req)
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// parameters are Wati's template parameters for values in template order:
// each value under its position and under its variable name (see the
// package doc).
func parameters(names, values []string) []parameter {
	params := make([]parameter, 0, 2*len(values))
	for i, v := range values {
		params = append(params, parameter{Name: strconv.Itoa(i + 1), Value: v})
		if i < len(names) {
			if n := VariableName(names[i]); n != "" {
				params = append(params, parameter{Name: n, Value: v})
			}
		}
	}
	return params
}

// VariableName is the Wati placeholder name a rule variable is also sent
// under: the path with dots made underscores ("order.total" → "order_total").
// The admin pages can show it to merchants writing named templates.
func VariableName(path string) string {
	return strings.ReplaceAll(strings.TrimSpace(path), ".", "_")
}

// Send builds and sends m once.
func (c *Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	req, err := c.BuildRequest(ctx, m)
	if err != nil {
		return app.SendResult{}, err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return app.SendResult{}, err
	}
	id, err := judgeSend(resp)
	if err != nil {
		return app.SendResult{}, scrub(err, strings.TrimPrefix(m.To.Phone, "+"))
	}
	return app.SendResult{ProviderMessageID: id}, nil
}

// Verify lists one message template: a read that needs the same token and
// server as sending, and changes nothing.
func (c *Client) Verify(ctx context.Context) error {
	req, err := adapters.NewRequest(ctx, Name, http.MethodGet, c.baseURL+templatesPath+"?pageSize=1&pageNumber=1", nil)
	if err != nil {
		return err
	}
	c.authorise(req)
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return err
	}
	// "result" is true/false in some answers and "success" in others.
	var ans struct {
		Result text `json:"result"`
		Info   text `json:"info"`
	}
	parseErr := json.Unmarshal(resp.Body, &ans)
	switch {
	case resp.Status < 200 || resp.Status > 299:
		reason := reasonOf(resp.Body)
		if resp.Status == http.StatusUnauthorized && reason == "" {
			reason = "the access token was refused (expired or rotated?)"
		}
		return adapters.StatusError(Name, resp, "", reason)
	case parseErr != nil:
		// A server_url pointing at some other site answers HTML.
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the server URL did not answer like Wati: " + adapters.Excerpt(resp.Body)}
	case ans.Result == "false":
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: cmp.Or(string(ans.Info), "result false")}
	}
	return nil
}

func (c *Client) authorise(req *http.Request) {
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
}

// sendAnswer covers v2's answer and the v1 fields Wati also uses for
// errors ("info", "validWhatsAppNumber", "errors").
type sendAnswer struct {
	Result              *bool     `json:"result"`
	Error               text      `json:"error"`
	Info                text      `json:"info"`
	Message             text      `json:"message"`
	ValidWhatsAppNumber *bool     `json:"validWhatsAppNumber"`
	Errors              errorList `json:"errors"`
	Receivers           []struct {
		LocalMessageID        string `json:"localMessageId"`
		IsValidWhatsAppNumber *bool  `json:"isValidWhatsAppNumber"`
		Errors                []text `json:"errors"`
	} `json:"receivers"`
}

// judgeSend returns the localMessageId of an accepted send, or why not.
func judgeSend(resp adapters.Response) (string, error) {
	if resp.Status < 200 || resp.Status > 299 {
		return "", adapters.StatusError(Name, resp, "", reasonOf(resp.Body))
	}
	var ans sendAnswer
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		// A 2xx we cannot read may still have sent: not retried, so the
		// customer is not messaged twice.
		return "", &app.ProviderError{Provider: Name, Status: resp.Status, Message: "unreadable answer: " + adapters.Excerpt(resp.Body)}
	}
	fail := func(msg string) (string, error) {
		return "", &app.ProviderError{Provider: Name, Status: resp.Status, Message: msg}
	}
	if ans.Result == nil || !*ans.Result {
		return fail(cmp.Or(string(ans.Info), string(ans.Error), string(ans.Message), ans.Errors.String(), "result false"))
	}
	if ans.ValidWhatsAppNumber != nil && !*ans.ValidWhatsAppNumber {
		return fail("not a valid WhatsApp number")
	}
	if len(ans.Receivers) == 0 {
		return fail("answer names no receiver: " + adapters.Excerpt(resp.Body))
	}
	r := ans.Receivers[0]
	var errs []string
	for _, e := range r.Errors {
		if e != "" {
			errs = append(errs, string(e))
		}
	}
	if r.IsValidWhatsAppNumber != nil && !*r.IsValidWhatsAppNumber {
		return fail(strings.Join(append([]string{"not a valid WhatsApp number"}, errs...), "; "))
	}
	if len(errs) > 0 {
		return fail(strings.Join(errs, "; "))
	}
	return r.LocalMessageID, nil
}

// reasonOf finds Wati's reason in an error answer, whichever field it used.
func reasonOf(body []byte) string {
	var ans sendAnswer
	if json.Unmarshal(body, &ans) != nil {
		return ""
	}
	return cmp.Or(string(ans.Info), string(ans.Error), string(ans.Message), ans.Errors.String())
}

// errorList is v1's "errors": a string, or {"error", "invalidWhatsappNumbers",
// "invalidCustomParameters"}. The numbers are counted, never shown.
type errorList struct {
	Error                   text   `json:"error"`
	InvalidWhatsappNumbers  []text `json:"invalidWhatsappNumbers"`
	InvalidCustomParameters []text `json:"invalidCustomParameters"`
}

func (e *errorList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		type plain errorList
		return json.Unmarshal(b, (*plain)(e))
	}
	return e.Error.UnmarshalJSON(b)
}

func (e errorList) String() string {
	var parts []string
	if e.Error != "" {
		parts = append(parts, string(e.Error))
	}
	if n := len(e.InvalidWhatsappNumbers); n > 0 {
		parts = append(parts, strconv.Itoa(n)+" invalid WhatsApp number(s)")
	}
	for _, p := range e.InvalidCustomParameters {
		parts = append(parts, "invalid parameter "+string(p))
	}
	return strings.Join(parts, "; ")
}

// waNumber is the E.164 phone without "+", as Wati's whatsappNumber.
func waNumber(phone string) (string, bool) {
	digits, ok := strings.CutPrefix(phone, "+")
	if !ok || len(digits) < 7 || len(digits) > 15 || digits[0] == '0' {
		return "", false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return digits, true
}

// scrub masks the recipient's number wherever Wati echoed it into an error
// message: errors are logged and shown, full phone numbers never.
func scrub(err error, digits string) error {
	var pe *app.ProviderError
	if len(digits) > 6 && errors.As(err, &pe) {
		pe.Message = strings.ReplaceAll(pe.Message, digits, digits[:2]+strings.Repeat("*", len(digits)-6)+digits[len(digits)-4:])
	}
	return err
}

func permanent(msg string) *app.ProviderError {
	return &app.ProviderError{Provider: Name, Message: msg}
}
