package app_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// scriptedProvider answers sends from a script of errors (nil: accepted)
// and records what it was asked to send.
type scriptedProvider struct {
	mu     sync.Mutex
	script []error
	sent   []app.Message
	calls  int
	onSend func(app.Message)
	verify error
}

func (p *scriptedProvider) Name() string                     { return "scripted" }
func (p *scriptedProvider) Verify(ctx context.Context) error { return p.verify }
func (p *scriptedProvider) Send(ctx context.Context, m app.Message) (app.SendResult, error) {
	p.mu.Lock()
	p.calls++
	var err error
	if len(p.script) > 0 {
		err, p.script = p.script[0], p.script[1:]
	}
	if err == nil {
		p.sent = append(p.sent, m)
	}
	hook := p.onSend
	p.mu.Unlock()
	if hook != nil {
		hook(m)
	}
	if err != nil {
		return app.SendResult{}, err
	}
	return app.SendResult{ProviderMessageID: "wamid." + m.DeliveryID}, nil
}

func (p *scriptedProvider) state() (calls int, sent []app.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, append([]app.Message(nil), p.sent...)
}

type deliveryEnv struct {
	svc      *app.Service
	store    app.Store
	provider *scriptedProvider
	merchant app.Merchant
	now      *clock
	jobs     *jobOutcomes
}

// jobOutcomes counts how the env's jobs ended, by outcome.
type jobOutcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *jobOutcomes) JobFinished(kind, outcome string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[outcome]++
}

func (o *jobOutcomes) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Offset is how far the clock is from real time.
func (c *clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset = time.Until(t)
}

func newDeliveryEnv(t *testing.T, rate app.Rate) *deliveryEnv {
	t.Helper()
	return newDeliveryEnvWith(t, app.ProviderKit{Rate: rate})
}

// newDeliveryEnvWith is newDeliveryEnv with the scripted provider's kit as
// given (its rate, whether it drops repeats).
func newDeliveryEnvWith(t *testing.T, kit app.ProviderKit) *deliveryEnv {
	t.Helper()
	return newDeliveryEnvOn(t, kit, func(clk *clock) app.Store {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "d.db"), embedded.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// newDeliveryEnvOn is newDeliveryEnvWith on the store open gives, whose
// clock is the env's.
func newDeliveryEnvOn(t *testing.T, kit app.ProviderKit, open func(clk *clock) app.Store) *deliveryEnv {
	t.Helper()
	clk := &clock{}
	st := open(clk)
	keyring, _ := app.NewKeyring(keyA)
	p := &scriptedProvider{}
	kit.New = func(map[string]string) (app.Provider, error) { return p, nil }
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Now: clk.Now,
		Providers: map[string]app.ProviderKit{"scripted": kit},
		Retry:     app.Backoff{Waits: []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}},
		CheckURL:  strictURLs, // as production checks a store's address
	})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "asha-naturals.myshopify.com", Name: "Asha Naturals", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t0k3n"}}); err != nil {
		t.Fatal(err)
	}
	for event, in := range map[string]app.RuleInput{
		app.EventOrderPlaced:    {Template: "order_placed", Variables: []string{"user_name", "order.number", "order.total"}},
		app.EventPointsEarned:   {Template: "points_earned", Variables: []string{"customer.first_name", "amount"}},
		app.EventPointsExpiring: {Template: "points_expiring", Variables: []string{"customer.first_name", "amount"}},
		app.EventOrderShipped:   {Template: "order_shipped", Variables: []string{"order.tracking_url"}},
		app.EventCartAbandoned:  {Template: "cart_reminder", Variables: []string{"cart.recovery_url"}, Delay: "1h"},
	} {
		if _, err := svc.PutRule(ctx, m.ID, event, in); err != nil {
			t.Fatalf("PutRule(%s) = %v", event, err)
		}
	}
	jobs := &jobOutcomes{n: map[string]int{}}
	w := app.NewWorkers(st, app.WorkerOptions{Concurrency: 4, Lease: 2 * time.Second, PollInterval: 10 * time.Millisecond, Backoff: app.Backoff{Waits: []time.Duration{20 * time.Millisecond}}, Observer: jobs, Now: clk.Now})
	w.HandleAll(svc.JobHandlers())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &deliveryEnv{svc: svc, store: st, provider: p, merchant: m, now: clk, jobs: jobs}
}

