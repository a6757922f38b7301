package loyalty_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
)

// BenchmarkActionEarn is a pushed custom event earning an uncapped
// action (one post, one send); BenchmarkActionAtCap one arriving when a
// cap of 50 per lifetime is full, which reads the customer's entries and
// posts nothing.
func BenchmarkActionEarn(b *testing.B) { benchAction(b, 0) }

func BenchmarkActionAtCap(b *testing.B) { benchAction(b, 50) }

func benchAction(b *testing.B, limit int) {
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(b.TempDir(), "sb.db"), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	m := app.Merchant{ID: "m1", Country: "IN", Status: app.MerchantActive}
	engine := loyalty.NewEngine(loyalty.Options{Ledger: st.Ledger(), Data: st, Queue: st, Merchants: oneMerchant{m},
		Sender: &sentEvents{seen: map[string]bool{}}, Discounts: &fakeDiscounts{}})
	p := program()
	p.Actions = []loyalty.Action{{Name: "visit", On: loyalty.OnCustom, Event: "store.visited", Points: 1, Limit: limit, Per: loyalty.PerLifetime}}
	if _, err := engine.PutProgram(ctx, "m1", p); err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	for i := range limit {
		if err := engine.ObserveEvent(ctx, m, pushed("store.visited", fmt.Sprint("fill", i), "c1", at)); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		if err := engine.ObserveEvent(ctx, m, pushed("store.visited", fmt.Sprint("v", i), "c1", at)); err != nil {
			b.Fatal(err)
		}
	}
}
