package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

func shopifySign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestUnusableWebhookIsKeptAndCounted: a webhook with a valid signature but
// a body no decoder can use is acknowledged, kept in the dead letters for
// inspection with the reason, and counted as invalid.
func TestUnusableWebhookIsKeptAndCounted(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "i.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keyring, _ := app.NewKeyring(keyA)
	const secret = "shpss_inspection_secret"
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, ShopifyAPISecret: secret,
		Decoders: map[app.Platform]app.WebhookDecoder{app.PlatformShopify: shopify.Decode},
	})
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "chai-house.myshopify.com"})
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range [][]byte{[]byte(`{"id": 12, "name": `), []byte(`{"name":"#1001"}`)} {
		outcome, err := svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{
			Domain: "chai-house.myshopify.com", Topic: "orders/create", HMAC: shopifySign(secret, body),
			EventID: "ev-bad-" + string(rune('a'+i)), Body: body,
		})
		if err != nil || outcome != app.WebhookAccepted {
			t.Fatalf("ReceiveShopifyWebhook(unusable body %d) = %v, %v; want accepted (the platform must stop retrying)", i, outcome, err)
		}
	}
	w := app.NewWorkers(st, app.WorkerOptions{PollInterval: 10 * time.Millisecond})
	w.Handle(app.JobShopifyWebhook, svc.JobHandlers()[app.JobShopifyWebhook])
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()

	var dead []app.Job
	waitFor(t, "both webhooks in the dead letters", func() bool {
		dead, _ = st.DeadJobs(ctx, m.ID, 10)
		return len(dead) == 2
	})
	for _, j := range dead {
		env, err := app.DecodeWebhookEnvelope(j.Payload)
		if err != nil || env.Topic != "orders/create" || len(env.Body) == 0 {
			t.Errorf("dead job %s = %+v, %v; want the original webhook kept", j.ID, env, err)
		}
		if !contains(j.LastError, "shopify: unusable payload") || j.Attempt != 1 {
			t.Errorf("dead job reason = %q after %d attempts; want the decoder's reason, no retries", j.LastError, j.Attempt)
		}
	}
	if err := svc.FlushCounters(ctx); err != nil {
		t.Fatal(err)
	}
	day := app.DayOf(time.Now())
	counts, _ := st.DailyCounts(ctx, m.ID, day, day)
	if counts[day]["inputs"]["invalid"] != 2 || counts[day]["inputs"]["accepted"] != 2 {
		t.Errorf("input counts = %v; want 2 accepted and 2 invalid", counts[day]["inputs"])
	}
}