// jump sets the clock to at once no job is running or due: a job held
// across the jump would see its lease run out and run twice, which is the
// clock's doing, not the code's.
func (env *deliveryEnv) jump(t *testing.T, at time.Time) {
	t.Helper()
	waitFor(t, "the queue to settle before the clock moves", func() bool {
		d, err := env.store.Depth(context.Background())
		return err == nil && d.Running == 0 && d.Ready == 0
	})
	env.now.Set(at)
}

func orderEvent(number string, phone string) app.Event {
	return app.Event{
		Type:     app.EventOrderPlaced,
		Subject:  "order:" + number,
		Customer: app.Customer{ID: "7712398123", FirstName: "Riya", LastName: "Sharma", Phone: phone},
		Properties: map[string]any{
			"order": map[string]any{"number": "#" + number, "total": "₹1,499.00"},
		},
	}
}

func (env *deliveryEnv) deliveries(t *testing.T) []app.Delivery {
	t.Helper()
	list, _, err := env.store.ListDeliveries(context.Background(), env.merchant.ID, app.DeliveryFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (env *deliveryEnv) waitDelivery(t *testing.T, want app.DeliveryStatus) app.Delivery {
	t.Helper()
	var last []app.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		last = env.deliveries(t)
		if len(last) == 1 && last[0].Status == want {
			return last[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("deliveries = %+v; want one %s", last, want)
	return app.Delivery{}
}

func TestRetryThenSuccessSendsOnce(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	env.provider.script = []error{
		&app.ProviderError{Provider: "scripted", Status: 503, Retryable: true},
		&app.ProviderError{Provider: "scripted", Message: "timeout", Retryable: true, Err: context.DeadlineExceeded},
	}
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{orderEvent("1042", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliverySent)
	calls, sent := env.provider.state()
	if calls != 3 || len(sent) != 1 || d.Attempts != 3 {
		t.Fatalf("calls = %d, sent = %d, attempts = %d; want 3 calls, 1 message, 3 attempts", calls, len(sent), d.Attempts)
	}
	if got := fmt.Sprint(sent[0].Values); got != "[Riya #1042 ₹1,499.00]" || sent[0].Template != "order_placed" || sent[0].To.Phone != "+919876543210" {
		t.Errorf("message = %+v; want order_placed to +919876543210 with [Riya #1042 ₹1,499.00]", sent[0])
	}
	var statuses []app.DeliveryStatus
	for _, h := range d.History {
		statuses = append(statuses, h.Status)
	}
	if fmt.Sprint(statuses) != "[queued retrying retrying sent]" {
		t.Errorf("history = %v; want queued, retrying twice, sent", statuses)
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	env.provider.script = []error{&app.ProviderError{Provider: "scripted", Status: 400, Code: "132001", Message: "template does not exist"}}
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{orderEvent("1043", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliveryFailed)
	time.Sleep(100 * time.Millisecond)
	if calls, _ := env.provider.state(); calls != 1 {
		t.Errorf("provider calls = %d; want 1 (no retry of a permanent error)", calls)
	}
	if d.Attempts != 1 || !contains(d.Error, "132001") {
		t.Errorf("delivery = %+v; want 1 attempt and the provider's code", d)
	}
}

func TestDeadThenReplay(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	down := &app.ProviderError{Provider: "scripted", Status: 502, Retryable: true}
	env.provider.script = []error{down, down, down}
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{orderEvent("1044", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliveryDead)
	if d.Attempts != 3 {
		t.Fatalf("attempts = %d; want 3 (the schedule's 2 waits + 1)", d.Attempts)
	}
	// The merchant fixes the provider and replays the dead delivery.
	replayed, err := env.svc.RetryDelivery(context.Background(), env.merchant.ID, d.ID)
	if err != nil || replayed.Status != app.DeliveryQueued {
		t.Fatalf("RetryDelivery() = %+v, %v; want queued", replayed, err)
	}
	d = env.waitDelivery(t, app.DeliverySent)
	if _, sent := env.provider.state(); len(sent) != 1 {
		t.Errorf("messages sent = %d; want 1", len(sent))
	}
	if _, err := env.svc.RetryDelivery(context.Background(), env.merchant.ID, d.ID); err == nil {
		t.Error("RetryDelivery(sent) succeeded; want a refusal: a sent message is not sent twice")
	}
}

func TestEventSentOnceHoweverOftenItComes(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{orderEvent("1045", "+919876543210")}); err != nil {
				var later *app.RetryAtError
				if !errors.As(err, &later) {
					t.Errorf("ProcessEvents() = %v", err)
				}
			}
		})
	}
	wg.Wait()
	env.waitDelivery(t, app.DeliverySent)
	time.Sleep(100 * time.Millisecond)
	if _, sent := env.provider.state(); len(sent) != 1 {
		t.Errorf("messages sent for 10 copies of one event = %d; want 1", len(sent))
	}
}

func TestNoPhoneLeavesTheEventOpen(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	noPhone := orderEvent("1046", "")
	noPhone.Customer.PhoneProblem = "shipping_address.phone: not a valid number"
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{noPhone}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliverySkipped)
	if !contains(d.Error, "no usable phone") || !contains(d.Error, "shipping_address.phone") {
		t.Errorf("skipped delivery error = %q; want the phone problem", d.Error)
	}
	// A later copy that carries a phone still reaches the customer, once.
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{orderEvent("1046", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message", func() bool { _, sent := env.provider.state(); return len(sent) == 1 })
}

func TestMissingValueSkipsWithReason(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	e := orderEvent("1047", "+919876543210")
	e.Type = app.EventOrderShipped // its rule wants order.tracking_url, which is absent
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{e}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliverySkipped)
	if !contains(d.Error, "order.tracking_url") {
		t.Errorf("skip reason = %q; want the missing variable named", d.Error)
	}
}

func TestOptOutHonouredForMarketingOnly(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	env.jump(t, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) // 17:30 in Kolkata: not quiet hours
	if err := env.store.MapSet(ctx, env.merchant.ID, "opt_outs", map[string]string{"+919876543210": "2026-11-20T10:00:00Z"}); err != nil {
		t.Fatal(err)
	}
	points := app.Event{Type: app.EventPointsExpiring, Subject: "loyalty:tx-1", Customer: app.Customer{FirstName: "Riya", Phone: "+919876543210", Consent: app.ConsentGranted}, Properties: map[string]any{"points": map[string]any{"amount": 100}}}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{points, orderEvent("1048", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the order message", func() bool { _, sent := env.provider.state(); return len(sent) == 1 })
	_, sent := env.provider.state()
	if sent[0].Template != "order_placed" {
		t.Errorf("sent %s; want only the transactional order_placed", sent[0].Template)
	}
	for _, d := range env.deliveries(t) {
		if d.Event == app.EventPointsExpiring && (d.Status != app.DeliverySkipped || !contains(d.Error, "opted out")) {
			t.Errorf("points delivery = %s %q; want skipped as opted out", d.Status, d.Error)
		}
	}
}

func TestMarketingWaitsForQuietHoursToEnd(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	// 23:00 in Kolkata: marketing waits until 09:00; orders go at once.
	env.jump(t, time.Date(2026, 11, 22, 17, 30, 0, 0, time.UTC))
	points := app.Event{Type: app.EventPointsExpiring, Subject: "loyalty:tx-2", Customer: app.Customer{FirstName: "Riya", Phone: "+919876543210", Consent: app.ConsentGranted}, Properties: map[string]any{"points": map[string]any{"amount": 50}}}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{points, orderEvent("1049", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the order message", func() bool { _, sent := env.provider.state(); return len(sent) == 1 })
	time.Sleep(100 * time.Millisecond)
	if _, sent := env.provider.state(); len(sent) != 1 {
		t.Fatalf("sent during quiet hours = %d; want only the order", len(sent))
	}
	env.jump(t, time.Date(2026, 11, 23, 3, 31, 0, 0, time.UTC)) // 09:01 in Kolkata
	waitFor(t, "the points message after quiet hours", func() bool { _, sent := env.provider.state(); return len(sent) == 2 })
}

// The provider's limit holds as the provider counts it: never more than 5
// sends in any second, even right after an idle spell (a burst on top of
// the rate would let 9 into the first second), and the sends are paced,
// one every 220 ms (a fifth of the second and of the slack a call may
// take to arrive). Each message that must wait is given its own turn, so it
// comes back about once (twice when a waiter before it came back late and
// took its slot), not once per time a slot freed and another waiter took
// it.
func TestRateLimitHoldsUnderBurst(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	env := newDeliveryEnvOn(t, app.ProviderKit{Rate: app.Rate{Limit: 5, Per: time.Second}}, func(clk *clock) app.Store {
		return redisstore.New(rdb, redisstore.Options{Prefix: "limit:", Now: clk.Now, ServerClockOffset: clk.Offset})
	})
	var mu sync.Mutex
	var times []time.Time
	env.provider.onSend = func(app.Message) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
	}
	const messages = 16
	var events []app.Event
	for i := range messages {
		events = append(events, orderEvent(fmt.Sprint(2000+i), "+919876543210"))
	}
	start := time.Now()
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, events); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all 16 messages", func() bool { _, sent := env.provider.state(); return len(sent) == messages })
	mu.Lock()
	defer mu.Unlock()
	for i := 5; i < len(times); i++ {
		if gap := times[i].Sub(times[i-5]); gap < time.Second {
			t.Errorf("sends %d to %d came within %s; the limit allows 5 a second", i-4, i+1, gap)
		}
	}
	// One every 220 ms: the limit is used, not just kept.
	if took := times[len(times)-1].Sub(start); took < 3*time.Second || took > 4*time.Second {
		t.Errorf("16 sends at 5/s took %s; want about 3.3 s", took)
	}
	if n := env.jobs.count("rescheduled"); n > 2*(messages-1) {
		t.Errorf("send jobs rescheduled %d times for %d messages waiting for a slot; want each about once", n, messages-1)
	}
}

func TestTestEventSendsNow(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	env.jump(t, time.Date(2026, 11, 22, 17, 30, 0, 0, time.UTC)) // quiet hours do not hold a test
	d, err := env.svc.SendTestEvent(ctx, env.merchant.ID, app.TestEventInput{
		Event: app.EventPointsEarned, Phone: "98765 43210", Properties: map[string]any{"amount": 100, "customer": map[string]any{"first_name": "Riya"}},
	})
	if err != nil || d.Status != app.DeliverySent || !d.Test {
		t.Fatalf("SendTestEvent() = %+v, %v; want a sent test delivery", d, err)
	}
	_, sent := env.provider.state()
	if len(sent) != 1 || fmt.Sprint(sent[0].Values) != "[Riya 100]" {
		t.Errorf("test message = %+v; want [Riya 100] (amount is Nector's alias of points.amount)", sent)
	}
	if _, err := env.svc.SendTestEvent(ctx, env.merchant.ID, app.TestEventInput{Event: "loyalty.milestone_reached", Phone: "+919876543210"}); err == nil {
		t.Error("SendTestEvent(event with no rule) succeeded; want a validation error")
	}
	if _, err := env.svc.SendTestEvent(ctx, env.merchant.ID, app.TestEventInput{Event: app.EventPointsEarned, Phone: "12"}); err == nil {
		t.Error("SendTestEvent(bad phone) succeeded; want a validation error")
	}
}

func TestDelayedRuleWaits(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	env.jump(t, time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) // 11:30 in Kolkata
	cart := app.Event{Type: app.EventCartAbandoned, Subject: "cart:tok-1", Customer: app.Customer{Phone: "+919876543210", Consent: app.ConsentGranted}, Properties: map[string]any{"cart": map[string]any{"recovery_url": "https://asha-naturals.myshopify.com/checkouts/tok-1/recover"}}}
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, []app.Event{cart}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if calls, _ := env.provider.state(); calls != 0 {
		t.Fatalf("sent before the rule's 1h delay: %d calls", calls)
	}
	env.jump(t, time.Date(2026, 11, 22, 7, 0, 1, 0, time.UTC))
	waitFor(t, "the delayed reminder", func() bool { _, sent := env.provider.state(); return len(sent) == 1 })
}

func TestProviderStatusesMoveForwardOnly(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{orderEvent("1050", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliverySent)
	msgID := "wamid." + d.ID
	apply := func(reports ...app.StatusReport) {
		t.Helper()
		if err := env.svc.ApplyProviderReport(ctx, env.merchant.ID, app.ProviderReport{Statuses: reports}); err != nil {
			t.Fatal(err)
		}
	}
	apply(app.StatusReport{ProviderMessageID: msgID, Status: app.DeliveryRead}, app.StatusReport{ProviderMessageID: msgID, Status: app.DeliveryDelivered})
	apply(app.StatusReport{ProviderMessageID: msgID, Status: app.DeliverySent}, app.StatusReport{ProviderMessageID: msgID, Status: app.DeliveryFailed, Error: "131026"})
	got, _ := env.store.GetDelivery(ctx, env.merchant.ID, d.ID)
	if got.Status != app.DeliveryRead {
		t.Errorf("status after read, delivered, sent, failed (out of order) = %s; want read", got.Status)
	}
	apply(app.StatusReport{DeliveryID: "unknown", ProviderMessageID: "wamid.not-ours", Status: app.DeliveryRead})
}

// TestStatusBeforeSendIsRecorded: the provider's "read" webhook outruns our
// recording of the send; the delivery still ends read, not sent.
func TestStatusBeforeSendIsRecorded(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	env.provider.onSend = func(m app.Message) {
		report := app.ProviderReport{Statuses: []app.StatusReport{
			{ProviderMessageID: "wamid." + m.DeliveryID, Status: app.DeliveryDelivered},
			{ProviderMessageID: "wamid." + m.DeliveryID, Status: app.DeliveryRead},
		}}
		if err := env.svc.ApplyProviderReport(ctx, env.merchant.ID, report); err != nil {
			t.Errorf("ApplyProviderReport() = %v", err)
		}
	}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{orderEvent("1051", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	d := env.waitDelivery(t, app.DeliveryRead)
	if d.ProviderMessageID == "" || d.Attempts != 1 {
		t.Errorf("delivery = %+v; want the message id and one attempt recorded", d)
	}
}

// TestOrderEndsItsCartReminder: the customer buys before the delayed
// reminder is due, so the reminder is withdrawn, counted, and never sent.
func TestOrderEndsItsCartReminder(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	env.jump(t, time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) // 11:30 in Kolkata
	cart := app.Event{Type: app.EventCartAbandoned, Subject: "cart:tok-7", Customer: app.Customer{Phone: "+919876543210", Consent: app.ConsentGranted}, Properties: map[string]any{"cart": map[string]any{"recovery_url": "https://asha-naturals.myshopify.com/checkouts/tok-7/recover"}}}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cart}); err != nil {
		t.Fatal(err)
	}
	order := orderEvent("1060", "+919876543210")
	order.Properties["order"].(map[string]any)["checkout_token"] = "tok-7"
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{order}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the order message", func() bool { _, sent := env.provider.state(); return len(sent) == 1 })
	env.jump(t, time.Date(2026, 11, 22, 7, 0, 1, 0, time.UTC)) // the reminder's hour has come
	time.Sleep(200 * time.Millisecond)
	if _, sent := env.provider.state(); len(sent) != 1 || sent[0].Template != "order_placed" {
		t.Fatalf("sent %d messages; want only the order's, no cart reminder", len(sent))
	}
	for _, d := range env.deliveries(t) {
		if d.Event == app.EventCartAbandoned && (d.Status != app.DeliverySkipped || !contains(d.Error, "bought")) {
			t.Errorf("cart reminder = %s %q; want skipped as bought", d.Status, d.Error)
		}
	}
	if err := env.svc.FlushCounters(ctx); err != nil {
		t.Fatal(err)
	}
	day := app.DayOf(env.now.Now())
	counts, _ := env.store.DailyCounts(ctx, env.merchant.ID, day, day)
	if counts[day][app.EventCartAbandoned]["skipped.recovered"] != 1 {
		t.Errorf("cart counts = %v; want one skipped as recovered", counts[day][app.EventCartAbandoned])
	}
}

// A merchant with no provider gets nothing sent, and is told: events are
// recorded as skipped (no_provider), COD orders are not held, and the
// once-only keys stay free, so the same event is sent once a provider is
// connected.
func TestNoProviderSendsNothingAndSpendsNothing(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	m, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "no-provider.myshopify.com", Country: "IN"})
	if err != nil {
		t.Fatal(err)
	}
	writes := &codWrites{}
	env.svc.SetCODWriter(app.PlatformShopify, writes)
	for event, tpl := range map[string]string{app.EventOrderPlaced: "order_placed", app.EventCODConfirmationAsked: "cod_confirm"} {
		if _, err := env.svc.PutRule(ctx, m.ID, event, app.RuleInput{Template: tpl, Variables: []string{"order.number"}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.Warnings()) == 0 {
		t.Errorf("Warnings() of a merchant with no provider = none; want the merchant told nothing is sent")
	}
	events := []app.Event{orderEvent("#7001", "+919845012345"), codOrder("7001")}
	if err := env.svc.ProcessEvents(ctx, m, events); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if calls, _ := env.provider.state(); calls != 0 {
		t.Fatalf("provider calls with no provider connected = %d; want 0", calls)
	}
	if d, err := env.store.Depth(ctx); err != nil || d.Ready+d.Scheduled+d.Running != 0 {
		t.Fatalf("queue with no provider = %+v, %v; want no send, no COD hold, reminder or timeout", d, err)
	}
	list, _, err := env.svc.Deliveries(ctx, m.ID, app.DeliveryFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("deliveries = %d, %v; want both events recorded", len(list), err)
	}
	for _, d := range list {
		if d.Status != app.DeliverySkipped || !strings.Contains(d.Error, "no messaging provider") {
			t.Errorf("delivery of %s = %s %q; want skipped for want of a provider", d.Event, d.Status, d.Error)
		}
	}
	stats, err := env.svc.Stats(ctx, m.ID, "", "")
	if err != nil || stats.Counts[app.EventOrderPlaced]["skipped.no_provider"] != 1 {
		t.Errorf("stats = %v, %v; want order.placed skipped.no_provider 1", stats.Counts, err)
	}

	// Connected now: the same order's event, when it comes again, is sent.
	if m, err = env.svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t"}}); err != nil {
		t.Fatal(err)
	}
	if err := env.svc.ProcessEvents(ctx, m, events[:1]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the order message once a provider is connected", func() bool {
		_, sent := env.provider.state()
		return len(sent) == 1 && sent[0].Template == "order_placed"
	})
}

// Marketing needs the customer's consent: a checkout that did not ask
// sends no cart reminder (skipped no_consent), one given before counts, a
// later refusal stops them again, and a merchant that collects consent on
// its own documented basis sends without.
func TestMarketingNeedsConsent(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	ctx := context.Background()
	env.jump(t, time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) // 11:30 in Kolkata
	cart := func(token string, consent string) app.Event {
		return app.Event{Type: app.EventCartAbandoned, Subject: "cart:" + token,
			Customer:   app.Customer{Phone: "+919876543210", Consent: consent, ConsentSource: "test checkout"},
			Properties: map[string]any{"cart": map[string]any{"recovery_url": "https://asha-naturals.myshopify.com/checkouts/" + token + "/recover"}}}
	}
	statusOf := func(subject string) app.Delivery {
		t.Helper()
		for _, d := range env.deliveries(t) {
			if d.Subject == subject {
				return d
			}
		}
		t.Fatalf("no delivery for %s", subject)
		return app.Delivery{}
	}
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cart("c1", "")}); err != nil {
		t.Fatal(err)
	}
	if d := statusOf("cart:c1"); d.Status != app.DeliverySkipped || !contains(d.Error, "opted in") {
		t.Fatalf("cart reminder without consent = %s %q; want skipped no_consent", d.Status, d.Error)
	}
	// A later checkout where the customer ticked the box: recorded, and it
	// holds for their next cart too (which, newer, replaces the sequence
	// of the one before: one sequence per customer).
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cart("c2", app.ConsentGranted)}); err != nil {
		t.Fatal(err)
	}
	env.jump(t, time.Date(2026, 11, 22, 6, 0, 10, 0, time.UTC))
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cart("c3", "")}); err != nil {
		t.Fatal(err)
	}
	env.jump(t, time.Date(2026, 11, 22, 7, 0, 11, 0, time.UTC))
	waitFor(t, "the reminder of the newer cart once consent was given", func() bool {
		_, sent := env.provider.state()
		return len(sent) == 1 && sent[0].Values[0] == "https://asha-naturals.myshopify.com/checkouts/c3/recover"
	})
	if d := statusOf("cart:c2"); d.Status != app.DeliverySkipped || !contains(d.Error, "replaced") {
		t.Errorf("the older cart = %s %q; want skipped as replaced", d.Status, d.Error)
	}
	// The store says they withdrew it: no more marketing.
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{cart("c4", app.ConsentDenied), cart("c5", "")}); err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"cart:c4", "cart:c5"} {
		if d := statusOf(subject); d.Status != app.DeliverySkipped {
			t.Errorf("%s after consent was withdrawn = %s; want skipped", subject, d.Status)
		}
	}
	// A merchant collecting consent its own way says so, and on what basis.
	assumed := "assumed"
	if _, err := env.svc.UpdateSettings(ctx, env.merchant.ID, app.SettingsInput{MarketingConsent: &assumed}); err == nil {
		t.Fatal("UpdateSettings(assumed, no basis) = nil; want the basis asked for")
	}
	basis := "Customers tick 'WhatsApp me updates' on our own checkout"
	m, err := env.svc.UpdateSettings(ctx, env.merchant.ID, app.SettingsInput{MarketingConsent: &assumed, MarketingBasis: &basis})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.svc.ProcessEvents(ctx, m, []app.Event{cart("c6", "")}); err != nil {
		t.Fatal(err)
	}
	env.jump(t, time.Date(2026, 11, 22, 8, 0, 12, 0, time.UTC))
	waitFor(t, "the reminder on the merchant's own basis", func() bool { _, sent := env.provider.state(); return len(sent) == 2 })
	stats, err := env.svc.Stats(ctx, env.merchant.ID, "", "")
	if err != nil || stats.Counts[app.EventCartAbandoned]["skipped.no_consent"] != 3 {
		t.Errorf("cart counts = %v, %v; want three skipped no_consent", stats.Counts[app.EventCartAbandoned], err)
	}
}

