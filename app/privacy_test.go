package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// The customers of the privacy tests, with the forms their phones take in
// the payloads (Shopify sends what the customer typed).
type shopper struct {
	name, id, email, e164 string
	local                 []string // as typed in the payloads
	orders                []string // prepaid, then cash on delivery
}

var (
	riya = shopper{
		name: "Riya", id: "7712398123", email: "riya.sharma@example.in", e164: "+919876543210",
		local: []string{"9876543210", "098765 43210", "+91 98765 43210"}, orders: []string{"1001", "1002"},
	}
	arjun = shopper{
		name: "Arjun", id: "7712398777", email: "arjun.mehta@example.in", e164: "+919812345678",
		local: []string{"9812345678", "098123 45678", "+91 98123 45678"}, orders: []string{"2001", "2002"},
	}
)

// traces are the strings that would show a shopper's data is still kept.
func (c shopper) traces() []string {
	return append([]string{c.e164, strings.TrimPrefix(c.e164, "+"), c.email, c.id}, c.local...)
}

// privacyBackends open a fresh store of each kind and a dump of every key
// and value it holds. The dump of the embedded store walks every bucket of
// the file, so it closes the store first: call it last.
func privacyBackends() map[string]func(t *testing.T) (app.Store, func() []byte) {
	return map[string]func(t *testing.T) (app.Store, func() []byte){
		"embedded": func(t *testing.T) (app.Store, func() []byte) {
			path := filepath.Join(t.TempDir(), "s.db")
			st, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st, func() []byte {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				return dumpBolt(t, path)
			}
		},
		"redis": func(t *testing.T) (app.Store, func() []byte) {
			srv := redistest.Start(t, redistest.Options{})
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			st := redisstore.New(rdb, redisstore.Options{Prefix: "t:"})
			t.Cleanup(func() { st.Close() })
			return st, func() []byte { return dumpRedis(t, srv.Addr()) }
		},
	}
}

// dumpBolt writes out every bucket, key and value of the bbolt file.
func dumpBolt(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil && b.Bucket(k) != nil {
					return fmt.Errorf("bucket %s holds a nested bucket the dump cannot read", name)
				}
				fmt.Fprintf(&out, "%s\x00%s\x00%s\n", name, k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

const privacyShop = "asha-naturals.myshopify.com"

type privacyEnv struct {
	svc     *app.Service
	st      app.Store
	m       app.Merchant
	secret  string
	events  atomic.Int64
	writes  *codWrites
	handler map[string]app.JobHandler
}

// newPrivacyEnv is a Shopify shop with a provider, an order rule, the COD
// flow and the Shopify decoder, on st. No workers run: drain runs what is
// due, so what stays queued is known.
func newPrivacyEnv(t *testing.T, st app.Store) *privacyEnv {
	t.Helper()
	ctx := context.Background()
	keyring, _ := app.NewKeyring(keyA)
	env := &privacyEnv{st: st, secret: "shpss_privacy_secret", writes: &codWrites{}}
	p := &scriptedProvider{}
	env.svc = app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, ShopifyAPISecret: env.secret,
		Decoders: map[app.Platform]app.WebhookDecoder{app.PlatformShopify: shopify.Decode},
		Providers: map[string]app.ProviderKit{
			"scripted": {New: func(map[string]string) (app.Provider, error) { return p, nil }},
		},
		Retry: app.Backoff{Waits: []time.Duration{time.Millisecond}},
	})
	env.svc.SetCODWriter(app.PlatformShopify, env.writes)
	m, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: privacyShop, Name: "Asha Naturals", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = env.svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t0k3n-provider"}}); err != nil {
		t.Fatal(err)
	}
	env.m = m
	for event, in := range map[string]app.RuleInput{
		app.EventOrderPlaced:          {Template: "order_placed", Variables: []string{"customer.first_name", "order.number"}},
		app.EventCODConfirmationAsked: {Template: "cod_confirm", Variables: []string{"customer.first_name", "order.number", "order.total"}},
	} {
		if _, err := env.svc.PutRule(ctx, m.ID, event, in); err != nil {
			t.Fatalf("PutRule(%s) = %v", event, err)
		}
	}
	env.handler = env.svc.JobHandlers()
	return env
}

