package wati

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
)

// watiBodies are webhook bodies as Wati sends them: statuses of each kind,
// replies of each kind, and a batch.
var watiBodies = []string{
	`{"eventType":"templateMessageSent_v2","id":"665f1a","whatsappMessageId":"wamid.HBgM","localMessageId":"5f0c6a8e","conversationId":"c1","templateName":"wallet_coins_rewarded","waId":"919876543210","statusString":"SENT","timestamp":"1718008688"}`,
	`{"eventType":"sentMessageDELIVERED_v2","id":"665f1a","whatsappMessageId":"wamid.HBgM","localMessageId":"5f0c6a8e","statusString":"DELIVERED","timestamp":1718008688}`,
	`{"eventType":"sentMessageREAD","localMessageId":"5f0c6a8e","statusString":"READ","created":"2024-06-10T08:38:08Z"}`,
	`{"eventType":"sentMessageREPLIED_v2","localMessageId":"5f0c6a8e","timestamp":"1718008688000"}`,
	`{"eventType":"templateMessageFailed","localMessageId":"5f0c6a8e","whatsappMessageId":"wamid.HBgM","failedCode":"131026","failedDetail":"Message undeliverable","timestamp":"1718008688"}`,
	`{"eventType":"message","id":"6660aa","whatsappMessageId":"wamid.IN1","waId":"919876543210","senderName":"ज्योति","text":"कब तक पहुँचेगा?","type":"text","timestamp":"1718008700","owner":false}`,
	`{"eventType":"message","id":"6660ab","whatsappMessageId":"wamid.IN2","waId":"971501234567","text":"Confirm","type":"button","buttonReply":{"payload":"cod_confirm","text":"Confirm"},"replyContextId":"wamid.OUT1","timestamp":"1718008700"}`,
	`{"eventType":"message","id":"6660ac","waId":"447911123456","type":"interactive","interactiveButtonReply":{"id":"cod_cancel","title":"Cancel"},"timestamp":"1718008700","owner":"false"}`,
	`{"eventType":"message","id":"6660ad","waId":"919876543210","type":"interactive","listReply":{"id":"size_m","title":"Medium","description":"M"},"timestamp":"1718008700"}`,
	`{"eventType":"message","id":"6660ae","waId":"919876543210","text":{"body":"Anaïs here"},"timestamp":"1718008700"}`,
	`[{"eventType":"sentMessageDELIVERED_v2","localMessageId":"a","timestamp":"1718008688"},{"eventType":"sessionMessageSent_v2","localMessageId":"b","text":"Hi from the operator"},{"eventType":"message","waId":"919876543210","text":"echo of ours","owner":true}]`,
}

// FuzzParseWebhook: a Wati webhook body (one event or an array) never
// panics the parser; it is an error with nothing in the report, or a
// report the app can apply: known statuses naming our message, failures
// with a reason, replies from an E.164 phone.
func FuzzParseWebhook(f *testing.F) {
	for _, b := range watiBodies {
		f.Add([]byte(b))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"eventType":"message","waId":"919876543210","text":{"body":"x"},"buttonReply":{"payload":1}}`))
	f.Add([]byte(`[{"eventType":"templateMessageFailed","localMessageId":"a","failedCode":[1],"timestamp":99999999999999}]`))
	f.Add([]byte(`  [null, {}, {"eventType":"MESSAGE_v2","waId":"+ 44 7911 123456","owner":"1"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		report, err := ParseWebhook(http.Header{}, body)
		if err != nil {
			if len(report.Statuses)+len(report.Replies) != 0 {
				t.Fatalf("an error came with a report")
			}
			return
		}
		adapterstest.CheckReport(t, report)
	})
}
