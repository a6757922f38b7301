package wati

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func TestParseWebhookStatuses(t *testing.T) {
	at := time.Unix(1718008688, 0).UTC()
	tests := []struct {
		name string
		body string
		want app.StatusReport
	}{
		{"sent v2", `{"eventType":"templateMessageSent_v2","id":"665f1a","whatsappMessageId":"wamid.HBgM","localMessageId":"5f0c6a8e","conversationId":"c1","templateName":"wallet_coins_rewarded","waId":"919876543210","statusString":"SENT","timestamp":"1718008688"}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliverySent, At: at}},
		{"delivered v2, numeric timestamp", `{"eventType":"sentMessageDELIVERED_v2","id":"665f1a","whatsappMessageId":"wamid.HBgM","localMessageId":"5f0c6a8e","statusString":"DELIVERED","timestamp":1718008688}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliveryDelivered, At: at}},
		{"read, old name, ISO created", `{"eventType":"sentMessageREAD","localMessageId":"5f0c6a8e","statusString":"READ","created":"2024-06-10T08:38:08Z"}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliveryRead, At: at}},
		{"replied counts as read", `{"eventType":"sentMessageREPLIED_v2","localMessageId":"5f0c6a8e","timestamp":"1718008688000"}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliveryRead, At: at}},
		{"failed with Meta's code", `{"eventType":"templateMessageFailed","localMessageId":"5f0c6a8e","whatsappMessageId":"wamid.HBgM","failedCode":"131026","failedDetail":"Message undeliverable","timestamp":"1718008688"}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliveryFailed, At: at, Error: "131026: Message undeliverable"}},
		{"failed v2 name, numeric code", `{"eventType":"templateMessageFAILED_v2","localMessageId":"5f0c6a8e","failedCode":131047,"failedDetail":"Re-engagement message","timestamp":"1718008688"}`,
			app.StatusReport{ProviderMessageID: "5f0c6a8e", Status: app.DeliveryFailed, At: at, Error: "131047: Re-engagement message"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got.Statuses) != 1 || len(got.Replies) != 0 || !reflect.DeepEqual(got.Statuses[0], tt.want) {
				t.Fatalf("report %+v\nwant status %+v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookReplies(t *testing.T) {
	at := time.Unix(1718008700, 0).UTC()
	tests := []struct {
		name string
		body string
		want app.Reply
	}{
		{"text", `{"eventType":"message","id":"6660aa","whatsappMessageId":"wamid.IN1","waId":"919876543210","senderName":"ज्योति","text":"कब तक पहुँचेगा?","type":"text","timestamp":"1718008700","owner":false}`,
			app.Reply{Phone: "+919876543210", Text: "कब तक पहुँचेगा?", ProviderMessageID: "wamid.IN1", At: at}},
		{"template quick reply", `{"eventType":"message","id":"6660ab","whatsappMessageId":"wamid.IN2","waId":"971501234567","text":"Confirm","type":"button","buttonReply":{"payload":"cod_confirm","text":"Confirm"},"replyContextId":"wamid.OUT1","timestamp":"1718008700"}`,
			app.Reply{Phone: "+971501234567", Text: "Confirm", ButtonID: "cod_confirm", InReplyTo: "wamid.OUT1", ProviderMessageID: "wamid.IN2", At: at}},
		{"interactive button", `{"eventType":"message","id":"6660ac","waId":"447911123456","type":"interactive","interactiveButtonReply":{"id":"cod_cancel","title":"Cancel"},"timestamp":"1718008700","owner":"false"}`,
			app.Reply{Phone: "+447911123456", Text: "Cancel", ButtonID: "cod_cancel", ProviderMessageID: "6660ac", At: at}},
		{"list reply", `{"eventType":"message","id":"6660ad","waId":"919876543210","type":"interactive","listReply":{"id":"size_m","title":"Medium","description":"M"},"timestamp":"1718008700"}`,
			app.Reply{Phone: "+919876543210", Text: "Medium", ButtonID: "size_m", ProviderMessageID: "6660ad", At: at}},
		{"legacy text object", `{"eventType":"message","id":"6660ae","waId":"919876543210","text":{"body":"Anaïs here"},"timestamp":"1718008700"}`,
			app.Reply{Phone: "+919876543210", Text: "Anaïs here", ProviderMessageID: "6660ae", At: at}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got.Replies) != 1 || len(got.Statuses) != 0 || !reflect.DeepEqual(got.Replies[0], tt.want) {
				t.Fatalf("report %+v\nwant reply %+v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookBatchAndIgnored(t *testing.T) {
	got, err := ParseWebhook(http.Header{}, []byte(`[
		{"eventType":"sentMessageDELIVERED_v2","localMessageId":"a","timestamp":"1718008688"},
		{"eventType":"sessionMessageSent_v2","localMessageId":"b","text":"Hi from the operator"},
		{"eventType":"message","waId":"919876543210","text":"echo of ours","owner":true},
		{"eventType":"newContactMessageReceived","waId":"919876543210","senderName":"Riya"},
		{"eventType":"templateMessageSent_v2","statusString":"SENT"},
		{"eventType":"message","waId":"12","text":"no usable number"},
		{"eventType":"sentMessageREAD_v2","localMessageId":"a","timestamp":"1718008690"}
	]`))
	if err != nil {
		t.Fatalf("ParseWebhook: %v", err)
	}
	if len(got.Replies) != 0 || len(got.Statuses) != 2 || got.Statuses[0].Status != app.DeliveryDelivered || got.Statuses[1].Status != app.DeliveryRead {
		t.Fatalf("report %+v, want delivered and read only", got)
	}
	if _, err := ParseWebhook(http.Header{}, []byte(`{"eventType":`)); err == nil {
		t.Fatal("malformed JSON accepted")
	}
}