// A call that may have reached the provider without an answer is counted
// ambiguous and retried once at most: the customer gets the message at
// most twice. Where the provider drops repeats, retries go on.
func TestAmbiguousSendsAreBounded(t *testing.T) {
	ambiguous := &app.ProviderError{Provider: "scripted", Retryable: true, Ambiguous: true, Message: "request failed: timed out"}
	for _, tc := range []struct {
		name      string
		dedupes   bool
		want      app.DeliveryStatus
		calls     int
		ambiguous int64
	}{
		{"provider without dedupe", false, app.DeliveryFailed, 2, 2},
		{"provider that drops repeats", true, app.DeliverySent, 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newDeliveryEnvWith(t, app.ProviderKit{Dedupes: tc.dedupes})
			env.provider.script = []error{ambiguous, ambiguous}
			ctx := context.Background()
			if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{orderEvent("1090", "+919876543210")}); err != nil {
				t.Fatal(err)
			}
			d := env.waitDelivery(t, tc.want)
			if calls, _ := env.provider.state(); calls != tc.calls {
				t.Errorf("provider calls = %d; want %d", calls, tc.calls)
			}
			if d.Ambiguous != 2 || (tc.want == app.DeliveryFailed && !contains(d.Error, "not sent again")) {
				t.Errorf("delivery = %s, %d ambiguous, %q; want two ambiguous calls recorded", d.Status, d.Ambiguous, d.Error)
			}
			stats, err := env.svc.Stats(ctx, env.merchant.ID, "", "")
			if err != nil || stats.Counts[app.EventOrderPlaced]["ambiguous"] != tc.ambiguous {
				t.Errorf("stats = %v, %v; want ambiguous %d", stats.Counts[app.EventOrderPlaced], err, tc.ambiguous)
			}
		})
	}
}

