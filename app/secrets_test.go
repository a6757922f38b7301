package app_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

const (
	keyA = "a-very-long-secret-key-for-tests-0001"
	keyB = "another-very-long-secret-key-for-tests-2"
)

func TestKeyringSealsAndOpens(t *testing.T) {
	k, err := app.NewKeyring(keyA)
	if err != nil {
		t.Fatal(err)
	}
	const plain = "shpat_0123456789abcdef ज्योति"
	sealed, err := k.Seal(plain, "m1/access_token")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), plain) || strings.Contains(string(sealed), "shpat_") {
		t.Fatalf("Seal() = %q; contains the plaintext", sealed)
	}
	if !strings.HasPrefix(string(sealed), "v1."+k.KeyID()+".") {
		t.Errorf("Seal() = %q; want the v1.<key id>. prefix", sealed)
	}
	again, _ := k.Seal(plain, "m1/access_token")
	if again == sealed {
		t.Error("two Seal() of the same value are equal; want a fresh nonce each time")
	}
	got, err := k.Open(sealed, "m1/access_token")
	if err != nil || got != plain {
		t.Fatalf("Open() = %q, %v; want %q", got, err, plain)
	}
	if _, err := k.Open(sealed, "m2/access_token"); err == nil {
		t.Error("Open() with another record's context succeeded; want a failure")
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := k.Open(tampered, "m1/access_token"); err == nil {
		t.Error("Open(tampered) succeeded; want a failure")
	}
}

func TestKeyringWrongKeyFailsLoudly(t *testing.T) {
	a, _ := app.NewKeyring(keyA)
	b, _ := app.NewKeyring(keyB)
	sealed, _ := a.Seal("cs_secret", "ctx")
	if _, err := b.Open(sealed, "ctx"); !errors.Is(err, app.ErrUnknownKey) {
		t.Fatalf("Open() with the wrong SECRET_KEY = %v; want ErrUnknownKey", err)
	}
}

func TestKeyringRotation(t *testing.T) {
	old, _ := app.NewKeyring(keyA)
	sealed, _ := old.Seal("wati-token", "ctx")
	rotated, err := app.NewKeyring(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.Open(sealed, "ctx"); err != nil || got != "wati-token" {
		t.Fatalf("Open() of an old value after rotation = %q, %v", got, err)
	}
	if !rotated.NeedsReseal(sealed) {
		t.Error("NeedsReseal(old value) = false; want true")
	}
	fresh, _ := rotated.Seal("wati-token", "ctx")
	if rotated.NeedsReseal(fresh) {
		t.Error("NeedsReseal(fresh value) = true; want false")
	}
	if _, err := old.Open(fresh, "ctx"); !errors.Is(err, app.ErrUnknownKey) {
		t.Errorf("old keyring Open(new value) = %v; want ErrUnknownKey", err)
	}
}

func TestKeyringRefusesShortKeys(t *testing.T) {
	if _, err := app.NewKeyring("short"); err == nil {
		t.Error("NewKeyring(short) = nil error; want a refusal")
	}
	if _, err := app.NewKeyring(); err == nil {
		t.Error("NewKeyring() = nil error; want a refusal")
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := app.NewID(fixedTime.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 {
			t.Fatalf("NewID() = %q; want 26 characters", id)
		}
		if id <= prev {
			t.Fatalf("NewID() = %q after %q; want increasing ids", id, prev)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id], prev = true, id
	}
}

var fixedTime = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
