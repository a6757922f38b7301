package app

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// platformPayloads are the real webhook bodies a store platform's adapter
// keeps as fixtures ("shopify", "woocommerce"): the fuzzers of this
// package start from them.
func platformPayloads(f *testing.F, platform string) [][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "adapters", platform, "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no %s fixtures: %v", platform, err)
	}
	out := make([][]byte, 0, len(files))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// storePayloads are every platform's fixtures.
func storePayloads(f *testing.F) [][]byte {
	f.Helper()
	return append(platformPayloads(f, "shopify"), platformPayloads(f, "woocommerce")...)
}

// jsonText is what a string becomes through encoding/json: each byte that
// is not part of valid UTF-8 turns into U+FFFD.
func jsonText(s string) string { return string([]rune(s)) }

// FuzzWebhookEnvelopeRoundTrip: whatever headers and body a webhook
// brings, its envelope encodes, and decodes to the same headers (as JSON
// can carry them) and the very same body bytes. A failure here would
// answer 500 and make the platform retry a webhook forever, or hand the
// worker a body other than the one whose signature was checked.
func FuzzWebhookEnvelopeRoundTrip(f *testing.F) {
	for i, body := range storePayloads(f) {
		f.Add("shopify", "orders/create", "98880550-7158-44d4-b7cd-2c97c8a091b5", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "2026-05-11T10:15:00.123Z", "2026-04", int64(1778494500123456789)+int64(i), body)
		f.Add("woocommerce", "order.updated", "", "41", "", "", int64(1778494500)+int64(i), body)
	}
	f.Add("", "", "", "", "", "", int64(0), []byte{})
	f.Add("shopify", "orders/create\n", "id\x00\xff\xfe", "\u2028", `"quoted"`, `\`, int64(-1), []byte("\n\n{\"id\":1}\n"))
	f.Fuzz(func(t *testing.T, platform, topic, eventID, webhookID, triggeredAt, apiVersion string, receivedNanos int64, body []byte) {
		in := WebhookEnvelope{
			Platform: Platform(platform), Topic: topic, EventID: eventID, WebhookID: webhookID,
			TriggeredAt: triggeredAt, APIVersion: apiVersion, ReceivedAt: time.Unix(0, receivedNanos).UTC(), Body: body,
		}
		payload, err := in.encode()
		if err != nil {
			t.Fatalf("encode(%+v) = %v", in, err)
		}
		out, err := DecodeWebhookEnvelope(payload)
		if err != nil {
			t.Fatalf("DecodeWebhookEnvelope(encode(%+v)) = %v", in, err)
		}
		want := in
		want.Platform = Platform(jsonText(platform))
		want.Topic, want.EventID, want.WebhookID = jsonText(topic), jsonText(eventID), jsonText(webhookID)
		want.TriggeredAt, want.APIVersion = jsonText(triggeredAt), jsonText(apiVersion)
		if out.Platform != want.Platform || out.Topic != want.Topic || out.EventID != want.EventID || out.WebhookID != want.WebhookID ||
			out.TriggeredAt != want.TriggeredAt || out.APIVersion != want.APIVersion || !out.ReceivedAt.Equal(want.ReceivedAt) {
			t.Fatalf("headers came back as %+v; want %+v", out, want)
		}
		if !bytes.Equal(out.Body, body) {
			t.Fatalf("body came back as %q; want %q", out.Body, body)
		}
	})
}

// FuzzDecodeWebhookEnvelope: a payload read back from the queue (or a
// dead letter edited by hand) either fails to decode or decodes to an
// envelope whose body is everything after the header line, and which
// encodes to a payload decoding to itself.
func FuzzDecodeWebhookEnvelope(f *testing.F) {
	for _, body := range storePayloads(f) {
		payload, err := WebhookEnvelope{Platform: PlatformShopify, Topic: "orders/paid", EventID: "e1", ReceivedAt: time.Unix(1778494500, 0).UTC(), Body: body}.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	f.Add([]byte(""))
	f.Add([]byte("\n"))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"platform":"shopify","topic":"orders/create","received_at":"not a time"}` + "\n{}"))
	f.Add([]byte(`{"platform":"woocommerce","received_at":"9999-12-31T23:59:59.999999999+14:00","platform":1}` + "\n"))
	f.Add([]byte(`{"topic":"\ud800","body":"smuggled"}` + "\nthe body\n"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		env, err := DecodeWebhookEnvelope(payload)
		if err != nil {
			return
		}
		_, body, ok := bytes.Cut(payload, []byte{'\n'})
		if !ok || !bytes.Equal(env.Body, body) {
			t.Fatalf("body = %q; want the bytes after the first newline, %q", env.Body, body)
		}
		again, err := env.encode()
		if err != nil {
			t.Fatalf("encode(DecodeWebhookEnvelope(%q)) = %v", payload, err)
		}
		back, err := DecodeWebhookEnvelope(again)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		if back.Platform != env.Platform || back.Topic != env.Topic || back.EventID != env.EventID || back.WebhookID != env.WebhookID ||
			back.TriggeredAt != env.TriggeredAt || back.APIVersion != env.APIVersion || !back.ReceivedAt.Equal(env.ReceivedAt) || !bytes.Equal(back.Body, env.Body) {
			t.Fatalf("re-encoded envelope = %+v; want %+v", back, env)
		}
	})
}

// macOf is what a base64 signature header says the MAC is, or nil.
func macOf(header string) []byte {
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return nil
	}
	return b
}