// webhook sends a signed Shopify webhook of the shop, to be queued.
func (env *privacyEnv) webhook(t *testing.T, topic, body string) {
	t.Helper()
	outcome, err := env.svc.ReceiveShopifyWebhook(context.Background(), app.ShopifyWebhook{
		Domain: privacyShop, Topic: topic, HMAC: shopifySign(env.secret, []byte(body)),
		EventID: fmt.Sprintf("ev-%d", env.events.Add(1)), Body: []byte(body),
	})
	if err != nil || outcome != app.WebhookAccepted {
		t.Fatalf("ReceiveShopifyWebhook(%s) = %v, %v; want accepted", topic, outcome, err)
	}
}

// drain runs every job due now, as a worker would: done jobs are acked,
// permanent failures buried; jobs due later stay queued.
func (env *privacyEnv) drain(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for range 100 {
		jobs, err := env.st.ClaimJobs(ctx, time.Minute, 20)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			return
		}
		for _, job := range jobs {
			handle, ok := env.handler[job.Kind]
			if !ok {
				t.Fatalf("no handler for job kind %s", job.Kind)
			}
			var permanent *app.PermanentError
			switch err := handle(ctx, job); {
			case err == nil:
				err = env.st.Ack(ctx, job)
				if err != nil {
					t.Fatal(err)
				}
			case errors.As(err, &permanent):
				if err := env.st.Bury(ctx, job, err.Error()); err != nil {
					t.Fatal(err)
				}
			default:
				t.Fatalf("job %s (%s) = %v", job.ID, job.Kind, err)
			}
		}
	}
	t.Fatal("jobs kept coming")
}

// order is an orders/create payload of the shopper, prepaid or cash on
// delivery, with their phone in local forms.
func (c shopper) order(id string, cod bool) string {
	status, gateway := "paid", "razorpay"
	if cod {
		status, gateway = "pending", "Cash on Delivery (COD)"
	}
	return fmt.Sprintf(`{"id":%s,"name":"#%s","email":%q,"phone":%q,"financial_status":%q,"payment_gateway_names":[%q],
"total_price":"1499.00","currency":"INR","customer":{"id":%s,"first_name":%q,"last_name":"Test","email":%q,"phone":%q},
"shipping_address":{"first_name":%q,"address1":"12 MG Road","city":"Jaipur","country_code":"IN","phone":%q}}`,
		id, id, c.email, c.local[0], status, gateway, c.id, c.name, c.email, c.local[0], c.name, c.local[1])
}

// shop gives the env a life: each shopper places a prepaid and a COD
// order, gets a test message and a delivered status, replies STOP and then
// "haan", which confirms the COD order.
func (env *privacyEnv) shop(t *testing.T, shoppers ...shopper) {
	t.Helper()
	ctx := context.Background()
	for _, c := range shoppers {
		env.webhook(t, "orders/create", c.order(c.orders[0], false))
		env.webhook(t, "orders/create", c.order(c.orders[1], true))
	}
	env.drain(t)
	for _, c := range shoppers {
		if _, err := env.svc.SendTestEvent(ctx, env.m.ID, app.TestEventInput{Event: app.EventOrderPlaced, Phone: c.local[2], Properties: map[string]any{"order": map[string]any{"number": "#test"}}}); err != nil {
			t.Fatalf("SendTestEvent() = %v", err)
		}
		delivered := app.StatusReport{DeliveryID: env.deliveryOf(t, c, app.EventOrderPlaced, c.orders[0]).ID, Status: app.DeliveryDelivered, At: time.Now()}
		replies := []app.Reply{{Phone: c.e164, Text: "STOP", At: time.Now()}, {Phone: c.local[0], Text: "haan", At: time.Now()}}
		if err := env.svc.ApplyProviderReport(ctx, env.m.ID, app.ProviderReport{Statuses: []app.StatusReport{delivered}, Replies: replies}); err != nil {
			t.Fatalf("ApplyProviderReport() = %v", err)
		}
	}
	env.drain(t)
}

// deliveryOf finds the shopper's delivery of event for an order.
func (env *privacyEnv) deliveryOf(t *testing.T, c shopper, event, order string) app.Delivery {
	t.Helper()
	list, _, err := env.st.ListDeliveries(context.Background(), env.m.ID, app.DeliveryFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Event == event && d.Subject == "order:"+order && d.Phone == c.e164 {
			return d
		}
	}
	t.Fatalf("no %s delivery for order %s of %s among %d", event, order, c.name, len(list))
	return app.Delivery{}
}

