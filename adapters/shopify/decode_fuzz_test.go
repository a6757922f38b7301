package shopify

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// fixtureSeeds calls add with every testdata payload under each topic of
// its resource: an order body under every order topic.
func fixtureSeeds(f *testing.F, topics []string, add func(topic uint8, body []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata payloads: %v", err)
	}
	for _, name := range files {
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		own := topicOfFixture(name)
		for i, topic := range topics {
			if resource(topic) == resource(own) {
				add(uint8(i), body)
			}
		}
	}
}

// resource is the part of a topic before the slash ("orders").
func resource(topic string) string {
	r, _, _ := strings.Cut(topic, "/")
	return r
}

// topicOfFixture names the topic a testdata payload was captured from.
func topicOfFixture(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), ".json")
	switch {
	case strings.HasPrefix(base, "order_"):
		if base == "order_cancelled" {
			return "orders/cancelled"
		}
		return "orders/create"
	case strings.HasPrefix(base, "checkout_"):
		return "checkouts/update"
	case strings.HasPrefix(base, "fulfillment_"):
		return "fulfillments/update"
	case base == "refund":
		return "refunds/create"
	}
	return fixtureTopic(file)
}

// FuzzDecode: the worker's decoder of queued Shopify webhooks
// (app.WebhookDecoder, wired in wiring.go) never panics on any body under
// any topic, fails only with permanent errors (retrying a body cannot
// help), and otherwise gives a compliance request for the compliance
// topics or events the pipeline can use: a rule-able type, an order or
// cart subject, a valid phone or the reason there is none. The merchant's
// cod_gateways setting is fuzzed with the body.
func FuzzDecode(f *testing.F) {
	topics := append(app.ShopifyTopics(), "orders/delete", "")
	fixtureSeeds(f, topics, func(topic uint8, body []byte) {
		f.Add(topic, "", body)
		f.Add(topic, "Cash on Delivery (COD), cod,  , Razorpay COD", body)
	})
	f.Add(uint8(0), ",,,", []byte(`{"id":1,"gateway":" cod ","financial_status":"pending","payment_gateway_names":["cod"]}`))
	f.Add(uint8(len(topics)-2), "", []byte(`{"id":1}`))
	consentTopic := uint8(slices.Index(topics, TopicMarketingConsent))
	f.Add(consentTopic, "", []byte(`{"id":706405506930370000,"phone":"+919876543210","sms_marketing_consent":{"state":"subscribed","opt_in_level":"single_opt_in"}}`))
	f.Add(consentTopic, "", []byte(`{"id":"x","phone":"098765 43210","sms_marketing_consent":{"state":"UNSUBSCRIBED"}}`))
	f.Fuzz(func(t *testing.T, topicIndex uint8, codGateways string, body []byte) {
		topic := topics[int(topicIndex)%len(topics)]
		m := app.Merchant{ID: "m1", Platform: app.PlatformShopify, Country: "IN", Name: "Asha Naturals", Settings: map[string]string{"cod_gateways": codGateways}}
		got, err := Decode(m, app.WebhookEnvelope{Platform: app.PlatformShopify, Topic: topic, Body: body})
		if err != nil {
			var permanent *app.PermanentError
			if !errors.As(err, &permanent) {
				t.Fatalf("Decode(%s) error %v is not permanent: the queue would retry it forever", topic, err)
			}
			if slices.Contains(app.ShopifyTopics(), topic) && !errors.Is(err, ErrUnusable) {
				t.Fatalf("Decode(%s) error %v; want ErrUnusable for a known topic", topic, err)
			}
			return
		}
		if !slices.Contains(app.ShopifyTopics(), topic) {
			t.Fatalf("Decode(%q) accepted a topic the app does not subscribe to", topic)
		}
		if got.State != nil {
			t.Fatalf("Decode(%s) gave a state report; Shopify's topics say what happened", topic)
		}
		if isCompliance(topic) {
			c := got.Compliance
			if c == nil || c.Topic != topic || len(got.Events) != 0 {
				t.Fatalf("Decode(%s) = %+v; want only the compliance request", topic, got)
			}
			if strings.HasPrefix(topic, "customers/") && c.CustomerID == "" && c.Phone == "" && c.Email == "" {
				t.Fatalf("Decode(%s) = %+v names no customer", topic, c)
			}
			return
		}
		if got.Compliance != nil {
			t.Fatalf("Decode(%s) gave a compliance request", topic)
		}
		if c := got.Consent; c != nil {
			if topic != TopicMarketingConsent || len(got.Events) != 0 {
				t.Fatalf("Decode(%s) gave a consent report %+v", topic, c)
			}
			if (c.State != app.ConsentGranted && c.State != app.ConsentDenied) || c.Source == "" {
				t.Fatalf("consent report %+v; want granted or denied, with its source", c)
			}
			if p, err := app.NormalizePhone(c.Phone, "IN"); err != nil || p != c.Phone {
				t.Fatalf("consent report phone %q is not E.164", c.Phone)
			}
		}
		for _, e := range got.Events {
			adapterstest.CheckEvent(t, e)
			if !strings.HasPrefix(e.Subject, "order:") && !strings.HasPrefix(e.Subject, "cart:") && !strings.HasPrefix(e.Subject, "customer:") {
				t.Fatalf("event %s has subject %q; want an order, a cart or a customer", e.Type, e.Subject)
			}
		}
	})
}
