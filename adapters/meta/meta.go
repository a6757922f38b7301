// Package meta sends WhatsApp messages straight through Meta's WhatsApp
// Business Cloud API, with the merchant's own access token and business phone
// number, and reads the Cloud API's webhooks (webhook.go).
//
// Sending is POST https://graph.facebook.com/v24.0/{phone_number_id}/messages
// with the access token as a Bearer token. Success is HTTP 200 carrying
// messages[0].id, the wamid that later status webhooks name; a
// message_status of "accepted" and of "held_for_quality_assessment" both
// count, since Meta has queued the message either way.
//
// Template mode sends an approved template: Values become the positional body
// parameters {{1}}..{{n}} and Buttons become the payloads of the template's
// quick-reply buttons, by index. For the COD flow a rule may leave the
// template empty and give buttons: that sends an interactive reply-button
// message (at most 3 buttons, titles of at most 20 characters) whose body is
// Values[0]. Meta delivers such free-form messages only inside the 24 h
// customer-service window (else error 131047), so the first COD question
// should be an approved template with quick replies. Event mode does not
// exist on the Cloud API and fails permanently.
//
// Every send carries our delivery id as biz_opaque_callback_data, which Meta
// echoes in its status webhooks: a status can be matched to its delivery even
// when the answer to the send was lost.
package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the provider's name in merchant settings and errors.
const Name = "meta"

// APIVersion is the Graph API version every call uses. Meta keeps a version
// for about two years after release; move it forward deliberately, since
// request and answer shapes may change between versions.
const APIVersion = "v24.0"

// BaseURL is the production Graph API root.
const BaseURL = "https://graph.facebook.com/" + APIVersion

// Limits of interactive reply buttons and of the message body they carry.
const (
	maxReplyButtons    = 3
	maxButtonTitle     = 20 // characters
	maxButtonID        = 256
	maxInteractiveBody = 1024 // characters
	maxCallbackData    = 512
)

var (
	phoneNumberIDPattern = regexp.MustCompile(`^[0-9]{6,20}$`)
	appSecretPattern     = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	// E.164 without the "+": country code, then up to 14 more digits.
	waNumberPattern = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)
)

// Client sends through one merchant's Cloud API phone number.
type Client struct {
	http          *http.Client
	base          string
	token         string
	phoneNumberID string
	wabaID        string // optional: only the template listing needs it
}

var _ app.Provider = (*Client)(nil)

// New checks the merchant's credentials and returns a client. app_secret and
// verify_token are only checked here: the webhook side (VerifySignature,
// Handshake) takes them from the stored credentials. waba_id, the WhatsApp
// Business Account ID, is optional; without it templates cannot be listed
// (Templates).
func New(creds map[string]string, opts adapters.Options) (*Client, error) {
	fields := map[string]string{}

	token := strings.TrimSpace(creds["access_token"])
	// Merchants often copy the token out of a curl sample, "Bearer " included.
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	switch {
	case token == "":
		fields["credentials.access_token"] = "required"
	case strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		fields["credentials.access_token"] = "must be one token, without spaces"
	}

	phoneNumberID := strings.TrimSpace(creds["phone_number_id"])
	switch {
	case phoneNumberID == "":
		fields["credentials.phone_number_id"] = "required"
	case !phoneNumberIDPattern.MatchString(phoneNumberID):
		fields["credentials.phone_number_id"] = "must be the numeric Phone number ID from WhatsApp → API Setup (not the phone number itself)"
	}

	// waba_id is optional: sending never needs it, listing templates does
	// (they belong to the business account, not to the phone number).
	wabaID := strings.TrimSpace(creds["waba_id"])
	if wabaID != "" && !phoneNumberIDPattern.MatchString(wabaID) {
		fields["credentials.waba_id"] = "must be the numeric WhatsApp Business Account ID from WhatsApp → API Setup, or left empty"
	}

	appSecret := strings.TrimSpace(creds["app_secret"])
	switch {
	case appSecret == "":
		fields["credentials.app_secret"] = "required"
	case !appSecretPattern.MatchString(appSecret):
		fields["credentials.app_secret"] = "must be the 32-character App Secret from App settings → Basic"
	}

	verifyToken := strings.TrimSpace(creds["verify_token"])
	switch {
	case verifyToken == "":
		fields["credentials.verify_token"] = "required"
	case utf8.RuneCountInString(verifyToken) > 256:
		fields["credentials.verify_token"] = "must be at most 256 characters"
	}

	base := BaseURL
	if raw := strings.TrimSpace(creds["base_url"]); raw != "" {
		if !opts.AllowInsecure {
			fields["credentials.base_url"] = "only allowed when ALLOW_INSECURE_OUTBOUND is set"
		} else if u, err := adapters.CheckURL(raw, true); err != nil {
			fields["credentials.base_url"] = err.Error()
		} else {
			base = strings.TrimRight(u.String(), "/")
		}
	}

	if len(fields) > 0 {
		return nil, &app.ValidationError{Fields: fields}
	}
	return &Client{http: opts.HTTPClient(), base: base, token: token, phoneNumberID: phoneNumberID, wabaID: wabaID}, nil
}

