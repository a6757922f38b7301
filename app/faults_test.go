package app_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/adapters/woocommerce"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// faultyStore fails one chosen store call: the Nth, counting every call
// but the test driver's own Depth. before fails it without doing it (the
// store was unreachable); after does it and still fails (the answer was
// lost: a timeout after the write).
type faultyStore struct {
	app.Store
	mu     sync.Mutex
	calls  int
	failAt int // 0: never
	after  bool
	failed string // the call that failed, for the report
}

var errInjected = fmt.Errorf("injected store failure: %w", app.ErrUnavailable)

// call counts one call of op and runs do, failing it if it is the chosen
// one.
func (f *faultyStore) call(op string, do func() error) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls == f.failAt
	if fail {
		f.failed = op
	}
	f.mu.Unlock()
	if !fail {
		return do()
	}
	if f.after {
		_ = do()
	}
	return errInjected
}

func (f *faultyStore) CreateMerchant(ctx context.Context, m app.Merchant) error {
	return f.call("CreateMerchant", func() error { return f.Store.CreateMerchant(ctx, m) })
}
func (f *faultyStore) UpdateMerchant(ctx context.Context, id string, change func(*app.Merchant) error) (out app.Merchant, err error) {
	err = f.call("UpdateMerchant", func() error { out, err = f.Store.UpdateMerchant(ctx, id, change); return err })
	return out, err
}
func (f *faultyStore) GetMerchant(ctx context.Context, id string) (out app.Merchant, err error) {
	err = f.call("GetMerchant", func() error { out, err = f.Store.GetMerchant(ctx, id); return err })
	return out, err
}
func (f *faultyStore) MerchantByDomain(ctx context.Context, p app.Platform, d string) (out app.Merchant, err error) {
	err = f.call("MerchantByDomain", func() error { out, err = f.Store.MerchantByDomain(ctx, p, d); return err })
	return out, err
}
func (f *faultyStore) Claim(ctx context.Context, merchant, key string, ttl time.Duration) (out app.ClaimState, err error) {
	err = f.call("Claim "+key, func() error { out, err = f.Store.Claim(ctx, merchant, key, ttl); return err })
	return out, err
}
func (f *faultyStore) Complete(ctx context.Context, merchant, key string, ttl time.Duration) error {
	return f.call("Complete "+key, func() error { return f.Store.Complete(ctx, merchant, key, ttl) })
}
func (f *faultyStore) MarkDone(ctx context.Context, merchant, key string, ttl time.Duration) (out app.ClaimState, err error) {
	err = f.call("MarkDone "+key, func() error { out, err = f.Store.MarkDone(ctx, merchant, key, ttl); return err })
	return out, err
}
func (f *faultyStore) Release(ctx context.Context, merchant, key string) error {
	return f.call("Release "+key, func() error { return f.Store.Release(ctx, merchant, key) })
}
func (f *faultyStore) Enqueue(ctx context.Context, job app.Job) error {
	return f.call("Enqueue "+job.Kind, func() error { return f.Store.Enqueue(ctx, job) })
}
func (f *faultyStore) ClaimAndEnqueue(ctx context.Context, key string, ttl time.Duration, job app.Job) (out app.ClaimState, err error) {
	err = f.call("ClaimAndEnqueue "+key, func() error { out, err = f.Store.ClaimAndEnqueue(ctx, key, ttl, job); return err })
	return out, err
}
func (f *faultyStore) ClaimAndLease(ctx context.Context, key string, ttl time.Duration, job app.Job, lease time.Duration) (out app.ClaimState, leased app.Job, err error) {
	err = f.call("ClaimAndLease "+key, func() error { out, leased, err = f.Store.ClaimAndLease(ctx, key, ttl, job, lease); return err })
	return out, leased, err
}
func (f *faultyStore) ClaimJobs(ctx context.Context, lease time.Duration, max int) (out []app.Job, err error) {
	err = f.call("ClaimJobs", func() error { out, err = f.Store.ClaimJobs(ctx, lease, max); return err })
	return out, err
}
func (f *faultyStore) Extend(ctx context.Context, job app.Job, lease time.Duration) error {
	return f.call("Extend "+job.Kind, func() error { return f.Store.Extend(ctx, job, lease) })
}
func (f *faultyStore) Ack(ctx context.Context, job app.Job) error {
	return f.call("Ack "+job.Kind, func() error { return f.Store.Ack(ctx, job) })
}
func (f *faultyStore) Retry(ctx context.Context, job app.Job, at time.Time, reason string) error {
	return f.call("Retry "+job.Kind, func() error { return f.Store.Retry(ctx, job, at, reason) })
}
func (f *faultyStore) Bury(ctx context.Context, job app.Job, reason string) error {
	return f.call("Bury "+job.Kind, func() error { return f.Store.Bury(ctx, job, reason) })
}
func (f *faultyStore) Cancel(ctx context.Context, merchant, key string) (out bool, err error) {
	err = f.call("Cancel "+key, func() error { out, err = f.Store.Cancel(ctx, merchant, key); return err })
	return out, err
}
func (f *faultyStore) CreateDelivery(ctx context.Context, d app.Delivery) error {
	return f.call("CreateDelivery", func() error { return f.Store.CreateDelivery(ctx, d) })
}
func (f *faultyStore) GetDelivery(ctx context.Context, merchant, id string) (out app.Delivery, err error) {
	err = f.call("GetDelivery", func() error { out, err = f.Store.GetDelivery(ctx, merchant, id); return err })
	return out, err
}
func (f *faultyStore) UpdateDelivery(ctx context.Context, merchant, id string, change func(*app.Delivery) error) (out app.Delivery, err error) {
	err = f.call("UpdateDelivery", func() error { out, err = f.Store.UpdateDelivery(ctx, merchant, id, change); return err })
	return out, err
}
func (f *faultyStore) MapGet(ctx context.Context, merchant, name, field string) (out string, err error) {
	err = f.call("MapGet "+name, func() error {
		out, err = f.Store.MapGet(ctx, merchant, name, field)
		return err
	})
	return out, err
}
func (f *faultyStore) MapAll(ctx context.Context, merchant, name string) (out map[string]string, err error) {
	err = f.call("MapAll "+name, func() error { out, err = f.Store.MapAll(ctx, merchant, name); return err })
	return out, err
}
func (f *faultyStore) MapSet(ctx context.Context, merchant, name string, fields map[string]string) error {
	return f.call("MapSet "+name, func() error { return f.Store.MapSet(ctx, merchant, name, fields) })
}
func (f *faultyStore) AdvanceState(ctx context.Context, merchant, key string, version int64, value string, ttl time.Duration, effects ...app.Job) (prev string, advanced bool, err error) {
	err = f.call("AdvanceState "+key, func() error {
		prev, advanced, err = f.Store.AdvanceState(ctx, merchant, key, version, value, ttl, effects...)
		return err
	})
	return prev, advanced, err
}
func (f *faultyStore) State(ctx context.Context, merchant, key string) (v string, version int64, err error) {
	err = f.call("State "+key, func() error { v, version, err = f.Store.State(ctx, merchant, key); return err })
	return v, version, err
}
func (f *faultyStore) Throttle(ctx context.Context, merchant, key string, limit int, window, maxWait time.Duration) (wait time.Duration, err error) {
	err = f.call("Throttle", func() error { wait, err = f.Store.Throttle(ctx, merchant, key, limit, window, maxWait); return err })
	return wait, err
}
func (f *faultyStore) Incr(ctx context.Context, n int64, counters ...app.Counter) error {
	return f.call("Incr", func() error { return f.Store.Incr(ctx, n, counters...) })
}

