package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/storebridge/storebridge/store/redisstore"
)

// unsafeRedisOverride is the variable that turns a refusal of an unsafe
// Redis into a warning.
const unsafeRedisOverride = "REDIS_UNSAFE_OK"

// checkRedisServer refuses a Redis that is known to lose what the service
// keeps there (credentials, the queue, idempotency keys): a policy that
// evicts keys, or no persistence. Eviction or a restart then loses messages
// or sends them twice. With REDIS_UNSAFE_OK the refusal becomes a warning;
// settings the server would not tell are only warned about.
func checkRedisServer(ctx context.Context, st *redisstore.Store, allowUnsafe bool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	servers, err := st.ServerSettings(ctx)
	if err != nil {
		log.Warn("could not check the Redis settings (maxmemory-policy, persistence) of every node", "err", err)
	}
	unsafe, unknown := judgeRedis(servers)
	if len(unknown) > 0 {
		log.Warn("could not check Redis settings; make sure maxmemory-policy is noeviction and persistence is on", "unchecked", strings.Join(unknown, "; "))
	}
	if len(unsafe) == 0 {
		return nil
	}
	if allowUnsafe {
		log.Warn("REDIS IS UNSAFE: it may lose credentials, queued messages and idempotency keys; starting anyway because "+unsafeRedisOverride+"=true",
			"problems", strings.Join(unsafe, "; "))
		return nil
	}
	return &ConfigError{Variable: "REDIS_URL", Reason: "the Redis server may lose data: " + strings.Join(unsafe, "; ") +
		"; fix its configuration, or set " + unsafeRedisOverride + "=true to start anyway"}
}

// judgeRedis lists what is known to be unsafe and what could not be read.
func judgeRedis(servers []redisstore.ServerSettings) (unsafe, unknown []string) {
	for _, s := range servers {
		node := ""
		if s.Addr != "" {
			node = s.Addr + ": "
		}
		switch s.MaxmemoryPolicy {
		case "noeviction":
		case "":
			unknown = append(unknown, node+"maxmemory-policy")
		default:
			unsafe = append(unsafe, fmt.Sprintf("%smaxmemory-policy is %s (want noeviction: any other policy drops keys under memory pressure)", node, s.MaxmemoryPolicy))
		}
		switch s.Persistence {
		case redisstore.PersistenceOn:
		case redisstore.PersistenceOff:
			unsafe = append(unsafe, fmt.Sprintf("%spersistence is off (%s; want appendonly yes with appendfsync everysec, or save rules): a restart empties it", node, s.PersistenceDetail))
		default:
			unknown = append(unknown, node+"persistence")
		}
	}
	return unsafe, unknown
}
