package shopify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sharedFixtures holds Shopify's documentation samples, one folder per API
// version, when the workspace has them.
const sharedFixtures = "../../../shared/fixtures/shopify"

func complianceTopics() []string {
	return []string{"customers/data_request", "customers/redact", "shop/redact", "app/uninstalled"}
}

// fixtureTopic maps "orders_partially_fulfilled.json" to its topic.
func fixtureTopic(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), ".json")
	for _, t := range append(eventTopics(), complianceTopics()...) {
		if strings.ReplaceAll(t, "/", "_") == base {
			return t
		}
	}
	if strings.HasPrefix(base, "fulfillment_orders_") {
		return "fulfillment_orders/" + strings.TrimPrefix(base, "fulfillment_orders_")
	}
	resource, event, _ := strings.Cut(base, "_")
	return resource + "/" + event
}

// checkFile normalises one payload file as its topic and checks what every
// result must have. It returns whether the file was an event topic.
func checkFile(t *testing.T, file string, opts Options) bool {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	topic := fixtureTopic(file)
	if slices.Contains(complianceTopics(), topic) {
		c, err := ParseCompliance(topic, body)
		if err != nil {
			t.Errorf("%s: ParseCompliance(%s): %v", file, topic, err)
		}
		if c.ShopID == "" && c.ShopDomain == "" {
			t.Errorf("%s: compliance %+v names no shop", file, c)
		}
		return false
	}
	res, err := Normalize(topic, body, opts)
	if !slices.Contains(eventTopics(), topic) {
		if !errors.Is(err, ErrUnknownTopic) {
			t.Errorf("%s: Normalize(%s) error = %v; want ErrUnknownTopic", file, topic, err)
		}
		return false
	}
	if err != nil {
		t.Errorf("%s: Normalize(%s): %v", file, topic, err)
		return true
	}
	wantPrefix := "order:"
	if strings.HasPrefix(topic, "checkouts/") {
		wantPrefix = "cart:"
	}
	if !strings.HasPrefix(res.Subject, wantPrefix) || len(res.Subject) == len(wantPrefix) {
		t.Errorf("%s: Subject = %q; want %s<id>", file, res.Subject, wantPrefix)
	}
	if res.UpdatedAt.IsZero() {
		t.Errorf("%s: UpdatedAt is zero", file)
	}
	if topic != "orders/updated" && len(res.Events) == 0 {
		t.Errorf("%s: no events", file)
	}
	for _, e := range res.Events {
		if e.Type == "" || e.Subject != res.Subject || e.OccurredAt.IsZero() {
			t.Errorf("%s: event %s subject %q at %v", file, e.Type, e.Subject, e.OccurredAt)
		}
		if (e.Customer.Phone == "") == (e.Customer.PhoneProblem == "") {
			t.Errorf("%s: Phone %q, PhoneProblem %q; want exactly one", file, e.Customer.Phone, e.Customer.PhoneProblem)
		}
		if strings.HasPrefix(topic, "orders/") {
			for _, path := range []string{"order.number", "order.total", "order.items", "order.id", "shop.name"} {
				if v, ok := e.Lookup(path); !ok || v == "" {
					t.Errorf("%s: %s: %s missing", file, e.Type, path)
				}
			}
			if e.Customer.Email == "" {
				t.Errorf("%s: %s: no customer email", file, e.Type)
			}
		}
		if strings.HasPrefix(topic, "checkouts/") && e.Type == "cart.abandoned" {
			if v, ok := e.Lookup("cart.recovery_url"); !ok || v == "" {
				t.Errorf("%s: cart.recovery_url missing", file)
			}
		}
	}
	return true
}

// TestFixtures normalises every shared Shopify sample when the folder is
// there, and this package's own testdata in any case, so it never passes
// without checking something.
func TestFixtures(t *testing.T) {
	opts := Options{Country: "US", ShopName: "Super Toys"}
	shared, _ := filepath.Glob(filepath.Join(sharedFixtures, "*", "*.json"))
	if len(shared) == 0 {
		t.Logf("%s absent: checking testdata only", sharedFixtures)
	}
	events := 0
	for _, f := range shared {
		if checkFile(t, f, opts) {
			events++
		}
	}
	t.Logf("checked %d shared fixtures, %d of them event topics", len(shared), events)
	if len(shared) > 0 && events < 10 {
		t.Errorf("only %d shared fixtures were event topics; the file names may have changed", events)
	}

	own := map[string]string{
		"order_cod_in.json":                 "orders_create.json",
		"order_paid_fr.json":                "orders_paid.json",
		"order_us_badphone.json":            "orders_updated.json",
		"order_large.json":                  "orders_fulfilled.json",
		"order_cancelled.json":              "orders_cancelled.json",
		"fulfillment_out_for_delivery.json": "fulfillments_update.json",
		"fulfillment_attempted.json":        "fulfillments_create.json",
		"refund.json":                       "refunds_create.json",
		"checkout_open.json":                "checkouts_create.json",
		"checkout_completed.json":           "checkouts_update.json",
		"customers_redact.json":             "customers_redact.json",
		"customers_data_request.json":       "customers_data_request.json",
		"shop_redact.json":                  "shop_redact.json",
		"app_uninstalled.json":              "app_uninstalled.json",
	}
	dir := t.TempDir()
	for src, topicName := range own {
		b := readTestdata(t, src)
		dst := filepath.Join(dir, topicName)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		checkFile(t, dst, Options{Country: "IN", ShopName: "Asha Naturals"})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	if len(files) != len(own) {
		t.Errorf("testdata has %d files, %d are checked here: add the new ones", len(files), len(own))
	}
}
