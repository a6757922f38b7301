package interakt

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256(secret, raw body)>".
// Several independent public consumers verify it this way; Interakt's own
// docs excerpt does not show it, so check it against a live delivery.
const SignatureHeader = "Interakt-Signature"

// ErrBadSignature is returned when a webhook's signature is missing or does
// not match the merchant's webhook secret.
var ErrBadSignature = errors.New("interakt: bad webhook signature")

// VerifySignature checks a webhook body against the Secret Key set on
// Interakt's webhook settings, in constant time.
func VerifySignature(secret string, header http.Header, body []byte) error {
	if secret == "" {
		return errors.New("interakt: no webhook secret configured")
	}
	got := strings.TrimSpace(header.Get(SignatureHeader))
	if got == "" {
		return fmt.Errorf("%w: no %s header", ErrBadSignature, SignatureHeader)
	}
	if len(got) > 7 && strings.EqualFold(got[:7], "sha256=") {
		got = got[7:]
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// text is the providers' tolerant JSON scalar.
type text = adapters.Text

type webhook struct {
	Type      string `json:"type"`
	Timestamp text   `json:"timestamp"`
	Data      struct {
		Customer struct {
			ChannelPhoneNumber text `json:"channel_phone_number"`
			CountryCode        text `json:"country_code"`
			PhoneNumber        text `json:"phone_number"`
		} `json:"customer"`
		Message struct {
			ID                   text `json:"id"`
			ChatMessageType      text `json:"chat_message_type"`
			MessageContentType   text `json:"message_content_type"`
			Message              text `json:"message"`
			ChannelFailureReason text `json:"channel_failure_reason"`
			ChannelErrorCode     text `json:"channel_error_code"`
			ReceivedAtUTC        text `json:"received_at_utc"`
			DeliveredAtUTC       text `json:"delivered_at_utc"`
			SeenAtUTC            text `json:"seen_at_utc"`
			MetaData             struct {
				SourceData struct {
					CallbackData text `json:"callback_data"`
				} `json:"source_data"`
				ClickType     text `json:"click_type"`
				ButtonText    text `json:"button_text"`
				ButtonPayload struct {
					Payload struct {
						Text    text `json:"text"`
						Payload text `json:"payload"`
					} `json:"payload"`
				} `json:"button_payload"`
			} `json:"meta_data"`
		} `json:"message"`
	} `json:"data"`
	// Event is set on CTA clicks instead of meta_data.
	Event struct {
		CallbackData text `json:"callbackData"`
		ClickType    text `json:"click_type"`
		ButtonText   text `json:"button_text"`
	} `json:"event"`
}

// ParseWebhook reads one Interakt webhook: message_api_sent, _delivered,
// _read and _failed become statuses of our template sends (found by the
// callback_data we sent, else by message id); message_received from a
// customer and quick-reply clicks on our messages (message_api_clicked)
// become replies. Campaign statuses (message_campaign_*) are for messages
// Interakt's own campaigns sent, which we hold no record of, so they are
// dropped, like every other kind. Note: a quick-reply tap may arrive both as
// message_api_clicked and as message_received (plans with incoming-message
// webhooks), so replies must be handled idempotently.
func ParseWebhook(_ http.Header, body []byte) (app.ProviderReport, error) {
	var w webhook
	if err := json.Unmarshal(body, &w); err != nil {
		return app.ProviderReport{}, fmt.Errorf("interakt: webhook body: %w", err)
	}
	msg := w.Data.Message
	var report app.ProviderReport
	switch w.Type {
	case "message_api_sent", "message_api_delivered", "message_api_read", "message_api_failed":
		st := app.StatusReport{
			DeliveryID:        strings.TrimSpace(string(msg.MetaData.SourceData.CallbackData)),
			ProviderMessageID: string(msg.ID),
			At:                parseTime(string(w.Timestamp)),
		}
		switch w.Type {
		case "message_api_sent":
			st.Status = app.DeliverySent
		case "message_api_delivered":
			st.Status = app.DeliveryDelivered
			st.At = firstTime(string(msg.DeliveredAtUTC), st.At)
		case "message_api_read":
			st.Status = app.DeliveryRead
			st.At = firstTime(string(msg.SeenAtUTC), st.At)
		case "message_api_failed":
			st.Status = app.DeliveryFailed
			st.Error = failure(string(msg.ChannelErrorCode), string(msg.ChannelFailureReason))
		}
		if st.DeliveryID == "" && st.ProviderMessageID == "" {
			return report, nil
		}
		report.Statuses = append(report.Statuses, st)
	case "message_received":
		if t := string(msg.ChatMessageType); t != "" && t != "CustomerMessage" {
			return report, nil // an agent's or our own message, not the customer's
		}
		r := app.Reply{
			Phone:             customerPhone(w),
			ProviderMessageID: string(msg.ID),
			At:                firstTime(string(msg.ReceivedAtUTC), parseTime(string(w.Timestamp))),
		}
		r.Text, r.ButtonID = replyContent(string(msg.Message))
		if p := msg.MetaData.ButtonPayload.Payload; p.Payload != "" || p.Text != "" {
			r.ButtonID = cmp.Or(r.ButtonID, string(p.Payload))
			r.Text = cmp.Or(r.Text, string(p.Text))
		}
		if r.Phone == "" {
			return report, nil
		}
		report.Replies = append(report.Replies, r)
	case "message_api_clicked":
		clickType := cmp.Or(string(w.Event.ClickType), string(msg.MetaData.ClickType))
		if !strings.EqualFold(clickType, "QR") {
			return report, nil // CTA (link) clicks are not replies
		}
		r := app.Reply{
			Phone:     customerPhone(w),
			Text:      cmp.Or(string(msg.MetaData.ButtonText), string(w.Event.ButtonText), string(msg.MetaData.ButtonPayload.Payload.Text)),
			ButtonID:  string(msg.MetaData.ButtonPayload.Payload.Payload),
			InReplyTo: string(msg.ID),
			At:        parseTime(string(w.Timestamp)),
		}
		if r.Phone == "" {
			return report, nil
		}
		report.Replies = append(report.Replies, r)
	}
	return report, nil
}

// replyContent reads a customer message: plain text, or the JSON Interakt
// puts there for interactive replies ({"button_reply": {"id", "title"}}).
func replyContent(message string) (textOut, buttonID string) {
	s := strings.TrimSpace(message)
	if !strings.HasPrefix(s, "{") {
		return message, ""
	}
	type choice struct {
		ID    text `json:"id"`
		Title text `json:"title"`
	}
	var v struct {
		ButtonReply *choice `json:"button_reply"`
		ListReply   *choice `json:"list_reply"`
		ID          text    `json:"id"`
		Title       text    `json:"title"`
		Text        text    `json:"text"`
	}
	if json.Unmarshal([]byte(s), &v) != nil {
		return message, ""
	}
	switch {
	case v.ButtonReply != nil:
		return string(v.ButtonReply.Title), string(v.ButtonReply.ID)
	case v.ListReply != nil:
		return string(v.ListReply.Title), string(v.ListReply.ID)
	}
	return cmp.Or(string(v.Title), string(v.Text)), string(v.ID)
}

// customerPhone is the customer's number in E.164: channel_phone_number
// holds it without "+", else country_code + phone_number; "" when the
// digits cannot be a number (too few or many, country code 0).
func customerPhone(w webhook) string {
	c := w.Data.Customer
	digits := onlyDigits(string(c.ChannelPhoneNumber))
	if digits == "" && c.PhoneNumber != "" {
		digits = onlyDigits(string(c.CountryCode)) + onlyDigits(string(c.PhoneNumber))
	}
	return adapters.PhoneFromDigits(digits)
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func failure(code, reason string) string {
	switch {
	case code != "" && reason != "":
		return code + ": " + reason
	case reason != "":
		return reason
	case code != "":
		return "error " + code
	}
	return "failed"
}

// parseTime reads Interakt's times, which are UTC and often carry no zone
// ("2024-06-10T08:38:08.837610"); zero when absent or unreadable.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func firstTime(s string, fallback time.Time) time.Time {
	if t := parseTime(s); !t.IsZero() {
		return t
	}
	return fallback
}