// setFault arms the store to fail its nth call from now, and answers the
// count so far.
func (f *faultyStore) setFault(n int, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.failAt, f.after, f.failed = 0, n, after, ""
}

func (f *faultyStore) report() (calls int, failed string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.failed
}

// faultEnv is the whole pipeline over a faulty store: real decoders, a
// scripted provider, a recording COD writer, and a worker pool the test
// drives one claim at a time.
type faultEnv struct {
	store    *faultyStore
	svc      *app.Service
	workers  *app.Workers
	provider *scriptedProvider
	writes   *codWrites
	clock    *clock
	pass     func(time.Duration) error
	done     func()
}

const (
	faultShopSecret = "shpss_fault_injection_secret"
	faultWooSecret  = "wooFaultInjectionSecret0123456789abcdefABCDEF"
)

// openStore opens a fresh store on a backend. pass moves the store's own
// expiry clock forward with the test's clock: Redis expires keys (claims
// in progress, idempotency keys) on the server's real clock, which the
// test cannot move, so pass shortens every TTL by the same step.
// done throws the store away.
type openStore func(t *testing.T, clk *clock) (st app.Store, pass func(time.Duration) error, done func())

// backendsForFaults opens a fresh store per run on each backend.
func backendsForFaults(t *testing.T) map[string]openStore {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", srv.Port)})
	t.Cleanup(func() { rdb.Close() })
	var n atomic.Int64
	return map[string]openStore{
		"embedded": func(t *testing.T, clk *clock) (app.Store, func(time.Duration) error, func()) {
			// Each run commits a few hundred times: on tmpfs an fsync is
			// free, so the sweep takes seconds, not minutes.
			dir, err := os.MkdirTemp("/dev/shm", "storebridge-faults-")
			if err != nil {
				dir = t.TempDir()
			}
			st, err := embedded.Open(filepath.Join(dir, "f.db"), embedded.Options{Now: clk.Now})
			if err != nil {
				t.Error(err)
				return nil, nil, nil
			}
			return st, func(time.Duration) error { return nil }, func() { st.Close(); os.RemoveAll(dir) }
		},
		"redis": func(t *testing.T, clk *clock) (app.Store, func(time.Duration) error, func()) {
			prefix := fmt.Sprintf("fault%d:", n.Add(1))
			// The queue decides leases and due times on the server's
			// clock: the test's clock moves it by the same offset.
			st := redisstore.New(rdb, redisstore.Options{Prefix: prefix, Now: clk.Now, ServerClockOffset: clk.Offset})
			return st, func(d time.Duration) error { return passRedisTime(rdb, prefix, d) }, func() { deleteRedisPrefix(rdb, prefix) }
		},
	}
}

