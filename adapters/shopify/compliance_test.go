package shopify

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseCompliance(t *testing.T) {
	tests := []struct {
		topic, file string
		want        Compliance
	}{
		{"customers/redact", "customers_redact.json", Compliance{
			Topic: "customers/redact", ShopID: "66123456", ShopDomain: "asha-naturals.myshopify.com",
			CustomerID: "72000000001", CustomerEmail: "jyoti.sharma@example.in", CustomerPhone: "+91 98765 43210",
			OrderIDs: []string{"5801234567890", "5801234567894"},
		}},
		{"customers/data_request", "customers_data_request.json", Compliance{
			Topic: "customers/data_request", ShopID: "66123456", ShopDomain: "asha-naturals.myshopify.com",
			CustomerID: "72000000001", CustomerEmail: "jyoti.sharma@example.in", CustomerPhone: "+91 98765 43210",
			OrderIDs: []string{"5801234567890"}, DataRequestID: "91234",
		}},
		{"shop/redact", "shop_redact.json", Compliance{Topic: "shop/redact", ShopID: "66123456", ShopDomain: "asha-naturals.myshopify.com"}},
		{"app/uninstalled", "app_uninstalled.json", Compliance{Topic: "app/uninstalled", ShopID: "66123456", ShopDomain: "asha-naturals.myshopify.com"}},
	}
	for _, tt := range tests {
		got, err := ParseCompliance(tt.topic, readTestdata(t, tt.file))
		if err != nil {
			t.Fatalf("ParseCompliance(%s): %v", tt.topic, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCompliance(%s) = %+v; want %+v", tt.topic, got, tt.want)
		}
	}
}

func TestParseComplianceLargeIDs(t *testing.T) {
	// Past 2^53 a float would round these.
	got, err := ParseCompliance("customers/redact", []byte(`{"shop_id":1,"customer":{"id":9007199254740993},"orders_to_redact":[820982911946154508]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerID != "9007199254740993" || len(got.OrderIDs) != 1 || got.OrderIDs[0] != "820982911946154508" {
		t.Errorf("ParseCompliance = %+v; want the ids exactly", got)
	}
}

func TestParseComplianceErrors(t *testing.T) {
	tests := []struct {
		topic, body string
		want        error
	}{
		{"orders/create", `{}`, ErrUnknownTopic},
		{"customers/redact", `{"shop_id":1}`, ErrUnusable},
		{"customers/redact", `not json`, ErrUnusable},
		{"customers/data_request", `{"customer":{"id":"x"}}`, ErrUnusable},
		{"shop/redact", `{}`, ErrUnusable},
	}
	for _, tt := range tests {
		if _, err := ParseCompliance(tt.topic, []byte(tt.body)); !errors.Is(err, tt.want) {
			t.Errorf("ParseCompliance(%s, %s) error = %v; want %v", tt.topic, tt.body, err, tt.want)
		}
	}
}
