package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app/loyalty"
)

// failingLedger fails every post for one customer.
type failingLedger struct {
	loyalty.Ledger
	customer string
}

var errDown = errors.New("store down")

func (f failingLedger) Post(ctx context.Context, merchant, customer string, entries []loyalty.Entry) (loyalty.Result, error) {
	if customer == f.customer {
		return loyalty.Result{}, errDown
	}
	return f.Ledger.Post(ctx, merchant, customer, entries)
}

// A sweep expires every due lot of every customer, many at once, and
// stops with the error when one customer's post fails.
func TestExpireDue(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: base}
	m := newModel(clock.Now)
	for c := range 30 {
		var entries []loyalty.Entry
		for j := range 3 + c%4 {
			entries = append(entries, loyalty.Entry{Kind: loyalty.KindEarn, Source: fmt.Sprintf("o%d-%d", c, j), Points: 10, ExpiresAt: base.Add(time.Duration(j) * time.Minute)})
		}
		if _, err := m.Post(ctx, "m1", fmt.Sprintf("c%d", c), entries); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Hour)
	failing := failingLedger{Ledger: m, customer: "c7"}
	if _, err := loyalty.ExpireDue(ctx, failing, "m1", clock.Now(), 4); !errors.Is(err, errDown) {
		t.Fatalf("ExpireDue() with c7 failing = %v; want %v", err, errDown)
	}
	n, err := loyalty.ExpireDue(ctx, m, "m1", clock.Now(), 4)
	if err != nil || n == 0 {
		t.Fatalf("ExpireDue() = %d, %v; want the rest expired", n, err)
	}
	for c := range 30 {
		if b, err := m.Balance(ctx, "m1", fmt.Sprintf("c%d", c)); err != nil || b.Points != 0 {
			t.Errorf("Balance(c%d) after the sweep = %+v, %v; want 0", c, b, err)
		}
	}
	if due, err := m.DueLots(ctx, "m1", clock.Now(), 0); err != nil || len(due) != 0 {
		t.Errorf("DueLots() after the sweep = %v, %v; want none", due, err)
	}
}