// dataRequest is a customers/data_request payload of the shopper.
func (c shopper) dataRequest(requestID string) string {
	return fmt.Sprintf(`{"shop_id":66123456,"shop_domain":%q,"customer":{"id":%s,"email":%q,"phone":%q},"orders_requested":[%s],"data_request":{"id":%s}}`,
		privacyShop, c.id, c.email, c.local[2], strings.Join(c.orders, ","), requestID)
}

func exportIDs(x app.CustomerExport) []string {
	var out []string
	for _, d := range x.Deliveries {
		out = append(out, d.Event+" "+d.Subject)
	}
	sort.Strings(out)
	return out
}

// A data request is kept where the merchant can list it, and its export
// holds everything storebridge keeps of that customer, in full, and
// nothing of another customer; exporting it marks it answered.
func TestDataRequestExport(t *testing.T) {
	for name, open := range privacyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := open(t)
			env := newPrivacyEnv(t, st)
			env.shop(t, riya, arjun)
			env.webhook(t, "customers/data_request", riya.dataRequest("91234"))
			env.drain(t)

			requests, err := env.svc.DataRequests(ctx, env.m.ID)
			if err != nil || len(requests) != 1 {
				t.Fatalf("DataRequests() = %+v, %v; want Riya's", requests, err)
			}
			r := requests[0]
			if r.ID != "91234" || r.CustomerID != riya.id || r.Phone != riya.e164 || r.Email != riya.email ||
				strings.Join(r.OrderIDs, ",") != "1001,1002" || r.ReceivedAt.IsZero() || !r.AnsweredAt.IsZero() {
				t.Errorf("DataRequests()[0] = %+v; want Riya's request, open", r)
			}

			x, err := env.svc.ExportDataRequest(ctx, env.m.ID, r.ID)
			if err != nil {
				t.Fatalf("ExportDataRequest() = %v", err)
			}
			want := []string{"cod.confirmation_requested order:1002", "order.placed ", "order.placed order:1001", "order.placed order:1002"}
			if got := exportIDs(x); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("exported deliveries = %q; want %q", got, want)
			}
			if x.Customer.Phone != riya.e164 || x.Customer.Email != riya.email || x.Customer.ID != riya.id || x.RequestID != "91234" {
				t.Errorf("exported customer = %+v (request %q); want Riya in full", x.Customer, x.RequestID)
			}
			for _, d := range x.Deliveries {
				if d.Subject == "order:1001" && (len(d.Values) != 2 || d.Values[0] != "Riya" || d.Status != app.DeliveryDelivered || len(d.History) < 3 || len(d.EventData) == 0) {
					t.Errorf("exported order delivery = %+v; want the values sent, the status and history and the event", d)
				}
			}
			if len(x.Replies) != 1 || x.Replies[0].Text != "haan" || x.Replies[0].Phone != riya.e164 {
				t.Errorf("exported replies = %+v; want Riya's last reply", x.Replies)
			}
			if len(x.OptOuts) != 1 || x.OptOuts[0].Phone != riya.e164 || x.OptOuts[0].At.IsZero() {
				t.Errorf("exported opt-outs = %+v; want Riya's", x.OptOuts)
			}
			if len(x.CODOrders) != 1 || x.CODOrders[0].OrderID != "1002" || x.CODOrders[0].State != "confirmed" || x.CODOrders[0].Phone != riya.e164 {
				t.Errorf("exported COD orders = %+v; want order 1002, confirmed", x.CODOrders)
			}
			if len(x.DataRequests) != 1 || x.DataRequests[0].ID != "91234" {
				t.Errorf("exported data requests = %+v; want this one", x.DataRequests)
			}
			if x.Loyalty != nil {
				t.Errorf("exported loyalty = %v; want none (no loyalty engine)", x.Loyalty)
			}
			raw, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			// Order ids are short numbers: look for them as the export
			// would hold them, not inside a timestamp or a random id.
			traces := arjun.traces()
			for _, id := range arjun.orders {
				traces = append(traces, "order:"+id, `"`+id+`"`, "#"+id)
			}
			for _, trace := range traces {
				if bytes.Contains(raw, []byte(trace)) {
					t.Errorf("Riya's export contains %q of Arjun", trace)
				}
			}
			requests, _ = env.svc.DataRequests(ctx, env.m.ID)
			if len(requests) != 1 || requests[0].AnsweredAt.IsZero() {
				t.Errorf("DataRequests() after the export = %+v; want it answered", requests)
			}

			// The same customer found without a request, by a local phone.
			adhoc, err := env.svc.ExportCustomer(ctx, env.m.ID, app.CustomerIdentity{Phone: riya.local[0]})
			if err != nil || strings.Join(exportIDs(adhoc), "|") != strings.Join(want, "|") || adhoc.RequestID != "" || len(adhoc.CODOrders) != 1 {
				t.Errorf("ExportCustomer(phone) = %q, %d COD orders, %v; want the same deliveries", exportIDs(adhoc), len(adhoc.CODOrders), err)
			}
			if _, err := env.svc.ExportDataRequest(ctx, env.m.ID, "nope"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("ExportDataRequest(unknown) = %v; want ErrNotFound", err)
			}
			var ve *app.ValidationError
			if _, err := env.svc.ExportCustomer(ctx, env.m.ID, app.CustomerIdentity{Email: riya.email}); !errors.As(err, &ve) {
				t.Errorf("ExportCustomer(email alone) = %v; want a validation error (deliveries are found by phone or customer id)", err)
			}
			if _, err := env.svc.ExportCustomer(ctx, env.m.ID, app.CustomerIdentity{Phone: "12"}); !errors.As(err, &ve) {
				t.Errorf("ExportCustomer(bad phone) = %v; want a validation error", err)
			}
		})
	}
}

