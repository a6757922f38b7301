package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// fakeDiscounts is a store's discount API as the creators see it: it holds
// each code once (asked again for a code it holds, it answers that code),
// and fails as scripted; a scripted failure may come after the code was
// made, as a timeout does.
type fakeDiscounts struct {
	mu     sync.Mutex
	codes  map[string]app.DiscountRequest
	calls  int
	script []error
	// madeBeforeFailing makes the code even when the call fails.
	madeBeforeFailing bool
}

func (f *fakeDiscounts) CreateDiscount(ctx context.Context, m app.Merchant, r app.DiscountRequest) (app.DiscountCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var err error
	if len(f.script) > 0 {
		err, f.script = f.script[0], f.script[1:]
	}
	if err == nil || f.madeBeforeFailing {
		if f.codes == nil {
			f.codes = map[string]app.DiscountRequest{}
		}
		if _, held := f.codes[r.Code]; !held {
			f.codes[r.Code] = r
		}
	}
	if err != nil {
		return app.DiscountCode{}, err
	}
	return app.DiscountCode{Code: r.Code, Kind: r.Kind, Value: r.Value, EndsAt: r.EndsAt}, nil
}

func (f *fakeDiscounts) held() (map[string]app.DiscountRequest, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]app.DiscountRequest{}
	for k, v := range f.codes {
		out[k] = v
	}
	return out, f.calls
}

// The start of the sequences' tests: 11:30 in Kolkata, outside the quiet
// hours, and every step's time after it too.
var cartT0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// cartEnv is a delivery env whose cart.abandoned rule is a three-step
// sequence (30m, 24h, 72h; the third with a 10% code) and whose store
// makes codes through fakeDiscounts.
func cartEnv(t *testing.T, window string) (*deliveryEnv, *fakeDiscounts) {
	t.Helper()
	return cartEnvOn(t, window, newDeliveryEnv(t, app.Rate{}))
}

// cartEnvRedis is cartEnv on a real Redis, its queue's clock moved with
// the env's.
func cartEnvRedis(t *testing.T) (*deliveryEnv, *fakeDiscounts) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	env := newDeliveryEnvOn(t, app.ProviderKit{}, func(clk *clock) app.Store {
		return redisstore.New(rdb, redisstore.Options{Prefix: "carts:", Now: clk.Now, ServerClockOffset: clk.Offset})
	})
	return cartEnvOn(t, "", env)
}

