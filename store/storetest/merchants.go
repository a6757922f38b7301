package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

func sampleMerchant(clock *Clock, id, domain string) app.Merchant {
	now := clock.Now().UTC().Truncate(time.Millisecond)
	return app.Merchant{
		ID:         id,
		Platform:   app.PlatformShopify,
		Domain:     domain,
		Name:       "Asha Naturals ✿",
		Country:    "IN",
		Timezone:   "Asia/Kolkata",
		Status:     app.MerchantActive,
		APIKeyHash: "hash-" + id,
		Secrets:    map[string]app.Sealed{"access_token": "v1.abcd1234.c2VhbGVk"},
		Provider: app.ProviderConfig{
			Name:           "interakt",
			CommonProperty: "phone",
			Credentials:    map[string]app.Sealed{"api_key": "v1.abcd1234.a2V5"},
			VerifiedAt:     now,
		},
		Settings:  map[string]string{"cod_gateways": "Cash on Delivery (COD)"},
		CreatedAt: now,
		UpdatedAt: now,
	}
}

func merchantCases() []testCase {
	return []testCase{
		{"Merchant/CreateGetRoundTrip", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			want := sampleMerchant(clock, "m1", "asha-naturals.myshopify.com")
			if err := s.CreateMerchant(ctx, want); err != nil {
				t.Fatalf("CreateMerchant() = %v; want nil", err)
			}
			want.Version = 1
			got, err := s.GetMerchant(ctx, "m1")
			if err != nil {
				t.Fatalf("GetMerchant(m1) = %v; want nil", err)
			}
			assertMerchant(t, got, want)
			byDomain, err := s.MerchantByDomain(ctx, app.PlatformShopify, "asha-naturals.myshopify.com")
			if err != nil || byDomain.ID != "m1" {
				t.Fatalf("MerchantByDomain() = %q, %v; want m1", byDomain.ID, err)
			}
			byKey, err := s.MerchantByAPIKeyHash(ctx, "hash-m1")
			if err != nil || byKey.ID != "m1" {
				t.Fatalf("MerchantByAPIKeyHash() = %q, %v; want m1", byKey.ID, err)
			}
		}},
		{"Merchant/NotFound", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if _, err := s.GetMerchant(ctx, "nope"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("GetMerchant(nope) = %v; want ErrNotFound", err)
			}
			if _, err := s.MerchantByDomain(ctx, app.PlatformShopify, "nope.myshopify.com"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MerchantByDomain(nope) = %v; want ErrNotFound", err)
			}
			if _, err := s.MerchantByAPIKeyHash(ctx, "nope"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MerchantByAPIKeyHash(nope) = %v; want ErrNotFound", err)
			}
			called := false
			if _, err := s.UpdateMerchant(ctx, "nope", func(*app.Merchant) error { called = true; return nil }); !errors.Is(err, app.ErrNotFound) || called {
				t.Errorf("UpdateMerchant(nope) = %v (change called: %v); want ErrNotFound, change not called", err, called)
			}
		}},
		{"Merchant/Conflicts", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.CreateMerchant(ctx, sampleMerchant(clock, "m1", "one.myshopify.com")); err != nil {
				t.Fatal(err)
			}
			sameID := sampleMerchant(clock, "m1", "other.myshopify.com")
			sameID.APIKeyHash = "other-hash"
			if err := s.CreateMerchant(ctx, sameID); !errors.Is(err, app.ErrConflict) {
				t.Errorf("CreateMerchant(same id) = %v; want ErrConflict", err)
			}
			sameDomain := sampleMerchant(clock, "m2", "one.myshopify.com")
			if err := s.CreateMerchant(ctx, sameDomain); !errors.Is(err, app.ErrConflict) {
				t.Errorf("CreateMerchant(same domain) = %v; want ErrConflict", err)
			}
			sameKey := sampleMerchant(clock, "m3", "three.myshopify.com")
			sameKey.APIKeyHash = "hash-m1"
			if err := s.CreateMerchant(ctx, sameKey); !errors.Is(err, app.ErrConflict) {
				t.Errorf("CreateMerchant(same api key) = %v; want ErrConflict", err)
			}
			// A refused create leaves nothing behind: the domain of the
			// refused merchant stays free.
			if _, err := s.MerchantByDomain(ctx, app.PlatformShopify, "three.myshopify.com"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MerchantByDomain(three) after refused create = %v; want ErrNotFound", err)
			}
			// The same domain on another platform is another store.
			woo := sampleMerchant(clock, "m4", "one.myshopify.com")
			woo.Platform = app.PlatformWooCommerce
			woo.APIKeyHash = "hash-m4"
			if err := s.CreateMerchant(ctx, woo); err != nil {
				t.Errorf("CreateMerchant(same domain, other platform) = %v; want nil", err)
			}
		}},
		{"Merchant/UpdateMovesIndexes", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			m := sampleMerchant(clock, "m1", "old.myshopify.com")
			m.Own = app.Profile{Name: "Asha's own"}
			m.Synced = app.Profile{Country: "IN", Timezone: "Asia/Kolkata"}
			if err := s.CreateMerchant(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateMerchant(ctx, sampleMerchant(clock, "m2", "taken.myshopify.com")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateMerchant(ctx, "m1", func(m *app.Merchant) error {
				m.Domain = "taken.myshopify.com"
				return nil
			}); !errors.Is(err, app.ErrConflict) {
				t.Fatalf("UpdateMerchant(to taken domain) = %v; want ErrConflict", err)
			}
			m.Domain = "new.myshopify.com"
			m.APIKeyHash = "rotated"
			m.Name = "Asha Naturals (renamed)"
			m.Status = app.MerchantUninstalled
			m.Secrets = nil
			m.Version = 2 // the refused update wrote nothing
			written, err := s.UpdateMerchant(ctx, "m1", func(stored *app.Merchant) error {
				stored.Domain, stored.APIKeyHash, stored.Name, stored.Status, stored.Secrets = m.Domain, m.APIKeyHash, m.Name, m.Status, nil
				return nil
			})
			if err != nil {
				t.Fatalf("UpdateMerchant() = %v; want nil", err)
			}
			assertMerchant(t, written, m)
			got, err := s.GetMerchant(ctx, "m1")
			if err != nil {
				t.Fatal(err)
			}
			assertMerchant(t, got, m)
			if _, err := s.MerchantByDomain(ctx, app.PlatformShopify, "old.myshopify.com"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MerchantByDomain(old) = %v; want ErrNotFound", err)
			}
			if got, err := s.MerchantByDomain(ctx, app.PlatformShopify, "new.myshopify.com"); err != nil || got.ID != "m1" {
				t.Errorf("MerchantByDomain(new) = %q, %v; want m1", got.ID, err)
			}
			if _, err := s.MerchantByAPIKeyHash(ctx, "hash-m1"); !errors.Is(err, app.ErrNotFound) {
				t.Errorf("MerchantByAPIKeyHash(old key) = %v; want ErrNotFound", err)
			}
			if got, err := s.MerchantByAPIKeyHash(ctx, "rotated"); err != nil || got.ID != "m1" {
				t.Errorf("MerchantByAPIKeyHash(rotated) = %q, %v; want m1", got.ID, err)
			}
		}},
		{"Merchant/UpdateAbortsOnError", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			m := sampleMerchant(clock, "m1", "one.myshopify.com")
			if err := s.CreateMerchant(ctx, m); err != nil {
				t.Fatal(err)
			}
			refusal := errors.New("refused")
			if _, err := s.UpdateMerchant(ctx, "m1", func(m *app.Merchant) error {
				m.Name = "half done"
				return refusal
			}); !errors.Is(err, refusal) {
				t.Fatalf("UpdateMerchant(change fails) = %v; want the change's error", err)
			}
			got, err := s.GetMerchant(ctx, "m1")
			m.Version = 1
			if err != nil {
				t.Fatal(err)
			}
			assertMerchant(t, got, m)
		}},
		// Writers of different fields never undo each other: a token
		// refresh and a settings change racing both survive.
		{"Merchant/ConcurrentUpdatesAllSurvive", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			if err := s.CreateMerchant(ctx, sampleMerchant(clock, "m1", "one.myshopify.com")); err != nil {
				t.Fatal(err)
			}
			const writers, each = 8, 5
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for w := range writers {
				wg.Go(func() {
					for n := range each {
						_, err := s.UpdateMerchant(ctx, "m1", func(m *app.Merchant) error {
							if m.Settings == nil {
								m.Settings = map[string]string{}
							}
							m.Settings[fmt.Sprintf("w%d-%d", w, n)] = "set"
							return nil
						})
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("UpdateMerchant() under contention = %v; want nil", err)
				}
			}
			got, err := s.GetMerchant(ctx, "m1")
			if err != nil {
				t.Fatal(err)
			}
			for w := range writers {
				for n := range each {
					if got.Settings[fmt.Sprintf("w%d-%d", w, n)] != "set" {
						t.Errorf("setting w%d-%d lost: a concurrent write undid it", w, n)
					}
				}
			}
			if want := int64(1 + writers*each); got.Version != want {
				t.Errorf("Version = %d; want %d (one per write)", got.Version, want)
			}
		}},
		{"Merchant/ListOrderedByID", func(t *testing.T, clock *Clock, s app.Store) {
			ctx := context.Background()
			for _, id := range []string{"m3", "m1", "m2"} {
				if err := s.CreateMerchant(ctx, sampleMerchant(clock, id, id+".myshopify.com")); err != nil {
					t.Fatal(err)
				}
			}
			list, err := s.ListMerchants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range list {
				ids = append(ids, m.ID)
			}
			if want := []string{"m1", "m2", "m3"}; !reflect.DeepEqual(ids, want) {
				t.Errorf("ListMerchants() ids = %v; want %v", ids, want)
			}
		}},
		{"Ping", func(t *testing.T, clock *Clock, s app.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Errorf("Ping() = %v; want nil", err)
			}
		}},
	}
}

func assertMerchant(t *testing.T, got, want app.Merchant) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !got.Provider.VerifiedAt.Equal(want.Provider.VerifiedAt) {
		t.Errorf("merchant times = %v %v %v; want %v %v %v", got.CreatedAt, got.UpdatedAt, got.Provider.VerifiedAt, want.CreatedAt, want.UpdatedAt, want.Provider.VerifiedAt)
	}
	got.CreatedAt, got.UpdatedAt, got.Provider.VerifiedAt = want.CreatedAt, want.UpdatedAt, want.Provider.VerifiedAt
	if len(got.Secrets) == 0 && len(want.Secrets) == 0 {
		got.Secrets = want.Secrets
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merchant = %+v; want %+v", got, want)
	}
}
