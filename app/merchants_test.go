package app_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// strictURLs is main's outbound URL check as production runs it.
func strictURLs(raw string) (*url.URL, error) { return adapters.CheckURL(raw, false) }

const (
	plainToken  = "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"
	plainSecret = "whsec-ज्योति-0123456789"
)

func newWooMerchant() app.NewMerchant {
	return app.NewMerchant{
		Platform: app.PlatformWooCommerce,
		StoreURL: "https://shop.ashanaturals.in/",
		Name:     "Asha Naturals",
		Country:  "in",
		Timezone: "Asia/Kolkata",
		Secrets:  map[string]string{"consumer_key": "ck_" + plainToken, "consumer_secret": "cs_" + plainToken, "webhook_secret": plainSecret},
	}
}

// TestSecretsAreSealedAtRest stores a merchant through the service on both
// backends and searches every byte they keep for the plaintext.
func TestSecretsAreSealedAtRest(t *testing.T) {
	keyring, err := app.NewKeyring(keyA)
	if err != nil {
		t.Fatal(err)
	}
	backends := map[string]func(t *testing.T) (app.Store, func() []byte){
		"embedded": func(t *testing.T) (app.Store, func() []byte) {
			path := filepath.Join(t.TempDir(), "s.db")
			st, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st, func() []byte {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				return raw
			}
		},
		"redis": func(t *testing.T) (app.Store, func() []byte) {
			srv := redistest.Start(t, redistest.Options{})
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			st := redisstore.New(rdb, redisstore.Options{Prefix: "t:"})
			t.Cleanup(func() { st.Close() })
			return st, func() []byte { return dumpRedis(t, srv.Addr()) }
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			st, raw := open(t)
			svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, CheckURL: strictURLs})
			m, apiKey, err := svc.CreateMerchant(context.Background(), newWooMerchant())
			if err != nil {
				t.Fatalf("CreateMerchant() = %v", err)
			}
			stored := raw()
			if !bytes.Contains(stored, []byte(m.ID)) {
				t.Fatalf("the raw %s store does not hold merchant %s: the scan reads the wrong bytes", name, m.ID)
			}
			for _, plain := range []string{plainToken, plainSecret, apiKey} {
				if bytes.Contains(stored, []byte(plain)) {
					t.Errorf("the raw %s store contains the plaintext %q", name, plain[:8])
				}
			}
			got, err := st.GetMerchant(context.Background(), m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if secret, err := svc.MerchantSecret(got, "webhook_secret"); err != nil || secret != plainSecret {
				t.Errorf("MerchantSecret(webhook_secret) = %q, %v; want the original", secret, err)
			}
			if byKey, err := st.MerchantByAPIKeyHash(context.Background(), app.HashAPIKey(apiKey)); err != nil || byKey.ID != m.ID {
				t.Errorf("MerchantByAPIKeyHash(hash of the key) = %q, %v; want %s", byKey.ID, err, m.ID)
			}

			// Reading with another SECRET_KEY fails loudly, not with garbage.
			wrong, _ := app.NewKeyring(keyB)
			other := app.NewService(app.ServiceOptions{Store: st, Keyring: wrong})
			if _, err := other.MerchantSecret(got, "webhook_secret"); !errors.Is(err, app.ErrUnknownKey) {
				t.Errorf("MerchantSecret() with the wrong key = %v; want ErrUnknownKey", err)
			}
		})
	}
}

func dumpRedis(t *testing.T, addr string) []byte {
	t.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, key := range keys {
		out.WriteString(key + "\n")
		switch typ := rdb.Type(ctx, key).Val(); typ {
		case "string":
			out.WriteString(rdb.Get(ctx, key).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, key).Val() {
				out.WriteString(f + "=" + v + "\n")
			}
		case "set":
			out.WriteString(strings.Join(rdb.SMembers(ctx, key).Val(), "\n"))
		case "zset":
			out.WriteString(strings.Join(rdb.ZRange(ctx, key, 0, -1).Val(), "\n"))
		case "list":
			out.WriteString(strings.Join(rdb.LRange(ctx, key, 0, -1).Val(), "\n"))
		default:
			t.Fatalf("key %s has type %s the scan cannot read", key, typ)
		}
		out.WriteString("\n")
	}
	return out.Bytes()
}

