package woocommerce

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/adapterstest"
	"github.com/storebridge/storebridge/app"
)

// testdataBodies are the real webhook bodies in testdata, by file name.
func testdataBodies(f *testing.F) map[string][]byte {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata payloads: %v", err)
	}
	out := map[string][]byte{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out[filepath.Base(name)] = b
	}
	return out
}

// checkOrderEvents holds the events of one order to what the pipeline
// needs, and to the order: each is about order:<id>.
func checkOrderEvents(t *testing.T, o Order, events []app.Event) {
	t.Helper()
	for _, e := range events {
		adapterstest.CheckEvent(t, e)
		if e.Subject != "order:"+strconv.FormatInt(o.ID, 10) {
			t.Fatalf("event %s is about %q; want order:%d", e.Type, e.Subject, o.ID)
		}
	}
}

// FuzzDecode: the worker's decoder of queued WooCommerce webhooks
// (app.WebhookDecoder, wired in wiring.go) never panics on any body under
// any topic. An order topic gives a state report keyed by the order's
// positive id, whose events, through the default map or a merchant's
// entry for the order's status, are usable; customer.created gives its
// signup event, the other customer and coupon topics nothing; anything
// else is a permanent error.
func FuzzDecode(f *testing.F) {
	topics := []string{"order.created", "order.updated", "order.restored", "order.deleted", "coupon.created", "customer.created", "customer.updated", "product.updated", ""}
	for name, body := range testdataBodies(f) {
		for i := range topics {
			if strings.HasPrefix(topics[i], strings.TrimSuffix(strings.SplitN(name, "_", 2)[0], ".json")) {
				f.Add(uint8(i), "order.delivered", body)
			}
		}
	}
	f.Add(uint8(1), "", []byte(`{"id":1,"status":"wc-Shipped Out!","payment_method":"COD","date_paid_gmt":" "}`))
	f.Add(uint8(1), "cod.reminder", []byte(`{"id":9223372036854775807,"status":"processing","date_modified_gmt":"2026-05-11T10:15:00Z"}`))
	f.Add(uint8(2), "order.shipped", []byte(`{"id":-4,"status":"completed"}`))
	f.Add(uint8(7), "", []byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, topicIndex uint8, mappedTo string, body []byte) {
		topic := topics[int(topicIndex)%len(topics)]
		m := app.Merchant{ID: "m1", Platform: app.PlatformWooCommerce, Country: "IN", Name: "Asha Naturals"}
		got, err := Decode(m, app.WebhookEnvelope{Platform: app.PlatformWooCommerce, Topic: topic, Body: body})
		if err != nil {
			var permanent *app.PermanentError
			if !errors.As(err, &permanent) {
				t.Fatalf("Decode(%s) error %v is not permanent: the queue would retry it forever", topic, err)
			}
			return
		}
		if topic == "customer.created" {
			// A new account is a signup event about that customer.
			c, err := DecodeCustomer(body)
			if err != nil || got.State != nil || len(got.Events) != 1 || got.Events[0].Type != app.EventCustomerCreated ||
				got.Events[0].Subject != "customer:"+strconv.FormatInt(c.ID, 10) || got.Events[0].Customer.ID != strconv.FormatInt(c.ID, 10) {
				t.Fatalf("Decode(customer.created) = %+v; want one customer.created event of customer %d", got, c.ID)
			}
			return
		}
		if got.Compliance != nil || len(got.Events) != 0 {
			t.Fatalf("Decode(%s) = %+v; WooCommerce bodies are states", topic, got)
		}
		switch topic {
		case "order.created", "order.updated", "order.restored":
		case "order.deleted", "coupon.created", "customer.updated":
			if got.State != nil {
				t.Fatalf("Decode(%s) gave a state report", topic)
			}
			return
		default:
			t.Fatalf("Decode(%q) accepted an unknown topic", topic)
		}
		st := got.State
		o, err := DecodeOrder(body)
		if st == nil || err != nil || st.Key != "order:"+strconv.FormatInt(o.ID, 10) || o.ID <= 0 || st.Status != o.Status {
			t.Fatalf("Decode(%s) state %+v for order %d", topic, st, o.ID)
		}
		// The status map a merchant saved passed the admin's checks: a
		// status slug to an event name, or "" to silence it.
		status := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(o.Status)), "wc-")
		maps := []map[string]string{nil, DefaultStatusMap()}
		if adapterstest.IsEventType(mappedTo) || mappedTo == "" {
			maps = append(maps, map[string]string{status: mappedTo})
		}
		for _, statusMap := range maps {
			events, _ := st.Events(statusMap)
			checkOrderEvents(t, o, events)
		}
	})
}

// FuzzOrderEvents: OrderEvents never panics on any decoded order, and
// every event it gives is usable and about the order.
func FuzzOrderEvents(f *testing.F) {
	for name, body := range testdataBodies(f) {
		if strings.HasPrefix(name, "order") {
			f.Add(body)
		}
	}
	f.Add([]byte(`{"id":1,"status":"wc-","meta_data":[{"key":"_wc_shipment_tracking_items","value":{"a":1}},{"key":"_tracking_number","value":[1]}],"line_items":[{"quantity":-3,"name":"&#xffffffff;"}]}`))
	f.Add([]byte(`{"id":1,"date_modified_gmt":"9999-99-99T99:99:99","total":"1e400","currency":"JPY"}`))
	f.Add([]byte(`{"id":1,"status":"processing","payment_method":"bacs","date_paid_gmt":"2026-05-11T10:15:00","billing":{"phone":"00 44 20 7946 0958","country":"zz"},"shipping":{"phone":"+91 98765 43210"}}`))
	f.Add([]byte(`{"id":1,"status":"on-hold","payment_method":" Cod ","meta_data":[{"key":"_wc_shipment_tracking_items","value":[{"tracking_number":" 1Z ","custom_tracking_link":" "}]}],"line_items":[{"quantity":9223372036854775807},{"quantity":1}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := DecodeOrder(body)
		if err != nil {
			if !errors.Is(err, ErrUnusable) {
				t.Fatalf("error %v does not wrap ErrUnusable", err)
			}
			return
		}
		events, _ := OrderEvents(o, map[string]string{"completed": app.EventOrderDelivered}, inOpts())
		checkOrderEvents(t, o, events)
	})
}
