package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// Seeds of BenchmarkAdminPages: the merchant whose pages are read, and the
// stores around it.
const (
	benchDeliveries      = 10_000
	benchDays            = 365
	benchOthers          = 3
	benchOtherDeliveries = 2_000
	// benchLoyaltyEntries are the ledger entries of the customer the
	// loyalty page looks up.
	benchLoyaltyEntries  = 1_000
	benchLoyaltyCustomer = "7712398123"
)

// benchEvents are the event types of the seeded deliveries, by weight: a
// shop's mix, with one rare type for the filters that find few.
var benchEvents = []weighted[string]{
	{app.EventOrderPlaced, 30}, {app.EventOrderShipped, 20}, {app.EventOrderDelivered, 15},
	{app.EventCODConfirmationAsked, 10}, {app.EventCartAbandoned, 10}, {app.EventPointsEarned, 14},
	{app.EventReviewRequested, 1},
}

var benchStatuses = []weighted[app.DeliveryStatus]{
	{app.DeliveryRead, 40}, {app.DeliveryDelivered, 30}, {app.DeliverySent, 10}, {app.DeliveryFailed, 8},
	{app.DeliverySkipped, 8}, {app.DeliveryDead, 2}, {app.DeliveryRetrying, 2},
}

// benchPages are the admin pages as a merchant opens them; want is a piece
// each answer must hold, so a page that renders an error is no figure.
func benchPages(today time.Time) []struct{ name, path, want string } {
	year := url.Values{"from": {app.DayOf(today.AddDate(0, 0, -(benchDays - 1)))}, "to": {app.DayOf(today)}}.Encode()
	return []struct{ name, path, want string }{
		{"home", "/admin", "Last 7 days"},
		{"provider", "/admin/provider", "Sandbox"},
		{"messages", "/admin/messages", "order.placed"},
		{"rule", "/admin/messages/order.placed", "order_placed"},
		{"statuses", "/admin/statuses", "<form"},
		{"cod", "/admin/cod", "cod_gateways"},
		{"deliveries", "/admin/deliveries", "cursor="},
		{"deliveries-failed", "/admin/deliveries?status=failed", "cursor="},
		{"deliveries-event", "/admin/deliveries?event=order.shipped", "cursor="},
		{"deliveries-rare-event", "/admin/deliveries?event=" + app.EventReviewRequested, "<table"},
		{"deliveries-failed-rare-event", "/admin/deliveries?status=failed&event=" + app.EventReviewRequested, "No messages yet"},
		{"deliveries-read-and-event", "/admin/deliveries?status=read&event=order.placed", "cursor="},
		// Both filters, and no delivery has both: the worst case of a scan
		// driven by one index and checked on the records.
		{"deliveries-read-no-match", "/admin/deliveries?status=read&event=" + app.EventCODReminder, "No messages yet"},
		{"stats-365d", "/admin/stats?" + year, "<svg"},
		{"stats-csv-365d", "/admin/stats.csv?" + year, "day,event"},
		{"loyalty", "/admin/loyalty", `value="quiz.completed"`},
		{"loyalty-customer", "/admin/loyalty?by=id&customer=" + benchLoyaltyCustomer, `id="redeem-form"`},
		{"loyalty-customer-phone", "/admin/loyalty?by=phone&customer=098765%2043210", `id="referral-code"`},
	}
}

// BenchmarkAdminPages measures the server time of every admin page as a
// signed-in merchant requests it through the real router, with the store
// holding 10,000 of the merchant's deliveries over a year, a year of its
// daily counters, and other merchants' data around it; on the embedded
// store and on Redis. Each page reports its p50 and p99 in ms, and the
// whole is printed as a table at the end; a page that does not answer 200
// with its content fails the benchmark. Run it with e.g.
//
//	go test -run '^$' -bench AdminPages -benchtime 200x ./handlers/
func BenchmarkAdminPages(b *testing.B) {
	type figure struct {
		backend, page string
		p50, p99      time.Duration
	}
	var figures []figure
	backends := []struct {
		name string
		open func(b *testing.B) app.Store
	}{
		{"embedded", func(b *testing.B) app.Store {
			st, err := embedded.Open(filepath.Join(b.TempDir(), "pages.db"), embedded.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis", func(b *testing.B) app.Store {
			srv := redistest.Start(b, redistest.Options{})
			st := redisstore.New(benchRedisClient(srv.URL()), redisstore.Options{Prefix: "bench:pages:"})
			b.Cleanup(func() { st.Close() })
			return st
		}},
	}
	for _, backend := range backends {
		b.Run(backend.name, func(b *testing.B) {
			st := backend.open(b)
			e, svc, merchant := seedAdminPages(b, st)
			token, _, err := svc.NewSession(merchant)
			if err != nil {
				b.Fatal(err)
			}
			for _, page := range benchPages(time.Now().UTC()) {
				b.Run(page.name, func(b *testing.B) {
					took := make([]time.Duration, 0, b.N)
					for b.Loop() {
						req := httptest.NewRequest(http.MethodGet, page.path, nil)
						req.AddCookie(&http.Cookie{Name: sessionCookie, Value: token})
						rec := httptest.NewRecorder()
						start := time.Now()
						e.ServeHTTP(rec, req)
						took = append(took, time.Since(start))
						if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), page.want) {
							b.Fatalf("GET %s = %d, want 200 holding %q:\n%.2000s", page.path, rec.Code, page.want, rec.Body)
						}
					}
					slices.Sort(took)
					p50, p99 := took[len(took)/2], took[min(len(took)-1, len(took)*99/100)]
					b.ReportMetric(float64(p50)/1e6, "p50-ms")
					b.ReportMetric(float64(p99)/1e6, "p99-ms")
					figures = slices.DeleteFunc(figures, func(f figure) bool { return f.backend == backend.name && f.page == page.name })
					figures = append(figures, figure{backend.name, page.name, p50, p99})
				})
			}
		})
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-30s %-9s %9s %9s\n", "page", "store", "p50", "p99")
	for _, f := range figures {
		fmt.Fprintf(&table, "%-30s %-9s %9s %9s\n", f.page, f.backend, f.p50.Round(10*time.Microsecond), f.p99.Round(10*time.Microsecond))
	}
	// Printed, not logged: a parent benchmark's log is shown only when it
	// fails.
	fmt.Print(table.String())
}

