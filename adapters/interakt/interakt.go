// Package interakt sends WhatsApp messages through Interakt (interakt.ai),
// the merchant's own account, authenticated with the dashboard's Secret Key.
//
// Template mode posts to /v1/public/message/ with our delivery id as
// callbackData, which Interakt echoes back in its status webhooks. Event mode
// posts to /v1/public/track/events/, where the merchant's "ongoing campaigns"
// ("after the customer does an event") send the template.
//
// Success is an HTTP 2xx whose JSON carries "result": true; the answer's "id"
// is the provider message id. Interakt answers content errors (unknown
// template, wrong language) with "result": false and a message: those, and
// any 4xx but 408/429, are permanent; network failures, 429 and 5xx are
// retryable.
package interakt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant configuration and errors.
const Name = "interakt"

const (
	defaultBaseURL = "https://api.interakt.ai"
	messagePath    = "/v1/public/message/"
	eventPath      = "/v1/public/track/events/"
	// usersPath is the Get Users API: a read, so Verify changes nothing.
	usersPath = "/v1/public/apis/users/"
)

// The Secret Key is base64 text; anything else was pasted wrong.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9+/_-]+=*$`)

// e164 is what Recipient.Phone holds.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Client sends through one merchant's Interakt account.
type Client struct {
	baseURL string
	auth    string // "Basic <key as pasted>"
	http    *http.Client
}

var _ app.Provider = (*Client)(nil)

// New checks the merchant's credentials: "api_key" is the Secret Key from
// Interakt's Developer Settings, used as pasted (a leading "Basic " is
// accepted). "base_url" is honoured only with opts.AllowInsecure (tests).
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	key := strings.TrimSpace(creds["api_key"])
	if len(key) > 6 && strings.EqualFold(key[:6], "basic ") {
		key = strings.TrimSpace(key[6:])
	}
	switch {
	case key == "":
		return nil, app.Invalid("credentials.api_key", "missing: paste the Secret Key from Interakt → Settings → Developer Settings")
	case !keyPattern.MatchString(key):
		return nil, app.Invalid("credentials.api_key", "not an Interakt Secret Key: it is one word of letters, digits, +, / and =")
	}
	base := defaultBaseURL
	if raw := strings.TrimSpace(creds["base_url"]); raw != "" {
		if !opts.AllowInsecure {
			return nil, app.Invalid("credentials.base_url", "only allowed when ALLOW_INSECURE_OUTBOUND is set (dev and tests)")
		}
		u, err := adapters.CheckURL(raw, true)
		if err != nil {
			return nil, app.Invalid("credentials.base_url", err.Error())
		}
		base = strings.TrimRight(u.String(), "/")
	}
	return &Client{baseURL: base, auth: "Basic " + key, http: opts.HTTPClient()}, nil
}

// Name returns "interakt".
func (c *Client) Name() string { return Name }

type templateRequest struct {
	CountryCode  string          `json:"countryCode"`
	PhoneNumber  string          `json:"phoneNumber"`
	CallbackData string          `json:"callbackData,omitempty"`
	Type         string          `json:"type"`
	Template     templateContent `json:"template"`
}

type templateContent struct {
	Name         string   `json:"name"`
	LanguageCode string   `json:"languageCode"`
	BodyValues   []string `json:"bodyValues"`
}

type eventRequest struct {
	UserID      string            `json:"userId,omitempty"`
	CountryCode string            `json:"countryCode,omitempty"`
	PhoneNumber string            `json:"phoneNumber,omitempty"`
	Event       string            `json:"event"`
	Traits      map[string]string `json:"traits"`
}

// BuildRequest builds the call for m without sending it. Buttons are not
// sent: an Interakt template's quick replies are part of the approved
// template.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	var (
		path    string
		payload any
	)
	switch m.Mode {
	case "template":
		if strings.TrimSpace(m.Template) == "" {
			return nil, permanent("the rule names no template")
		}
		cc, national, err := splitPhone(m.To.Phone)
		if err != nil {
			return nil, err
		}
		lang := m.Language
		if lang == "" {
			lang = "en"
		}
		values := m.Values
		if values == nil {
			values = []string{}
		}
		path = messagePath
		payload = templateRequest{
			CountryCode:  cc,
			PhoneNumber:  national,
			CallbackData: m.DeliveryID,
			Type:         "Template",
			Template:     templateContent{Name: m.Template, LanguageCode: lang, BodyValues: values},
		}
	case "event":
		if strings.TrimSpace(m.Event) == "" {
			return nil, permanent("event mode needs an event name")
		}
		body := eventRequest{Event: m.Event, Traits: m.Properties}
		if body.Traits == nil {
			body.Traits = map[string]string{}
		}
		// Interakt identifies users by phone and/or userId; the common
		// property (customer id or email) becomes the userId.
		if id := m.To.Identity; id != "" && id != m.To.Phone {
			body.UserID = id
		}
		if m.To.Phone != "" {
			cc, national, err := splitPhone(m.To.Phone)
			if err != nil {
				return nil, err
			}
			body.CountryCode, body.PhoneNumber = cc, national
		}
		if body.UserID == "" && body.PhoneNumber == "" {
			return nil, permanent("the recipient has neither a phone number nor an identity")
		}
		path = eventPath
		payload = body
	default:
		return nil, permanent("unknown message mode " + strconv.Quote(m.Mode))
	}
	return c.newJSONRequest(ctx, c.baseURL+path, payload)
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
	ans, err := judge(resp, m.Mode == "template")
	if err != nil {
		return app.SendResult{}, scrub(err, m.To.Phone)
	}
	return app.SendResult{ProviderMessageID: ans.ID}, nil
}