func cartEnvOn(t *testing.T, window string, env *deliveryEnv) (*deliveryEnv, *fakeDiscounts) {
	t.Helper()
	env.jump(t, cartT0)
	fake := &fakeDiscounts{}
	codes := app.NewDiscountCodes([]byte("test-signing-key"))
	codes.Set(app.PlatformShopify, fake)
	env.svc.SetCartDiscounts(codes)
	_, err := env.svc.PutRule(context.Background(), env.merchant.ID, app.EventCartAbandoned, app.RuleInput{
		AttributionWindow: window,
		Steps: []app.CartStepInput{
			{Template: "cart_1", Variables: []string{"customer.first_name", "cart.recovery_url"}},
			{Template: "cart_2", Variables: []string{"cart.recovery_url"}},
			{Template: "cart_3", Variables: []string{"coupon.code", "coupon.value", "cart.recovery_url"},
				Discount: &app.CartDiscountInput{Type: "percent", Value: "10"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return env, fake
}

func cartEvent(token, phone string) app.Event {
	return app.Event{
		Type: app.EventCartAbandoned, Subject: "cart:" + token,
		Customer: app.Customer{ID: "7712398123", FirstName: "Riya", Phone: phone, Consent: app.ConsentGranted},
		Properties: map[string]any{"cart": map[string]any{
			"token": token, "currency": "INR", "total": "₹1,499.00", "item_count": 2,
			"recovery_url": "https://asha-naturals.myshopify.com/checkouts/ac/" + token + "/recover?key=k" + token,
		}},
	}
}

// cartOrder is an order of the customer, from the checkout token when one
// is given.
func cartOrder(number, phone, token string) app.Event {
	e := orderEvent(number, phone)
	o := e.Properties["order"].(map[string]any)
	o["total_amount"], o["currency"] = "1499.00", "INR"
	if token != "" {
		o["checkout_token"] = token
	}
	return e
}

// cartSent lists the cart messages sent, in order.
func (env *deliveryEnv) cartSent() []app.Message {
	_, sent := env.provider.state()
	var out []app.Message
	for _, m := range sent {
		if strings.HasPrefix(m.Template, "cart_") {
			out = append(out, m)
		}
	}
	return out
}

func (env *deliveryEnv) process(t *testing.T, events ...app.Event) {
	t.Helper()
	if err := env.svc.ProcessEvents(context.Background(), env.merchant, events); err != nil {
		t.Fatal(err)
	}
}

// at moves the clock to t0+d and gives due jobs time to run.
func (env *deliveryEnv) at(t *testing.T, d time.Duration) {
	t.Helper()
	env.jump(t, cartT0.Add(d))
	time.Sleep(100 * time.Millisecond)
	env.jump(t, cartT0.Add(d)) // and lets what started finish
}

func (env *deliveryEnv) waitCartSent(t *testing.T, n int) []app.Message {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d cart messages", n), func() bool { return len(env.cartSent()) >= n })
	sent := env.cartSent()
	if len(sent) != n {
		for _, m := range sent {
			t.Logf("sent %s %v", m.Template, m.Values)
		}
		t.Fatalf("cart messages = %d; want %d", len(sent), n)
	}
	return sent
}

func (env *deliveryEnv) stats(t *testing.T) app.StatsView {
	t.Helper()
	v, err := env.svc.Stats(context.Background(), env.merchant.ID, "2026-11-20", "2026-12-31")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Three steps, each at its delay after the checkout, the third with its
// code in the message and in the recovery link; nothing early.
func TestCartSequenceSendsEachStepOnTime(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (*deliveryEnv, *fakeDiscounts){
		"embedded": func(t *testing.T) (*deliveryEnv, *fakeDiscounts) { return cartEnv(t, "") },
		"redis":    cartEnvRedis,
	} {
		t.Run(name, func(t *testing.T) { testCartSequenceOnTime(t, open) })
	}
}

func testCartSequenceOnTime(t *testing.T, open func(t *testing.T) (*deliveryEnv, *fakeDiscounts)) {
	env, fake := open(t)
	env.process(t, cartEvent("tok-a", "+919876543210"))

	env.at(t, 29*time.Minute)
	if sent := env.cartSent(); len(sent) != 0 {
		t.Fatalf("sent %d before the first step's 30m", len(sent))
	}
	env.at(t, 30*time.Minute+time.Second)
	sent := env.waitCartSent(t, 1)
	if sent[0].Template != "cart_1" || sent[0].Values[0] != "Riya" || sent[0].Values[1] != "https://asha-naturals.myshopify.com/checkouts/ac/tok-a/recover?key=ktok-a" {
		t.Errorf("step 1 = %s %v; want cart_1 with the name and the recovery link", sent[0].Template, sent[0].Values)
	}
	env.at(t, 24*time.Hour-time.Minute)
	env.waitCartSent(t, 1)
	env.at(t, 24*time.Hour+time.Second)
	if sent := env.waitCartSent(t, 2); sent[1].Template != "cart_2" {
		t.Errorf("step 2 = %s; want cart_2", sent[1].Template)
	}
	if codes, _ := fake.held(); len(codes) != 0 {
		t.Errorf("codes before the discount step = %v; want none", codes)
	}
	env.at(t, 72*time.Hour-time.Minute)
	env.waitCartSent(t, 2)
	env.at(t, 72*time.Hour+time.Second)
	sent = env.waitCartSent(t, 3)
	codes, _ := fake.held()
	if len(codes) != 1 {
		t.Fatalf("codes = %v; want one, for step 3", codes)
	}
	for code, r := range codes {
		ends := cartT0.Add(72*time.Hour + time.Second + 48*time.Hour)
		if !strings.HasPrefix(code, "CART-") || r.Kind != app.DiscountPercentage || r.Value != "10" || r.Customer.ID != "7712398123" ||
			r.EndsAt.Before(ends) || r.EndsAt.After(ends.Add(10*time.Second)) {
			t.Errorf("code %s = %+v; want a CART- code of 10%%, for the customer, ending 48h after the step", code, r)
		}
		want := []string{code, "10%", "https://asha-naturals.myshopify.com/discount/" + code + "?redirect=%2Fcheckouts%2Fac%2Ftok-a%2Frecover%3Fkey%3Dktok-a"}
		if got := sent[2].Values; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("step 3 values = %v; want %v", got, want)
		}
	}
	v := env.stats(t)
	want := app.CartOutcomes{Carts: 1, Revenue: map[string]string{}, ByStep: map[int]app.StepOutcomes{1: {Sent: 1}, 2: {Sent: 1}, 3: {Sent: 1}}}
	if fmt.Sprint(v.Outcomes.Carts) != fmt.Sprint(want) || v.Counts[app.EventCartAbandoned]["sent"] != 3 {
		t.Errorf("outcomes = %+v, sent %d; want %+v and 3 sent", v.Outcomes.Carts, v.Counts[app.EventCartAbandoned]["sent"], want)
	}
}

// Each thing that closes the cart stops the steps after it, counted with
// its reason; an order after a sent step is credited to it.
func TestCartSequenceStops(t *testing.T) {
	const phone = "+919876543210"
	for _, tc := range []struct {
		name   string
		stop   func(t *testing.T, env *deliveryEnv)
		reason string
		// recovered: the stop is an order within the window of step 1.
		recovered bool
	}{
		{"an order from its checkout", func(t *testing.T, env *deliveryEnv) {
			env.process(t, cartOrder("2001", phone, "tok-s"))
		}, "recovered", true},
		{"an order of the same customer", func(t *testing.T, env *deliveryEnv) {
			env.process(t, cartOrder("2002", phone, ""))
		}, "ordered", true},
		{"a reply", func(t *testing.T, env *deliveryEnv) {
			if err := env.svc.ApplyProviderReport(context.Background(), env.merchant.ID, app.ProviderReport{Replies: []app.Reply{{Phone: phone, Text: "is COD available?"}}}); err != nil {
				t.Fatal(err)
			}
		}, "replied", false},
		{"an opt-out", func(t *testing.T, env *deliveryEnv) {
			if err := env.svc.ApplyProviderReport(context.Background(), env.merchant.ID, app.ProviderReport{Replies: []app.Reply{{Phone: phone, Text: "STOP"}}}); err != nil {
				t.Fatal(err)
			}
		}, "opted_out", false},
		{"an emptied cart", func(t *testing.T, env *deliveryEnv) {
			empty := cartEvent("tok-s", phone)
			empty.Properties["cart"].(map[string]any)["item_count"] = 0
			env.process(t, empty)
		}, "empty", false},
		{"a completed checkout", func(t *testing.T, env *deliveryEnv) {
			done := cartEvent("tok-s", phone)
			done.Type = app.EventCartRecovered
			env.process(t, done)
		}, "recovered", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, fake := cartEnv(t, "")
			env.process(t, cartEvent("tok-s", phone))
			env.at(t, 30*time.Minute+time.Second)
			env.waitCartSent(t, 1)
			env.at(t, 2*time.Hour)
			tc.stop(t, env)
			env.at(t, 24*time.Hour+time.Second)
			env.at(t, 72*time.Hour+time.Second)
			if sent := env.cartSent(); len(sent) != 1 {
				t.Fatalf("cart messages = %d; want only step 1, then stopped by %s", len(sent), tc.name)
			}
			if codes, calls := fake.held(); len(codes) != 0 || calls != 0 {
				t.Errorf("codes = %v after %d calls; want none: step 3 never came", codes, calls)
			}
			v := env.stats(t)
			if n := v.Counts[app.EventCartAbandoned]["skipped."+tc.reason]; n != 1 {
				t.Errorf("skipped.%s = %d; want 1 (counts %v)", tc.reason, n, v.Counts[app.EventCartAbandoned])
			}
			c := v.Outcomes.Carts
			if tc.recovered != (c.Recovered == 1) || tc.recovered != (c.ByStep[1].Recovered == 1) || tc.recovered != (c.Revenue["INR"] == "1499.00") {
				t.Errorf("outcomes = %+v; want recovered %v, credited to step 1 with ₹1499.00", c, tc.recovered)
			}
		})
	}
}

// A newer checkout of the same customer replaces the older one's
// sequence: one sequence per person.
func TestNewerCheckoutReplacesTheSequence(t *testing.T) {
	env, _ := cartEnv(t, "")
	env.process(t, cartEvent("tok-old", "+919876543210"))
	env.at(t, 10*time.Minute)
	env.process(t, cartEvent("tok-new", "+919876543210"))
	env.at(t, 40*time.Minute+time.Second)
	sent := env.waitCartSent(t, 1)
	if !strings.Contains(sent[0].Values[1], "tok-new") {
		t.Errorf("step 1 went to %s; want the newer checkout's", sent[0].Values[1])
	}
	env.at(t, 24*time.Hour+10*time.Minute+time.Second)
	for _, m := range env.waitCartSent(t, 2) {
		if !strings.Contains(m.Values[len(m.Values)-1], "tok-new") {
			t.Errorf("a step of the older checkout was sent: %v", m.Values)
		}
	}
	if n := env.stats(t).Counts[app.EventCartAbandoned]["skipped.replaced"]; n != 1 {
		t.Errorf("skipped.replaced = %d; want 1", n)
	}
	// A late update of the older checkout, with its own older time, does
	// not bring it back.
	old := cartEvent("tok-old", "+919876543210")
	old.OccurredAt = cartT0.Add(time.Minute)
	env.process(t, old)
	env.at(t, 72*time.Hour+10*time.Minute+time.Second)
	if sent := env.waitCartSent(t, 3); strings.Contains(sent[2].Values[2], "tok-old") {
		t.Errorf("step 3 went to the older checkout")
	}
}

// A change of the checkout moves the steps not sent yet: their delays
// count from the last change. The same change again does nothing.
func TestCheckoutChangeMovesTheSteps(t *testing.T) {
	env, _ := cartEnv(t, "")
	env.process(t, cartEvent("tok-c", "+919876543210"))
	env.at(t, 20*time.Minute)
	changed := cartEvent("tok-c", "+919876543210")
	changed.OccurredAt = cartT0.Add(20 * time.Minute)
	env.process(t, changed, changed) // delivered twice
	env.at(t, 31*time.Minute)
	if sent := env.cartSent(); len(sent) != 0 {
		t.Fatalf("sent %d at 30m after the first version; want none: the checkout changed at 20m", len(sent))
	}
	env.at(t, 50*time.Minute+time.Second)
	env.waitCartSent(t, 1)
	v := env.stats(t)
	if c := v.Counts[app.EventCartAbandoned]; c["skipped.duplicate"] != 1 || c["received"] != 3 || v.Outcomes.Carts.Carts != 1 {
		t.Errorf("counts = %v, carts %d; want 3 received, 1 duplicate, 1 cart", c, v.Outcomes.Carts.Carts)
	}
}

// One code per cart and step however often the step runs: two runs at
// once, and a run after a call that made the code but timed out.
func TestCartStepMakesOneCodeWhenRunTwice(t *testing.T) {
	env, fake := cartEnv(t, "")
	ctx := context.Background()
	if _, err := env.svc.PutRule(ctx, env.merchant.ID, app.EventCartAbandoned, app.RuleInput{Steps: []app.CartStepInput{
		{Delay: "1h", Template: "cart_code", Variables: []string{"coupon.code", "cart.recovery_url"},
			Discount: &app.CartDiscountInput{Type: "fixed", Value: "100", ExpiresIn: "24h"}},
	}}); err != nil {
		t.Fatal(err)
	}
	fake.script = []error{&app.ProviderError{Provider: "shopify", Retryable: true, Message: "timed out", Err: context.DeadlineExceeded}}
	fake.madeBeforeFailing = true
	env.process(t, cartEvent("tok-d", "+919876543210"))
	job := app.Job{ID: "rerun", Merchant: env.merchant.ID, Kind: app.JobCartStep, Payload: []byte(`{"token":"tok-d","gen":1,"step":1}`)}
	// The first run's call makes the code and times out: it is retried.
	var later *app.RetryAtError
	if err := env.svc.JobHandlers()[app.JobCartStep](ctx, job); !errors.As(err, &later) {
		t.Fatalf("first run = %v; want a retry after the timeout", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = env.svc.JobHandlers()[app.JobCartStep](ctx, job) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.As(err, &later) {
			t.Fatalf("concurrent run = %v", err)
		}
	}
	if err := env.svc.JobHandlers()[app.JobCartStep](ctx, job); err != nil {
		t.Fatalf("run after the send = %v", err)
	}
	// And the scheduled job itself, when its hour comes.
	env.at(t, time.Hour+time.Second)
	sent := env.waitCartSent(t, 1)
	codes, calls := fake.held()
	if len(codes) != 1 || calls < 2 {
		t.Fatalf("codes = %v after %d calls; want one code however many calls", codes, calls)
	}
	for code, r := range codes {
		if sent[0].Values[0] != code || r.Kind != app.DiscountFixedAmount || r.Currency != "INR" || r.Value != "100" {
			t.Errorf("message %v, code %+v; want the one code, ₹100 off", sent[0].Values, r)
		}
	}
	if d := env.stats(t).Outcomes.Carts.ByStep[1]; d.Sent != 1 {
		t.Errorf("step 1 sent = %d; want 1", d.Sent)
	}
}

// A store that refuses the code for good: a step whose message shows the
// code is skipped (no_discount) rather than promise a code that does not
// exist; one that does not show it goes without.
func TestCartStepWithoutItsCode(t *testing.T) {
	env, fake := cartEnv(t, "")
	ctx := context.Background()
	if _, err := env.svc.PutRule(ctx, env.merchant.ID, app.EventCartAbandoned, app.RuleInput{Steps: []app.CartStepInput{
		{Delay: "1h", Template: "cart_plain", Variables: []string{"cart.recovery_url"}, Discount: &app.CartDiscountInput{Type: "percent", Value: "5"}},
		{Delay: "2h", Template: "cart_code", Variables: []string{"coupon.code"}, Discount: &app.CartDiscountInput{Type: "percent", Value: "10"}},
	}}); err != nil {
		t.Fatal(err)
	}
	refused := app.Permanent(errors.New("shopify: discounts are not allowed for this app"))
	fake.script = []error{refused, refused}
	env.process(t, cartEvent("tok-x", "+919876543210"))
	env.at(t, time.Hour+time.Second)
	sent := env.waitCartSent(t, 1)
	if sent[0].Values[0] != "https://asha-naturals.myshopify.com/checkouts/ac/tok-x/recover?key=ktok-x" {
		t.Errorf("step 1 without its code = %v; want the plain recovery link", sent[0].Values)
	}
	env.at(t, 2*time.Hour+time.Second)
	env.at(t, 3*time.Hour)
	env.waitCartSent(t, 1)
	if n := env.stats(t).Counts[app.EventCartAbandoned]["skipped.no_discount"]; n != 1 {
		t.Errorf("skipped.no_discount = %d; want 1", n)
	}
}

// Attribution: an order within the window after a sent step is credited to
// the last step sent before it; outside the window, or with no step sent,
// it is not (the cart still stops).
func TestCartAttribution(t *testing.T) {
	const phone = "+919876543210"
	for _, tc := range []struct {
		name      string
		window    string
		orderAt   time.Duration
		recovered bool
		step      int
	}{
		{"within the default 7 days of step 2", "", 24*time.Hour + 6*24*time.Hour, true, 2},
		{"after the default 7 days", "", 24*time.Hour + 7*24*time.Hour + time.Hour, false, 0},
		{"within a 48h window set on the rule", "48h", 30*time.Minute + 47*time.Hour, true, 2},
		{"after a 48h window", "48h", 24*time.Hour + 49*time.Hour, false, 0},
		{"before any step was sent", "", 10 * time.Minute, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, _ := cartEnv(t, tc.window)
			if _, err := env.svc.PutRule(context.Background(), env.merchant.ID, app.EventCartAbandoned, app.RuleInput{
				AttributionWindow: tc.window,
				Steps: []app.CartStepInput{
					{Template: "cart_1", Variables: []string{"cart.recovery_url"}},
					{Template: "cart_2", Variables: []string{"cart.recovery_url"}},
				},
			}); err != nil {
				t.Fatal(err)
			}
			env.process(t, cartEvent("tok-w", phone))
			for _, at := range []time.Duration{30*time.Minute + time.Second, 24*time.Hour + time.Second} {
				if at < tc.orderAt {
					env.at(t, at)
				}
			}
			env.at(t, tc.orderAt)
			order := cartOrder("3001", phone, "tok-w")
			env.process(t, order, order) // delivered twice: counted once
			paid := order
			paid.Type = app.EventOrderPaid
			env.process(t, paid)
			v := env.stats(t)
			c := v.Outcomes.Carts
			if tc.recovered {
				if c.Recovered != 1 || c.ByStep[tc.step].Recovered != 1 || c.Revenue["INR"] != "1499.00" {
					t.Errorf("outcomes = %+v; want one recovered, credited to step %d, ₹1499.00", c, tc.step)
				}
			} else if c.Recovered != 0 || len(c.Revenue) != 0 {
				t.Errorf("outcomes = %+v; want none recovered", c)
			}
		})
	}
}

// The sequence is the event's, not Shopify's: a WooCommerce cart (captured
// by the plugin) gets its code in coupon.code, and its recovery link, the
// plugin's own, carries the code after its signed parameters, left byte
// for byte, so restoring the cart applies it.
func TestCartSequenceOfAWooCommerceCart(t *testing.T) {
	env := newDeliveryEnv(t, app.Rate{})
	env.jump(t, cartT0)
	ctx := context.Background()
	fake := &fakeDiscounts{}
	codes := app.NewDiscountCodes([]byte("test-signing-key"))
	codes.Set(app.PlatformWooCommerce, fake)
	env.svc.SetCartDiscounts(codes)
	m, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://shop.ashanaturals.in", Name: "Asha", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err = env.svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.PutRule(ctx, m.ID, app.EventCartAbandoned, app.RuleInput{Steps: []app.CartStepInput{
		{Delay: "15m", Template: "cart_woo", Variables: []string{"coupon.code", "coupon.value", "cart.recovery_url"},
			Discount: &app.CartDiscountInput{Type: "fixed", Value: "50"}},
	}}); err != nil {
		t.Fatal(err)
	}
	cart := cartEvent("wc-81", "+919876543210")
	cart.Properties["cart"].(map[string]any)["recovery_url"] = "https://shop.ashanaturals.in/?storebridge_restore=wc-81&exp=1767225600&sig=0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	if err := env.svc.ProcessEvents(ctx, m, []app.Event{cart}); err != nil {
		t.Fatal(err)
	}
	env.at(t, 15*time.Minute+time.Second)
	sent := env.waitCartSent(t, 1)
	held, _ := fake.held()
	if len(held) != 1 {
		t.Fatalf("codes = %v; want one", held)
	}
	for code, r := range held {
		want := fmt.Sprint([]string{code, "₹50.00", "https://shop.ashanaturals.in/?storebridge_restore=wc-81&exp=1767225600&sig=0a1b2c3d4e5f60718293a4b5c6d7e8f9&sb_coupon=" + url.QueryEscape(code)})
		if fmt.Sprint(sent[0].Values) != want || r.Customer.Phone != "+919876543210" || r.Kind != app.DiscountFixedAmount {
			t.Errorf("message %v, code %+v; want %s, a fixed code for the customer", sent[0].Values, r, want)
		}
	}
}

