package embedded

import (
	"os"
	"path/filepath"
	"testing"

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
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	storetest.LedgerPurge(t, s.Ledger(), s.PurgeMerchantData)
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
