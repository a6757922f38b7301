package redisstore

import (
	"testing"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) app.Store {
		s, _ := newTestStore(t, clocked(clock))
		return s
	})
}
