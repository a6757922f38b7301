package loyalty_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
)

// fakeStore is a store's discount codes: one per code, a create of a
// code it holds answers that code (as the real creators do), and errs
// answers the next creates with failures instead.
type fakeStore struct {
	mu    sync.Mutex
	codes map[string]app.DiscountRequest
	calls []app.DiscountRequest
	errs  []error
	// down fails every create retryably while set.
	down bool
}

func (f *fakeStore) CreateDiscount(_ context.Context, _ app.Merchant, r app.DiscountRequest) (app.DiscountCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r)
	if f.down {
		return app.DiscountCode{}, &app.ProviderError{Provider: "shopify", Status: 503, Retryable: true, Message: "unavailable"}
	}
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return app.DiscountCode{}, err
	}
	if _, ok := f.codes[r.Code]; !ok {
		f.codes[r.Code] = r
	}
	held := f.codes[r.Code]
	return app.DiscountCode{Code: held.Code, Kind: held.Kind, Value: held.Value, Currency: held.Currency, EndsAt: held.EndsAt, PlatformID: "gid://shopify/DiscountCodeNode/1"}, nil
}

func (f *fakeStore) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.codes)
}

func redeemProgram() loyalty.Program {
	p := program()
	p.Redeem = loyalty.RedeemSettings{Enabled: true, PointsPerUnit: 100, MinPoints: 500, MaxPoints: 5000, ExpiresIn: "30d"}
	return p
}

// withDiscounts rebuilds the harness's engine for a Shopify merchant in
// INR whose store is shop.
func withDiscounts(h *engineHarness, shop *fakeStore) {
	h.m.Platform = app.PlatformShopify
	h.m.Synced.Currency = "INR"
	codes := app.NewDiscountCodes([]byte("test-signing-key-0123456789abcdef"))
	codes.Set(app.PlatformShopify, shop)
	h.engine = loyalty.NewEngine(loyalty.Options{Ledger: h.ledger, Data: h.store, Queue: h.store, Merchants: oneMerchant{h.m}, Sender: h.sent, Discounts: codes, Now: h.clock.Now})
}

type harnessMaker func(t *testing.T, p loyalty.Program) *engineHarness

var backends = map[string]harnessMaker{"embedded": newEngineHarness, "redis": newRedisEngineHarness}

// setup earns c1 1000 points on a paid order (with a phone and an email
// the code and message use).
func setup(t *testing.T, newHarness harnessMaker) (*engineHarness, *fakeStore) {
	h := newHarness(t, redeemProgram())
	shop := &fakeStore{codes: map[string]app.DiscountRequest{}}
	withDiscounts(h, shop)
	ev := app.Event{Type: app.EventOrderPaid, Subject: "order:1001",
		Customer:   app.Customer{ID: "c1", FirstName: "Riya", Phone: "+919876543210", Email: "riya@example.in"},
		Properties: map[string]any{"order": map[string]any{"id": "1001", "total_amount": "1000"}}}
	if err := h.engine.ObserveEvent(h.ctx, h.m, ev); err != nil {
		t.Fatal(err)
	}
	if b := h.balance(); b.Points != 1000 {
		t.Fatalf("balance = %d; want 1000", b.Points)
	}
	return h, shop
}