func deleteRedisPrefix(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// passRedisTime shortens the TTL of every key under prefix by d, deleting
// those that would have expired: as if d passed on the server's clock.
func passRedisTime(rdb *redis.Client, prefix string, d time.Duration) error {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	ttls := make([]*redis.DurationCmd, len(keys))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			ttls[i] = p.PTTL(ctx, k)
		}
		return nil
	}); err != nil {
		return err
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			left := ttls[i].Val()
			switch {
			case left <= 0: // no expiry (-1 as a duration)
			case left <= d:
				p.Del(ctx, k)
			default:
				p.PExpire(ctx, k, left-d)
			}
		}
		return nil
	})
	return err
}

func newFaultEnv(t *testing.T, open openStore) *faultEnv {
	t.Helper()
	clk := &clock{}
	st, pass, done := open(t, clk)
	fs := &faultyStore{Store: st}
	keyring, _ := app.NewKeyring(keyA)
	p := &scriptedProvider{}
	svc := app.NewService(app.ServiceOptions{
		Store: fs, Keyring: keyring, Now: clk.Now, ShopifyAPISecret: faultShopSecret,
		Providers: map[string]app.ProviderKit{
			"scripted": {New: func(map[string]string) (app.Provider, error) { return p, nil }},
		},
		Decoders:          map[app.Platform]app.WebhookDecoder{app.PlatformShopify: shopify.Decode, app.PlatformWooCommerce: woocommerce.Decode},
		DefaultStatusMaps: map[app.Platform]map[string]string{app.PlatformWooCommerce: woocommerce.DefaultStatusMap()},
		Retry:             app.Backoff{Waits: []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}},
		CheckURL:          strictURLs,
	})
	writes := &codWrites{}
	svc.SetCODWriter(app.PlatformShopify, writes)
	svc.SetCODWriter(app.PlatformWooCommerce, writes)
	w := app.NewWorkers(fs, app.WorkerOptions{Concurrency: 1, Lease: time.Minute, Backoff: app.Backoff{Waits: []time.Duration{10 * time.Second}, Jitter: 0}, Now: clk.Now})
	w.HandleAll(svc.JobHandlers())
	return &faultEnv{store: fs, svc: svc, workers: w, provider: p, writes: writes, clock: clk, pass: pass, done: done}
}

// setUp makes a merchant of the platform with its provider and rules,
// before any fault is armed.
func (e *faultEnv) setUp(platform app.Platform, settings app.SettingsInput) (app.Merchant, error) {
	ctx := context.Background()
	in := app.NewMerchant{Platform: platform, Domain: "asha-naturals.myshopify.com", Name: "Asha Naturals", Country: "IN"}
	if platform == app.PlatformWooCommerce {
		in = app.NewMerchant{Platform: platform, StoreURL: "https://shop.asha-naturals.in", Name: "Asha Naturals", Country: "IN", Secrets: map[string]string{"webhook_secret": faultWooSecret}}
	}
	m, _, err := e.svc.CreateMerchant(ctx, in)
	if err != nil {
		return m, err
	}
	if m, err = e.svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t"}}); err != nil {
		return m, err
	}
	off := "off"
	settings.QuietHours = &off
	if m, err = e.svc.UpdateSettings(ctx, m.ID, settings); err != nil {
		return m, err
	}
	for event, tpl := range map[string]string{
		app.EventOrderPlaced: "order_placed", app.EventOrderShipped: "order_shipped", app.EventOrderCancelled: "order_cancelled",
		app.EventCODConfirmationAsked: "cod_confirm", app.EventCODReminder: "cod_reminder",
		app.EventCODConfirmed: "cod_confirmed", app.EventCODCancelled: "cod_cancelled",
	} {
		if _, err := e.svc.PutRule(ctx, m.ID, event, app.RuleInput{Template: tpl, Variables: []string{"order.number"}}); err != nil {
			return m, err
		}
	}
	return m, nil
}