type loyaltyBook map[string]any

func (b loyaltyBook) ExportLoyalty(_ context.Context, _ app.Merchant, who app.CustomerIdentity) (any, error) {
	return b[who.Phone], nil
}

func (b loyaltyBook) RedactLoyalty(_ context.Context, _ app.Merchant, who app.CustomerIdentity) error {
	delete(b, who.Phone)
	return nil
}

// The loyalty engine, once it exists, adds its records to the export
// through one interface.
func TestDataExportAsksTheLoyaltyRecords(t *testing.T) {
	st, _ := privacyBackends()["embedded"](t)
	env := newPrivacyEnv(t, st)
	env.svc.SetLoyaltyRecords(loyaltyBook{riya.e164: map[string]any{"balance": 1250}})
	x, err := env.svc.ExportCustomer(context.Background(), env.m.ID, app.CustomerIdentity{Phone: riya.e164})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(x.Loyalty); string(got) != `{"balance":1250}` {
		t.Errorf("exported loyalty = %s; want the loyalty records' answer", got)
	}
}

// customers/redact reaches the loyalty records too.
func TestCustomerRedactTakesTheLoyaltyRecords(t *testing.T) {
	st, _ := privacyBackends()["embedded"](t)
	env := newPrivacyEnv(t, st)
	book := loyaltyBook{riya.e164: map[string]any{"balance": 1250}, arjun.e164: map[string]any{"balance": 10}}
	env.svc.SetLoyaltyRecords(book)
	env.shop(t, riya, arjun)
	env.webhook(t, "customers/redact", riya.redact())
	env.drain(t)
	if _, kept := book[riya.e164]; kept {
		t.Error("the redacted customer's loyalty records are kept")
	}
	if _, kept := book[arjun.e164]; !kept {
		t.Error("another customer's loyalty records went with the redaction")
	}
}

// redact is a customers/redact payload of the shopper.
func (c shopper) redact() string {
	return fmt.Sprintf(`{"shop_id":66123456,"shop_domain":%q,"customer":{"id":%s,"email":%q,"phone":%q},"orders_to_redact":[%s]}`,
		privacyShop, c.id, c.email, c.local[2], strings.Join(c.orders, ","))
}

// findTraces lists the traces found in a backend's dump.
func findTraces(dump []byte, traces []string) []string {
	var found []string
	for _, trace := range traces {
		if bytes.Contains(dump, []byte(trace)) {
			found = append(found, trace)
		}
	}
	return found
}