// A redemption retried with its key, the store failing once
// retryably, spends once, makes one code and tells the customer once.
func TestRedeemOnceHoweverRetried(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, shop := setup(t, newHarness)
			shop.errs = []error{&app.ProviderError{Provider: "shopify", Status: 502, Retryable: true, Message: "bad gateway"}}
			r := loyalty.Redemption{Points: 550, Key: "sf-123", Reason: "storefront"}
			_, err := h.engine.Redeem(h.ctx, "m1", "c1", r)
			var pending *loyalty.CouponError
			if !errors.As(err, &pending) || !pending.Pending {
				t.Fatalf("first Redeem() = %v; want a pending CouponError", err)
			}
			if b := h.balance(); b.Points != 450 {
				t.Errorf("balance while the store is down = %d; want 450 (spent, the job will finish)", b.Points)
			}
			var first loyalty.Redeemed
			for i := range 2 {
				got, err := h.engine.Redeem(h.ctx, "m1", "c1", r)
				if err != nil {
					t.Fatalf("Redeem() retry %d = %v", i, err)
				}
				if i == 0 {
					first = got
				} else if got != first {
					t.Errorf("retry = %+v; want the first answer %+v", got, first)
				}
			}
			c := first.Coupon
			if !strings.HasPrefix(c.Code, "SB-") || c.Kind != app.DiscountFixedAmount || c.Value != "5.50" || c.Currency != "INR" ||
				!c.EndsAt.Equal(h.clock.Now().Add(30*24*time.Hour)) {
				t.Errorf("coupon = %+v; want an SB- fixed ₹5.50 code ending in 30 days", c)
			}
			if first.Entry.Kind != loyalty.KindRedeem || first.Entry.Points != -550 || first.Entry.Source != "redeem:sf-123" || first.Entry.Reason != "storefront" {
				t.Errorf("entry = %+v; want redeem -550 from redeem:sf-123", first.Entry)
			}
			if b := h.balance(); b.Points != 450 || b.Entries != 2 {
				t.Errorf("balance = %+v; want 450 in 2 entries", b)
			}
			if shop.held() != 1 || len(shop.calls) != 2 {
				t.Errorf("store holds %d codes after %d creates; want 1 after 2", shop.held(), len(shop.calls))
			}
			req := shop.calls[1]
			if req.Customer.ID != "c1" || req.Customer.Email != "riya@example.in" || req.Title == "" || req.Code != c.Code {
				t.Errorf("request = %+v; want the customer's id and email, a title and the code", req)
			}
			events := h.sent.of(app.EventCouponCreated)
			if len(events) != 1 {
				t.Fatalf("coupon_created events = %d; want 1", len(events))
			}
			ev := events[0]
			for path, want := range map[string]any{"coupon.code": c.Code, "coupon.value": "₹5.50", "points.amount": int64(550), "points.balance": int64(450)} {
				if v, _ := ev.Lookup(path); v != want {
					t.Errorf("%s = %v; want %v", path, v, want)
				}
			}
			if ev.Customer.Phone != "+919876543210" || ev.Customer.FirstName != "Riya" {
				t.Errorf("event customer = %+v; want Riya's phone", ev.Customer)
			}
			// The job due later finds it done: no second code, no second event.
			h.clock.Advance(2 * time.Minute)
			if errs := runJobs(h, 0); len(errs) != 0 {
				t.Fatalf("jobs = %v", errs)
			}
			if shop.held() != 1 || len(shop.calls) != 2 || len(h.sent.of(app.EventCouponCreated)) != 1 {
				t.Errorf("after the job: %d codes, %d creates, %d events; want 1, 2, 1", shop.held(), len(shop.calls), len(h.sent.of(app.EventCouponCreated)))
			}
		})
	}
}

// A store that refuses the code gets the points back once, under their
// own source; a retry answers the same refusal.
func TestRedeemRefusedGivesPointsBack(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, shop := setup(t, newHarness)
			shop.errs = []error{&app.ProviderError{Provider: "shopify", Status: 200, Code: "INVALID", Message: "Minimum subtotal is invalid"}}
			r := loyalty.Redemption{Points: 500, Key: "adm-9"}
			for i := range 2 {
				_, err := h.engine.Redeem(h.ctx, "m1", "c1", r)
				var refused *loyalty.CouponError
				if !errors.As(err, &refused) || refused.Pending || !strings.Contains(refused.Reason, "Minimum subtotal is invalid") || !strings.Contains(refused.Reason, "given back") {
					t.Fatalf("Redeem() %d = %v; want a refusal naming Shopify's message and the points given back", i, err)
				}
			}
			if b := h.balance(); b.Points != 1000 || b.Entries != 3 {
				t.Errorf("balance = %+v; want 1000 in 3 entries (earn, redeem, give back)", b)
			}
			entries, _, err := h.ledger.Entries(h.ctx, "m1", "c1", loyalty.Page{})
			if err != nil || entries[0].Source != "redeem:adm-9:refund" || entries[0].Delta != 500 {
				t.Errorf("newest entry = %+v, %v; want +500 from redeem:adm-9:refund", entries[0], err)
			}
			if len(shop.calls) != 1 || len(h.sent.of(app.EventCouponCreated)) != 0 {
				t.Errorf("%d creates, %d events; want 1 create and no event", len(shop.calls), len(h.sent.of(app.EventCouponCreated)))
			}
		})
	}
}

// Too few points is a 422 on points, spends nothing and keeps no record:
// the same key redeems once the customer has the points.
func TestRedeemInsufficientPoints(t *testing.T) {
	h, shop := setup(t, newEngineHarness)
	_, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 1500, Key: "k1"})
	var invalid *app.ValidationError
	if !errors.As(err, &invalid) || invalid.Fields["points"] != "insufficient points: the balance is 1000" {
		t.Fatalf("Redeem(1500) = %v; want 422 on points naming the balance", err)
	}
	if len(shop.calls) != 0 || h.balance().Entries != 1 {
		t.Errorf("%d creates, %d entries; want none made", len(shop.calls), h.balance().Entries)
	}
	bounds := map[int64]string{100: "must be at least 500", 6000: "must be at most 5000", 0: "must be a positive whole number of points"}
	for points, want := range bounds {
		_, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: points})
		if !errors.As(err, &invalid) || invalid.Fields["points"] != want {
			t.Errorf("Redeem(%d) = %v; want points %q", points, err, want)
		}
	}
	if _, err := h.engine.Adjust(h.ctx, "m1", "c1", loyalty.Adjustment{Points: 600, Reason: "bonus"}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 1500, Key: "k1"}); err != nil || got.Coupon.Value != "15.00" {
		t.Fatalf("Redeem(1500) with 1600 = %+v, %v; want a ₹15.00 code", got, err)
	}
	if _, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 600, Key: "k1"}); !errors.As(err, &invalid) || invalid.Fields["key"] == "" {
		t.Errorf("the key again for other points = %v; want 422 on key", err)
	}
}