// until retries an outside caller's request (a platform redelivering a
// webhook, a provider its status call) until the store takes it.
func until(what string, do func() error) error {
	for range 3 {
		err := do()
		if err == nil {
			return nil
		}
		if !errors.Is(err, app.ErrUnavailable) {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return fmt.Errorf("%s kept failing", what)
}

// drain runs due jobs until none is left within horizon, moving the clock
// forward a step at a time whenever nothing is due, as time passes.
func (e *faultEnv) drain(step, horizon time.Duration) error {
	ctx := context.Background()
	var waited time.Duration
	for range 10_000 {
		n, _ := e.workers.RunOnce(ctx) // a failed claim is retried on the next turn
		if n > 0 {
			continue
		}
		d, err := e.store.Store.Depth(ctx)
		if err != nil {
			return err
		}
		if d.Ready+d.Scheduled+d.Running == 0 || waited >= horizon {
			return nil
		}
		e.clock.Set(e.clock.Now().Add(step))
		if err := e.pass(step); err != nil {
			return err
		}
		waited += step
	}
	return errors.New("the queue never drained")
}

func (e *faultEnv) sent() []string {
	_, sent := e.provider.state()
	out := make([]string, 0, len(sent))
	for _, m := range sent {
		out = append(out, m.Template)
	}
	sort.Strings(out)
	return out
}

func distinct(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	return slices.Compact(out)
}

func wooOrder(id int, status, payment string, modified time.Time) []byte {
	return fmt.Appendf(nil, `{"id":%d,"number":"%d","status":%q,"currency":"INR","total":"1299.00","customer_id":0,`+
		`"date_created_gmt":"2026-03-14T04:45:02","date_modified_gmt":%q,"date_paid_gmt":"2026-03-14T04:45:08",`+
		`"payment_method":%q,"billing":{"first_name":"Meera","last_name":"Iyer","country":"IN","phone":"098450 12345","email":"meera@example.in"},`+
		`"shipping":{"country":"IN","phone":""},"line_items":[{"id":1,"name":"Kumkumadi oil","product_id":9,"quantity":1,"total":"1299.00","price":1299}]}`,
		id, id, status, modified.UTC().Format("2006-01-02T15:04:05"), payment)
}

// scenario is one flow through the pipeline and what must come of it,
// however the store fails once along the way.
type scenario struct {
	name     string
	platform app.Platform
	settings app.SettingsInput
	run      func(e *faultEnv, m app.Merchant) error
	sent     []string // sorted templates, each exactly once
	writes   []string // distinct write-backs (a write may repeat: each is idempotent)
}

func shopifyCOD(e *faultEnv, m app.Merchant, eventID string) error {
	body, err := os.ReadFile("../adapters/shopify/testdata/order_cod_in.json")
	if err != nil {
		return err
	}
	return until("a Shopify webhook", func() error {
		_, err := e.svc.ReceiveShopifyWebhook(context.Background(), app.ShopifyWebhook{
			Domain: m.Domain, Topic: "orders/create", HMAC: shopifySign(faultShopSecret, body), EventID: eventID, Body: body,
		})
		return err
	})
}

func faultScenarios() []scenario {
	cancel := "cancel"
	return []scenario{
		{
			name: "woocommerce status changes", platform: app.PlatformWooCommerce,
			run: func(e *faultEnv, m app.Merchant) error {
				start := e.clock.Now()
				for i, status := range []string{"processing", "completed"} {
					body := wooOrder(727, status, "razorpay", start.Add(time.Duration(i)*time.Minute))
					if err := until("a WooCommerce webhook", func() error {
						_, err := e.svc.ReceiveWooCommerceWebhook(context.Background(), app.WooCommerceWebhook{
							MerchantID: m.ID, Topic: "order.updated", WebhookID: "12", Signature: shopifySign(faultWooSecret, body), Body: body,
						})
						return err
					}); err != nil {
						return err
					}
					if err := e.drain(time.Minute, time.Hour); err != nil {
						return err
					}
				}
				return nil
			},
			sent: []string{"order_placed", "order_shipped"},
		},
		{
			name: "cod confirmed by the customer", platform: app.PlatformShopify,
			run: func(e *faultEnv, m app.Merchant) error {
				if err := shopifyCOD(e, m, "ev-cod-1"); err != nil {
					return err
				}
				if err := e.drain(time.Minute, 30*time.Minute); err != nil { // well before the first reminder
					return err
				}
				if err := until("the customer's Confirm", func() error {
					return e.svc.ApplyProviderReport(context.Background(), m.ID, app.ProviderReport{Replies: []app.Reply{{Phone: "+919876543210", ButtonID: "cod:confirm:5801234567890"}}})
				}); err != nil {
					return err
				}
				return e.drain(time.Hour, 72*time.Hour)
			},
			sent:   []string{"cod_confirm", "cod_confirmed", "order_placed"},
			writes: []string{"5801234567890:confirm", "5801234567890:hold"},
		},
		{
			name: "cod cancelled at the timeout", platform: app.PlatformShopify, settings: app.SettingsInput{CODTimeoutAction: &cancel},
			run: func(e *faultEnv, m app.Merchant) error {
				if err := shopifyCOD(e, m, "ev-cod-2"); err != nil {
					return err
				}
				return e.drain(time.Hour, 72*time.Hour)
			},
			sent:   []string{"cod_cancelled", "cod_confirm", "cod_reminder", "order_placed"},
			writes: []string{"5801234567890:cancel", "5801234567890:hold"},
		},
	}
}

// runScenario runs a scenario on a fresh store with the nth store call
// failing (0: none) and answers what went wrong, and how many store calls
// the run made.
func runScenario(t *testing.T, open openStore, sc scenario, n int, after bool) (problems []string, calls int) {
	e := newFaultEnv(t, open)
	defer e.done()
	m, err := e.setUp(sc.platform, sc.settings)
	if err != nil {
		return []string{"set up: " + err.Error()}, 0
	}
	e.store.setFault(n, after)
	if err := sc.run(e, m); err != nil {
		problems = append(problems, err.Error())
	}
	calls, failed := e.store.report()
	if failed != "" {
		defer func() {
			if len(problems) > 0 {
				problems[0] = "(" + failed + ") " + problems[0]
			}
		}()
	}
	e.store.setFault(0, false)
	if got := e.sent(); !slices.Equal(got, sc.sent) {
		problems = append(problems, fmt.Sprintf("sent %v; want each of %v exactly once", got, sc.sent))
	}
	if got := distinct(e.writes.list()); !slices.Equal(got, distinct(sc.writes)) && len(got)+len(sc.writes) > 0 {
		problems = append(problems, fmt.Sprintf("write-backs %v; want %v", got, sc.writes))
	}
	list, _, err := e.store.ListDeliveries(context.Background(), m.ID, app.DeliveryFilter{Limit: 100})
	if err != nil {
		return append(problems, err.Error()), calls
	}
	for _, d := range list {
		if d.Status != app.DeliverySent && d.Status != app.DeliverySkipped {
			problems = append(problems, fmt.Sprintf("delivery of %s left %s; want sent (or skipped)", d.Event, d.Status))
		}
	}
	return problems, calls
}

// TestOneStoreFailureLosesNothing runs each flow once cleanly to count its
// store calls, then once per call with that call failing (before it is
// done, and after), on both backends: every message is sent exactly once,
// every delivery record ends sent, and every write-back is made,
// whichever call fails.
func TestOneStoreFailureLosesNothing(t *testing.T) {
	backends := backendsForFaults(t)
	for _, sc := range faultScenarios() {
		for _, backend := range []string{"embedded", "redis"} {
			open := backends[backend]
			t.Run(sc.name+"/"+backend, func(t *testing.T) {
				problems, total := runScenario(t, open, sc, 0, false)
				if len(problems) > 0 {
					t.Fatalf("clean run: %s", strings.Join(problems, "; "))
				}
				// The runs wait on the store far more than they compute:
				// eight at a time keep two cores busy.
				type failure struct {
					n     int
					after bool
				}
				work := make(chan failure)
				var mu sync.Mutex
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						for f := range work {
							problems, _ := runScenario(t, open, sc, f.n, f.after)
							if len(problems) == 0 {
								continue
							}
							when := map[bool]string{false: "before", true: "after"}[f.after]
							mu.Lock()
							t.Errorf("store call %d of %d failing %s it is done: %s", f.n, total, when, strings.Join(problems, "; "))
							mu.Unlock()
						}
					})
				}
				for n := 1; n <= total; n++ {
					work <- failure{n, false}
					work <- failure{n, true}
				}
				close(work)
				wg.Wait()
				t.Logf("%d store calls, each failed before and after it is done", total)
			})
		}
	}
}
