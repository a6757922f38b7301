package embedded

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/storetest"
)

func TestLedgerConformance(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T, clock *storetest.Clock) loyalty.Ledger {
		return openTest(t, filepath.Join(t.TempDir(), "store.db"), clock.Now).Ledger()
	})
}

// A shop's redaction takes its points ledger and leaves another shop's.
func TestPurgeTakesTheLedger(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	l := s.Ledger()
	for _, m := range []string{"m1", "m2"} {
		if _, err := l.Post(ctx, m, "c1", []loyalty.Entry{
			{Kind: loyalty.KindEarn, Source: "order:1:earn", Points: 100, ExpiresAt: time.Now().Add(time.Hour)},
			{Kind: loyalty.KindPendingEarn, Source: "order:2:earn", Points: 50},
		}); err != nil {
			t.Fatalf("Post(%s) = %v", m, err)
		}
	}
	if _, err := s.PurgeMerchantData(ctx, "m1"); err != nil {
		t.Fatalf("PurgeMerchantData() = %v", err)
	}
	if b, err := l.Balance(ctx, "m1", "c1"); err != nil || b != (loyalty.Balance{}) {
		t.Errorf("Balance(m1) after the purge = %+v, %v; want zero", b, err)
	}
	if due, err := l.DueLots(ctx, "m1", time.Now().Add(2*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("DueLots(m1) after the purge = %+v, %v; want none", due, err)
	}
	res, err := l.Post(ctx, "m1", "c1", []loyalty.Entry{{Kind: loyalty.KindEarn, Source: "order:1:earn", Points: 1}})
	if err != nil || res.Entries[0].Duplicate {
		t.Errorf("Post(m1, order:1:earn) after the purge = %+v, %v; want a new entry", res, err)
	}
	storetest.CheckLedger(t, l, "m2", "c1")
	if b, err := l.Balance(ctx, "m2", "c1"); err != nil || b.Points != 100 || b.Pending != 50 {
		t.Errorf("Balance(m2) after m1's purge = %+v, %v; want 100 and 50 pending", b, err)
	}
}

func BenchmarkLedgerPost(b *testing.B) {
	storetest.BenchLedgerPost(b, openBench(b).Ledger())
}

// BenchmarkLedgerScale fills a 1M-entry ledger and sweeps it: run with
// -bench LedgerScale -benchtime 1x.
func BenchmarkLedgerScale(b *testing.B) {
	for b.Loop() {
		clock := &storetest.Clock{}
		path := filepath.Join(b.TempDir(), "scale.db")
		s, err := Open(path, Options{Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		fig := storetest.MeasureLedgerScale(b, s.Ledger(), clock, 10_000)
		if st, err := os.Stat(path); err == nil {
			b.Logf("file %.1f MiB", float64(st.Size())/(1<<20))
		}
		b.Logf("%s", fig)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