// seedAdminPages fills st for BenchmarkAdminPages and answers the router,
// the service and the merchant whose pages are read.
func seedAdminPages(b *testing.B, st app.Store) (*echo.Echo, *app.Service, string) {
	b.Helper()
	ctx := context.Background()
	keyring, err := app.NewKeyring(testSecretKey)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Logger: log, ShopifyAPIKey: shopifyAppKey, ShopifyAPISecret: shopifyAppSecret,
		Providers: map[string]app.ProviderKit{app.ProviderSandbox: {New: func(map[string]string) (app.Provider, error) { return sandboxProvider{}, nil }}},
		Decoders:  map[app.Platform]app.WebhookDecoder{app.PlatformShopify: shopify.Decode},
		CheckURL:  strictURLs,
	})
	pages, err := LoadPages()
	if err != nil {
		b.Fatal(err)
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	var ledger loyalty.Ledger
	switch st := st.(type) {
	case *embedded.Store:
		ledger = st.Ledger()
	case *redisstore.Store:
		ledger = st.Ledger()
	default:
		b.Fatalf("no ledger on %T", st)
	}
	engine := loyalty.NewEngine(loyalty.Options{Ledger: ledger, Data: st, Queue: st, Merchants: svc, Sender: svc, Logger: log, Discounts: &pageDiscounts{}})
	New(Options{
		Service: svc, Loyalty: engine, Store: st, Metrics: metrics, Logger: log, AdminToken: operatorToken, AppURL: "https://bridge.example.in",
		ShopifyInstall: app.NewShopifyInstaller(svc, app.ShopifyInstallOptions{}),
		Pages:          pages, ShopifyAPIKey: shopifyAppKey,
	}).Register(e)

	now := time.Now().UTC()
	var main string
	for n := range benchOthers + 1 {
		m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{
			Platform: app.PlatformShopify, Domain: fmt.Sprintf("bench-shop-%d.myshopify.com", n), Name: fmt.Sprintf("Bench Shop %d", n), Country: "IN",
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: app.ProviderSandbox}); err != nil {
			b.Fatal(err)
		}
		for _, ev := range benchEvents {
			if _, err := svc.PutRule(ctx, m.ID, ev.v, app.RuleInput{Template: strings.ReplaceAll(ev.v, ".", "_"), Language: "en",
				Variables: []string{"customer.first_name", "order.number", "order.total"}}); err != nil {
				b.Fatal(err)
			}
		}
		deliveries := benchOtherDeliveries
		if n == 0 {
			main, deliveries = m.ID, benchDeliveries
		}
		seedDeliveries(b, st, m.ID, deliveries, now)
		seedCounters(b, st, m.ID, now)
		seedLoyalty(b, engine, m.ID)
	}
	return e, svc, main
}

