package app

import (
	"context"
	"errors"
	"regexp"
	"testing"
)

func TestCodeForIsStablePerSourceAndUnguessableAcrossKeys(t *testing.T) {
	m := Merchant{ID: "m1", Platform: PlatformShopify}
	a := NewDiscountCodes([]byte("key-a"))
	code := a.CodeFor(m, "sb", "redeem:r1")
	if !regexp.MustCompile(`^SB-[A-HJ-NP-Z2-9]{12}$`).MatchString(code) {
		t.Fatalf("code %q has the wrong shape", code)
	}
	if again := a.CodeFor(m, "SB", "redeem:r1"); again != code {
		t.Fatalf("same source gave %q then %q", code, again)
	}
	if other := a.CodeFor(m, "SB", "redeem:r2"); other == code {
		t.Fatal("two sources gave one code")
	}
	if other := a.CodeFor(Merchant{ID: "m2"}, "SB", "redeem:r1"); other == code {
		t.Fatal("two merchants gave one code")
	}
	if other := NewDiscountCodes([]byte("key-b")).CodeFor(m, "SB", "redeem:r1"); other == code {
		t.Fatal("another key gave the same code")
	}
}

func TestCreateDiscountWithoutACreatorIsPermanent(t *testing.T) {
	d := NewDiscountCodes([]byte("k"))
	_, err := d.CreateDiscount(context.Background(), Merchant{ID: "m", Platform: PlatformWooCommerce},
		DiscountRequest{Code: "SB-X", Kind: DiscountFixedAmount, Value: "5"})
	var p *PermanentError
	if !errors.As(err, &p) || !errors.Is(err, ErrNoDiscounts) {
		t.Fatalf("err = %v, want a permanent ErrNoDiscounts", err)
	}
}
