package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// SignatureHeader carries Meta's signature of a webhook body.
const SignatureHeader = "X-Hub-Signature-256"

// Webhook signature errors; both mean the request must be refused.
var (
	ErrMissingSignature = errors.New("meta: webhook has no " + SignatureHeader + " header")
	ErrInvalidSignature = errors.New("meta: webhook signature does not match")
)

// VerifySignature checks X-Hub-Signature-256, "sha256=" and the hex
// HMAC-SHA256 of the raw body keyed with the app secret, in constant time.
// body must be the bytes as received, never a re-encoded copy.
func VerifySignature(appSecret string, header http.Header, body []byte) error {
	if appSecret == "" {
		return errors.New("meta: no app secret to verify the webhook with")
	}
	value := strings.TrimSpace(header.Get(SignatureHeader))
	if value == "" {
		return ErrMissingSignature
	}
	digest, ok := strings.CutPrefix(value, "sha256=")
	if !ok {
		return ErrInvalidSignature
	}
	got, err := hex.DecodeString(digest)
	if err != nil {
		return ErrInvalidSignature
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrInvalidSignature
	}
	return nil
}

// Handshake answers Meta's subscription check (GET
// ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…): when the token
// matches, the caller replies 200 with the challenge as the body, else 403.
func Handshake(verifyToken string, query url.Values) (challenge string, ok bool) {
	if verifyToken == "" || query.Get("hub.mode") != "subscribe" {
		return "", false
	}
	challenge = query.Get("hub.challenge")
	if challenge == "" {
		return "", false
	}
	if subtle.ConstantTimeCompare([]byte(query.Get("hub.verify_token")), []byte(verifyToken)) != 1 {
		return "", false
	}
	return challenge, true
}

// webhookBody is the part of Meta's webhook envelope we read.
type webhookBody struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Statuses []webhookStatus  `json:"statuses"`
				Messages []webhookMessage `json:"messages"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type webhookStatus struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Timestamp    string `json:"timestamp"`
	CallbackData string `json:"biz_opaque_callback_data"`
	Errors       []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

type webhookMessage struct {
	From      string `json:"from"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Context   *struct {
		ID string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Interactive *struct {
		Type        string       `json:"type"`
		ButtonReply *choiceReply `json:"button_reply"`
		ListReply   *choiceReply `json:"list_reply"`
	} `json:"interactive"`
}

type choiceReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// ParseWebhook reads a Cloud API webhook body (already verified with
// VerifySignature): statuses of our messages by wamid (and delivery id when
// Meta echoes it), and customers' text messages and button taps. Other
// fields and message types (media, reactions, template updates) are
// skipped; a body that is not JSON is an error.
func ParseWebhook(_ http.Header, body []byte) (app.ProviderReport, error) {
	var in webhookBody
	if err := json.Unmarshal(body, &in); err != nil {
		return app.ProviderReport{}, errors.New("meta: webhook body is not the Cloud API's JSON: " + err.Error())
	}
	var report app.ProviderReport
	if in.Object != "whatsapp_business_account" {
		return report, nil
	}
	for _, entry := range in.Entry {
		for _, change := range entry.Changes {
			if change.Field != "" && change.Field != "messages" {
				continue
			}
			for _, s := range change.Value.Statuses {
				if st, ok := statusReport(s); ok {
					report.Statuses = append(report.Statuses, st)
				}
			}
			for _, m := range change.Value.Messages {
				if r, ok := replyOf(m); ok {
					report.Replies = append(report.Replies, r)
				}
			}
		}
	}
	return report, nil
}

func statusReport(s webhookStatus) (app.StatusReport, bool) {
	var status app.DeliveryStatus
	switch s.Status {
	case "sent":
		status = app.DeliverySent
	case "delivered":
		status = app.DeliveryDelivered
	case "read":
		status = app.DeliveryRead
	case "failed":
		status = app.DeliveryFailed
	default: // "deleted", "warning" and future ones do not move a delivery
		return app.StatusReport{}, false
	}
	if s.ID == "" && s.CallbackData == "" {
		return app.StatusReport{}, false
	}
	r := app.StatusReport{
		DeliveryID:        s.CallbackData,
		ProviderMessageID: s.ID,
		Status:            status,
		At:                unixSeconds(s.Timestamp),
	}
	if status == app.DeliveryFailed {
		var reasons []string
		for _, e := range s.Errors {
			reason := strconv.Itoa(e.Code)
			text := e.Message
			if text == "" {
				text = e.Title
			}
			if text != "" {
				reason += " " + text
			}
			if e.ErrorData.Details != "" && e.ErrorData.Details != text {
				reason += ": " + e.ErrorData.Details
			}
			reasons = append(reasons, reason)
		}
		r.Error = strings.Join(reasons, "; ")
		if r.Error == "" {
			r.Error = "failed"
		}
	}
	return r, true
}

func replyOf(m webhookMessage) (app.Reply, bool) {
	// from is the customer's wa_id, the number without "+".
	phone := adapters.PhoneFromDigits(m.From)
	if phone == "" {
		return app.Reply{}, false
	}
	r := app.Reply{
		Phone:             phone,
		ProviderMessageID: m.ID,
		At:                unixSeconds(m.Timestamp),
	}
	if m.Context != nil {
		r.InReplyTo = m.Context.ID
	}
	switch {
	case m.Type == "text" && m.Text != nil:
		r.Text = m.Text.Body
	case m.Type == "button" && m.Button != nil: // a template's quick reply
		r.Text = m.Button.Text
		r.ButtonID = m.Button.Payload
	case m.Type == "interactive" && m.Interactive != nil:
		choice := m.Interactive.ButtonReply
		if choice == nil {
			choice = m.Interactive.ListReply
		}
		if choice == nil {
			return app.Reply{}, false
		}
		r.Text = choice.Title
		r.ButtonID = choice.ID
	default:
		return app.Reply{}, false
	}
	return r, true
}

// unixSeconds reads Meta's timestamps, unix seconds as a string; a missing or
// malformed one gives the zero time rather than dropping the report.
func unixSeconds(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
