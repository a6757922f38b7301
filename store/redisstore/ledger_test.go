package redisstore

import (
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
