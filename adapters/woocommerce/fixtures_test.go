package woocommerce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedFixtures holds WooCommerce's documentation samples when the
// workspace has them.
const sharedFixtures = "../../../shared/fixtures/woocommerce"

// checkFile decodes one payload by the kind its name starts with and checks
// the basic fields. It returns whether it was an order.
func checkFile(t *testing.T, file string) bool {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(file)
	switch {
	case strings.HasPrefix(base, "coupon"):
		c, err := DecodeCoupon(body)
		if err != nil || c.Code == "" || c.Amount == "" {
			t.Errorf("%s: DecodeCoupon = %+v, %v", file, c, err)
		}
	case strings.HasPrefix(base, "customer"):
		c, err := DecodeCustomer(body)
		if err != nil || c.Email == "" {
			t.Errorf("%s: DecodeCustomer = %+v, %v", file, c, err)
		}
		if got := c.Contact(Options{Country: "US"}); got.ID == "" || (got.Phone == "") == (got.PhoneProblem == "") {
			t.Errorf("%s: Contact = %+v", file, got)
		}
	case strings.HasPrefix(base, "order"):
		o, err := DecodeOrder(body)
		if err != nil {
			t.Errorf("%s: DecodeOrder: %v", file, err)
			return true
		}
		if o.Status == "" || o.Currency == "" || o.Total == "" || o.DateModifiedGMT == "" || o.ModifiedAt().IsZero() || len(o.LineItems) == 0 {
			t.Errorf("%s: order lacks basic fields: %+v", file, o)
		}
		events, _ := OrderEvents(o, nil, Options{Country: "US", ShopName: "Example"})
		if o.Status != "checkout-draft" && o.Status != "pending" && len(events) == 0 {
			t.Errorf("%s: status %q gave no events", file, o.Status)
		}
		for _, e := range events {
			if e.Subject == "" || e.OccurredAt.IsZero() || (e.Customer.Phone == "") == (e.Customer.PhoneProblem == "") {
				t.Errorf("%s: event %+v", file, e)
			}
			for _, path := range []string{"order.number", "order.total", "order.items", "shop.name"} {
				if v, ok := e.Lookup(path); !ok || v == "" {
					t.Errorf("%s: %s missing", file, path)
				}
			}
		}
		return true
	default:
		t.Errorf("%s: unknown kind of payload; name it coupon*, customer* or order*", file)
	}
	return false
}

// TestFixtures decodes every shared WooCommerce sample when the folder is
// there, and this package's own testdata in any case.
func TestFixtures(t *testing.T) {
	shared, _ := filepath.Glob(filepath.Join(sharedFixtures, "*.json"))
	if len(shared) == 0 {
		t.Logf("%s absent: checking testdata only", sharedFixtures)
	}
	own, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(own) < 7 {
		t.Fatalf("testdata has %d files; want the 7 written for this package", len(own))
	}
	orders := 0
	for _, f := range append(shared, own...) {
		if checkFile(t, f) {
			orders++
		}
	}
	t.Logf("checked %d shared and %d own payloads, %d orders", len(shared), len(own), orders)
	if orders < 5 {
		t.Errorf("only %d orders checked", orders)
	}
}