// Verify asks the Get Users API for one user: a read that needs the same
// key as sending and changes nothing (tracking a user would create one).
func (c *Client) Verify(ctx context.Context) error {
	query := url.Values{"offset": {"0"}, "limit": {"1"}}
	body := map[string]any{"filters": []map[string]string{
		{"trait": "created_at_utc", "op": "gt", "val": "2000-01-01T00:00:00.000Z"},
	}}
	req, err := c.newJSONRequest(ctx, c.baseURL+usersPath+"?"+query.Encode(), body)
	if err != nil {
		return err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return err
	}
	_, err = judge(resp, false)
	return err
}

func (c *Client) newJSONRequest(ctx context.Context, rawURL string, payload any) (*http.Request, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep URLs in values readable (&, <, >)
	if err := enc.Encode(payload); err != nil {
		return nil, &app.ProviderError{Provider: Name, Message: "encoding the request failed", Err: err}
	}
	req, err := adapters.NewRequest(ctx, Name, http.MethodPost, rawURL, bytes.NewReader(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// answer is every Interakt API answer's shape: {"result", "message", "id"}.
type answer struct {
	Result  *bool  `json:"result"`
	Message string `json:"message"`
	ID      string `json:"id"`
	Detail  string `json:"detail"`
}

// judge turns an HTTP answer into success or a ProviderError. requireResult
// is set for sends, where only "result": true proves Interakt accepted the
// message; the track and users APIs are judged by status unless they say
// "result": false.
func judge(resp adapters.Response, requireResult bool) (answer, error) {
	var ans answer
	parseErr := json.Unmarshal(resp.Body, &ans)
	reason := ans.Message
	if reason == "" {
		reason = ans.Detail
	}
	if resp.Status < 200 || resp.Status > 299 {
		return ans, adapters.StatusError(Name, resp, "", reason)
	}
	switch {
	case parseErr != nil:
		// A 2xx we cannot read may still have sent the message: not retried,
		// so the customer is not messaged twice.
		return ans, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "unreadable answer: " + adapters.Excerpt(resp.Body)}
	case ans.Result != nil && !*ans.Result:
		if reason == "" {
			reason = "result false"
		}
		return ans, &app.ProviderError{Provider: Name, Status: resp.Status, Message: reason}
	case requireResult && ans.Result == nil:
		return ans, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "answer without result: " + adapters.Excerpt(resp.Body)}
	}
	return ans, nil
}

// splitPhone turns E.164 into Interakt's countryCode ("+91") and national
// number, using the calling-code table of libphonenumber so +1, +44, +971
// and Italy's leading zero come out right.
func splitPhone(phone string) (countryCode, national string, err error) {
	if !e164.MatchString(phone) {
		return "", "", permanent("the recipient's phone is missing or not in E.164 form")
	}
	num, perr := phonenumbers.Parse(phone, "")
	if perr != nil || num.GetCountryCode() == 0 {
		return "", "", permanent("the recipient's phone has no known country calling code")
	}
	return "+" + strconv.Itoa(int(num.GetCountryCode())), phonenumbers.GetNationalSignificantNumber(num), nil
}

// scrub masks the recipient's national number (and so the full one) wherever
// Interakt echoed it into an error message: errors are logged and shown,
// full phone numbers never.
func scrub(err error, phone string) error {
	var pe *app.ProviderError
	if !errors.As(err, &pe) {
		return err
	}
	if _, national, perr := splitPhone(phone); perr == nil && len(national) > 4 {
		pe.Message = strings.ReplaceAll(pe.Message, national, strings.Repeat("*", len(national)-4)+national[len(national)-4:])
	}
	return err
}

func permanent(msg string) *app.ProviderError {
	return &app.ProviderError{Provider: Name, Message: msg}
}