// A worker that dies in the middle of a provider call leaves its attempt
// started and unanswered: the next worker, once the call's time is up,
// counts it ambiguous and makes one more call, not a silent second one.
func TestWorkerDyingMidCallIsAmbiguous(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	first := true
	var mu sync.Mutex
	env.provider.onSend = func(app.Message) {
		mu.Lock()
		block := first
		first = false
		mu.Unlock()
		if block {
			<-stuck // the worker never comes back from this call
		}
	}
	ctx := context.Background()
	start := time.Now()
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{orderEvent("1091", "+919876543210")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first call to start", func() bool { calls, _ := env.provider.state(); return calls == 1 })
	env.now.Set(start.Add(3 * time.Second)) // the lease runs out: another worker takes the job
	time.Sleep(300 * time.Millisecond)
	if calls, _ := env.provider.state(); calls != 1 {
		t.Fatalf("provider calls while the first may still be under way = %d; want 1", calls)
	}
	env.now.Set(start.Add(5 * time.Minute)) // past any call's time
	d := env.waitDelivery(t, app.DeliverySent)
	if calls, _ := env.provider.state(); calls != 2 || d.Ambiguous != 1 || d.Attempts != 2 {
		t.Errorf("after the abandoned call: %d provider calls, delivery %d ambiguous, %d attempts; want 2, 1, 2", calls, d.Ambiguous, d.Attempts)
	}
}

// earlyReads counts the sends' looks for a status that outran them.
// stateReads counts, by merchant, the store's State reads of keys under
// prefix.
type stateReads struct {
	app.Store
	prefix string
	mu     sync.Mutex
	n      map[string]int
}

func (r *stateReads) State(ctx context.Context, merchant, key string) (string, int64, error) {
	if strings.HasPrefix(key, r.prefix) {
		r.mu.Lock()
		r.n[merchant]++
		r.mu.Unlock()
	}
	return r.Store.State(ctx, merchant, key)
}

// of answers the reads counted for merchant.
func (r *stateReads) of(merchant string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[merchant]
}

// newDeliveryEnvCountingReads is a delivery environment on the embedded
// store whose State reads under prefix are counted.
func newDeliveryEnvCountingReads(t *testing.T, kit app.ProviderKit, prefix string) (*deliveryEnv, *stateReads) {
	t.Helper()
	reads := &stateReads{prefix: prefix, n: map[string]int{}}
	env := newDeliveryEnvOn(t, kit, func(clk *clock) app.Store {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "d.db"), embedded.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		reads.Store = st
		return reads
	})
	return env, reads
}

