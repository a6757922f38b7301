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
