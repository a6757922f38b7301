package shopify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// TestAPIVersionsDecode: webhooks at the pinned version and at the one
// before it both decode into the same events, so a shop whose
// subscriptions still name 2025-07 loses nothing while the drift is
// counted. The payloads are Shopify's documentation samples of each
// version (testdata/versions, copied from the shared fixtures).
func TestAPIVersionsDecode(t *testing.T) {
	versions := []string{"2025-07", app.ShopifyAPIVersion}
	want := map[string]map[string]string{ // file → version → order.total
		"orders_create.json":       {"2025-07": "$359.97", "2026-01": "$404.95"},
		"checkouts_create.json":    {},
		"fulfillments_update.json": {},
		"refunds_create.json":      {},
	}
	opts := Options{Country: "US", ShopName: "Super Toys"}
	for _, v := range versions {
		files, _ := filepath.Glob(filepath.Join("testdata", "versions", v, "*.json"))
		if len(files) < 6 {
			t.Fatalf("testdata/versions/%s has %d files; want the six samples", v, len(files))
		}
		events := 0
		for _, f := range files {
			if checkFile(t, f, opts) {
				events++
			}
		}
		if events != len(want) {
			t.Errorf("%s: %d event topics checked; want %d", v, events, len(want))
		}
		for file, totals := range want {
			body, err := os.ReadFile(filepath.Join("testdata", "versions", v, file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Normalize(fixtureTopic(file), body, opts)
			if err != nil || len(res.Events) == 0 {
				t.Fatalf("%s %s: Normalize = %+v, %v", v, file, res, err)
			}
			e := res.Events[0]
			wantSubject := "order:820982911946154500"
			if file == "checkouts_create.json" {
				wantSubject = "cart:123123123"
			}
			if e.Subject != wantSubject {
				t.Errorf("%s %s: subject %q; want %q", v, file, e.Subject, wantSubject)
			}
			if total, ok := totals[v]; ok {
				if got, _ := e.Lookup("order.total"); got != total {
					t.Errorf("%s %s: order.total = %v; want %s", v, file, got, total)
				}
				if got, _ := e.Lookup("order.number"); got != "#9999" {
					t.Errorf("%s %s: order.number = %v; want #9999", v, file, got)
				}
			}
		}
	}
}
