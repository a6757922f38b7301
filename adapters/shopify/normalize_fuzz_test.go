package shopify

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
)

// FuzzNormalize: Normalize never panics on any body under an event topic;
// a body it cannot use is ErrUnusable; otherwise the result names its
// subject (an order by its decimal id, or a cart), and each of its events
// is about that subject and has what the pipeline relies on.
func FuzzNormalize(f *testing.F) {
	topics := eventTopics()
	fixtureSeeds(f, topics, func(topic uint8, body []byte) { f.Add(topic, body) })
	f.Add(uint8(0), []byte(`{"id":1,"line_items":[{"quantity":-5}],"total_price_set":{"presentment_money":{"amount":1e400}}}`))
	f.Add(uint8(7), []byte(`{"id":1,"order_id":2,"shipment_status":"ÆØÅ"}`))
	f.Add(uint8(8), []byte(`{"id":1,"order_id":2,"transactions":[{"kind":"refund","amount":"1/3"},{"kind":"refund","amount":"1e99999"}]}`))
	f.Add(uint8(8), []byte(`{"id":1,"order_id":2,"transactions":[{"kind":"refund","amount":"0.1"},{"kind":"refund","amount":".2000000000001","currency":"INR"}]}`))
	f.Add(uint8(9), []byte(`{"token":" ","completed_at":"2026-05-11T10:15:00Z","line_items":[{"title":"","name":"Kurta - Blue / M","quantity":9223372036854775807},{"quantity":1}]}`))
	f.Add(uint8(5), []byte(`{"id":18446744073709551615,"cancelled_at":"2026-05-11T10:15:00Z","financial_status":"refunded","fulfillments":[{"status":"cancelled"},{}]}`))
	f.Fuzz(func(t *testing.T, topicIndex uint8, body []byte) {
		topic := topics[int(topicIndex)%len(topics)]
		res, err := Normalize(topic, body, inOpts())
		if err != nil {
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("Normalize(%s) error %v does not wrap ErrUnusable", topic, err)
			}
			return
		}
		if strings.HasPrefix(topic, "checkouts/") {
			if res.Subject == "cart:" || !strings.HasPrefix(res.Subject, "cart:") || res.OrderID != "" {
				t.Fatalf("Normalize(%s) subject %q, order %q; want a cart", topic, res.Subject, res.OrderID)
			}
		} else if n, err := strconv.ParseUint(res.OrderID, 10, 64); err != nil || n == 0 || res.Subject != "order:"+res.OrderID {
			t.Fatalf("Normalize(%s) subject %q, order %q; want order:<id>", topic, res.Subject, res.OrderID)
		}
		for _, e := range res.Events {
			adapterstest.CheckEvent(t, e)
			if e.Subject != res.Subject {
				t.Fatalf("event %s is about %q; the result about %q", e.Type, e.Subject, res.Subject)
			}
		}
	})
}
