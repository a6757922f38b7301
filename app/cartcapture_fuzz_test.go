package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// FuzzCartCapture: whatever a plugin (or a holder of its token) sends,
// CaptureCart answers an outcome or a 422, never another error; an
// accepted cart has an id the cart flow can key on, and its job turns it
// into the cart flow's events without failing.
func FuzzCartCapture(f *testing.F) {
	good, _ := json.Marshal(openCart("c9f1", 1000))
	f.Add(good)
	f.Add([]byte(`{"id":"c1","version":5,"status":"emptied"}`))
	f.Add([]byte(`{"id":"c1","updated_at":"2026-11-22T06:00:00Z","status":"converted","order_id":"727","customer":{"phone":"+919876543210"}}`))
	f.Add([]byte(`{"id":" c1 ","version":1,"customer":{"phone":"00 91 98765 43210","country":"in"},"currency":"inr","total":1e400,"items":[{"name":"x","quantity":1,"price":"-0"}],"recovery_url":"https://shop.ashanaturals.in/"}`))
	f.Add([]byte(`{"id":"c1","version":1,"customer":{"email":"a@b.c"},"currency":"INR","total":"0","items":[{"name":"\u2028","quantity":100001,"price":"1.5.5"}],"recovery_url":"javascript:alert(1)"}`))
	st, err := embedded.Open(filepath.Join(f.TempDir(), "f.db"), embedded.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, CheckURL: strictURLs})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, newWooMerchant())
	if err != nil {
		f.Fatal(err)
	}
	idPattern := regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in app.CartCapture
		if json.Unmarshal(body, &in) != nil {
			return
		}
		out, err := svc.CaptureCart(ctx, m, in)
		var ve *app.ValidationError
		if err != nil {
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("CaptureCart() = %v; want an outcome or a 422 with fields", err)
			}
			return
		}
		if out != app.CartAccepted && out != app.CartUnchanged && out != app.CartStale {
			t.Fatalf("CaptureCart() = %q", out)
		}
		if id := strings.TrimSpace(in.ID); !idPattern.MatchString(id) {
			t.Fatalf("accepted a cart id %q", id)
		}
		payload, _ := json.Marshal(in)
		if err := svc.JobHandlers()[app.JobCartCapture](ctx, app.Job{Merchant: m.ID, Kind: app.JobCartCapture, Payload: payload, CreatedAt: time.Now()}); err != nil {
			t.Fatalf("handleCartCaptureJob() = %v", err)
		}
	})
}
