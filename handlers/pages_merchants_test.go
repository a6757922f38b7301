package handlers

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var shownAPIKey = regexp.MustCompile(`id="added-key" value="([^"]+)"`)

func TestOperatorAddsAStoreFromTheStoresPage(t *testing.T) {
	e, svc := pagesServer(t)
	ctx := context.Background()
	op := operatorSignedIn(t, e, svc)
	token := op.csrf("/admin/merchants")

	// A refused field is shown next to its field; no secret is written back
	// into the page, and nothing is stored.
	rec := op.post("/admin/merchants/new", url.Values{"csrf": {token}, "platform": {"woocommerce"}, "name": {"Chai Co"}, "country": {"in"},
		"store_url": {"https://chai.example.in"}, "consumer_key": {"wrong-key-kept-secret"}, "consumer_secret": {"cs_1"}})
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a bad consumer key = %d, want 422\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "must start with ck_") || !strings.Contains(body, `value="Chai Co"`) || strings.Contains(body, "wrong-key-kept-secret") {
		t.Fatalf("the refused form does not show its reason and keep its text (but not its secrets):\n%s", body)
	}
	if ms, _ := svc.Merchants(ctx); len(ms) != 0 {
		t.Fatalf("a refused store was stored: %+v", ms)
	}

	rec = op.post("/admin/merchants/new", url.Values{"csrf": {token}, "platform": {"woocommerce"}, "name": {"Chai Co"}, "country": {"in"},
		"store_url": {"https://chai.example.in"}, "consumer_key": {"ck_1"}, "consumer_secret": {"cs_1"}, "webhook_secret": {"whsec"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("adding a store = %d\n%s", rec.Code, rec.Body)
	}
	key := shownAPIKey.FindStringSubmatch(rec.Body.String())
	if key == nil {
		t.Fatalf("the new store's API key is not shown:\n%s", rec.Body)
	}
	ms, _ := svc.Merchants(ctx)
	if len(ms) != 1 || ms[0].Name != "Chai Co" || ms[0].Country != "IN" || ms[0].StoreURL != "https://chai.example.in" {
		t.Fatalf("stored: %+v", ms)
	}
	if id, err := svc.SignInWithAPIKey(ctx, key[1]); err != nil || id != ms[0].ID {
		t.Fatalf("the key shown signs in %q, %v; want %s", id, err, ms[0].ID)
	}
	if again := op.get("/admin/merchants").Body.String(); strings.Contains(again, key[1]) {
		t.Fatal("the API key shows again after the page that made it")
	}

	// The same store again is refused on its address, not with a bare error.
	rec = op.post("/admin/merchants/new", url.Values{"csrf": {token}, "platform": {"woocommerce"}, "name": {"Chai Again"},
		"store_url": {"https://chai.example.in"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "is already connected") {
		t.Fatalf("adding the same store twice = %d\n%s", rec.Code, rec.Body)
	}

	// A merchant signed in to a store adds none.
	b := signedIn(t, e, svc, ms[0].ID)
	rec = b.post("/admin/merchants/new", url.Values{"csrf": {b.csrf("/admin")}, "platform": {"shopify"}, "shop_domain": {"x.myshopify.com"}})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("a merchant adding a store = %d, want 403", rec.Code)
	}
	// Without the form's CSRF token the operator adds none either.
	rec = op.post("/admin/merchants/new", url.Values{"platform": {"shopify"}, "shop_domain": {"x.myshopify.com"}})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("adding a store without the CSRF token = %d, want 403", rec.Code)
	}
	if ms, _ := svc.Merchants(ctx); len(ms) != 1 {
		t.Fatalf("stores now: %d, want 1", len(ms))
	}
}