// seedLoyalty saves a program with every section filled (tiers, expiry,
// redemption, referrals, review requests, actions, milestones), and gives
// one customer benchLoyaltyEntries ledger entries and a phone guest a
// few.
func seedLoyalty(b *testing.B, engine *loyalty.Engine, merchant string) {
	b.Helper()
	ctx := context.Background()
	p := loyalty.DefaultProgram()
	p.Enabled, p.Expiry, p.ApproveAfter = true, "365d", "7d"
	p.Tiers = []loyalty.Tier{
		{Name: "Silver", Threshold: 500, Basis: loyalty.BasisPoints, Period: loyalty.PeriodLifetime, Multiplier: 1.2},
		{Name: "Gold", Threshold: 5000, Basis: loyalty.BasisSpend, Period: loyalty.PeriodRollingYear, Multiplier: 1.5},
	}
	p.Redeem.Enabled, p.Referral.Enabled, p.ReviewRequest.Enabled = true, true, true
	p.Actions = []loyalty.Action{
		{Name: "signup", On: loyalty.OnSignup, Points: 100, Per: loyalty.PerLifetime},
		{Name: "review", On: loyalty.OnReview, Points: 50, Limit: 1, Per: loyalty.PerMonth},
		{Name: "quiz", On: loyalty.OnCustom, Event: "quiz.completed", Points: 20, Limit: 3, Per: loyalty.PerYear},
	}
	p.Milestones = []loyalty.Milestone{{Name: "Tenth order", Orders: 10}, {Name: "Big spender", Spend: 25000}}
	if _, err := engine.PutProgram(ctx, merchant, p); err != nil {
		b.Fatal(err)
	}
	for n := range benchLoyaltyEntries {
		if _, err := engine.Adjust(ctx, merchant, benchLoyaltyCustomer, loyalty.Adjustment{Points: int64(10 + n%7), Reason: "bench", Key: fmt.Sprintf("bench-%d", n)}); err != nil {
			b.Fatal(err)
		}
	}
	for n := range 5 {
		if _, err := engine.Adjust(ctx, merchant, "+919876543210", loyalty.Adjustment{Points: 25, Reason: "guest", Key: fmt.Sprintf("guest-%d", n)}); err != nil {
			b.Fatal(err)
		}
	}
}

// weighted is one choice and its share in a hundred.
type weighted[T any] struct {
	v T
	w int
}

// pick chooses by weight with k running over 0..99.
func pick[T any](items []weighted[T], k int) T {
	for _, it := range items {
		if k < it.w {
			return it.v
		}
		k -= it.w
	}
	return items[len(items)-1].v
}

// seedDeliveries writes n deliveries of merchant spread over the last
// year, newest today, from many writers at once (the embedded store
// commits concurrent writes together).
func seedDeliveries(b *testing.B, st app.Store, merchant string, n int, now time.Time) {
	b.Helper()
	span := benchDays * 24 * time.Hour
	work := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := range work {
				created := now.Add(-span * time.Duration(i) / time.Duration(n))
				event := pick(benchEvents, (i*37)%100)
				status := pick(benchStatuses, (i*53)%100)
				d := app.Delivery{
					ID: app.NewID(created), Merchant: merchant, EventID: fmt.Sprintf("ev-%s-%d", merchant, i), Event: event,
					Subject: fmt.Sprintf("order:%d", 5800000000000+i), CustomerID: fmt.Sprintf("%d", 7700000000+i%3000),
					Phone: fmt.Sprintf("+9198%08d", i%3000), Provider: app.ProviderSandbox, Template: strings.ReplaceAll(event, ".", "_"),
					Values:    []string{"Riya", fmt.Sprintf("#%d", 1000+i), "₹1,499.00"},
					EventData: fmt.Appendf(nil, `{"id":"ev-%d","type":%q,"customer":{"first_name":"Riya","last_name":"Sharma","phone":"+9198%08d","email":"riya%d@example.in"},"properties":{"order":{"number":"#%d","total":"1499.00","currency":"INR","items":[{"title":"Kurta","quantity":2},{"title":"Dupatta","quantity":1}]}}}`, i, event, i%3000, i, 1000+i),
					Status:    status, Attempts: 1, ProviderMessageID: fmt.Sprintf("sandbox.%s.%d", merchant, i),
					History:   []app.StatusChange{{Status: app.DeliveryQueued, At: created}, {Status: app.DeliverySent, At: created.Add(time.Second)}, {Status: status, At: created.Add(time.Minute)}},
					CreatedAt: created, UpdatedAt: created.Add(time.Minute),
				}
				if status == app.DeliveryFailed || status == app.DeliveryDead {
					d.Error = "interakt: 400 template not found: order_placed (en)"
				}
				if err := st.CreateDelivery(context.Background(), d); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// seedCounters writes a year of the merchant's daily counters: for every
// event type seeded, each outcome the pipeline counts.
func seedCounters(b *testing.B, st app.Store, merchant string, now time.Time) {
	b.Helper()
	outcomes := []string{"received", "sent", "delivered", "read", "failed", "dead", "skipped.duplicate", "skipped.no_phone", "skipped.opted_out", "skipped.no_rule"}
	for d := range benchDays {
		day := app.DayOf(now.AddDate(0, 0, -d))
		var counters []app.Counter
		for _, ev := range benchEvents {
			for _, o := range outcomes {
				counters = append(counters, app.Counter{Merchant: merchant, Day: day, Subject: ev.v, Outcome: o})
			}
		}
		counters = append(counters, app.Counter{Merchant: merchant, Day: day, Subject: "inputs", Outcome: "accepted"},
			app.Counter{Merchant: merchant, Day: day, Subject: app.EventCODConfirmationAsked, Outcome: "confirmed"})
		if err := st.Incr(context.Background(), int64(1+d%7), counters...); err != nil {
			b.Fatal(err)
		}
	}
}