// A provider whose statuses name the delivery (Interakt, Meta): a status
// that outruns the record of its send waits in a job of its own and is
// applied once the send is recorded; no send looks for early statuses.
func TestStatusBeforeSendOfEchoingProvider(t *testing.T) {
	env, reads := newDeliveryEnvCountingReads(t, app.ProviderKit{EchoesDeliveryID: true}, "early-status:")
	ctx := context.Background()
	env.provider.onSend = func(m app.Message) {
		report := app.ProviderReport{Statuses: []app.StatusReport{
			{DeliveryID: m.DeliveryID, ProviderMessageID: "wamid." + m.DeliveryID, Status: app.DeliveryDelivered},
			{DeliveryID: m.DeliveryID, ProviderMessageID: "wamid." + m.DeliveryID, Status: app.DeliveryRead},
			{DeliveryID: "m_someone-else-1", ProviderMessageID: "wamid.x", Status: app.DeliveryRead}, // not this merchant's
		}}
		if err := env.svc.ApplyProviderReport(ctx, env.merchant.ID, report); err != nil {
			t.Errorf("ApplyProviderReport() = %v", err)
		}
	}
	// Sent by the event's job, as a webhook's is: nothing is stored of the
	// delivery until the provider answers.
	env.queueEvents(t, orderEvent("1052", "+919876543210"))
	d := env.waitDelivery(t, app.DeliveryRead)
	if d.ProviderMessageID == "" || d.Attempts != 1 {
		t.Errorf("delivery = %+v; want the message id and one attempt recorded", d)
	}
	if n := reads.of(env.merchant.ID); n != 0 {
		t.Errorf("the send looked for early statuses %d times; want none", n)
	}
	waitFor(t, "the status jobs to finish", func() bool {
		depth, err := env.store.Depth(ctx)
		return err == nil && depth.Ready+depth.Scheduled+depth.Running+depth.Dead == 0
	})
}
