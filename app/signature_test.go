package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifyBase64HMAC(t *testing.T) {
	const secret = "shpss_test_secret"
	// The body keeps its escaped slash and raw UTF-8: re-encoding it would
	// change the bytes and the signature.
	body := []byte(`{"id":1,"name":"#1001","note":"ज्योति \/ Anaïs"}`)
	// Computed outside Go: openssl dgst -sha256 -hmac shpss_test_secret -binary | base64
	const openssl = "lp0ns3r0CjbuVQ9LRRWZqp2bUykoPBUtS68oXYScXAA="
	if got := sign(secret, body); got != openssl {
		t.Fatalf("test helper sign = %q; want the openssl value %q", got, openssl)
	}
	reencoded := []byte(`{"id":1,"name":"#1001","note":"ज्योति / Anaïs"}`)
	flipped := append([]byte{}, body...)
	flipped[5] ^= 1
	tests := []struct {
		name   string
		secret string
		body   []byte
		header string
		want   bool
	}{
		{"valid", secret, body, openssl, true},
		{"empty body signed", secret, []byte{}, sign(secret, []byte{}), true},
		{"re-encoded body", secret, reencoded, openssl, false},
		{"wrong secret", "other", body, openssl, false},
		{"empty secret", "", body, sign("", body), false},
		{"empty header", secret, body, "", false},
		{"hex instead of base64", secret, body, "969d279ecaf40a36ee550f4b451599aa9d9b5329283c152d4baf285d849c5c00", false},
		{"not base64", secret, body, "!!!", false},
		{"truncated digest", secret, body, base64.StdEncoding.EncodeToString([]byte("short")), false},
		{"flipped bit", secret, flipped, openssl, false},
	}
	for _, tt := range tests {
		if got := verifyBase64HMAC(tt.secret, tt.body, tt.header); got != tt.want {
			t.Errorf("%s: verifyBase64HMAC(%q, %q, %q) = %v; want %v", tt.name, tt.secret, tt.body, tt.header, got, tt.want)
		}
	}
}

func TestVerifyWooSignatureDecodesEntities(t *testing.T) {
	body := []byte(`{"id":727,"status":"processing"}`)
	// WooCommerce stored the secret through sanitize_text_field and signs
	// with it entity-decoded.
	if !verifyWooSignature("a&amp;b&lt;c", body, sign("a&b<c", body)) {
		t.Error("verifyWooSignature refused the signature made with the decoded secret")
	}
	if !verifyWooSignature("plainSecret42", body, sign("plainSecret42", body)) {
		t.Error("verifyWooSignature refused a plain secret's signature")
	}
	if verifyWooSignature("", body, sign("", body)) {
		t.Error("verifyWooSignature accepted an empty secret")
	}
}
