package interakt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
)

// interaktBodies are webhook bodies as Interakt sends them: a status of
// each kind, a customer's text, button and interactive replies, a
// quick-reply click.
var interaktBodies = []string{
	`{"version":"1.0","timestamp":"2024-06-10T08:38:08.837610","type":"message_api_sent","data":{"customer":{"id":"c-1","channel_phone_number":"919876543210","phone_number":"9876543210","country_code":"+91","traits":{"name":"ज्योति"}},"message":{"id":"msg-1","message_status":"Sent","message_content_type":"Template","is_template_message":true,"meta_data":{"source":"API","source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
	`{"version":"1.0","timestamp":"2024-06-10T08:40:00.000000","type":"message_api_delivered","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"msg-1","message_status":"Delivered","delivered_at_utc":"2024-06-10T08:38:08.837610","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
	`{"timestamp":"2024-06-10T08:38:08.837610Z","type":"message_api_read","data":{"message":{"id":"msg-1","message_status":"Read","seen_at_utc":"2024-06-10 08:38:08","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"}}}}}`,
	`{"timestamp":"2024-06-10T08:38:08.837610","type":"message_api_failed","data":{"customer":{"channel_phone_number":"14155552671"},"message":{"id":"msg-2","message_status":"Failed","channel_error_code":131026,"channel_failure_reason":"Message undeliverable","meta_data":{"source_data":{"callback_data":"dlv_02"}}}}}`,
	`{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":"919876543210","phone_number":"9876543210","country_code":"+91"},"message":{"id":"in-1","chat_message_type":"CustomerMessage","message_content_type":"Text","message":"हाँ, ऑर्डर कन्फर्म है","received_at_utc":"2024-06-10T08:37:50.123456","meta_data":{}}}}`,
	`{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":null,"phone_number":"7911123456","country_code":"+44"},"message":{"id":"in-2","chat_message_type":"CustomerMessage","message_content_type":"InteractiveButtonReply","message":"{\"type\":\"button_reply\",\"button_reply\":{\"id\":\"cod_confirm\",\"title\":\"Confirm\"}}","received_at_utc":"2024-06-10T08:37:50.123456"}}}`,
	`{"timestamp":"2024-06-10T08:38:08.837610","type":"message_received","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"in-3","chat_message_type":"CustomerMessage","message_content_type":"Button","message":"","received_at_utc":"2024-06-10T08:37:50.123456","meta_data":{"button_payload":{"payload":{"type":"QUICK_REPLY","text":"Cancel order","payload":"cod_cancel"}}}}}}`,
	`{"version":"1.0","timestamp":"2024-06-10T08:37:50.123456","type":"message_api_clicked","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"msg-1","message_status":"Read","message_content_type":"Template","meta_data":{"source_data":{"callback_data":"dlv_01J9ZK3Q7W"},"click_type":"QR","button_text":"Confirm","button_payload":{"payload":{"type":"QUICK_REPLY","text":"Confirm"}}}}}}`,
	`{"type":"message_api_clicked","event":{"callbackData":"dlv_1","click_type":"CTA","button_text":"Track"},"data":{"customer":{"channel_phone_number":"919876543210"}}}`,
	`{"type":"message_campaign_sent","data":{"message":{"id":"camp-1"}}}`,
}

// seedBodies adds the sample bodies and the package's testdata files.
func seedBodies(f *testing.F, add func(body []byte)) {
	f.Helper()
	for _, b := range interaktBodies {
		add([]byte(b))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

// FuzzParseWebhook: an Interakt webhook body never panics the parser; it
// is an error with nothing in the report, or a report the app can apply:
// known statuses naming a delivery or message, failures with a reason,
// replies from an E.164 phone.
func FuzzParseWebhook(f *testing.F) {
	seedBodies(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"type":"message_received","data":{"customer":{"channel_phone_number":"919876543210"},"message":{"id":"m","message":"{\"button_reply\":{\"id\":\"a\"}}"}}}`))
	f.Add([]byte(`{"type":"message_api_failed","data":{"message":{"id":"m","channel_error_code":[1]}}}`))
	f.Add([]byte(`{"type":"message_received","data":{"customer":{"country_code":"+44","phone_number":"07911 123456"},"message":{"chat_message_type":"","message":"{\"list_reply\":null,\"id\":7}"}}}`))
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

func interaktSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// FuzzVerifySignature: Interakt-Signature verifies only as the hex
// HMAC-SHA256 of the body under the merchant's secret (with or without
// "sha256=", any case), never with an empty secret, and our own signature
// of any body always verifies.
func FuzzVerifySignature(f *testing.F) {
	const secret = "whsec-interakt-test"
	seedBodies(f, func(b []byte) {
		f.Add(secret, b, "sha256="+interaktSign(secret, b))
		f.Add(secret, b, interaktSign("another secret", b))
	})
	f.Add("", []byte(`{}`), "sha256="+interaktSign("", []byte(`{}`)))
	f.Add(secret, []byte(``), "SHA256=")
	f.Add(secret, []byte(`x`), " sha256=zz ")
	f.Add(secret, []byte(`x`), "sha256=sha256="+interaktSign(secret, []byte(`x`)))
	f.Fuzz(func(t *testing.T, secret string, body []byte, signature string) {
		h := http.Header{}
		h.Set(SignatureHeader, signature)
		err := VerifySignature(secret, h, body)
		if err == nil {
			if secret == "" {
				t.Fatal("verified with an empty secret")
			}
			got := strings.TrimSpace(h.Get(SignatureHeader))
			if len(got) > 7 && strings.EqualFold(got[:7], "sha256=") {
				got = got[7:]
			}
			if !strings.EqualFold(got, interaktSign(secret, body)) {
				t.Fatalf("verified %q; only %q is the signature", signature, interaktSign(secret, body))
			}
		}
		if secret == "" {
			return
		}
		for _, own := range []string{"sha256=" + interaktSign(secret, body), interaktSign(secret, body), "SHA256=" + strings.ToUpper(interaktSign(secret, body))} {
			h.Set(SignatureHeader, own)
			if err := VerifySignature(secret, h, body); err != nil {
				t.Fatalf("VerifySignature(own signature %q) = %v", own, err)
			}
		}
	})
}