// signedBy reports whether header carries the HMAC of body under secret.
// Base64 lets the same 32 bytes be written more than one way (the unused
// low bits of the last character); any spelling of the right MAC is the
// right signature, and anything else is a forgery.
func signedBy(secret string, body []byte, header string) bool {
	got := macOf(header)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return got != nil && hmac.Equal(got, mac.Sum(nil))
}

// FuzzVerifyBase64HMAC: Shopify's webhook signature check accepts exactly
// the HMAC of the body under a non-empty secret, and always accepts it.
func FuzzVerifyBase64HMAC(f *testing.F) {
	f.Add("shpss_test_secret", []byte(`{"id":1}`), "lp0ns3r0CjbuVQ9LRRWZqp2bUykoPBUtS68oXYScXAA=")
	f.Add("", []byte{}, "")
	f.Add("k", []byte("\x00\xff"), "====")
	for _, body := range platformPayloads(f, "shopify") {
		f.Add("shpss_app_secret", body, sign("shpss_app_secret", body))
		f.Add("shpss_app_secret", body, sign("another secret", body))
	}
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		got := verifyBase64HMAC(secret, body, header)
		if secret == "" && got {
			t.Fatal("accepted an empty secret")
		}
		if got && !signedBy(secret, body, header) {
			t.Fatalf("accepted header %q that is not the signature %q", header, sign(secret, body))
		}
		if secret != "" && !verifyBase64HMAC(secret, body, sign(secret, body)) {
			t.Fatal("refused a correct signature")
		}
	})
}

// FuzzVerifyWooSignature: WooCommerce's signature check accepts the HMAC
// under the secret as typed or as WordPress decodes it, and nothing else;
// an empty secret signs nothing.
func FuzzVerifyWooSignature(f *testing.F) {
	f.Add("wcsecret123", []byte(`{"id":727}`), "fcMF2SbfIm23zg43xWpAT8jzrCoIUtPfQJThNDtZM6g=")
	f.Add("a&amp;b", []byte("webhook_id=1"), "")
	f.Add("a&amp;b&#039;c", []byte(`{"id":1}`), sign("a&b'c", []byte(`{"id":1}`)))
	f.Add("&amp;amp;", []byte(`{}`), sign("&amp;", []byte(`{}`)))
	for _, body := range platformPayloads(f, "woocommerce") {
		f.Add("wc_secret_&lt;x&gt;", body, sign("wc_secret_<x>", body))
	}
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		got := verifyWooSignature(secret, body, header)
		if secret == "" && got {
			t.Fatal("accepted an empty secret")
		}
		if got && !signedBy(secret, body, header) && !signedBy(wpSpecialcharsDecode(secret), body, header) {
			t.Fatalf("accepted %q, the signature under neither key", header)
		}
		if secret != "" && !verifyWooSignature(secret, body, sign(secret, body)) {
			t.Fatal("refused a correct signature")
		}
		if decoded := wpSpecialcharsDecode(secret); secret != "" && !verifyWooSignature(secret, body, sign(decoded, body)) {
			t.Fatal("refused a signature under the entity-decoded secret")
		}
	})
}

// FuzzWooDedupeKey: the key that keeps a WooCommerce webhook from being
// queued twice is a function of the delivery alone, names its webhook,
// and changes whenever the order's status or modification time does, so
// a real change is never taken for a repeat.
func FuzzWooDedupeKey(f *testing.F) {
	for _, body := range storePayloads(f) {
		f.Add("41", "order.updated", body)
	}
	f.Add("", "", []byte(""))
	f.Add("7", "order.deleted", []byte(`{"id":727}`))
	f.Add("7", "order.updated", []byte(`{"id":"727","status":"processing"}`))
	f.Add("7", "order.updated", []byte(`{"id":727,"status":"on:hold","date_modified":"2026-05-11T10:15:00"}`))
	f.Add("7", "order.updated", []byte(`{"id":null,"status":"processing"}`))
	f.Add("7", "order.updated", []byte(`webhook_id=7`))
	f.Fuzz(func(t *testing.T, webhookID, topic string, body []byte) {
		in := WooCommerceWebhook{WebhookID: webhookID, Topic: topic, Body: body}
		key := wooDedupeKey(in)
		if again := wooDedupeKey(in); again != key {
			t.Fatalf("wooDedupeKey is not stable: %q then %q", key, again)
		}
		if !strings.HasPrefix(key, "wc:"+webhookID+":") {
			t.Fatalf("wooDedupeKey = %q; want it under wc:%s:", key, webhookID)
		}
		var head map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&head) != nil || head == nil {
			return
		}
		if _, ok := head["id"].(json.Number); !ok {
			return
		}
		// The same order, one field moved on.
		for _, field := range []string{"status", "date_modified_gmt"} {
			was, _ := head[field].(string)
			changed := map[string]any{}
			for k, v := range head {
				changed[k] = v
			}
			changed[field] = was + "1"
			if field == "date_modified_gmt" && was == "" {
				// date_modified stands in for an empty date_modified_gmt.
				dm, _ := head["date_modified"].(string)
				changed[field] = dm + "1"
			}
			b, err := json.Marshal(changed)
			if err != nil {
				t.Fatal(err)
			}
			if other := wooDedupeKey(WooCommerceWebhook{WebhookID: webhookID, Topic: topic, Body: b}); other == key {
				t.Fatalf("changing %s from %q still gives key %q", field, was, key)
			}
		}
	})
}
