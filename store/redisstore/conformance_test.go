package redisstore

import (
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, now func() time.Time) app.Store {
		s, _ := newTestStore(t, now)
		return s
	})
}