func TestCreateMerchantValidates(t *testing.T) {
	keyring, _ := app.NewKeyring(keyA)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, CheckURL: strictURLs})
	cases := []struct {
		name  string
		in    app.NewMerchant
		field string
	}{
		{"shop domain with a path", app.NewMerchant{Platform: app.PlatformShopify, Domain: "attacker.com/?x.myshopify.com"}, "shop_domain"},
		{"shop domain of another site", app.NewMerchant{Platform: app.PlatformShopify, Domain: "x.myshopify.com.evil.com"}, "shop_domain"},
		{"unknown platform", app.NewMerchant{Platform: "magento"}, "platform"},
		{"store url not a url", app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "shop"}, "store_url"},
		{"bad country", app.NewMerchant{Platform: app.PlatformShopify, Domain: "a.myshopify.com", Country: "India"}, "country"},
		{"bad timezone", app.NewMerchant{Platform: app.PlatformShopify, Domain: "a.myshopify.com", Timezone: "Mars/Olympus"}, "timezone"},
		{"unknown secret", app.NewMerchant{Platform: app.PlatformShopify, Domain: "a.myshopify.com", Secrets: map[string]string{"password": "x"}}, "password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := svc.CreateMerchant(context.Background(), tc.in)
			var ve *app.ValidationError
			if !errors.As(err, &ve) || ve.Fields[tc.field] == "" {
				t.Errorf("CreateMerchant() = %v; want a validation error on %s", err, tc.field)
			}
		})
	}
	m, _, err := svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformShopify, Domain: "Asha-Naturals.myshopify.com"})
	if err != nil || m.Domain != "asha-naturals.myshopify.com" || m.Country != "IN" || m.Timezone != "Asia/Kolkata" {
		t.Errorf("CreateMerchant(minimal) = %+v, %v; want the domain lowered and defaults set", m, err)
	}
	if _, _, err := svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformShopify, Domain: "asha-naturals.myshopify.com"}); !errors.Is(err, app.ErrConflict) {
		t.Errorf("CreateMerchant(same shop twice) = %v; want ErrConflict", err)
	}
}

// A merchant's own name, country and time zone win over what the store
// reports; clearing one goes back to the store's. A record written before
// the two were kept apart keeps what was in force.
func TestMerchantProfileOwnOverSynced(t *testing.T) {
	ctx := context.Background()
	keyring, _ := app.NewKeyring(keyA)
	st, err := embedded.Open(filepath.Join(t.TempDir(), "s.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, CheckURL: strictURLs})
	m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Name: "Kesar (own)"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error {
		m.Synced = app.Profile{Name: "Kesar Kitchen", Country: "AE", Timezone: "Asia/Dubai"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tz := "Asia/Kolkata"
	got, err := svc.UpdateSettings(ctx, m.ID, app.SettingsInput{Timezone: &tz})
	if err != nil || got.Name != "Kesar (own)" || got.Country != "AE" || got.Timezone != "Asia/Kolkata" {
		t.Fatalf("after own time zone = %q %q %q, %v; want own name, shop's country, own time zone", got.Name, got.Country, got.Timezone, err)
	}
	clear := ""
	got, err = svc.UpdateSettings(ctx, m.ID, app.SettingsInput{Name: &clear, Timezone: &clear})
	if err != nil || got.Name != "Kesar Kitchen" || got.Timezone != "Asia/Dubai" {
		t.Fatalf("after clearing = %q %q, %v; want the shop's name and time zone", got.Name, got.Timezone, err)
	}

	legacy := app.Merchant{ID: "m_legacy", Platform: app.PlatformShopify, Domain: "old.myshopify.com", Name: "Old Name", Country: "GB", Timezone: "Europe/London", Status: app.MerchantActive}
	if err := st.CreateMerchant(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	hours := "off"
	got, err = svc.UpdateSettings(ctx, legacy.ID, app.SettingsInput{QuietHours: &hours})
	if err != nil || got.Name != "Old Name" || got.Country != "GB" || got.Timezone != "Europe/London" {
		t.Fatalf("legacy record after an unrelated setting = %q %q %q, %v; want what was in force kept", got.Name, got.Country, got.Timezone, err)
	}
}
