// Package clevertap hands events to CleverTap, the merchant's customer
// engagement platform, whose journeys then send the WhatsApp template
// through the merchant's WhatsApp setup in CleverTap. We never send the
// message ourselves.
//
// Both modes upload one event with POST https://<region>.api.clevertap.com/1/upload
// ({"d": [{identity, ts, type: "event", evtName, evtData}]}), authenticated
// by the X-CleverTap-Account-Id and X-CleverTap-Passcode headers. The event
// name is the event type with dots made underscores ("loyalty.points_earned"
// → "loyalty_points_earned"), and evtData is the event's properties keyed
// the same way ("order.total" → "order_total"): CleverTap reserves "." and
// ":" in names and keys, and "$", quotes and backslashes are dropped. In
// template mode evtData also carries "template_name", "template_language"
// and the ordered values as "template_var_1", "template_var_2", …, so a
// journey triggered by the event can fill the WhatsApp template's {{1}}, {{2}}.
//
// HTTP 200 is not success on its own: CleverTap answers
// {"status", "processed", "unprocessed": [{code, error}]}, and only
// "status": "success" with nothing unprocessed is. A record's code 555 (a
// server error) and HTTP 408/429/5xx are retryable; every other record code
// (509–528: bad data) and 4xx (bad passcode or account) are permanent.
// CleverTap gives no message id, so SendResult is empty.
package clevertap

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant configuration and errors.
const Name = "clevertap"

const (
	uploadPath = "/1/upload"
	// connectPath is CleverTap's API for partners verifying a customer's
	// credentials: it reads nothing and writes nothing.
	connectPath = "/v1/connect?partner=storebridge"
	// retryableRecord is the per-record "miscellaneous server error".
	retryableRecord = 555
)

// Project IDs look like "W9R-486-4W5Z" or "TEST-R78-ZZK-955Z".
var accountPattern = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// Client uploads events to one merchant's CleverTap project.
type Client struct {
	baseURL   string
	accountID string
	passcode  string
	http      *http.Client
	now       func() time.Time // the event's ts; replaced in tests
}

var _ app.Provider = (*Client)(nil)

// New checks the merchant's credentials: "account_id" (the Project ID),
// "passcode" and "region" (IN1, SG1, US1, APS3, MEC1 or EU1, the "Server
// Prefix"). "base_url", honoured only with opts.AllowInsecure (tests),
// replaces the regional host.
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	fields := map[string]string{}
	account := strings.TrimSpace(creds["account_id"])
	switch {
	case account == "":
		fields["credentials.account_id"] = "missing: copy the Project ID from CleverTap → Settings → Project"
	case !accountPattern.MatchString(account):
		fields["credentials.account_id"] = "not a CleverTap Project ID (letters, digits and dashes, e.g. W9R-486-4W5Z)"
	}
	passcode := strings.TrimSpace(creds["passcode"])
	switch {
	case passcode == "":
		fields["credentials.passcode"] = "missing: copy the Passcode from CleverTap → Settings → Project"
	case strings.ContainsAny(passcode, " \t\r\n\"'"):
		fields["credentials.passcode"] = "not a CleverTap passcode: it is one word, with no spaces or quotes"
	}
	region := strings.TrimSpace(creds["region"])
	base := ""
	if raw := strings.TrimSpace(creds["base_url"]); raw != "" {
		if !opts.AllowInsecure {
			fields["credentials.base_url"] = "only allowed when ALLOW_INSECURE_OUTBOUND is set (dev and tests)"
		} else if u, err := adapters.CheckURL(raw, true); err != nil {
			fields["credentials.base_url"] = err.Error()
		} else {
			base = strings.TrimRight(u.String(), "/")
		}
	} else if host, ok := RegionHost(region); ok {
		base = "https://" + host
	} else if region == "" {
		fields["credentials.region"] = "missing: the Server Prefix of your CleverTap project, one of IN1, SG1, US1, APS3, MEC1, EU1"
	} else {
		fields["credentials.region"] = "unknown region: use IN1, SG1, US1, APS3, MEC1 or EU1"
	}
	if len(fields) > 0 {
		return nil, &app.ValidationError{Fields: fields}
	}
	return &Client{baseURL: base, accountID: account, passcode: passcode, http: opts.HTTPClient(), now: time.Now}, nil
}

// RegionHost is the API host of a CleverTap region (Server Prefix), in any
// case: EU1 is CleverTap's default host, api.clevertap.com.
func RegionHost(region string) (string, bool) {
	switch r := strings.ToLower(strings.TrimSpace(region)); r {
	case "in1", "sg1", "us1", "aps3", "mec1":
		return r + ".api.clevertap.com", true
	case "eu1":
		return "api.clevertap.com", true
	}
	return "", false
}

// Name returns "clevertap".
func (c *Client) Name() string { return Name }

type record struct {
	Identity string            `json:"identity"`
	TS       int64             `json:"ts"`
	Type     string            `json:"type"`
	EvtName  string            `json:"evtName"`
	EvtData  map[string]string `json:"evtData"`
}

