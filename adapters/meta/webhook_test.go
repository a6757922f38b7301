package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// metaSign signs body the way Meta does: hex HMAC-SHA256 keyed with the
// app secret, prefixed "sha256=".
func metaSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

const statusesBody = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"918047182290","phone_number_id":"106540352242922"},
"statuses":[
 {"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA==","status":"sent","timestamp":"1751362805","recipient_id":"919876543210","biz_opaque_callback_data":"dlv_01JZ8Q6M3T1N0R4K7P9B2C5D8E","conversation":{"id":"c1","origin":{"type":"utility"}},"pricing":{"billable":true,"pricing_model":"PMP","category":"utility"}},
 {"id":"wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA==","status":"read","timestamp":"1751362870","recipient_id":"919876543210"},
 {"id":"wamid.HBgMOTE4MTIzNDU2Nzg5FQIAERgSMDhFNzkzQ0QzQUMzQTVGQjA2AA==","status":"failed","timestamp":"1751362811","recipient_id":"918123456789","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message Undeliverable."}}]},
 {"id":"wamid.OLD","status":"deleted","timestamp":"1751362811","recipient_id":"918123456789"}
]},"field":"messages"}]}]}`

const messagesBody = `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"918047182290","phone_number_id":"106540352242922"},
"contacts":[{"profile":{"name":"ज्योति वर्मा"},"wa_id":"918123456789"}],
"messages":[
 {"context":{"from":"918047182290","id":"wamid.COD2207"},"from":"918123456789","id":"wamid.TAP1","timestamp":"1751363000","type":"button","button":{"payload":"cod:confirm:ord_2207","text":"Confirm ✅"}},
 {"context":{"from":"918047182290","id":"wamid.COD2208"},"from":"33612345678","id":"wamid.TAP2","timestamp":"1751363100","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"cod:cancel:ord_2208","title":"Cancel"}}},
 {"from":"919876543210","id":"wamid.TXT1","timestamp":"1751363200","type":"text","text":{"body":"STOP"}},
 {"from":"919876543210","id":"wamid.IMG1","timestamp":"1751363300","type":"image","image":{"id":"1234","mime_type":"image/jpeg"}}
]},"field":"messages"}]}]}`

func TestVerifySignature(t *testing.T) {
	body := []byte(statusesBody)
	tests := []struct {
		name    string
		secret  string
		header  string
		body    []byte
		wantErr error
	}{
		{"valid", testAppSecret, metaSign(testAppSecret, body), body, nil},
		{"other app's secret", testAppSecret, metaSign("0000000000000000000000000000000f", body), body, ErrInvalidSignature},
		{"body changed after signing", testAppSecret, metaSign(testAppSecret, body), append([]byte(statusesBody), ' '), ErrInvalidSignature},
		{"no header", testAppSecret, "", body, ErrMissingSignature},
		{"sha1 form", testAppSecret, "sha1=0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", body, ErrInvalidSignature},
		{"not hex", testAppSecret, "sha256=zz", body, ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("X-Hub-Signature-256", tt.header)
			}
			err := VerifySignature(tt.secret, h, tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("VerifySignature() = %v; want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("no secret configured", func(t *testing.T) {
		h := http.Header{"X-Hub-Signature-256": {metaSign("", body)}}
		if err := VerifySignature("", h, body); err == nil {
			t.Error("VerifySignature with an empty secret = nil; want an error")
		}
	})
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
		ok    bool
	}{
		{"subscribe", "hub.mode=subscribe&hub.verify_token=storebridge-verify-7Qk2&hub.challenge=1158201444", "1158201444", true},
		{"wrong token", "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444", "", false},
		{"wrong mode", "hub.mode=unsubscribe&hub.verify_token=storebridge-verify-7Qk2&hub.challenge=1158201444", "", false},
		{"no challenge", "hub.mode=subscribe&hub.verify_token=storebridge-verify-7Qk2", "", false},
		{"no token", "hub.mode=subscribe&hub.challenge=1158201444", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Handshake(testVerifyToken, q)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Handshake(%q) = %q, %v; want %q, %v", tt.query, got, ok, tt.want, tt.ok)
			}
		})
	}
	q, _ := url.ParseQuery("hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
	if _, ok := Handshake("", q); ok {
		t.Error("Handshake with no configured token accepted an empty token")
	}
}

func TestParseWebhookStatuses(t *testing.T) {
	body := []byte(statusesBody)
	h := http.Header{"X-Hub-Signature-256": {metaSign(testAppSecret, body)}}
	if err := VerifySignature(testAppSecret, h, body); err != nil {
		t.Fatalf("VerifySignature() = %v", err)
	}
	got, err := ParseWebhook(h, body)
	if err != nil {
		t.Fatalf("ParseWebhook() = %v", err)
	}
	want := []app.StatusReport{
		{DeliveryID: "dlv_01JZ8Q6M3T1N0R4K7P9B2C5D8E", ProviderMessageID: "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA==", Status: app.DeliverySent, At: time.Unix(1751362805, 0).UTC()},
		{ProviderMessageID: "wamid.HBgMOTE5ODc2NTQzMjEwFQIAERgSQjE2RjI3QTk0NkM0RTVCMDQ5AA==", Status: app.DeliveryRead, At: time.Unix(1751362870, 0).UTC()},
		{ProviderMessageID: "wamid.HBgMOTE4MTIzNDU2Nzg5FQIAERgSMDhFNzkzQ0QzQUMzQTVGQjA2AA==", Status: app.DeliveryFailed, At: time.Unix(1751362811, 0).UTC(), Error: "131026 Message undeliverable: Message Undeliverable."},
	}
	if len(got.Statuses) != len(want) {
		t.Fatalf("statuses = %+v; want %d (deleted is skipped)", got.Statuses, len(want))
	}
	for i := range want {
		if got.Statuses[i] != want[i] {
			t.Errorf("status %d = %+v; want %+v", i, got.Statuses[i], want[i])
		}
	}
	if len(got.Replies) != 0 {
		t.Errorf("replies = %+v; want none", got.Replies)
	}
}

func TestParseWebhookReplies(t *testing.T) {
	got, err := ParseWebhook(http.Header{}, []byte(messagesBody))
	if err != nil {
		t.Fatalf("ParseWebhook() = %v", err)
	}
	want := []app.Reply{
		{Phone: "+918123456789", Text: "Confirm ✅", ButtonID: "cod:confirm:ord_2207", InReplyTo: "wamid.COD2207", ProviderMessageID: "wamid.TAP1", At: time.Unix(1751363000, 0).UTC()},
		{Phone: "+33612345678", Text: "Cancel", ButtonID: "cod:cancel:ord_2208", InReplyTo: "wamid.COD2208", ProviderMessageID: "wamid.TAP2", At: time.Unix(1751363100, 0).UTC()},
		{Phone: "+919876543210", Text: "STOP", ProviderMessageID: "wamid.TXT1", At: time.Unix(1751363200, 0).UTC()},
	}
	if len(got.Replies) != len(want) {
		t.Fatalf("replies = %+v; want %d (the image is skipped)", got.Replies, len(want))
	}
	for i := range want {
		if got.Replies[i] != want[i] {
			t.Errorf("reply %d = %+v; want %+v", i, got.Replies[i], want[i])
		}
	}
}

func TestParseWebhookOtherShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"not JSON", `object=whatsapp`, true},
		{"another Meta product", `{"object":"page","entry":[{"changes":[{"value":{"statuses":[{"id":"x","status":"sent"}]}}]}]}`, false},
		{"template status update", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"message_template_status_update","value":{"event":"APPROVED","message_template_name":"order_placed"}}]}]}`, false},
		{"bad timestamp and phone", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"+91 98765","id":"w","type":"text","text":{"body":"hi"},"timestamp":"soon"}]}}]}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(http.Header{}, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseWebhook() error = %v; want error %v", err, tt.wantErr)
			}
			if len(got.Statuses)+len(got.Replies) != 0 {
				t.Errorf("ParseWebhook() = %+v; want an empty report", got)
			}
		})
	}
	got, err := ParseWebhook(http.Header{}, []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.Z","status":"delivered","timestamp":"never"}]}}]}]}`))
	if err != nil || len(got.Statuses) != 1 || !got.Statuses[0].At.IsZero() {
		t.Errorf("status with a bad timestamp = %+v, %v; want one status at the zero time", got, err)
	}
}
