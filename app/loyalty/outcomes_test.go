package loyalty_test

import (
	"testing"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// The engine's outcomes (points earned and redeemed, codes created and
// used) are counted once each, however often the events behind them are
// delivered or a redemption is retried.
func TestLoyaltyOutcomesCountedOnce(t *testing.T) {
	for name, newHarness := range backends {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, redeemProgram())
			shop := &fakeStore{codes: map[string]app.DiscountRequest{}}
			h.m.Platform, h.m.Synced.Currency = app.PlatformShopify, "INR"
			codes := app.NewDiscountCodes([]byte("test-signing-key-0123456789abcdef"))
			codes.Set(app.PlatformShopify, shop)
			counts := &fakeCounts{}
			h.engine = loyalty.NewEngine(loyalty.Options{Ledger: h.ledger, Data: h.store, Queue: h.store, Merchants: oneMerchant{h.m},
				Sender: h.sent, Discounts: codes, Counts: counts, Now: h.clock.Now})
			paid := app.Event{Type: app.EventOrderPaid, Subject: "order:1001",
				Customer:   app.Customer{ID: "c1", FirstName: "Riya", Phone: "+919876543210"},
				Properties: map[string]any{"order": map[string]any{"id": "1001", "total_amount": "1000"}}}
			h.observe(paid)
			h.observe(paid)
			for range 2 {
				if _, err := h.engine.Redeem(h.ctx, "m1", "c1", loyalty.Redemption{Points: 600, Key: "r1"}); err != nil {
					t.Fatal(err)
				}
			}
			var code string
			for c := range shop.codes {
				code = c
			}
			used := app.Event{Type: app.EventOrderPlaced, Subject: "order:1002",
				Customer: app.Customer{ID: "c1", Phone: "+919876543210"},
				Properties: map[string]any{"order": map[string]any{"id": "1002", "total_amount": "400",
					"discount_codes": "WELCOME10, " + code}}}
			h.observe(used)
			h.observe(used)
			used.Type = app.EventOrderPaid
			h.observe(used)

			for outcome, want := range map[string]int{
				app.LoyaltyCountPointsEarned: 1000 + 400, app.LoyaltyCountPointsRedeemed: 600,
				app.LoyaltyCountCouponsCreated: 1, app.LoyaltyCountCouponsUsed: 1,
			} {
				if got := counts.get(app.LoyaltySubject + " " + outcome); got != want {
					t.Errorf("%s = %d; want %d", outcome, got, want)
				}
			}
		})
	}
}
