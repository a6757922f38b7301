package shopify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// sign computes the header the way Shopify does: base64 of the
// HMAC-SHA256 of the raw body bytes under the client secret.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifyWebhook(t *testing.T) {
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
		{"url-safe alphabet", secret, body, base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff}), false},
		{"flipped bit", secret, flipped, openssl, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyWebhook(tt.secret, tt.body, tt.header); got != tt.want {
				t.Errorf("VerifyWebhook(%q, %q, %q) = %v; want %v", tt.secret, tt.body, tt.header, got, tt.want)
			}
		})
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("shpss_test_secret", []byte(`{"id":1}`), "lp0ns3r0CjbuVQ9LRRWZqp2bUykoPBUtS68oXYScXAA=")
	f.Add("", []byte{}, "")
	f.Add("k", []byte("\x00\xff"), "====")
	f.Fuzz(func(t *testing.T, secret string, body []byte, header string) {
		got := VerifyWebhook(secret, body, header)
		if secret == "" && got {
			t.Fatal("VerifyWebhook accepted an empty secret")
		}
		if got && header != sign(secret, body) {
			t.Fatalf("VerifyWebhook accepted header %q that is not the signature", header)
		}
		if secret != "" && !VerifyWebhook(secret, body, sign(secret, body)) {
			t.Fatal("VerifyWebhook refused a correct signature")
		}
	})
}

func TestValidShopDomain(t *testing.T) {
	tests := []struct {
		shop string
		want bool
	}{
		{"asha-naturals.myshopify.com", true},
		{"Asha-Naturals.myshopify.com", true},
		{"shop1.myshopify.com", true},
		{"1shop.myshopify.com", true},
		{"attacker.com/?", false},
		{"attacker.com/?.myshopify.com", false},
		{"attacker.com/myshopify.com", false},
		{"x.myshopify.com.evil.com", false},
		{"x.myshopify.com/", false},
		{"x.myshopify.com\n", false},
		{"https://x.myshopify.com", false},
		{"x.myshopify.com:443", false},
		{"-x.myshopify.com", false},
		{"x_y.myshopify.com", false},
		{"a.b.myshopify.com", false},
		{".myshopify.com", false},
		{"myshopify.com", false},
		{"xmyshopify.com", false},
		{"x.myshopifyXcom", false},
		{"X.MYSHOPIFY.COM", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidShopDomain(tt.shop); got != tt.want {
			t.Errorf("ValidShopDomain(%q) = %v; want %v", tt.shop, got, tt.want)
		}
	}
}

func TestNormalizeShopDomain(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{" Asha-Naturals.MyShopify.com ", "asha-naturals.myshopify.com", true},
		{"X.MYSHOPIFY.COM", "x.myshopify.com", true},
		{"https://x.myshopify.com/", "https://x.myshopify.com/", false},
		{"X.myshopify.com.evil.com", "x.myshopify.com.evil.com", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeShopDomain(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NormalizeShopDomain(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