// Name returns "meta".
func (c *Client) Name() string { return Name }

// BuildRequest builds the send request for m without sending it. A message
// the Cloud API could never accept (no valid phone, event mode, too many
// buttons) is a permanent *app.ProviderError.
func (c *Client) BuildRequest(ctx context.Context, m app.Message) (*http.Request, error) {
	payload, err := buildPayload(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "&" and "<" readable in values; JSON is the same either way
	if err := enc.Encode(payload); err != nil {
		return nil, permanent("encoding the message: " + err.Error())
	}
	req, err := adapters.NewRequest(ctx, Name, http.MethodPost, c.base+"/"+c.phoneNumberID+"/messages", bytes.NewReader(bytes.TrimSpace(buf.Bytes())))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// Send sends m once and returns the wamid.
func (c *Client) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	req, err := c.BuildRequest(ctx, m)
	if err != nil {
		return app.SendResult{}, err
	}
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return app.SendResult{}, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return app.SendResult{}, classify(resp)
	}
	var answer struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil || len(answer.Messages) == 0 || answer.Messages[0].ID == "" {
		// Meta took the request, so sending it again could reach the
		// customer twice: not retryable.
		return app.SendResult{}, &app.ProviderError{
			Provider: Name,
			Status:   resp.Status,
			Message:  "answer has no message id: " + adapters.Excerpt(resp.Body),
		}
	}
	return app.SendResult{ProviderMessageID: answer.Messages[0].ID}, nil
}

// Verify reads the phone number's display number and verified name, which
// needs a valid token with access to that phone number id.
func (c *Client) Verify(ctx context.Context) error {
	req, err := adapters.NewRequest(ctx, Name, http.MethodGet, c.base+"/"+c.phoneNumberID+"?fields=display_phone_number,verified_name", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return classify(resp)
	}
	return nil
}

// sendBody is the Cloud API message object, for the two types we send.
type sendBody struct {
	MessagingProduct string       `json:"messaging_product"`
	RecipientType    string       `json:"recipient_type"`
	To               string       `json:"to"`
	Type             string       `json:"type"`
	Template         *template    `json:"template,omitempty"`
	Interactive      *interactive `json:"interactive,omitempty"`
	CallbackData     string       `json:"biz_opaque_callback_data,omitempty"`
}

type template struct {
	Name       string      `json:"name"`
	Language   language    `json:"language"`
	Components []component `json:"components,omitempty"`
}

type language struct {
	Code string `json:"code"`
}

type component struct {
	Type       string `json:"type"`
	SubType    string `json:"sub_type,omitempty"`
	Index      string `json:"index,omitempty"`
	Parameters []any  `json:"parameters"`
}

// textParameter keeps "text" even when empty: Meta then names the missing
// parameter in its error instead of a vaguer shape error.
type textParameter struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type payloadParameter struct {
	Type    string `json:"type"`
	Payload string `json:"payload"`
}

type interactive struct {
	Type   string            `json:"type"`
	Body   interactiveBody   `json:"body"`
	Action interactiveAction `json:"action"`
}

type interactiveBody struct {
	Text string `json:"text"`
}

type interactiveAction struct {
	Buttons []replyButton `json:"buttons"`
}

type replyButton struct {
	Type  string `json:"type"`
	Reply reply  `json:"reply"`
}

type reply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func buildPayload(m app.Message) (sendBody, error) {
	switch m.Mode {
	case "template":
	case "event":
		return sendBody{}, permanent("event mode is not supported by the Cloud API: use template mode")
	default:
		return sendBody{}, permanent(fmt.Sprintf("unknown message mode %q", m.Mode))
	}
	to := strings.TrimPrefix(strings.TrimSpace(m.To.Phone), "+")
	if to == "" {
		return sendBody{}, permanent("recipient has no phone number")
	}
	if !waNumberPattern.MatchString(to) {
		return sendBody{}, permanent("recipient phone number is not in E.164 form")
	}
	if len(m.DeliveryID) > maxCallbackData {
		return sendBody{}, permanent("delivery id is longer than 512 bytes")
	}
	body := sendBody{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, CallbackData: m.DeliveryID}

	if m.Template == "" {
		if len(m.Buttons) == 0 {
			return sendBody{}, permanent("template mode needs a template name")
		}
		in, err := buttonMessage(m)
		if err != nil {
			return sendBody{}, err
		}
		body.Type = "interactive"
		body.Interactive = in
		return body, nil
	}

	lang := m.Language
	if lang == "" {
		lang = "en"
	}
	t := &template{Name: m.Template, Language: language{Code: lang}}
	if len(m.Values) > 0 {
		params := make([]any, len(m.Values))
		for i, v := range m.Values {
			params[i] = textParameter{Type: "text", Text: v}
		}
		t.Components = append(t.Components, component{Type: "body", Parameters: params})
	}
	for i, b := range m.Buttons {
		if b.ID == "" || len(b.ID) > maxButtonID {
			return sendBody{}, permanent(fmt.Sprintf("button %d: id must be 1 to %d bytes", i, maxButtonID))
		}
		t.Components = append(t.Components, component{
			Type:       "button",
			SubType:    "quick_reply",
			Index:      strconv.Itoa(i),
			Parameters: []any{payloadParameter{Type: "payload", Payload: b.ID}},
		})
	}
	body.Type = "template"
	body.Template = t
	return body, nil
}

