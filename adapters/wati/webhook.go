package wati

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// text is the providers' tolerant JSON scalar.
type text = adapters.Text

type choice struct {
	ID      text `json:"id"`
	Title   text `json:"title"`
	Payload text `json:"payload"`
	Text    text `json:"text"`
}

type event struct {
	EventType         string  `json:"eventType"`
	ID                text    `json:"id"`
	LocalMessageID    text    `json:"localMessageId"`
	WhatsappMessageID text    `json:"whatsappMessageId"`
	Timestamp         text    `json:"timestamp"`
	Created           text    `json:"created"`
	FailedCode        text    `json:"failedCode"`
	FailedDetail      text    `json:"failedDetail"`
	WaID              text    `json:"waId"`
	Text              text    `json:"text"`
	Owner             text    `json:"owner"`
	ReplyContextID    text    `json:"replyContextId"`
	ButtonReply       *choice `json:"buttonReply"`
	InteractiveReply  *choice `json:"interactiveButtonReply"`
	ListReply         *choice `json:"listReply"`
}

// ParseWebhook reads a Wati webhook (one event, or an array of them):
// templateMessageSent, sentMessageDELIVERED, sentMessageREAD,
// sentMessageREPLIED (counted as read) and templateMessageFailed, each with
// or without the _v2 suffix, become statuses matched by localMessageId, the
// id Send returns; "message" events from the customer become replies, with
// the tapped button's payload or id. Wati does not sign webhooks, so the
// route must carry a secret of its own. Other events yield nothing.
func ParseWebhook(_ http.Header, body []byte) (app.ProviderReport, error) {
	var events []event
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &events); err != nil {
			return app.ProviderReport{}, fmt.Errorf("wati: webhook body: %w", err)
		}
	} else {
		var e event
		if err := json.Unmarshal(trimmed, &e); err != nil {
			return app.ProviderReport{}, fmt.Errorf("wati: webhook body: %w", err)
		}
		events = []event{e}
	}
	var report app.ProviderReport
	for _, e := range events {
		kind := strings.ToLower(strings.TrimSuffix(e.EventType, "_v2"))
		at := eventTime(e)
		switch kind {
		case "templatemessagesent", "sentmessagedelivered", "sentmessageread", "sentmessagereplied", "templatemessagefailed":
			st := app.StatusReport{ProviderMessageID: string(e.LocalMessageID), At: at}
			if st.ProviderMessageID == "" {
				continue // not one of our API sends: nothing to match
			}
			switch kind {
			case "templatemessagesent":
				st.Status = app.DeliverySent
			case "sentmessagedelivered":
				st.Status = app.DeliveryDelivered
			case "sentmessageread", "sentmessagereplied":
				st.Status = app.DeliveryRead
			case "templatemessagefailed":
				st.Status = app.DeliveryFailed
				st.Error = failure(string(e.FailedCode), string(e.FailedDetail))
			}
			report.Statuses = append(report.Statuses, st)
		case "message", "messagereceived":
			if owner, _ := strconv.ParseBool(string(e.Owner)); owner {
				continue // our own or an operator's message, echoed
			}
			if r, ok := reply(e, at); ok {
				report.Replies = append(report.Replies, r)
			}
		}
	}
	return report, nil
}

func reply(e event, at time.Time) (app.Reply, bool) {
	// waId is the number without "+"; anything but digits (Text keeps an
	// object's JSON, say) is no number to answer.
	phone := adapters.PhoneFromDigits(strings.TrimPrefix(strings.TrimSpace(string(e.WaID)), "+"))
	if phone == "" {
		return app.Reply{}, false
	}
	r := app.Reply{
		Phone:             phone,
		Text:              messageText(e.Text),
		InReplyTo:         string(e.ReplyContextID),
		ProviderMessageID: cmp.Or(string(e.WhatsappMessageID), string(e.ID)),
		At:                at,
	}
	for _, c := range []*choice{e.ButtonReply, e.InteractiveReply, e.ListReply} {
		if c == nil {
			continue
		}
		r.ButtonID = cmp.Or(string(c.Payload), string(c.ID))
		r.Text = cmp.Or(string(c.Text), string(c.Title), r.Text)
		break
	}
	return r, true
}

// messageText reads "text", a string in current payloads and {"body": …}
// in older ones.
func messageText(t text) string {
	s := string(t)
	if !strings.HasPrefix(s, "{") {
		return s
	}
	var v struct {
		Body string `json:"body"`
	}
	if json.Unmarshal([]byte(s), &v) == nil {
		return v.Body
	}
	return s
}

func failure(code, detail string) string {
	switch {
	case code != "" && detail != "":
		return code + ": " + detail
	case detail != "":
		return detail
	case code != "":
		return "error " + code
	}
	return "failed"
}

// eventTime reads "timestamp" (Unix seconds, or milliseconds, as a string
// or number), else "created" (ISO 8601); zero when neither is readable.
func eventTime(e event) time.Time {
	if n, err := strconv.ParseInt(strings.TrimSpace(string(e.Timestamp)), 10, 64); err == nil && n > 0 {
		if n > 1e12 {
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	for _, s := range []string{string(e.Timestamp), string(e.Created)} {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