// A store that does not answer leaves the redemption to its job: it makes
// the code once the store is back; a store that never answers gets the
// points back on the job's last attempt.
func TestRedeemJobFinishesOrGivesBack(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, shop := setup(t, newHarness)
			shop.down = true
			for _, key := range []string{"later", "never"} {
				if _, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 500, Key: key}); err == nil {
					t.Fatalf("Redeem(%s) with the store down = nil; want a pending error", key)
				}
			}
			if b := h.balance(); b.Points != 0 {
				t.Fatalf("balance = %d; want 0 (both spent, pending)", b.Points)
			}
			h.clock.Advance(2 * time.Minute)
			if errs := runJobs(h, 0); len(errs) != 2 {
				t.Fatalf("job errors with the store down = %v; want both to fail for a retry", errs)
			}
			shop.mu.Lock()
			shop.down = false
			shop.errs = []error{&app.ProviderError{Provider: "shopify", Status: 503, Retryable: true}}
			shop.mu.Unlock()
			// The last attempt of one of them fails again: its points come back.
			if errs := runJobs(h, 1); len(errs) != 0 {
				t.Fatalf("job errors = %v; want none", errs)
			}
			if b := h.balance(); b.Points != 500 {
				t.Errorf("balance = %d; want 500 (one given back)", b.Points)
			}
			if shop.held() != 1 || len(h.sent.of(app.EventCouponCreated)) != 1 {
				t.Errorf("%d codes, %d events; want 1 and 1", shop.held(), len(h.sent.of(app.EventCouponCreated)))
			}
		})
	}
}

// runJobs claims every job due and runs it; lastAttempts of them run as
// their last attempt. It answers the handlers' errors, retrying those
// jobs at once (the next run finds them).
func runJobs(h *engineHarness, lastAttempts int) []error {
	h.t.Helper()
	handlers := h.engine.JobHandlers()
	jobs, err := h.store.ClaimJobs(h.ctx, time.Minute, 50)
	if err != nil {
		h.t.Fatal(err)
	}
	var errs []error
	for _, j := range jobs {
		if lastAttempts > 0 && j.Kind == loyalty.JobRedeem {
			if j.MaxAttempts < 2 {
				h.t.Fatalf("redeem job MaxAttempts = %d; want several", j.MaxAttempts)
			}
			j.Attempt = j.MaxAttempts
			lastAttempts--
		}
		if err := handlers[j.Kind](h.ctx, j); err != nil {
			errs = append(errs, err)
			if err := h.store.Retry(h.ctx, j, h.clock.Now(), err.Error()); err != nil {
				h.t.Fatal(err)
			}
			continue
		}
		if err := h.store.Ack(h.ctx, j); err != nil {
			h.t.Fatal(err)
		}
	}
	return errs
}

// The same key redeemed at once from several requests (a double tap, a
// client retrying before the first answer) spends once and makes one
// code; every request that succeeds answers that code.
func TestRedeemConcurrentSameKey(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, shop := setup(t, newHarness)
			const n = 8
			answers := make(chan loyalty.Redeemed, n)
			errs := make(chan error, n)
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					got, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 700, Key: "tap"})
					if err != nil {
						errs <- err
						return
					}
					answers <- got
				})
			}
			wg.Wait()
			close(answers)
			close(errs)
			for err := range errs {
				t.Errorf("Redeem() = %v", err)
			}
			var codes []string
			for a := range answers {
				codes = append(codes, a.Coupon.Code)
				if a.Coupon.Code != codes[0] || a.Entry.Source != "redeem:tap" {
					t.Errorf("answer = %+v; want the one code %s", a, codes[0])
				}
			}
			if b := h.balance(); b.Points != 300 || b.Entries != 2 {
				t.Errorf("balance = %+v; want 300 in 2 entries", b)
			}
			if shop.held() != 1 || len(h.sent.of(app.EventCouponCreated)) != 1 {
				t.Errorf("%d codes, %d events; want 1 and 1", shop.held(), len(h.sent.of(app.EventCouponCreated)))
			}
		})
	}
}

