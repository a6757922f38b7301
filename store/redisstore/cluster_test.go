package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/redistest"
	"github.com/storebridge/storebridge/store/storetest"
)

// TestConformanceOnCluster runs the whole store contract against a real
// three-node Redis Cluster: every script and MULTI must keep to one slot
// (the merchant's hash tag), or the cluster refuses it with CROSSSLOT.
func TestConformanceOnCluster(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { rdb.Close() })
	ready, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.ForEachShard(ready, func(ctx context.Context, shard *redis.Client) error { return shard.Ping(ctx).Err() }); err != nil {
		t.Fatalf("cluster not ready: %v", err)
	}
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) app.Store {
		opts := clocked(clock)
		opts.Prefix = uniquePrefix()
		s := New(rdb, opts)
		return clusterStore{s}
	})
	storetest.RunLedger(t, func(t *testing.T, clock *storetest.Clock) loyalty.Ledger {
		opts := clocked(clock)
		opts.Prefix = uniquePrefix()
		return New(rdb, opts).Ledger()
	})
	// The merchants' hash tags spread the suite's keys over the nodes: the
	// run above really crossed the cluster.
	var used atomic.Int32 // ForEachMaster visits the nodes concurrently
	err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		if n, err := node.DBSize(ctx).Result(); err != nil {
			return err
		} else if n > 0 {
			used.Add(1)
		}
		return nil
	})
	if err != nil || used.Load() < 2 {
		t.Errorf("masters holding keys after the suite = %d, %v; want the keys spread over at least 2 of 3", used.Load(), err)
	}

	// Each master keeps its own slots: the settings are read from all.
	settings, err := New(rdb, Options{}).ServerSettings(context.Background())
	if err != nil || len(settings) != 3 {
		t.Fatalf("ServerSettings() on the cluster = %+v, %v; want 3 masters", settings, err)
	}
	for _, s := range settings {
		if s.Addr == "" || s.MaxmemoryPolicy != "noeviction" || s.Persistence != PersistenceOn {
			t.Errorf("ServerSettings() of a master = %+v; want its address, noeviction, persistence on", s)
		}
	}
}

// clusterStore leaves the shared cluster client open when a case ends.
type clusterStore struct{ *Store }

func (clusterStore) Close() error { return nil }
