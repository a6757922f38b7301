package interakt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func TestParseWebhookStatuses(t *testing.T) {
	at := time.Date(2024, 6, 10, 8, 38, 8, 837610000, time.UTC)
	tests := []struct {
		name string
		body string
		want app.StatusReport
	}{
		{
			name: "sent",
			body: `{"version":"1.0","timestamp":"2024-06-10T08:38:08.837610","type":"message_api_sent","data":{"customer":{"id":"c-1","channel_phone_number":"919876543210","phone_number":"9876543210","country_code":"+91","traits":{"name":"ज्योति"}},"message":{"id":"msg-1","message_status":"Sent","message_content_type":"Template","is_template_message":true,"meta_data":{"source":"API","source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
			want: app.StatusReport{DeliveryID: "dlv_01J9ZK3Q7W", ProviderMessageID: "msg-1", Status: app.DeliverySent, At: at},
		},
		{
			name: "delivered uses delivered_at_utc",
			body: `{"version":"1.0","timestamp":"2024-06-10T08:40:00.000000","type":"message_api_delivered","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"msg-1","message_status":"Delivered","delivered_at_utc":"2024-06-10T08:38:08.837610","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
			want: app.StatusReport{DeliveryID: "dlv_01J9ZK3Q7W", ProviderMessageID: "msg-1", Status: app.DeliveryDelivered, At: at},
		},
		{
			name: "read",
			body: `{"timestamp":"2024-06-10T08:38:08.837610Z","type":"message_api_read","data":{"message":{"id":"msg-1","message_status":"Read","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
			want: app.StatusReport{DeliveryID: "dlv_01J9ZK3Q7W", ProviderMessageID: "msg-1", Status: app.DeliveryRead, At: at},
		},
		{
			name: "failed keeps Meta's code and reason",
			body: `{"timestamp":"2024-06-10T08:38:08.837610","type":"message_api_failed","data":{"customer":{"channel_phone_number":"14155552671"},"message":{"id":"msg-2","message_status":"Failed","channel_error_code":131026,"channel_failure_reason":"Message undeliverable","meta_data":{"source_data":{"callback_data":"dlv_02"}}}}}`,
			want: app.StatusReport{DeliveryID: "dlv_02", ProviderMessageID: "msg-2", Status: app.DeliveryFailed, At: at, Error: "131026: Message undeliverable"},
		},
		{
			name: "failed without callback data matches by id",
			body: `{"timestamp":"2024-06-10T08:38:08.837610","type":"message_api_failed","data":{"message":{"id":"msg-3","channel_failure_reason":"Recipient is not a valid WhatsApp user","meta_data":null}}}`,
			want: app.StatusReport{ProviderMessageID: "msg-3", Status: app.DeliveryFailed, At: at, Error: "Recipient is not a valid WhatsApp user"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got.Statuses) != 1 || len(got.Replies) != 0 {
				t.Fatalf("report %+v, want one status", got)
			}
			if !reflect.DeepEqual(got.Statuses[0], tt.want) {
				t.Fatalf("status\n got %+v\nwant %+v", got.Statuses[0], tt.want)
			}
		})
	}
}

func TestParseWebhookReplies(t *testing.T) {
	at := time.Date(2024, 6, 10, 8, 37, 50, 123456000, time.UTC)
	tests := []struct {
		name string
		body string
		want app.Reply
	}{
		{
			name: "text",
			body: `{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":"919876543210","phone_number":"9876543210","country_code":"+91"},"message":{"id":"in-1","chat_message_type":"CustomerMessage","message_content_type":"Text","message":"हाँ, ऑर्डर कन्फर्म है","received_at_utc":"2024-06-10T08:37:50.123456","meta_data":{}}}}`,
			want: app.Reply{Phone: "+919876543210", Text: "हाँ, ऑर्डर कन्फर्म है", ProviderMessageID: "in-1", At: at},
		},
		{
			name: "interactive button reply",
			body: `{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":null,"phone_number":"7911123456","country_code":"+44"},"message":{"id":"in-2","chat_message_type":"CustomerMessage","message_content_type":"InteractiveButtonReply","message":"{\"type\":\"button_reply\",\"button_reply\":{\"id\":\"cod_confirm\",\"title\":\"Confirm\"}}","received_at_utc":"2024-06-10T08:37:50.123456"}}}`,
			want: app.Reply{Phone: "+447911123456", Text: "Confirm", ButtonID: "cod_confirm", ProviderMessageID: "in-2", At: at},
		},
		{
			name: "template quick reply",
			body: `{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"in-3","chat_message_type":"CustomerMessage","message_content_type":"Button","message":"","received_at_utc":"2024-06-10T08:37:50.123456","meta_data":{"button_payload":{"payload":{"type":"QUICK_REPLY","text":"Cancel order","payload":"cod_cancel"}}}}}}`,
			want: app.Reply{Phone: "+919876543210", Text: "Cancel order", ButtonID: "cod_cancel", ProviderMessageID: "in-3", At: at},
		},
		{
			name: "quick reply click on our message",
			body: `{"version":"1.0","timestamp":"2024-06-10T08:37:50.123456","type":"message_api_clicked","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"msg-1","message_status":"Read","message_content_type":"Template","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"},"click_type":"QR","button_text":"Confirm","button_payload":{"payload":{"type":"QUICK_REPLY","text":"Confirm"}}}}}}`,
			want: app.Reply{Phone: "+919876543210", Text: "Confirm", InReplyTo: "msg-1", At: at},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got.Replies) != 1 || len(got.Statuses) != 0 {
				t.Fatalf("report %+v, want one reply", got)
			}
			if !reflect.DeepEqual(got.Replies[0], tt.want) {
				t.Fatalf("reply\n got %+v\nwant %+v", got.Replies[0], tt.want)
			}
		})
	}
}

func TestParseWebhookIgnores(t *testing.T) {
	for name, body := range map[string]string{
		"webhook test":      `{"type":"Webhook Test"}`,
		"campaign status":   `{"type":"message_campaign_delivered","data":{"message":{"id":"x","meta_data":{}}}}`,
		"cta click":         `{"type":"message_api_clicked","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"m"}},"event":{"click_type":"CTA","button_text":"Track Order"}}`,
		"agent message":     `{"type":"message_received","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"m","chat_message_type":"AgentMessage","message":"Hello"}}}`,
		"template status":   `{"type":"message_template_status_update","data":{}}`,
		"status without id": `{"type":"message_api_sent","data":{"message":{}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(body))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got.Statuses)+len(got.Replies) != 0 {
				t.Fatalf("report %+v, want empty", got)
			}
		})
	}
	if _, err := ParseWebhook(http.Header{}, []byte(`{"type":`)); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "whsec-interakt-test"
	body := []byte(`{"type":"message_api_read","data":{"message":{"id":"msg-1"}}}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	good := hex.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		ok     bool
	}{
		{"prefixed", secret, "sha256=" + good, body, true},
		{"bare hex", secret, good, body, true},
		{"wrong secret", "other", "sha256=" + good, body, false},
		{"tampered body", secret, "sha256=" + good, append([]byte{}, append(body, ' ')...), false},
		{"missing", secret, "", body, false},
		{"not hex", secret, "sha256=zz", body, false},
		{"no secret configured", "", "sha256=" + good, body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set(SignatureHeader, tt.header)
			}
			err := VerifySignature(tt.secret, h, tt.body)
			if (err == nil) != tt.ok {
				t.Fatalf("VerifySignature = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok && tt.secret != "" && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("error %v, want ErrBadSignature", err)
			}
		})
	}
}