// customers/redact takes the customer's redemption and contact records
// with their ledger.
func TestRedactTakesRedemptions(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, _ := setup(t, newHarness)
			if _, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 500, Key: "gone"}); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"loyalty:redeem:gone", "loyalty:contact:c1"} {
				if _, _, err := h.store.State(h.ctx, "m1", key); err != nil {
					t.Fatalf("State(%s) before = %v", key, err)
				}
			}
			if err := h.engine.RedactLoyalty(h.ctx, h.m, app.CustomerIdentity{CustomerID: "c1"}); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"loyalty:redeem:gone", "loyalty:contact:c1"} {
				if _, _, err := h.store.State(h.ctx, "m1", key); !errors.Is(err, app.ErrNotFound) {
					t.Errorf("State(%s) after the redaction = %v; want ErrNotFound", key, err)
				}
			}
			if ids, err := h.store.IndexNewest(h.ctx, "m1", "loyalty-redeems:c1", 0, 10); err != nil || len(ids) != 0 {
				t.Errorf("redemptions index after = %v, %v; want empty", ids, err)
			}
		})
	}
}

// BenchmarkRedeem is one keyed redemption end to end on the embedded
// store (record and job, index, redeem entry, code, record, event), the
// store platform's call faked.
func BenchmarkRedeem(b *testing.B) {
	st, err := embedded.Open(filepath.Join(b.TempDir(), "sb.db"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	m := app.Merchant{ID: "m1", Country: "IN", Status: app.MerchantActive, Platform: app.PlatformShopify}
	m.Synced.Currency = "INR"
	codes := app.NewDiscountCodes([]byte("bench-signing-key-0123456789abcdef"))
	codes.Set(app.PlatformShopify, &fakeStore{codes: map[string]app.DiscountRequest{}})
	engine := loyalty.NewEngine(loyalty.Options{Ledger: st.Ledger(), Data: st, Queue: st, Merchants: oneMerchant{m},
		Sender: &sentEvents{seen: map[string]bool{}}, Discounts: codes})
	ctx := context.Background()
	if _, err := engine.PutProgram(ctx, "m1", redeemProgram()); err != nil {
		b.Fatal(err)
	}
	if _, err := engine.Adjust(ctx, "m1", "c1", loyalty.Adjustment{Points: loyalty.MaxPoints, Reason: "bench"}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := engine.Redeem(ctx, "m1", "c1", loyalty.Redemption{Points: 500, Key: "b" + strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// A privacy export holds the customer's redemptions, newest first, with
// their codes and outcomes (a made code, a refused one given back); a
// redaction takes them with the rest.
func TestRedeemExported(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h, shop := setup(t, newHarness)
			made, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 500, Key: "exp-1"})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(time.Minute)
			shop.errs = []error{&app.ProviderError{Provider: "shopify", Status: 200, Code: "INVALID", Message: "Minimum subtotal is invalid"}}
			if _, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 500, Key: "exp-2"}); !errors.As(err, new(*loyalty.CouponError)) {
				t.Fatalf("refused Redeem() = %v; want a CouponError", err)
			}
			who := app.CustomerIdentity{CustomerID: "c1", Phone: "+919876543210", Email: "riya@example.in"}
			got, err := h.engine.ExportLoyalty(h.ctx, h.m, who)
			if err != nil {
				t.Fatal(err)
			}
			ledgers, _ := got.([]loyalty.ExportedLedger)
			if len(ledgers) != 1 || ledgers[0].Customer != "c1" || len(ledgers[0].Redemptions) != 2 {
				t.Fatalf("export = %#v; want c1's ledger with 2 redemptions", got)
			}
			refused, created := ledgers[0].Redemptions[0], ledgers[0].Redemptions[1]
			if created.ID != "exp-1" || created.Status != "created" || created.Code != made.Coupon.Code || created.Value != "5.00" || created.Currency != "INR" ||
				created.Points != 500 || created.EndsAt == nil || created.CreatedAt.IsZero() {
				t.Errorf("made redemption = %+v; want exp-1's code %s worth 5.00 INR", created, made.Coupon.Code)
			}
			if refused.ID != "exp-2" || refused.Status != "refunded" || !strings.Contains(refused.Failure, "Minimum subtotal is invalid") || refused.Code == "" {
				t.Errorf("refused redemption = %+v; want exp-2 refunded with the store's reason", refused)
			}
			if err := h.engine.RedactLoyalty(h.ctx, h.m, who); err != nil {
				t.Fatal(err)
			}
			if x, err := h.engine.ExportLoyalty(h.ctx, h.m, who); err != nil || x != nil {
				t.Errorf("export after the redaction = %#v, %v; want nothing", x, err)
			}
		})
	}
}
