package woocommerce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// sign is PHP's base64_encode(hash_hmac('sha256', $body, $secret, true)).
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifySignature(t *testing.T) {
	// The bytes as wp_json_encode writes them: "\/" and \uXXXX escapes.
	body := []byte(`{"id":727,"status":"processing","billing":{"first_name":"\u091c\u094d\u092f\u094b\u0924\u093f"},"_links":{"self":[{"href":"https:\/\/example.com\/wp-json\/wc\/v3\/orders\/727"}]}}`)
	// Computed outside Go: openssl dgst -sha256 -hmac <secret> -binary | base64
	const (
		opensslPlain   = "fcMF2SbfIm23zg43xWpAT8jzrCoIUtPfQJThNDtZM6g=" // secret wcsecret123
		opensslDecoded = "mypR0MQHiqITRj6SLdQWErXprQl3xvN8qzITsEsYBTI=" // secret p&q<r
	)
	if got := sign("wcsecret123", body); got != opensslPlain {
		t.Fatalf("test helper sign = %q; want the openssl value %q", got, opensslPlain)
	}
	reencoded := []byte(`{"id":727,"status":"processing","billing":{"first_name":"ज्योति"},"_links":{"self":[{"href":"https://example.com/wp-json/wc/v3/orders/727"}]}}`)
	tests := []struct {
		name, secret string
		body         []byte
		header       string
		want         bool
	}{
		{"valid", "wcsecret123", body, opensslPlain, true},
		{"re-encoded body", "wcsecret123", reencoded, opensslPlain, false},
		{"wrong secret", "wcsecret124", body, opensslPlain, false},
		{"secret stored with entities, signed decoded", "p&amp;q&lt;r", body, opensslDecoded, true},
		{"secret with a bare ampersand", "p&q<r", body, opensslDecoded, true},
		{"empty secret", "", body, sign("", body), false},
		{"empty header", "wcsecret123", body, "", false},
		{"not base64", "wcsecret123", body, "%%%", false},
		{"short digest", "wcsecret123", body, base64.StdEncoding.EncodeToString([]byte{1, 2, 3}), false},
		{"sha1 length digest", "wcsecret123", body, base64.StdEncoding.EncodeToString(make([]byte, 20)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifySignature(%q, …, %q) = %v; want %v", tt.secret, tt.header, got, tt.want)
			}
		})
	}
}

func FuzzVerifySignature(f *testing.F) {
	f.Add("wcsecret123", []byte(`{"id":727}`), "fcMF2SbfIm23zg43xWpAT8jzrCoIUtPfQJThNDtZM6g=")
	f.Add("a&amp;b", []byte("webhook_id=1"), "")
	f.Add("", []byte{}, "====")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		got := VerifySignature(secret, body, header)
		if secret == "" && got {
			t.Fatal("VerifySignature accepted an empty secret")
		}
		if got && header != sign(secret, body) && header != sign(specialcharsDecode(secret), body) {
			t.Fatalf("VerifySignature accepted %q, the signature under neither key", header)
		}
		if secret != "" && !VerifySignature(secret, body, sign(secret, body)) {
			t.Fatal("VerifySignature refused a correct signature")
		}
	})
}

func TestIsPing(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    bool
	}{
		{"form ping", "application/x-www-form-urlencoded", "webhook_id=12", true},
		{"form ping with charset", "application/x-www-form-urlencoded; charset=UTF-8", "webhook_id=7", true},
		{"no content type", "", "webhook_id=7", true},
		{"json order", "application/json", `{"id":12}`, false},
		{"ping body sent as json", "application/json", "webhook_id=12", false},
		{"extra field", "application/x-www-form-urlencoded", "webhook_id=12&x=1", false},
		{"not a number", "application/x-www-form-urlencoded", "webhook_id=abc", false},
		{"empty id", "application/x-www-form-urlencoded", "webhook_id=", false},
		{"trailing newline", "application/x-www-form-urlencoded", "webhook_id=12\n", false},
		{"bad media type", "%%%", "webhook_id=12", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		if got := IsPing(tt.contentType, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: IsPing(%q, %q) = %v; want %v", tt.name, tt.contentType, tt.body, got, tt.want)
		}
	}
}

func TestDedupeKey(t *testing.T) {
	o := Order{ID: 727, DateModifiedGMT: "2017-03-22T19:30:35", Status: "completed"}
	if got, want := DedupeKey("12", o), "12:727:2017-03-22T19:30:35:completed"; got != want {
		t.Errorf("DedupeKey = %q; want %q", got, want)
	}
	same := o
	if DedupeKey("12", same) != DedupeKey("12", o) {
		t.Error("DedupeKey differs for the same delivery")
	}
	for _, changed := range []Order{
		{ID: 728, DateModifiedGMT: o.DateModifiedGMT, Status: o.Status},
		{ID: 727, DateModifiedGMT: "2017-03-22T19:30:36", Status: o.Status},
		{ID: 727, DateModifiedGMT: o.DateModifiedGMT, Status: "refunded"},
	} {
		if DedupeKey("12", changed) == DedupeKey("12", o) {
			t.Errorf("DedupeKey(%+v) equals the original's", changed)
		}
	}
	if DedupeKey("13", o) == DedupeKey("12", o) {
		t.Error("DedupeKey ignores the webhook id")
	}
}
