package redisstore

import (
	"context"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/storetest"
)

func TestLedgerConformance(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T, clock *storetest.Clock) loyalty.Ledger {
		s, _ := newTestStore(t, clocked(clock))
		return s.Ledger()
	})
}

func BenchmarkLedgerPost(b *testing.B) {
	s, _ := newTestStore(b, Options{})
	storetest.BenchLedgerPost(b, s.Ledger())
}

// BenchmarkLedgerScale fills a 1M-entry ledger and sweeps it: run with
// -bench LedgerScale -benchtime 1x.
func BenchmarkLedgerScale(b *testing.B) {
	for b.Loop() {
		clock := &storetest.Clock{}
		s, _ := newTestStore(b, clocked(clock))
		fig := storetest.MeasureLedgerScale(b, s.Ledger(), clock, 10_000)
		info, err := s.rdb.Info(context.Background(), "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if strings.HasPrefix(line, "used_memory:") || strings.HasPrefix(line, "used_memory_peak:") {
				b.Logf("redis %s", line)
			}
		}
		b.Logf("%s", fig)
	}
}

// A shop's redaction takes its points ledger and leaves another shop's.
func TestPurgeTakesTheLedger(t *testing.T) {
	s, _ := newTestStore(t, Options{})
	storetest.LedgerPurge(t, s.Ledger(), s.PurgeMerchantData)
}