// buttonMessage builds the interactive reply-button message of the COD flow.
func buttonMessage(m app.Message) (*interactive, error) {
	if len(m.Values) == 0 || strings.TrimSpace(m.Values[0]) == "" {
		return nil, permanent("a button message needs its text as the first value")
	}
	text := m.Values[0]
	if utf8.RuneCountInString(text) > maxInteractiveBody {
		return nil, permanent(fmt.Sprintf("button message text is longer than %d characters", maxInteractiveBody))
	}
	if len(m.Buttons) > maxReplyButtons {
		return nil, permanent(fmt.Sprintf("a button message takes at most %d buttons, got %d", maxReplyButtons, len(m.Buttons)))
	}
	buttons := make([]replyButton, len(m.Buttons))
	for i, b := range m.Buttons {
		switch {
		case b.ID == "" || len(b.ID) > maxButtonID:
			return nil, permanent(fmt.Sprintf("button %d: id must be 1 to %d bytes", i, maxButtonID))
		case b.Title == "" || utf8.RuneCountInString(b.Title) > maxButtonTitle:
			return nil, permanent(fmt.Sprintf("button %d: title must be 1 to %d characters", i, maxButtonTitle))
		}
		buttons[i] = replyButton{Type: "reply", Reply: reply{ID: b.ID, Title: b.Title}}
	}
	return &interactive{Type: "button", Body: interactiveBody{Text: text}, Action: interactiveAction{Buttons: buttons}}, nil
}

func permanent(message string) *app.ProviderError {
	return &app.ProviderError{Provider: Name, Message: message}
}

// graphError is the Graph API error object.
type graphError struct {
	Message      string `json:"message"`
	Type         string `json:"type"`
	Code         *int   `json:"code"` // nil when absent: 0 is a real code (AuthException)
	ErrorSubcode int    `json:"error_subcode"`
	ErrorData    struct {
		Details string `json:"details"`
	} `json:"error_data"`
	FBTraceID string `json:"fbtrace_id"`
}

// classify turns an unsuccessful answer into a ProviderError, retryable by
// Meta's error code when it gives one we know, else by HTTP status.
func classify(resp adapters.Response) *app.ProviderError {
	var answer struct {
		Error *graphError `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &answer); err != nil || answer.Error == nil {
		return adapters.StatusError(Name, resp, "", "")
	}
	e := answer.Error
	if e.Code == nil {
		return adapters.StatusError(Name, resp, "", describe(e))
	}
	pe := adapters.StatusError(Name, resp, strconv.Itoa(*e.Code), describe(e))
	if retryable, known := codeRetryable(*e.Code); known {
		pe.Retryable = retryable
	}
	return pe
}

// describe keeps Meta's message with what helps support: the details (Meta
// says to build on them, titles are deprecated), the subcode and the trace id.
func describe(e *graphError) string {
	msg := strings.TrimSpace(e.Message)
	var extra []string
	if d := strings.TrimSpace(e.ErrorData.Details); d != "" && d != msg {
		extra = append(extra, "details: "+d)
	}
	if e.ErrorSubcode != 0 {
		extra = append(extra, "subcode "+strconv.Itoa(e.ErrorSubcode))
	}
	if e.FBTraceID != "" {
		extra = append(extra, "fbtrace_id "+e.FBTraceID)
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, "; ") + ")"
	}
	return adapters.Excerpt([]byte(msg))
}

// codeRetryable follows Meta's error-code reference (providers.md §5).
// Unknown codes are judged by HTTP status instead.
func codeRetryable(code int) (retryable, known bool) {
	switch code {
	// Throughput and pair-rate limits, rate limits, temporary and unknown
	// errors, maintenance.
	case 130429, 131056, 131000, 131016, 131057, 1, 2, 4, 80007:
		return true, true
	// Meta says to wait a day (131049, ecosystem health) or fix quality
	// first (131048, spam limit): retrying within our schedule only adds
	// to the spam signal.
	case 131048, 131049:
		return false, true
	// Undeliverable, outside the 24 h window, marketing opt-out, template
	// and parameter errors, recipient not allowed, number not registered,
	// invalid parameter.
	case 131026, 131047, 131050, 131051, 132000, 132001, 132005, 132007, 132012, 132015, 132016,
		131008, 131009, 131030, 133010, 100:
		return false, true
	// Token, permission, blocked or locked account, payment.
	case 0, 190, 10, 368, 131031, 131042:
		return false, true
	}
	if code >= 200 && code <= 299 {
		return false, true
	}
	return false, false
}
