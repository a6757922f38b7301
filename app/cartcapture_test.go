package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// captureEnv is a WooCommerce store with a provider, a delayed cart rule
// and running workers, on a clock the test moves.
type captureEnv struct {
	svc      *app.Service
	store    app.Store
	keyring  *app.Keyring
	provider *scriptedProvider
	merchant app.Merchant
	now      *clock
}

func newCaptureEnv(t *testing.T) *captureEnv {
	t.Helper()
	clk := &clock{}
	st, err := embedded.Open(filepath.Join(t.TempDir(), "c.db"), embedded.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keyring, _ := app.NewKeyring(keyA)
	p := &scriptedProvider{}
	svc := app.NewService(app.ServiceOptions{
		Store: st, Keyring: keyring, Now: clk.Now, CheckURL: strictURLs,
		Providers: map[string]app.ProviderKit{"scripted": {New: func(map[string]string) (app.Provider, error) { return p, nil }}},
		Retry:     app.Backoff{Waits: []time.Duration{20 * time.Millisecond}},
	})
	ctx := context.Background()
	m, _, err := svc.CreateMerchant(ctx, newWooMerchant())
	if err != nil {
		t.Fatal(err)
	}
	if m, err = svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t0k3n"}}); err != nil {
		t.Fatal(err)
	}
	for event, in := range map[string]app.RuleInput{
		app.EventCartAbandoned: {Template: "cart_reminder", Variables: []string{"cart.recovery_url", "cart.total"}, Delay: "1h"},
		app.EventCartRecovered: {Template: "cart_thanks", Variables: []string{"customer.first_name"}},
	} {
		if _, err := svc.PutRule(ctx, m.ID, event, in); err != nil {
			t.Fatalf("PutRule(%s) = %v", event, err)
		}
	}
	w := app.NewWorkers(st, app.WorkerOptions{Concurrency: 2, Lease: 2 * time.Second, PollInterval: 10 * time.Millisecond, Backoff: app.Backoff{Waits: []time.Duration{20 * time.Millisecond}}, Now: clk.Now})
	w.HandleAll(svc.JobHandlers())
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	clk.Set(time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)) // 11:30 in Kolkata: no quiet hours
	return &captureEnv{svc: svc, store: st, keyring: keyring, provider: p, merchant: m, now: clk}
}

