package meta

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
)

// metaSeeds adds the sample Cloud API bodies and the package's testdata.
func metaSeeds(f *testing.F, add func(body []byte)) {
	f.Helper()
	for _, b := range []string{statusesBody, messagesBody} {
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

// FuzzVerifySignature: X-Hub-Signature-256 verifies only as "sha256=" and
// the hex HMAC-SHA256 of the body under the app secret (hex in any case),
// never with an empty secret; Meta's own signature of any body always
// verifies.
func FuzzVerifySignature(f *testing.F) {
	metaSeeds(f, func(b []byte) {
		f.Add(testAppSecret, b, metaSign(testAppSecret, b))
		f.Add(testAppSecret, b, metaSign("0000000000000000000000000000000f", b))
	})
	f.Add(testAppSecret, []byte(`{}`), "sha256=")
	f.Add(testAppSecret, []byte(""), "sha256=zz")
	f.Add(testAppSecret, []byte("x"), "")
	f.Add("", []byte("x"), metaSign("", []byte("x")))
	f.Add(testAppSecret, []byte("x"), strings.ToUpper(metaSign(testAppSecret, []byte("x"))))
	f.Fuzz(func(t *testing.T, secret string, body []byte, signature string) {
		want := metaSign(secret, body)
		h := http.Header{}
		h.Set(SignatureHeader, signature)
		if err := VerifySignature(secret, h, body); err == nil {
			if secret == "" {
				t.Fatal("verified with an empty secret")
			}
			got, ok := strings.CutPrefix(strings.TrimSpace(h.Get(SignatureHeader)), "sha256=")
			if mac, err := hex.DecodeString(got); !ok || err != nil || "sha256="+hex.EncodeToString(mac) != want {
				t.Fatalf("verified %q; only %q is the signature", signature, want)
			}
		}
		if secret == "" {
			return
		}
		h.Set(SignatureHeader, want)
		if err := VerifySignature(secret, h, body); err != nil {
			t.Fatalf("VerifySignature(own signature) = %v", err)
		}
	})
}

// FuzzParseWebhook: a Cloud API webhook body never panics the parser; it
// is an error, or a report the app can apply: known statuses naming a
// delivery or message, failures with a reason, replies from an E.164
// phone.
func FuzzParseWebhook(f *testing.F) {
	metaSeeds(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"from":"1","type":"interactive","interactive":{}}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"status":"failed","biz_opaque_callback_data":"d","errors":[{"code":0}]}]}}]}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		report, err := ParseWebhook(http.Header{}, body)
		if err != nil {
			return
		}
		adapterstest.CheckReport(t, report)
	})
}

// FuzzHandshake: Meta's subscription check answers the challenge only to
// a subscribe request carrying the verify token, and only with that
// request's challenge; without a token configured it answers nothing.
func FuzzHandshake(f *testing.F) {
	f.Add(testVerifyToken, "hub.mode=subscribe&hub.verify_token="+testVerifyToken+"&hub.challenge=1158201444")
	f.Add(testVerifyToken, "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444")
	f.Add(testVerifyToken, "hub.mode=subscribe&hub.mode=unsubscribe&hub.verify_token=x&hub.verify_token="+testVerifyToken+"&hub.challenge=1")
	f.Add("", "hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
	f.Fuzz(func(t *testing.T, token, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		challenge, ok := Handshake(token, q)
		if !ok {
			if challenge != "" {
				t.Fatalf("Handshake refused but answered %q", challenge)
			}
			return
		}
		if token == "" || q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != token || challenge == "" || challenge != q.Get("hub.challenge") {
			t.Fatalf("Handshake(%q, %q) = %q, true", token, rawQuery, challenge)
		}
	})
}
