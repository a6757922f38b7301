package app_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// TestSignInLinkSignsInOnce: on both backends, a link signs its own
// merchant in once, two uses at the same moment sign in once, and the
// store never holds the token.
func TestSignInLinkSignsInOnce(t *testing.T) {
	keyring, err := app.NewKeyring(keyA)
	if err != nil {
		t.Fatal(err)
	}
	for name, open := range privacyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, raw := open(t)
			svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, CheckURL: strictURLs})
			a, _, err := svc.CreateMerchant(ctx, newWooMerchant())
			if err != nil {
				t.Fatal(err)
			}
			other := newWooMerchant()
			other.StoreURL, other.Name = "https://chai-point.example.in", "Chai Point"
			b, _, err := svc.CreateMerchant(ctx, other)
			if err != nil {
				t.Fatal(err)
			}

			before := time.Now()
			linkA, err := svc.NewSignInLink(ctx, a)
			if err != nil {
				t.Fatalf("NewSignInLink(A) = %v", err)
			}
			if !strings.HasPrefix(linkA.Token, "sbl_") || len(linkA.Token) < 40 {
				t.Errorf("token %q; want sbl_ and 256 random bits or more", linkA.Token)
			}
			if d := linkA.ExpiresAt.Sub(before); d < app.SignInLinkTTL-time.Second || d > app.SignInLinkTTL+time.Second {
				t.Errorf("ExpiresAt in %s; want %s", d, app.SignInLinkTTL)
			}
			linkB, err := svc.NewSignInLink(ctx, b)
			if err != nil {
				t.Fatalf("NewSignInLink(B) = %v", err)
			}
			if linkA.Token == linkB.Token {
				t.Fatal("two links share a token")
			}

			if id, err := svc.SignInWithLink(ctx, linkA.Token); err != nil || id != a.ID {
				t.Fatalf("SignInWithLink(A's) = %q, %v; want %s", id, err, a.ID)
			}
			if id, err := svc.SignInWithLink(ctx, linkA.Token); !errors.Is(err, app.ErrUnauthenticated) {
				t.Fatalf("SignInWithLink(A's) again = %q, %v; want ErrUnauthenticated", id, err)
			}
			// A's link signed in A only; B's still signs in B.
			if id, err := svc.SignInWithLink(ctx, linkB.Token); err != nil || id != b.ID {
				t.Fatalf("SignInWithLink(B's) = %q, %v; want %s", id, err, b.ID)
			}

			race, err := svc.NewSignInLink(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			signedIn := 0
			for range 10 {
				wg.Go(func() {
					id, err := svc.SignInWithLink(ctx, race.Token)
					switch {
					case err == nil && id == a.ID:
						mu.Lock()
						signedIn++
						mu.Unlock()
					case !errors.Is(err, app.ErrUnauthenticated):
						t.Errorf("SignInWithLink() = %q, %v", id, err)
					}
				})
			}
			wg.Wait()
			if signedIn != 1 {
				t.Errorf("10 uses of one link at once signed in %d times; want 1", signedIn)
			}

			for _, bad := range []string{"", "sbl_", "sbl_nope", linkA.Token[4:], strings.ToUpper(linkB.Token), strings.Repeat("sbl_x", 100)} {
				if id, err := svc.SignInWithLink(ctx, bad); !errors.Is(err, app.ErrUnauthenticated) {
					t.Errorf("SignInWithLink(%q) = %q, %v; want ErrUnauthenticated", bad, id, err)
				}
			}

			unused, err := svc.NewSignInLink(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			stored := raw()
			if !bytes.Contains(stored, []byte(a.ID)) {
				t.Fatalf("the raw %s store does not hold merchant %s: the scan reads the wrong bytes", name, a.ID)
			}
			for _, token := range []string{linkA.Token, linkB.Token, race.Token, unused.Token} {
				if bytes.Contains(stored, []byte(token)) || bytes.Contains(stored, []byte(token[4:])) {
					t.Errorf("the raw %s store holds a sign-in token", name)
				}
			}
		})
	}
}

// TestSignInLinkExpires: a link unused for SignInLinkTTL signs nobody in.
func TestSignInLinkExpires(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m, _, err := env.svc.CreateMerchant(ctx, newWooMerchant())
	if err != nil {
		t.Fatal(err)
	}
	late, err := env.svc.NewSignInLink(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	inTime, err := env.svc.NewSignInLink(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(app.SignInLinkTTL - time.Second)
	if id, err := env.svc.SignInWithLink(ctx, inTime.Token); err != nil || id != m.ID {
		t.Fatalf("SignInWithLink() a second before expiry = %q, %v; want %s", id, err, m.ID)
	}
	env.clock.Add(2 * time.Second)
	if id, err := env.svc.SignInWithLink(ctx, late.Token); !errors.Is(err, app.ErrUnauthenticated) {
		t.Fatalf("SignInWithLink() after %s = %q, %v; want ErrUnauthenticated", app.SignInLinkTTL, id, err)
	}
}

// TestSignInLinkOfAnUninstalledStore: an uninstalled store gets no link,
// and one made before the uninstall signs nobody in.
func TestSignInLinkOfAnUninstalledStore(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m, _, err := env.svc.CreateMerchant(ctx, newWooMerchant())
	if err != nil {
		t.Fatal(err)
	}
	link, err := env.svc.NewSignInLink(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := env.st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { m.Status = app.MerchantUninstalled; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if id, err := env.svc.SignInWithLink(ctx, link.Token); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("SignInWithLink() of an uninstalled store = %q, %v; want ErrUnauthenticated", id, err)
	}
	if _, err := env.svc.NewSignInLink(ctx, gone); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("NewSignInLink() of an uninstalled store = %v; want ErrUnauthenticated", err)
	}
}

// TestNewAPIKey: the new key works at once and the old one never again;
// another merchant's key is untouched.
func TestNewAPIKey(t *testing.T) {
	env := newWooEnv(t)
	ctx := context.Background()
	m, oldKey, err := env.svc.CreateMerchant(ctx, newWooMerchant())
	if err != nil {
		t.Fatal(err)
	}
	other := newWooMerchant()
	other.StoreURL = "https://chai-point.example.in"
	_, otherKey, err := env.svc.CreateMerchant(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := env.svc.NewAPIKey(ctx, m.ID)
	if err != nil || !strings.HasPrefix(newKey, "sbk_") || newKey == oldKey {
		t.Fatalf("NewAPIKey() = %q, %v; want a new sbk_ key", newKey, err)
	}
	if id, err := env.svc.SignInWithAPIKey(ctx, newKey); err != nil || id != m.ID {
		t.Errorf("SignInWithAPIKey(new) = %q, %v; want %s", id, err, m.ID)
	}
	if id, err := env.svc.SignInWithAPIKey(ctx, oldKey); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("SignInWithAPIKey(old) = %q, %v; want ErrUnauthenticated", id, err)
	}
	if _, err := env.svc.SignInWithAPIKey(ctx, otherKey); err != nil {
		t.Errorf("another merchant's key after the change = %v; want it working", err)
	}
}
