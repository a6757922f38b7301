package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// serverCommands counts the commands a private redis-server ran, those run
// inside scripts included (as the end-to-end benchmark counts them), from
// the last reset.
type serverCommands struct{ rdb *redis.Client }

func newServerCommands(t *testing.T) (*Store, serverCommands) {
	t.Helper()
	srv, err := startRedis(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	rdb := newClient(srv.addr())
	s := New(rdb, Options{Prefix: "cmds:"})
	t.Cleanup(func() { s.Close() })
	return s, serverCommands{rdb: redis.NewClient(&redis.Options{Addr: srv.addr()})}
}

func (c serverCommands) reset(t *testing.T) {
	t.Helper()
	if err := c.rdb.ConfigResetStat(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

// count answers the commands run since the reset, by name, without the
// INFO and CONFIG calls of the count itself.
func (c serverCommands) count(t *testing.T) (int64, map[string]int64) {
	t.Helper()
	info, err := c.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	calls := map[string]int64{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		if name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest+",", ',')], 10, 64)
		calls[name] = n
		total += n
	}
	return total, calls
}

// The queue's part of every webhook a process runs itself: ClaimAndLease,
// then Ack. Each command saved here is saved on every message.
func TestWebhookJobCommands(t *testing.T) {
	s, cmds := newServerCommands(t)
	ctx := context.Background()
	job := func(id string) app.Job {
		return app.Job{ID: id, Merchant: "m1", Kind: "shopify.webhook", Payload: []byte(`{"id":1}`)}
	}
	// The merchant is known and has a job leased already, as under load,
	// and the scripts are loaded.
	if _, _, err := s.ClaimAndLease(ctx, "shopify:e0:orders/create", time.Hour, job("j0"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, warm, err := s.ClaimAndLease(ctx, "shopify:e00:orders/create", time.Hour, job("j00"), time.Minute); err != nil || s.Ack(ctx, warm) != nil {
		t.Fatalf("ClaimAndLease() and Ack() = %v", err)
	}
	cmds.reset(t)
	st, held, err := s.ClaimAndLease(ctx, "shopify:e1:orders/create", time.Hour, job("j1"), time.Minute)
	if err != nil || st != app.ClaimNew {
		t.Fatalf("ClaimAndLease() = %v, %v; want new", st, err)
	}
	leased, calls := cmds.count(t)
	// EVALSHA, SET NX GET of the key, HSETNX of the job (record and
	// payload), the first lease, ZADD of the lease: no TIME, the store
	// reckons the server's clock.
	if leased > 5 || calls["time"] > 0 {
		t.Errorf("ClaimAndLease() ran %d commands (%v); want at most 5, none a TIME", leased, calls)
	}
	cmds.reset(t)
	if err := s.Ack(ctx, held); err != nil {
		t.Fatal(err)
	}
	// EVALSHA, HGET of the job, ZREM of the lease, HDEL of the job.
	if acked, calls := cmds.count(t); acked > 4 {
		t.Errorf("Ack() ran %d commands (%v); want at most 4", acked, calls)
	}
}

// A delivery's record and indexes: the status and event sets, the message
// id, the phone, customer and subject sets, and no index of all (the status
// sets together are it).
func TestCreateDeliveryCommands(t *testing.T) {
	s, cmds := newServerCommands(t)
	ctx := context.Background()
	now := time.Now()
	d := func(id string) app.Delivery {
		return app.Delivery{ID: id, Merchant: "m1", Event: app.EventOrderPlaced, Subject: "order:" + id, CustomerID: "c1",
			Phone: "+919876543210", Status: app.DeliverySent, ProviderMessageID: "wamid." + id, CreatedAt: now, UpdatedAt: now}
	}
	if err := s.CreateDelivery(ctx, d("d0")); err != nil { // loads the script
		t.Fatal(err)
	}
	cmds.reset(t)
	if err := s.CreateDelivery(ctx, d("d1")); err != nil {
		t.Fatal(err)
	}
	if n, calls := cmds.count(t); n > 8 {
		t.Errorf("CreateDelivery() ran %d commands (%v); want at most 8", n, calls)
	}
	if n := s.rdb.Exists(ctx, s.keys.deliveryIndex("m1")).Val(); n != 0 {
		t.Errorf("EXISTS dlv:idx = %d; want no index of all written", n)
	}
}

// Deliveries created while dlv:idx was written leave no entry in it once
// purged, and list like the others.
func TestDeliveriesOfTheOldIndex(t *testing.T) {
	s, _ := newServerCommands(t)
	ctx := context.Background()
	old := time.Now().Add(-100 * 24 * time.Hour)
	for i, at := range []time.Time{old, time.Now()} {
		id := "d" + strconv.Itoa(i)
		if err := s.CreateDelivery(ctx, app.Delivery{ID: id, Merchant: "m1", Event: app.EventOrderPlaced, Status: app.DeliverySent, CreatedAt: at, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		s.rdb.ZAdd(ctx, s.keys.deliveryIndex("m1"), redis.Z{Score: float64(msOf(at)), Member: id})
	}
	if list, _, err := s.ListDeliveries(ctx, "m1", app.DeliveryFilter{}); err != nil || len(list) != 2 || list[0].ID != "d1" {
		t.Fatalf("ListDeliveries() = %v, %v; want d1, d0", list, err)
	}
	if n, err := s.PurgeDeliveries(ctx, "m1", time.Now().Add(-90*24*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("PurgeDeliveries() = %d, %v; want 1", n, err)
	}
	if ids := s.rdb.ZRange(ctx, s.keys.deliveryIndex("m1"), 0, -1).Val(); len(ids) != 1 || ids[0] != "d1" {
		t.Errorf("dlv:idx after the purge = %v; want d1 alone", ids)
	}
}

// A provider slot is one script on the server's clock as the store reckons
// it: EVALSHA, GET and SET, with no TIME per call (one TIME per resync).
func TestThrottleCommands(t *testing.T) {
	s, cmds := newServerCommands(t)
	ctx := context.Background()
	if _, err := s.Throttle(ctx, "m1", "provider:meta", 1, 10*time.Millisecond, time.Second); err != nil {
		t.Fatal(err) // the first call reads the clock and loads the script
	}
	cmds.reset(t)
	const calls = 20
	for range calls {
		if _, err := s.Throttle(ctx, "m1", "provider:meta", 1, 10*time.Millisecond, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	total, by := cmds.count(t)
	if total > 3*calls || by["time"] > 1 {
		t.Errorf("%d Throttle() calls ran %d commands (%v); want at most %d and at most one TIME", calls, total, by, 3*calls)
	}
}
