package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// BenchmarkCODOrders reads the COD page's queue (the default 50, awaiting
// first) of a shop with 1000 COD orders in the month, half decided, on
// each backend; and a filter that matches none of them.
func BenchmarkCODOrders(b *testing.B) {
	for name, open := range map[string]func(b *testing.B) app.Store{
		"embedded": func(b *testing.B) app.Store {
			st, err := embedded.Open(filepath.Join(b.TempDir(), "s.db"), embedded.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		"redis": func(b *testing.B) app.Store {
			srv := redistest.Start(b, redistest.Options{})
			st := redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr()}), redisstore.Options{Prefix: "bench:"})
			b.Cleanup(func() { st.Close() })
			return st
		},
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			keyring, _ := app.NewKeyring(keyA)
			p := &scriptedProvider{}
			svc := app.NewService(app.ServiceOptions{
				Store: open(b), Keyring: keyring,
				Providers: map[string]app.ProviderKit{"scripted": {New: func(map[string]string) (app.Provider, error) { return p, nil }}},
			})
			m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "bench.myshopify.com", Name: "Bench", Country: "IN", Timezone: "Asia/Kolkata"})
			if err != nil {
				b.Fatal(err)
			}
			if m, err = svc.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "scripted", Credentials: map[string]string{"token": "t"}}); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.PutRule(ctx, m.ID, app.EventCODConfirmationAsked, app.RuleInput{Template: "cod_confirm", Variables: []string{"order.number"}}); err != nil {
				b.Fatal(err)
			}
			const orders = 1000
			for i := 0; i < orders; i += 100 {
				var batch []app.Event
				for j := i; j < i+100; j++ {
					batch = append(batch, codOrderOf(fmt.Sprint(100000+j), fmt.Sprintf("+9198%08d", j), "Asha"))
				}
				if err := svc.ProcessEvents(ctx, m, batch); err != nil {
					b.Fatal(err)
				}
			}
			for j := 0; j < orders; j += 2 {
				if _, err := svc.DecideCOD(ctx, m.ID, fmt.Sprint(100000+j), app.CODConfirm); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("queue", func(b *testing.B) {
				for b.Loop() {
					list, err := svc.CODOrders(ctx, m.ID, app.CODOrderFilter{})
					if err != nil || len(list) != 50 || list[0].State != app.CODPending {
						b.Fatalf("CODOrders() = %d orders, %v; want 50, awaiting first", len(list), err)
					}
				}
			})
			// The worst case: a filter nothing matches reads every order.
			b.Run("no match", func(b *testing.B) {
				for b.Loop() {
					list, err := svc.CODOrders(ctx, m.ID, app.CODOrderFilter{State: app.CODCancelled})
					if err != nil || len(list) != 0 {
						b.Fatalf("CODOrders(cancelled) = %d orders, %v; want none", len(list), err)
					}
				}
			})
		})
	}
}
