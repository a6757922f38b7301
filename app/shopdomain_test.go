package app

import (
	"strings"
	"testing"
)

func TestValidShopDomain(t *testing.T) {
	tests := []struct {
		shop string
		want bool
	}{
		{"asha-naturals.myshopify.com", true},
		{"Asha-Naturals.myshopify.com", true},
		{strings.Repeat("a", 250) + ".myshopify.com", false},
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

		{"", false},
	}
	for _, tt := range tests {
		if got := ValidShopDomain(tt.shop); got != tt.want {
			t.Errorf("ValidShopDomain(%q) = %v; want %v", tt.shop, got, tt.want)
		}
	}
}
