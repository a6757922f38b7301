package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
)

// TestResealCommand: after a rotation to SECRET_KEY=new,old, `reseal`
// moves every stored secret to the new key and says the old one can go;
// with the new key alone, everything still opens.
func TestResealCommand(t *testing.T) {
	const oldKey, newKey = "the-old-secret-key-of-this-install-0001", "the-new-secret-key-of-this-install-0002"
	dir := t.TempDir()
	open := func(keys ...string) (*embedded.Store, *app.Service) {
		t.Helper()
		st, err := embedded.Open(filepath.Join(dir, "storebridge.db"), embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		keyring, err := app.NewKeyring(keys...)
		if err != nil {
			t.Fatal(err)
		}
		return st, app.NewService(app.ServiceOptions{Store: st, Keyring: keyring})
	}
	st, svc := open(oldKey)
	m, _, err := svc.CreateMerchant(context.Background(), app.NewMerchant{Platform: app.PlatformShopify, Domain: "kesar.myshopify.com", Secrets: map[string]string{"access_token": "shpat_kept"}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err = run(context.Background(), []string{"storebridge", "reseal"}, env(map[string]string{"DATA_DIR": dir, "SECRET_KEY": newKey + "," + oldKey, "LOG_LEVEL": "error"}), &out)
	if err != nil || !strings.Contains(out.String(), "1 values sealed again") || !strings.Contains(out.String(), "can be removed from SECRET_KEY") {
		t.Fatalf("reseal = %v, output:\n%s\nwant one value sealed again and the old key free to go", err, out.String())
	}

	st, svc = open(newKey)
	defer st.Close()
	after, err := svc.Merchant(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if token, err := svc.MerchantSecret(after, "access_token"); err != nil || token != "shpat_kept" {
		t.Errorf("access token with the new key alone = %q, %v; want it to open", token, err)
	}
}