// customers/redact leaves nothing of the customer in the store (their
// deliveries, last reply, opt-out, COD states, data requests), read key by
// key and value by value, and everything of another customer.
func TestCustomerRedactLeavesNoTrace(t *testing.T) {
	for name, open := range privacyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, dump := open(t)
			env := newPrivacyEnv(t, st)
			env.shop(t, riya, arjun)
			env.webhook(t, "customers/data_request", riya.dataRequest("91234"))
			env.webhook(t, "customers/data_request", arjun.dataRequest("91235"))
			env.drain(t)
			if _, err := env.svc.ExportDataRequest(ctx, env.m.ID, "91234"); err != nil {
				t.Fatal(err)
			}
			before, err := env.svc.ExportCustomer(ctx, env.m.ID, app.CustomerIdentity{Phone: arjun.e164})
			if err != nil {
				t.Fatal(err)
			}

			queue := func() string {
				t.Helper()
				list, err := env.svc.CODOrders(ctx, env.m.ID, app.CODOrderFilter{})
				if err != nil {
					t.Fatalf("CODOrders() = %v", err)
				}
				var ids []string
				for _, o := range list {
					ids = append(ids, o.ID)
				}
				return strings.Join(ids, " ")
			}
			queued := queue()
			if !strings.Contains(queued, "1002") || len(strings.Fields(queued)) != 2 {
				t.Fatalf("the COD queue before the redaction = %q; want Riya's order 1002 and Arjun's", queued)
			}

			env.webhook(t, "customers/redact", riya.redact())
			env.drain(t)

			if got := queue(); got != strings.Replace(strings.Replace(queued, "1002", "", 1), " ", "", 1) {
				t.Errorf("the COD queue after Riya's redaction = %q (before %q); want only Arjun's order", got, queued)
			}
			for _, index := range []string{"cod_orders", "cod_awaiting"} {
				if ids, err := env.st.IndexNewest(ctx, env.m.ID, index, 0, 10); err != nil || slices.Contains(ids, "1002") {
					t.Errorf("the %s index after the redaction = %v, %v; want Riya's order gone from it", index, ids, err)
				}
			}
			after, err := env.svc.ExportCustomer(ctx, env.m.ID, app.CustomerIdentity{Phone: arjun.e164})
			if err != nil {
				t.Fatal(err)
			}
			if len(after.Deliveries) != 4 || len(after.Replies) != 1 || len(after.OptOuts) != 1 || len(after.CODOrders) != 1 || len(after.DataRequests) != 1 {
				t.Errorf("Arjun after Riya's redaction: %d deliveries, %d replies, %d opt-outs, %d COD orders, %d data requests; want 4, 1, 1, 1, 1",
					len(after.Deliveries), len(after.Replies), len(after.OptOuts), len(after.CODOrders), len(after.DataRequests))
			}
			if got, want := exportIDs(after), exportIDs(before); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("Arjun's deliveries after Riya's redaction = %q; want %q", got, want)
			}
			requests, err := env.svc.DataRequests(ctx, env.m.ID)
			if err != nil || len(requests) != 1 || requests[0].ID != "91235" {
				t.Errorf("DataRequests() after the redaction = %+v, %v; want Arjun's alone", requests, err)
			}
			raw := dump()
			if left := findTraces(raw, riya.traces()); len(left) > 0 {
				t.Errorf("the %s store still holds %q of the redacted customer", name, left)
			}
			if kept := findTraces(raw, []string{arjun.e164, arjun.email}); len(kept) != 2 {
				t.Errorf("the %s store holds %q of the other customer; want both phone and email kept", name, kept)
			}
		})
	}
}

// claimWebhook claims the next due job, which must be the webhook of
// topic, for the test to run it by hand while the others wait.
func (env *privacyEnv) claimWebhook(t *testing.T, topic string) app.Job {
	t.Helper()
	jobs, err := env.st.ClaimJobs(context.Background(), time.Minute, 1)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("ClaimJobs() = %d jobs, %v; want the %s webhook", len(jobs), err, topic)
	}
	if e, err := app.DecodeWebhookEnvelope(jobs[0].Payload); err != nil || e.Topic != topic {
		t.Fatalf("job claimed = %+v, %v; want the %s webhook", e, err, topic)
	}
	return jobs[0]
}