func (env *captureEnv) deliveries(t *testing.T) []app.Delivery {
	t.Helper()
	list, _, err := env.store.ListDeliveries(context.Background(), env.merchant.ID, app.DeliveryFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (env *captureEnv) delivery(t *testing.T, event string, want app.DeliveryStatus) app.Delivery {
	t.Helper()
	var found app.Delivery
	waitFor(t, event+" "+string(want), func() bool {
		for _, d := range env.deliveries(t) {
			if d.Event == event && d.Status == want {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

// planned waits for n carts' steps to be waiting for their time (the
// rule has one step).
func (env *captureEnv) planned(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d planned cart steps", n), func() bool {
		d, err := env.store.Depth(context.Background())
		return err == nil && d.Running == 0 && d.Ready == 0 && d.Scheduled == n
	})
}

func (env *captureEnv) settle(t *testing.T) {
	t.Helper()
	waitFor(t, "the queue to settle", func() bool {
		d, err := env.store.Depth(context.Background())
		return err == nil && d.Running == 0 && d.Ready == 0
	})
}

func openCart(id string, version int64) app.CartCapture {
	yes := true
	return app.CartCapture{
		ID: id, Version: version,
		Customer: app.CartCustomer{FirstName: "Riya", LastName: "Sharma", Email: "riya@example.in", Phone: "098765 43210", Country: "IN"},
		Consent:  &yes, Currency: "INR", Total: "1499.00",
		Items:    []app.CartItem{{Name: "Kurta – Blue", Quantity: 2, Price: "599.00", ProductID: 41}, {Name: "Dupatta", Quantity: 1, Price: "301.00"}},
		Recovery: "https://shop.ashanaturals.in/?storebridge_restore=" + id + "&sig=abc",
	}
}

// TestCartTokenLifecycle: a token works until it expires, until the
// merchant makes a new one, or never when another key signed it or it
// grants something else; each refusal says why and what to do.
func TestCartTokenLifecycle(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	tok, err := env.svc.NewCartToken(ctx, env.merchant.ID)
	if err != nil {
		t.Fatalf("NewCartToken() = %v", err)
	}
	if tok.Scope != app.CartTokenScope || !tok.ExpiresAt.Equal(tok.IssuedAt.Add(app.CartTokenTTL)) {
		t.Errorf("token = %+v; want scope %s for %s", tok, app.CartTokenScope, app.CartTokenTTL)
	}
	if m, err := env.svc.CartTokenMerchant(ctx, tok.Token); err != nil || m.ID != env.merchant.ID {
		t.Fatalf("CartTokenMerchant(new) = %s, %v; want %s", m.ID, err, env.merchant.ID)
	}
	refused := func(name, token, reason string) {
		t.Helper()
		_, err := env.svc.CartTokenMerchant(ctx, token)
		var te *app.CartTokenError
		if !errors.As(err, &te) || te.Reason != reason || !errors.Is(err, app.ErrUnauthenticated) {
			t.Fatalf("CartTokenMerchant(%s) = %v; want a %s CartTokenError", name, err, reason)
		}
		if !strings.Contains(err.Error(), "generate a new token in storebridge → Cart capture") {
			t.Errorf("CartTokenMerchant(%s) error %q does not tell the fix", name, err)
		}
	}
	refused("empty", "", app.CartTokenMissing)
	refused("garbage", "not.a.jwt", app.CartTokenInvalid)

	other, _ := app.NewKeyring(keyB)
	sign := func(key []byte, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	parsed, _, _ := jwt.NewParser().ParseUnverified(tok.Token, jwt.MapClaims{})
	claims := parsed.Claims.(jwt.MapClaims)
	refused("forged with another key", sign(other.SigningKey(), claims), app.CartTokenInvalid)
	wider := jwt.MapClaims{}
	for k, v := range claims {
		wider[k] = v
	}
	wider["scope"] = "admin"
	refused("signed for another scope", sign(env.keyring.SigningKey(), wider), app.CartTokenInvalid)
	session, _, _ := env.svc.NewSession(env.merchant.ID)
	refused("an admin session", session, app.CartTokenInvalid)

	fresh, err := env.svc.NewCartToken(ctx, env.merchant.ID)
	if err != nil {
		t.Fatal(err)
	}
	refused("regenerated away", tok.Token, app.CartTokenReplaced)
	if _, err := env.svc.CartTokenMerchant(ctx, fresh.Token); err != nil {
		t.Fatalf("CartTokenMerchant(fresh) = %v", err)
	}

	env.now.Set(fresh.ExpiresAt.Add(time.Minute))
	refused("expired", fresh.Token, app.CartTokenExpired)
	_, err = env.svc.CartTokenMerchant(ctx, fresh.Token)
	if !strings.Contains(err.Error(), fresh.ExpiresAt.Format("2 Jan 2006")) {
		t.Errorf("expired error %q does not say when", err)
	}

	shop, _, err := env.svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Secrets: map[string]string{"access_token": "shpat_x"}})
	if err != nil {
		t.Fatal(err)
	}
	var ve *app.ValidationError
	if _, err := env.svc.NewCartToken(ctx, shop.ID); !errors.As(err, &ve) || ve.Fields["platform"] == "" {
		t.Errorf("NewCartToken(Shopify) = %v; want 422 on platform", err)
	}
}

// TestCartCaptureFeedsTheCartFlow: a captured cart becomes the same
// cart.abandoned sequence a Shopify checkout does, once per version;
// older and repeated versions are ignored, a change moves the sequence,
// and the order that carries the cart's token ends it.
func TestCartCaptureFeedsTheCartFlow(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	capture := func(in app.CartCapture, want app.CartOutcome) {
		t.Helper()
		if got, err := env.svc.CaptureCart(ctx, env.merchant, in); err != nil || got != want {
			t.Fatalf("CaptureCart(%s v%d) = %s, %v; want %s", in.ID, in.Version, got, err, want)
		}
	}
	capture(openCart("c9f1", 1000), app.CartAccepted)
	env.planned(t, 1)
	capture(openCart("c9f1", 1000), app.CartStale)
	capture(openCart("c9f1", 999), app.CartStale)
	capture(openCart("c9f1", 1001), app.CartUnchanged)
	more := openCart("c9f1", 1002)
	more.Items = append(more.Items, app.CartItem{Name: "Stole", Quantity: 1, Price: "250"})
	more.Total = "1749.00"
	capture(more, app.CartAccepted)
	env.planned(t, 1) // one sequence for all versions, moved by the change

	// The order WooCommerce sends carries the cart's token.
	order := orderEvent("1060", "+919876543210")
	order.Properties["order"].(map[string]any)["checkout_token"] = app.WooCartToken("c9f1")
	if err := env.svc.ProcessEvents(ctx, env.merchant, []app.Event{order}); err != nil {
		t.Fatal(err)
	}
	d := env.delivery(t, app.EventCartAbandoned, app.DeliverySkipped)
	if !strings.Contains(d.Error, "bought") {
		t.Errorf("reminder skipped with %q; want as bought", d.Error)
	}
	if d.Subject != "cart:woo:c9f1" || d.Phone != "+919876543210" {
		t.Errorf("delivery subject %q phone %q; want cart:woo:c9f1 and the phone in E.164", d.Subject, d.Phone)
	}
	// The sequence stood for the newest version of the cart.
	var ev app.Event
	if err := json.Unmarshal(d.EventData, &ev); err != nil {
		t.Fatal(err)
	}
	if url, _ := ev.Lookup("cart.recovery_url"); url != openCart("c9f1", 1).Recovery {
		t.Errorf("cart.recovery_url = %v", url)
	}
	if total, _ := ev.Lookup("cart.total"); total != "₹1,749.00" {
		t.Errorf("cart.total = %v; want ₹1,749.00", total)
	}
	if items, _ := ev.Lookup("cart.items"); items != "2 × Kurta – Blue, 1 × Dupatta, 1 × Stole" {
		t.Errorf("cart.items = %v", items)
	}
	env.planned(t, 0)
	env.settle(t)
	env.now.Set(env.now.Now().Add(2 * time.Hour))
	time.Sleep(100 * time.Millisecond)
	env.settle(t)
	if calls, _ := env.provider.state(); calls != 0 {
		t.Errorf("provider called %d times; want no reminder", calls)
	}
}

// TestCartCaptureEndings: an emptied cart ends its reminder without a
// message; a converted one is the cart flow's cart.recovered. Without a
// newer capture the reminder goes out after its delay.
func TestCartCaptureEndings(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	for _, id := range []string{"emptied1", "converted1", "left1"} {
		c := openCart(id, 10)
		c.Customer.Phone = map[string]string{"emptied1": "+91 98765 11111", "converted1": "9876522222", "left1": "+919876533333"}[id]
		if _, err := env.svc.CaptureCart(ctx, env.merchant, c); err != nil {
			t.Fatal(err)
		}
	}
	env.planned(t, 3)
	if out, err := env.svc.CaptureCart(ctx, env.merchant, app.CartCapture{ID: "emptied1", Version: 11, Status: app.CartEmptied}); err != nil || out != app.CartAccepted {
		t.Fatalf("CaptureCart(emptied) = %s, %v", out, err)
	}
	if out, err := env.svc.CaptureCart(ctx, env.merchant, app.CartCapture{ID: "converted1", Version: 11, Status: app.CartConverted, OrderID: "727", Customer: app.CartCustomer{FirstName: "Riya", Phone: "9876522222", Country: "IN"}}); err != nil || out != app.CartAccepted {
		t.Fatalf("CaptureCart(converted) = %s, %v", out, err)
	}
	env.settle(t)
	env.now.Set(env.now.Now().Add(61 * time.Minute))
	waitFor(t, "the remaining reminder and the thanks", func() bool { _, sent := env.provider.state(); return len(sent) == 2 })
	env.settle(t)
	byPhone := map[string]app.Delivery{}
	for _, d := range env.deliveries(t) {
		byPhone[d.Event+" "+d.Phone] = d
	}
	for key, want := range map[string]app.DeliveryStatus{
		"cart.abandoned +919876511111": app.DeliverySkipped,
		"cart.abandoned +919876522222": app.DeliverySkipped,
		"cart.recovered +919876522222": app.DeliverySent,
		"cart.abandoned +919876533333": app.DeliverySent,
	} {
		if got := byPhone[key].Status; got != want {
			t.Errorf("%s = %q; want %s (all: %v)", key, got, want, byPhone)
		}
	}
}

func TestCartCaptureValidation(t *testing.T) {
	env := newCaptureEnv(t)
	cases := map[string]struct {
		change func(*app.CartCapture)
		field  string
	}{
		"no id":             {func(c *app.CartCapture) { c.ID = "" }, "id"},
		"id with slash":     {func(c *app.CartCapture) { c.ID = "a/b" }, "id"},
		"no version":        {func(c *app.CartCapture) { c.Version = 0 }, "version"},
		"unknown status":    {func(c *app.CartCapture) { c.Status = "paid" }, "status"},
		"no contact":        {func(c *app.CartCapture) { c.Customer.Phone, c.Customer.Email = "", "" }, "customer"},
		"bad email":         {func(c *app.CartCapture) { c.Customer.Email = "riya at example" }, "customer.email"},
		"bad country":       {func(c *app.CartCapture) { c.Customer.Country = "India" }, "customer.country"},
		"bad currency":      {func(c *app.CartCapture) { c.Currency = "rupees" }, "currency"},
		"negative total":    {func(c *app.CartCapture) { c.Total = "-5" }, "total"},
		"no items":          {func(c *app.CartCapture) { c.Items = nil }, "items"},
		"zero quantity":     {func(c *app.CartCapture) { c.Items[0].Quantity = 0 }, "items.0.quantity"},
		"nameless item":     {func(c *app.CartCapture) { c.Items[1].Name = " " }, "items.1.name"},
		"no recovery url":   {func(c *app.CartCapture) { c.Recovery = "" }, "recovery_url"},
		"recovery off-site": {func(c *app.CartCapture) { c.Recovery = "https://phish.example/?c=1" }, "recovery_url"},
		"recovery over http": {func(c *app.CartCapture) {
			c.Recovery = "http://shop.ashanaturals.in/?c=1"
		}, "recovery_url"},
		"name with newline": {func(c *app.CartCapture) { c.Customer.FirstName = "Riya\nBcc:" }, "customer.first_name"},
	}
	for name, tc := range cases {
		c := openCart("v1", 5)
		tc.change(&c)
		_, err := env.svc.CaptureCart(context.Background(), env.merchant, c)
		var ve *app.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
			t.Errorf("%s: CaptureCart() = %v; want 422 on %s", name, err, tc.field)
		}
	}
	ok := openCart("v1", 5)
	ok.Recovery = "https://www.shop.ashanaturals.in/?storebridge_restore=v1"
	ok.Version, ok.UpdatedAt = 0, time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	if _, err := env.svc.CaptureCart(context.Background(), env.merchant, ok); err != nil {
		t.Errorf("CaptureCart(www. host, updated_at) = %v; want accepted", err)
	}
}

// TestCartTokenAcrossInstances: a token made on another instance works at
// once on this one, whose cached merchant still names the old generation;
// once this instance has read the new generation the old token is refused.
func TestCartTokenAcrossInstances(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	other := app.NewService(app.ServiceOptions{Store: env.store, Keyring: env.keyring, Now: env.now.Now, CheckURL: strictURLs})
	old, err := env.svc.NewCartToken(ctx, env.merchant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.CartTokenMerchant(ctx, old.Token); err != nil { // cached here
		t.Fatal(err)
	}
	fresh, err := other.NewCartToken(ctx, env.merchant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.svc.CartTokenMerchant(ctx, fresh.Token); err != nil {
		t.Fatalf("CartTokenMerchant(made elsewhere) = %v; want accepted at once", err)
	}
	var te *app.CartTokenError
	if _, err := env.svc.CartTokenMerchant(ctx, old.Token); !errors.As(err, &te) || te.Reason != app.CartTokenReplaced {
		t.Fatalf("CartTokenMerchant(old) after the new one = %v; want replaced", err)
	}
}

// TestCartEndingOutrunsAnOlderCapture: the jobs of one cart's versions
// may run in any order; an order (or an empty cart) right behind a
// capture leaves no reminder waiting, whichever job runs first.
func TestCartEndingOutrunsAnOlderCapture(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	for i, status := range []string{app.CartConverted, app.CartEmptied, app.CartConverted, app.CartEmptied} {
		id := fmt.Sprintf("race%d", i)
		if _, err := env.svc.CaptureCart(ctx, env.merchant, openCart(id, 10)); err != nil {
			t.Fatal(err)
		}
		if _, err := env.svc.CaptureCart(ctx, env.merchant, app.CartCapture{ID: id, Version: 11, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	env.settle(t)
	for _, d := range env.deliveries(t) {
		if d.Event == app.EventCartAbandoned && d.Status != app.DeliverySkipped {
			t.Errorf("reminder of %s is %s; want none waiting after the cart ended", d.Subject, d.Status)
		}
	}
	env.now.Set(env.now.Now().Add(2 * time.Hour))
	time.Sleep(100 * time.Millisecond)
	env.settle(t)
	for _, m := range func() []app.Message { _, sent := env.provider.state(); return sent }() {
		if m.Template == "cart_reminder" {
			t.Errorf("a cart reminder was sent after its cart ended")
		}
	}
}

// TestCartUnchangedVersionKeepsTheCapture: a newer version that changed
// nothing queues no job, and the older version's job still makes the
// reminder, whenever it runs.
func TestCartUnchangedVersionKeepsTheCapture(t *testing.T) {
	env := newCaptureEnv(t)
	ctx := context.Background()
	for i := range 5 {
		id := fmt.Sprintf("same%d", i)
		for v, want := range []app.CartOutcome{app.CartAccepted, app.CartUnchanged} {
			c := openCart(id, int64(10+v))
			c.Customer.Phone = fmt.Sprintf("+91987650000%d", i) // one sequence per customer: five customers
			if got, err := env.svc.CaptureCart(ctx, env.merchant, c); err != nil || got != want {
				t.Fatalf("CaptureCart(%s v%d) = %s, %v; want %s", id, 10+v, got, err, want)
			}
		}
	}
	env.planned(t, 5)
	env.now.Set(env.now.Now().Add(61 * time.Minute))
	waitFor(t, "a reminder per cart", func() bool { _, sent := env.provider.state(); return len(sent) == 5 })
}
