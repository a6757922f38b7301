package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Persistence says whether a server writes its data to disk.
type Persistence int

const (
	PersistenceUnknown Persistence = iota // the server would not say
	PersistenceOff                        // nothing survives a restart
	PersistenceOn                         // AOF or RDB snapshots
)

// ServerSettings is what one Redis server says about keeping what it is
// given: whether it may evict keys, and whether it writes them to disk.
// The store keeps credentials, the queue and the idempotency keys there, so
// an eviction or a restart without persistence loses messages or sends them
// twice.
type ServerSettings struct {
	// Addr is the node's address on a cluster; empty for a single server.
	Addr string
	// Source is where the settings were read: "CONFIG GET", "INFO", or ""
	// when the server answered neither (managed Redis may refuse both).
	Source string
	// MaxmemoryPolicy is the server's maxmemory-policy; empty when unknown.
	MaxmemoryPolicy string
	Persistence     Persistence
	// PersistenceDetail is what Persistence was read from, as the server
	// names it (`appendonly yes`, `save "3600 1"`, `aof_enabled:1`).
	PersistenceDetail string
}

// ServerSettings reads the settings of the server, or of every master of a
// cluster (each keeps its own slots). The error is only for a cluster whose
// masters could not be listed; a server that refuses to say is reported
// with unknown settings.
func (s *Store) ServerSettings(ctx context.Context) ([]ServerSettings, error) {
	cluster, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return []ServerSettings{readSettings(ctx, s.rdb, "")}, nil
	}
	var (
		mu  sync.Mutex
		out []ServerSettings
	)
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		got := readSettings(ctx, node, node.Options().Addr)
		mu.Lock()
		defer mu.Unlock()
		out = append(out, got)
		return nil
	})
	if err != nil {
		return out, wrap("server settings", err)
	}
	return out, nil
}

// readSettings asks CONFIG GET first, and falls back to INFO where CONFIG
// is refused (Upstash, ElastiCache, an ACL without @admin).
func readSettings(ctx context.Context, c redis.Cmdable, addr string) ServerSettings {
	if got, err := configSettings(ctx, c); err == nil {
		got.Addr = addr
		return got
	}
	info, err := c.Info(ctx).Result()
	if err != nil {
		return ServerSettings{Addr: addr}
	}
	got := infoSettings(info)
	got.Addr = addr
	return got
}

func configSettings(ctx context.Context, c redis.Cmdable) (ServerSettings, error) {
	// One parameter per CONFIG GET: Redis 6.2 takes no more.
	values := map[string]string{}
	for _, name := range []string{"maxmemory-policy", "appendonly", "save"} {
		got, err := c.ConfigGet(ctx, name).Result()
		if err != nil {
			return ServerSettings{}, err
		}
		v, ok := got[name]
		if !ok {
			return ServerSettings{}, fmt.Errorf("CONFIG GET %s: no value", name)
		}
		values[name] = v
	}
	got := ServerSettings{Source: "CONFIG GET", MaxmemoryPolicy: values["maxmemory-policy"], Persistence: PersistenceOff,
		PersistenceDetail: fmt.Sprintf(`appendonly %s, save %q`, values["appendonly"], values["save"])}
	switch {
	case values["appendonly"] == "yes":
		got.Persistence, got.PersistenceDetail = PersistenceOn, "appendonly yes"
	case strings.TrimSpace(values["save"]) != "":
		got.Persistence, got.PersistenceDetail = PersistenceOn, fmt.Sprintf("save %q", values["save"])
	}
	return got, nil
}

// infoSettings reads INFO's fields. It can tell persistence is on (the AOF
// is enabled, or an RDB snapshot was written since the server started) but
// never that it is off: the save rules are not in INFO.
func infoSettings(info string) ServerSettings {
	fields := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok {
			fields[k] = v
		}
	}
	got := ServerSettings{Source: "INFO", MaxmemoryPolicy: fields["maxmemory_policy"]}
	if fields["aof_enabled"] == "1" {
		got.Persistence, got.PersistenceDetail = PersistenceOn, "aof_enabled:1"
		return got
	}
	// A server without snapshots keeps rdb_last_save_time at its start.
	lastSave, err1 := strconv.ParseInt(fields["rdb_last_save_time"], 10, 64)
	nowUsec, err2 := strconv.ParseInt(fields["server_time_usec"], 10, 64)
	uptime, err3 := strconv.ParseInt(fields["uptime_in_seconds"], 10, 64)
	if err1 == nil && err2 == nil && err3 == nil && lastSave > nowUsec/1e6-uptime+1 {
		got.Persistence, got.PersistenceDetail = PersistenceOn, "rdb_last_save_time after the start"
	}
	if len(fields) == 0 {
		got.Source = ""
	}
	return got
}