// shop/redact, 48 hours after the uninstall, leaves nothing of any of the
// shop's customers, read key by key and value by value: deliveries with
// and without subjects (test messages), replies, opt-outs, COD states,
// data requests, and the webhook payloads of dead and queued jobs. The
// merchant record stays, without credentials, and a late webhook is
// recognised and ignored.
func TestShopRedactLeavesNoTrace(t *testing.T) {
	for name, open := range privacyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, dump := open(t)
			env := newPrivacyEnv(t, st)
			env.shop(t, riya, arjun)
			env.webhook(t, "customers/data_request", riya.dataRequest("91234"))
			// An order webhook no decoder can use is kept in the dead
			// letters, the customer's phone and email in its payload.
			env.webhook(t, "orders/create", fmt.Sprintf(`{"name":"#1003","email":%q,"phone":%q}`, riya.email, riya.local[0]))
			env.drain(t)
			if dead, err := st.DeadJobs(ctx, env.m.ID, 10); err != nil || len(dead) != 1 {
				t.Fatalf("dead jobs = %d, %v; want the unusable order", len(dead), err)
			}
			if _, err := env.svc.ExportDataRequest(ctx, env.m.ID, "91234"); err != nil {
				t.Fatal(err)
			}
			// A worker holds an order webhook when the shop uninstalls, and
			// puts it back after: it waits in the queue with its payload.
			env.webhook(t, "orders/create", arjun.order("2003", false))
			held := env.claimWebhook(t, "orders/create")
			env.webhook(t, "app/uninstalled", fmt.Sprintf(`{"id":66123456,"myshopify_domain":%q}`, privacyShop))
			env.drain(t)
			if err := st.Retry(ctx, held, time.Now().Add(time.Hour), "store unavailable"); err != nil {
				t.Fatal(err)
			}
			// Two days on: shop/redact, and a customers/redact queued
			// behind it.
			env.webhook(t, "shop/redact", fmt.Sprintf(`{"shop_id":66123456,"shop_domain":%q}`, privacyShop))
			time.Sleep(5 * time.Millisecond)
			env.webhook(t, "customers/redact", arjun.redact())
			redact := env.claimWebhook(t, "shop/redact")
			if err := env.svc.JobHandlers()[redact.Kind](ctx, redact); err != nil {
				t.Fatalf("handleWebhookJob(shop/redact) = %v", err)
			}
			if err := st.Ack(ctx, redact); err != nil {
				t.Fatal(err)
			}

			m, err := st.GetMerchant(ctx, env.m.ID)
			if err != nil || m.Status != app.MerchantUninstalled || len(m.Provider.Credentials) != 0 || len(m.Secrets) != 0 {
				t.Errorf("merchant after shop/redact = %+v, %v; want it kept, uninstalled, without credentials", m, err)
			}
			late := riya.order("1004", false)
			if outcome, err := env.svc.ReceiveShopifyWebhook(ctx, app.ShopifyWebhook{
				Domain: privacyShop, Topic: "orders/create", HMAC: shopifySign(env.secret, []byte(late)), EventID: "ev-late", Body: []byte(late),
			}); err != nil || outcome != app.WebhookIgnored {
				t.Errorf("a late webhook after shop/redact = %v, %v; want it recognised and ignored", outcome, err)
			}
			if err := env.svc.FlushCounters(ctx); err != nil {
				t.Fatal(err)
			}
			day := app.DayOf(time.Now())
			if counts, err := st.DailyCounts(ctx, env.m.ID, day, day); err != nil || counts[day][app.EventOrderPlaced]["received"] == 0 {
				t.Errorf("statistics after shop/redact = %v, %v; want them kept (they name no one)", counts, err)
			}
			if depth, err := st.Depth(ctx); err != nil || depth != (app.QueueDepth{}) {
				t.Errorf("queue after shop/redact = %+v, %v; want nothing left of the shop", depth, err)
			}
			raw := dump()
			if !bytes.Contains(raw, []byte(env.m.ID)) || !bytes.Contains(raw, []byte(privacyShop)) {
				t.Fatalf("the %s dump does not hold the merchant record: it reads the wrong bytes", name)
			}
			for _, c := range []shopper{riya, arjun} {
				if left := findTraces(raw, c.traces()); len(left) > 0 {
					t.Errorf("the %s store still holds %q of %s", name, left, c.name)
				}
			}
		})
	}
}
