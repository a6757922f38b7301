package main

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/clevertap"
	"github.com/storebridge/storebridge/adapters/convertway"
	"github.com/storebridge/storebridge/adapters/interakt"
	"github.com/storebridge/storebridge/adapters/meta"
	"github.com/storebridge/storebridge/adapters/nector"
	"github.com/storebridge/storebridge/adapters/sandbox"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/adapters/wati"
	"github.com/storebridge/storebridge/adapters/webhook"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// providerKits lists the messaging providers merchants can connect. A new
// provider is a folder under adapters/ and one entry here. The rates are
// each provider's documented limits per account (see the adapters).
func providerKits(allowInsecure bool) map[string]app.ProviderKit {
	opts := adapters.Options{AllowInsecure: allowInsecure, Client: adapters.NewHTTPClient(adapters.DefaultTimeout, allowInsecure)}
	return map[string]app.ProviderKit{
		interakt.Name: {
			New:          func(c map[string]string) (app.Provider, error) { return interakt.New(c, opts) },
			ParseWebhook: interakt.ParseWebhook,
			// Interakt signs its webhooks when the merchant sets a secret
			// there; the URL's token authenticates them otherwise.
			VerifyWebhook: func(c map[string]string, h http.Header, body []byte) error {
				return interakt.VerifySignature(c["webhook_secret"], h, body)
			},
			Rate:             app.Rate{Limit: 20, Per: time.Second},
			NeedsPhone:       false,
			EchoesDeliveryID: true, // callbackData
		},
		wati.Name: {
			New:          func(c map[string]string) (app.Provider, error) { return wati.New(c, opts) },
			ParseWebhook: wati.ParseWebhook,
			Rate:         app.Rate{Limit: 30, Per: 10 * time.Second},
			NeedsPhone:   true,
		},
		clevertap.Name: {
			New:  func(c map[string]string) (app.Provider, error) { return clevertap.New(c, opts) },
			Rate: app.Rate{Limit: 15, Per: time.Second},
		},
		meta.Name: {
			New:          func(c map[string]string) (app.Provider, error) { return meta.New(c, opts) },
			ParseWebhook: meta.ParseWebhook,
			VerifyWebhook: func(c map[string]string, h http.Header, body []byte) error {
				return meta.VerifySignature(c["app_secret"], h, body)
			},
			Handshake: func(c map[string]string, q url.Values) (string, bool) {
				return meta.Handshake(c["verify_token"], q)
			},
			Rate:             app.Rate{Limit: 80, Per: time.Second},
			NeedsPhone:       true,
			EchoesDeliveryID: true, // biz_opaque_callback_data
		},
		convertway.Name: {
			New:  func(c map[string]string) (app.Provider, error) { return convertway.New(c, opts) },
			Rate: app.Rate{Limit: 20, Per: time.Second},
		},
		webhook.Name: {
			New:  func(c map[string]string) (app.Provider, error) { return webhook.New(c, opts) },
			Rate: app.Rate{Limit: 50, Per: time.Second},
			// The delivery id is the Standard Webhooks webhook-id, which
			// receivers are told to drop repeats of (adapters/webhook).
			Dedupes: true,
		},
		sandbox.Name: sandbox.Kit(),
	}
}

// webhookDecoders read each store platform's queued webhooks.
func webhookDecoders() map[app.Platform]app.WebhookDecoder {
	return map[app.Platform]app.WebhookDecoder{
		app.PlatformShopify:     shopify.Decode,
		app.PlatformWooCommerce: woocommerce.Decode,
	}
}

// nectorDecoder reads the events merchants' Nector inboxes receive.
func nectorDecoder() app.NectorDecoder { return nector.Decode }

func defaultStatusMaps() map[app.Platform]map[string]string {
	return map[app.Platform]map[string]string{app.PlatformWooCommerce: woocommerce.DefaultStatusMap()}
}

// registerJobs gives each job kind its handler.
// newLoyaltyEngine builds the loyalty engine over the store's ledger and
// makes it see every store event the service processes; discounts makes
// its redemptions' and referrals' codes.
func newLoyaltyEngine(st Store, svc *app.Service, discounts loyalty.Discounts, log *slog.Logger) *loyalty.Engine {
	engine := loyalty.NewEngine(loyalty.Options{
		Ledger: st.LoyaltyLedger(), Data: st, Queue: st, Merchants: svc, Sender: svc, Logger: log,
		Discounts: discounts, Counts: svc,
	})
	svc.SetEventObserver(engine)
	svc.SetLoyaltyRecords(engine)
	return engine
}

func registerJobs(w *app.Workers, svc *app.Service) { w.HandleAll(svc.JobHandlers()) }
