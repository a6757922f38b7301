package app_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// A SECRET_KEY rotation keeps everything working: provider status URLs
// given out before it, sessions signed before it; reseal moves every
// stored secret to the new key and pins the status URLs, after which the
// old key can go and still nothing breaks.
func TestSecretKeyRotation(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "r.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Wati signs nothing: only the URL's token authenticates its webhooks.
	kits := map[string]app.ProviderKit{"wati": {
		New:          func(map[string]string) (app.Provider, error) { return &scriptedProvider{}, nil },
		ParseWebhook: func(http.Header, []byte) (app.ProviderReport, error) { return app.ProviderReport{}, nil },
	}}
	service := func(keys ...string) *app.Service {
		t.Helper()
		keyring, err := app.NewKeyring(keys...)
		if err != nil {
			t.Fatal(err)
		}
		return app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Providers: kits, CheckURL: strictURLs})
	}
	old := service(keyA)
	m, _, err := old.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Secrets: map[string]string{"access_token": "shpat_old"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.SetProvider(ctx, m.ID, app.ProviderInput{Provider: "wati", Credentials: map[string]string{"api_token": "wati-token"}}); err != nil {
		t.Fatal(err)
	}
	// A merchant set up before status tokens were stored has none.
	legacy, err := st.UpdateMerchant(ctx, m.ID, func(m *app.Merchant) error { delete(m.Secrets, "status_token"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	statusToken := old.ProviderStatusToken(legacy)
	nectorToken := old.NectorToken(legacy)
	session, _, err := old.NewSession(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	statusCall := func(svc *app.Service, token string) error {
		return svc.ReceiveProviderWebhook(ctx, app.ProviderWebhook{Provider: "wati", MerchantID: m.ID, Token: token, Body: []byte(`{}`)})
	}
	nectorCall := func(svc *app.Service, token string) error {
		_, err := svc.ReceiveNectorWebhook(ctx, app.NectorWebhook{MerchantID: m.ID, Token: token, Topic: "walletreward_create", Body: []byte(`{"user_mobile":"9876543210"}`)})
		return err
	}

	rotating := service(keyB, keyA)
	if err := statusCall(rotating, statusToken); err != nil {
		t.Fatalf("status webhook with the URL given before the rotation, SECRET_KEY=new,old: %v; want accepted", err)
	}
	if got, _ := rotating.Merchant(ctx, m.ID); rotating.ProviderStatusToken(got) != statusToken {
		t.Errorf("status URL shown during the rotation changed; want the one the provider was given")
	}
	if err := nectorCall(rotating, nectorToken); err != nil {
		t.Fatalf("Nector inbox with the address given before the rotation: %v; want accepted", err)
	}
	if got, _ := rotating.Merchant(ctx, m.ID); rotating.NectorToken(got) != nectorToken {
		t.Errorf("Nector inbox address shown during the rotation changed; want the one Nector was given")
	}
	if id, err := rotating.SessionMerchant(ctx, session); err != nil || id != m.ID {
		t.Errorf("session signed before the rotation = %q, %v; want it to verify while the old key is listed", id, err)
	}

	report, err := rotating.Reseal(ctx)
	if err != nil || !report.OldKeysCanGo() || report.Resealed != 2 || report.Pinned != 2 {
		t.Fatalf("Reseal() = %+v, %v; want the token and the provider key sealed again, the status and Nector tokens pinned, the old key free to go", report, err)
	}
	if again, err := rotating.Reseal(ctx); err != nil || again.Resealed+again.Pinned != 0 {
		t.Errorf("second Reseal() = %+v, %v; want nothing left to do", again, err)
	}

	rotated := service(keyB)
	if err := statusCall(rotated, statusToken); err != nil {
		t.Fatalf("status webhook after the old key went: %v; want the same URL still accepted", err)
	}
	if err := statusCall(rotated, "guess"); err == nil {
		t.Errorf("status webhook with a wrong token was accepted")
	}
	if err := nectorCall(rotated, nectorToken); err != nil {
		t.Fatalf("Nector inbox after the old key went: %v; want the same address still accepted", err)
	}
	if err := nectorCall(rotated, "guess"); !errors.Is(err, app.ErrUnauthenticated) {
		t.Errorf("Nector inbox with a wrong token = %v; want ErrUnauthenticated", err)
	}
	after, err := rotated.Merchant(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if token, err := rotated.MerchantSecret(after, "access_token"); err != nil || token != "shpat_old" {
		t.Errorf("store token after the old key went = %q, %v; want it sealed under the new key", token, err)
	}
}