// BuildRequest builds the upload for m without sending it. The identity is
// the merchant's common property (Recipient.Identity), else the phone in
// E.164 ("+919876543210", CleverTap's phone format), else the email, else
// the customer id. ts is now: live journeys ignore events over 2 h old.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	name := m.Event
	switch m.Mode {
	case "event":
	case "template":
		if strings.TrimSpace(m.Template) == "" {
			return nil, permanent("the rule names no template")
		}
		if name == "" {
			name = m.Template
		}
	default:
		return nil, permanent("unknown message mode " + strconv.Quote(m.Mode))
	}
	name = cleanName(name)
	if name == "" {
		return nil, permanent("the event has no name")
	}
	identity := cmp.Or(m.To.Identity, m.To.Phone, m.To.Email, m.To.CustomerID)
	if identity == "" {
		return nil, permanent("the recipient has no identity (phone, email or customer id)")
	}
	data := make(map[string]string, len(m.Properties)+len(m.Values)+2)
	for k, v := range m.Properties {
		if k = cleanName(k); k != "" {
			data[k] = v
		}
	}
	if m.Mode == "template" {
		data["template_name"] = m.Template
		data["template_language"] = cmp.Or(m.Language, "en")
		for i, v := range m.Values {
			data["template_var_"+strconv.Itoa(i+1)] = v
		}
	}
	body := map[string][]record{"d": {{Identity: identity, TS: c.now().Unix(), Type: "event", EvtName: name, EvtData: data}}}
	return c.newRequest(ctx, http.MethodPost, uploadPath, body)
}

// Send uploads m's event once.
func (c *Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	req, err := c.BuildRequest(ctx, m)
	if err != nil {
		return app.SendResult{}, err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return app.SendResult{}, err
	}
	return app.SendResult{}, judgeUpload(resp)
}

// Verify calls CleverTap's connect API, made for partners to check a
// customer's Project ID and passcode; it neither reads nor writes user data
// (an upload, even an empty one, would be a write).
func (c *Client) Verify(ctx context.Context) error {
	req, err := c.newRequest(ctx, http.MethodGet, connectPath, nil)
	if err != nil {
		return err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return err
	}
	var ans answer
	parseErr := json.Unmarshal(resp.Body, &ans)
	if resp.Status < 200 || resp.Status > 299 {
		return statusError(resp, ans)
	}
	if parseErr == nil && strings.EqualFold(ans.Status, "fail") {
		return &app.ProviderError{Provider: Name, Status: resp.Status, Code: string(ans.Code), Message: cmp.Or(ans.Error, "status fail")}
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, method, path string, payload any) (*http.Request, error) {
	var body io.Reader // nil for GET: a typed nil would make a body
	if payload != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep URLs in values readable (&, <, >)
		if err := enc.Encode(payload); err != nil {
			return nil, &app.ProviderError{Provider: Name, Message: "encoding the request failed", Err: err}
		}
		body = bytes.NewReader(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	req, err := adapters.NewRequest(ctx, Name, method, c.baseURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-CleverTap-Account-Id", c.accountID)
	req.Header.Set("X-CleverTap-Passcode", c.passcode)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return req, nil
}

// answer is CleverTap's upload answer, and its error shape
// {"status": "fail", "error": "...", "code": 401}.
type answer struct {
	Status      string `json:"status"`
	Processed   int    `json:"processed"`
	Error       string `json:"error"`
	Code        text   `json:"code"`
	Unprocessed []struct {
		Status string `json:"status"`
		Code   text   `json:"code"`
		Error  string `json:"error"`
	} `json:"unprocessed"`
}

// judgeUpload says whether CleverTap took our one record.
func judgeUpload(resp adapters.Response) error {
	var ans answer
	parseErr := json.Unmarshal(resp.Body, &ans)
	if resp.Status < 200 || resp.Status > 299 {
		return statusError(resp, ans)
	}
	if parseErr != nil {
		// Whether the event was recorded is unknown; a second upload could
		// trigger the journey twice, so this is not retried.
		return &app.ProviderError{Provider: Name, Status: resp.Status, Message: "unreadable answer: " + adapters.Excerpt(resp.Body)}
	}
	if len(ans.Unprocessed) > 0 {
		u := ans.Unprocessed[0]
		code, _ := strconv.Atoi(string(u.Code))
		return &app.ProviderError{
			Provider:  Name,
			Status:    resp.Status,
			Code:      string(u.Code),
			Message:   cmp.Or(u.Error, "record not processed"),
			Retryable: code == retryableRecord,
		}
	}
	if !strings.EqualFold(ans.Status, "success") {
		return &app.ProviderError{Provider: Name, Status: resp.Status, Code: string(ans.Code), Message: cmp.Or(ans.Error, "status "+strconv.Quote(ans.Status))}
	}
	return nil
}

func statusError(resp adapters.Response, ans answer) *app.ProviderError {
	msg := ans.Error
	if msg == "" && (resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden) && len(bytes.TrimSpace(resp.Body)) == 0 {
		msg = "the Project ID or passcode was refused (or the region is wrong)"
	}
	return adapters.StatusError(Name, resp, string(ans.Code), msg)
}

// cleanName makes an event name or property key CleverTap accepts: "." and
// ":" become "_"; "$", quotes and backslashes are dropped.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '.', ':':
			b.WriteByte('_')
		case '$', '\'', '"', '\\':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// text is the providers' tolerant JSON scalar.
type text = adapters.Text

func permanent(msg string) *app.ProviderError {
	return &app.ProviderError{Provider: Name, Message: msg}
}

// ParseWebhook returns an empty report: CleverTap has no delivery webhook
// for events we upload. The WhatsApp message is sent by a CleverTap journey
// through the merchant's WhatsApp provider, which reports statuses to
// CleverTap (or to itself), not to us.
func ParseWebhook(_ http.Header, _ []byte) (app.ProviderReport, error) {
	return app.ProviderReport{}, nil
}
