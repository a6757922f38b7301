package app

import (
	"strings"
	"testing"
)

func TestSummarizeItems(t *testing.T) {
	long := strings.Repeat("अ", 100)
	tests := []struct {
		name      string
		items     []LineItem
		want      string
		wantCount int
	}{
		{"none", nil, "", 0},
		{"one", []LineItem{{"Kurta (Blue / M)", 2}}, "2 × Kurta (Blue / M)", 2},
		{"four", []LineItem{{"A", 1}, {"B", 1}, {"C", 1}, {"D", 4}}, "1 × A, 1 × B, 1 × C … and 1 more", 7},
		{"long names clipped", []LineItem{{long, 1}}, "1 × " + strings.Repeat("अ", 59) + "…", 1},
		{"long names drop to fit", []LineItem{{long, 1}, {long, 1}, {long, 1}, {long, 1}},
			"1 × " + strings.Repeat("अ", 59) + "…, 1 × " + strings.Repeat("अ", 59) + "… … and 2 more", 4},
	}
	for _, tt := range tests {
		got, count := SummarizeItems(tt.items)
		if got != tt.want || count != tt.wantCount {
			t.Errorf("%s: SummarizeItems() = %q, %d; want %q, %d", tt.name, got, count, tt.want, tt.wantCount)
		}
	}
}

func TestNestPropertiesMergesAliasesAndMaps(t *testing.T) {
	for range 20 { // map order varies from run to run
		got := nestProperties(map[string]any{
			"amount": 100.0, "points": map[string]any{"balance": 1250.0},
			"order.number": "#7", "order": map[string]any{"total": "₹10.00"},
		})
		points, _ := got["points"].(map[string]any)
		order, _ := got["order"].(map[string]any)
		if points["amount"] != 100.0 || points["balance"] != 1250.0 || order["number"] != "#7" || order["total"] != "₹10.00" {
			t.Fatalf("nestProperties() = %v; want amount and balance under points, number and total under order", got)
		}
	}
}

func TestNestPropertiesSamePathTwice(t *testing.T) {
	for range 20 { // map order varies from run to run
		got := nestProperties(map[string]any{"order": map[string]any{"number": "#1"}, "order.number": "#2"})
		if order, _ := got["order"].(map[string]any); order["number"] != "#2" {
			t.Fatalf("nestProperties() = %v; want the dotted key, the more specific, to win", got)
		}
	}
}
