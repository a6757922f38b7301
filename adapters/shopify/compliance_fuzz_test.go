package shopify

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseCompliance: the mandatory privacy webhooks and app/uninstalled
// never panic the parser; a body it cannot use is ErrUnusable; otherwise
// the request is for its topic, a customer request names the customer
// (id, email or phone) and shop/redact the shop.
func FuzzParseCompliance(f *testing.F) {
	topics := complianceTopics()
	fixtureSeeds(f, topics, func(topic uint8, body []byte) { f.Add(topic, body) })
	f.Add(uint8(0), []byte(`{"shop_id":1,"customer":{"id":2,"email":"a@b.c","phone":"1"},"orders_requested":[3]}`))
	f.Add(uint8(1), []byte(`{"shop_id":9007199254740993,"customer":{"id":"9007199254740995"},"orders_to_redact":[9007199254740997,null]}`))
	f.Add(uint8(1), []byte(`{"customer":{"id":null,"email":"","phone":""}}`))
	f.Add(uint8(2), []byte(`{"shop_domain":"a.myshopify.com"}`))
	f.Add(uint8(3), []byte(`{"id":1,"myshopify_domain":"x.myshopify.com"}`))
	f.Add(uint8(3), []byte(`{"id":1e400,"domain":"shop.example"}`))
	f.Fuzz(func(t *testing.T, topicIndex uint8, body []byte) {
		topic := topics[int(topicIndex)%len(topics)]
		c, err := ParseCompliance(topic, body)
		if err != nil {
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("ParseCompliance(%s) error %v does not wrap ErrUnusable", topic, err)
			}
			return
		}
		if c.Topic != topic {
			t.Fatalf("Topic = %q; want %q", c.Topic, topic)
		}
		switch {
		case topic == "shop/redact" && c.ShopID == "" && c.ShopDomain == "":
			t.Fatalf("shop/redact %+v names no shop", c)
		case strings.HasPrefix(topic, "customers/") && c.CustomerID == "" && c.CustomerEmail == "" && c.CustomerPhone == "":
			t.Fatalf("%s %+v names no customer", topic, c)
		}
	})
}
