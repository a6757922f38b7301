package embedded

import (
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
