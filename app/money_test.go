package app

import (
	"testing"
)

func TestFormatMoney(t *testing.T) {
	tests := []struct{ amount, currency, want string }{
		{"1499.00", "INR", "₹1,499.00"},
		{"1499", "INR", "₹1,499.00"},
		{"149999.00", "INR", "₹1,49,999.00"},
		{"12345678.9", "INR", "₹1,23,45,678.90"},
		{"100000", "inr", "₹1,00,000.00"},
		{"999", "INR", "₹999.00"},
		{"0.5", "INR", "₹0.50"},
		{"1499.00", "USD", "$1,499.00"},
		{"1234567.891", "USD", "$1,234,567.89"},
		{"0.005", "USD", "$0.01"},
		{"0.004", "USD", "$0.00"},
		{"9.995", "USD", "$10.00"},
		{"999999.999", "USD", "$1,000,000.00"},
		{"1499.00", "EUR", "€1,499.00"},
		{"20", "GBP", "£20.00"},
		{"1499.5", "JPY", "¥1,500"},
		{"1499", "JPY", "¥1,499"},
		{"1499", "AED", "AED 1,499.00"},
		{"1499", "AUD", "AUD 1,499.00"},
		{"12.3456", "KWD", "KWD 12.346"},
		{"-20.00", "USD", "-$20.00"},
		{"-0.001", "USD", "$0.00"},
		{"+5", "USD", "$5.00"},
		{"007.10", "USD", "$7.10"},
		{".5", "USD", "$0.50"},
		{"5.", "USD", "$5.00"},
		{"0.1", "USD", "$0.10"}, // the classic float trap: exact here
		{"1234", "", "1,234.00"},
		{"12,34", "INR", "12,34 INR"},
		{"1e3", "USD", "1e3 USD"},
		{"abc", "EUR", "abc EUR"},
		{"", "INR", "INR"},
		{"1.2.3", "USD", "1.2.3 USD"},
		{"-", "USD", "- USD"},
		{"٣", "USD", "٣ USD"},
	}
	for _, tt := range tests {
		if got := FormatMoney(tt.amount, tt.currency); got != tt.want {
			t.Errorf("FormatMoney(%q, %q) = %q; want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}