// A checkout seen days late (a backlog) gets its steps one by one, spaced
// as the rule says, not all at once.
func TestLateCheckoutDoesNotBurst(t *testing.T) {
	env, _ := cartEnv(t, "")
	late := cartEvent("tok-l", "+919876543210")
	late.OccurredAt = cartT0.Add(-96 * time.Hour)
	env.process(t, late)
	env.at(t, time.Second)
	env.waitCartSent(t, 1)
	env.at(t, 23*time.Hour)
	env.waitCartSent(t, 1)
	env.at(t, 23*time.Hour+30*time.Minute+time.Second)
	env.waitCartSent(t, 2)
	env.at(t, 71*time.Hour+30*time.Minute+time.Second)
	env.waitCartSent(t, 3)
}

// cartReads counts the reads of customers' newest carts.
// An order looks for the customer's newest cart only where sequences can
// be: a merchant with no cart.abandoned rule pays no read for it.
func TestOrderReadsCartsOnlyWithCartRule(t *testing.T) {
	env, reads := newDeliveryEnvCountingReads(t, app.ProviderKit{}, "cart-customer:")
	ctx := context.Background()
	plain, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar-kitchen.myshopify.com", Name: "Kesar Kitchen", Country: "IN", Timezone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	order := func(m app.Merchant, id string) {
		t.Helper()
		e := app.Event{Type: app.EventOrderPlaced, Subject: "order:" + id, Customer: app.Customer{ID: "c1", Phone: "+919876543210"},
			Properties: map[string]any{"order": map[string]any{"id": id}}}
		if err := env.svc.ProcessEvents(ctx, m, []app.Event{e}); err != nil {
			t.Fatalf("ProcessEvents(%s) = %v", m.Domain, err)
		}
	}
	order(env.merchant, "1001")
	order(plain, "2001")
	order(plain, "2002")
	if got := reads.of(env.merchant.ID); got != 1 {
		t.Errorf("cart reads of the merchant with a cart rule = %d; want 1", got)
	}
	if got := reads.of(plain.ID); got != 0 {
		t.Errorf("cart reads of the merchant without one = %d; want 0", got)
	}
}
