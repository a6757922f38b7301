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
	// payload), TIME, the first lease, ZADD of the lease.
	if leased > 6 {
		t.Errorf("ClaimAndLease() ran %d commands (%v); want at most 6", leased, calls)
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
