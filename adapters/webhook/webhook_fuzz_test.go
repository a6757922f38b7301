package webhook

import (
	"crypto/hmac"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerifySignature: the receiver-side check of our Standard Webhooks
// signatures passes only when one of the header's v1 signatures is the
// HMAC of id, timestamp and body under the secret (however base64 spells
// those 32 bytes) and the timestamp is within the tolerance; our own
// signature of any delivery always passes.
func FuzzVerifySignature(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		ts := strconv.FormatInt(fixedNow.Unix(), 10)
		f.Add(testSecret, body, "dlv_1", ts, Sign(testSecret, "dlv_1", fixedNow, body))
		f.Add(whsecSecret, body, "dlv_1", ts, "v1,AAAA "+Sign(whsecSecret, "dlv_1", fixedNow, body))
	}
	f.Add(testSecret, []byte(`{"id":"dlv_1"}`), "dlv_1", "1779444930", "v1,AAAA")
	f.Add(testSecret, []byte(``), "", "", "")
	f.Add(testSecret, []byte(`{}`), "x", "-1", "v1, v2,abc v1,")
	f.Add(testSecret, []byte(`{}`), "x", "99999999999999999999", "v1,"+strings.Repeat("A", 44))
	f.Add("whsec_!!", []byte(`{}`), "x", "1779444930", "v2,abc")
	f.Fuzz(func(t *testing.T, secret string, body []byte, id, ts, sig string) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if err := VerifySignature(secret, h, body, fixedNow, 0); err == nil {
			want := mac(secret, h.Get(HeaderID), h.Get(HeaderTimestamp), body)
			signed := false
			for s := range strings.FieldsSeq(h.Get(HeaderSignature)) {
				if enc, ok := strings.CutPrefix(s, "v1,"); ok {
					got, err := base64.StdEncoding.DecodeString(enc)
					signed = signed || err == nil && hmac.Equal(got, want)
				}
			}
			sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
			if !signed || err != nil || fixedNow.Sub(time.Unix(sec, 0)).Abs() > DefaultTolerance || secret == "" {
				t.Fatalf("accepted id %q, timestamp %q, signature %q", id, ts, sig)
			}
		}
		// Whatever the body and id, our own signature passes.
		if id == "" || secret == "" || strings.ContainsAny(id, "\r\n") {
			return
		}
		h.Set(HeaderTimestamp, strconv.FormatInt(fixedNow.Unix(), 10))
		h.Set(HeaderSignature, Sign(secret, h.Get(HeaderID), fixedNow, body))
		if err := VerifySignature(secret, h, body, fixedNow, 0); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}
