package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

func redisVars(url string) map[string]string {
	return map[string]string{"REDIS_URL": url, "SECRET_KEY": strings.Repeat("s3cret-", 6), "APP_URL": e2eAppURL}
}

// TestRunRefusesRedisThatLosesData: a Redis that evicts and keeps nothing on
// disk stops the start with a message naming both settings and the
// override; the override starts it with a loud warning; a properly
// configured server starts without one.
func TestRunRefusesRedisThatLosesData(t *testing.T) {
	t.Parallel()
	lossy := redistest.Start(t, redistest.Options{MaxmemoryPolicy: "allkeys-lru"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out syncBuffer
	err := run(ctx, []string{"storebridge"}, env(redisVars(lossy.URL())), &out)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Variable != "REDIS_URL" {
		t.Fatalf("run() on an evicting Redis without persistence = %v; want a ConfigError naming REDIS_URL", err)
	}
	for _, want := range []string{"maxmemory-policy is allkeys-lru", "noeviction", "persistence is off", "appendonly", "REDIS_UNSAFE_OK=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}

	vars := redisVars(lossy.URL())
	vars["REDIS_UNSAFE_OK"] = "true"
	base, logs, stop := startRun(t, vars)
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("run() with the override = %v", err)
	}
	if text := logs.String(); !strings.Contains(text, "REDIS IS UNSAFE") || !strings.Contains(text, "allkeys-lru") || !strings.Contains(text, "persistence is off") {
		t.Errorf("start with the override did not warn about both settings:\n%s", text)
	}

	good := redistest.Start(t, redistest.Options{Args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	base, logs, stop = startRun(t, redisVars(good.URL()))
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("run() on a properly configured Redis = %v", err)
	}
	if text := logs.String(); strings.Contains(text, "UNSAFE") || strings.Contains(text, "could not check") {
		t.Errorf("start on noeviction with AOF warned:\n%s", text)
	}
}

// TestRunWarnsWhenRedisWillNotSay: a managed Redis that refuses CONFIG and
// INFO starts, with a warning that nothing could be checked.
func TestRunWarnsWhenRedisWillNotSay(t *testing.T) {
	t.Parallel()
	silent := redistest.Start(t, redistest.Options{Args: []string{"--rename-command", "CONFIG", "", "--rename-command", "INFO", ""}})
	base, logs, stop := startRun(t, redisVars(silent.URL()))
	waitStatus(t, base+"/readyz", http.StatusOK)
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	if text := logs.String(); !strings.Contains(text, "could not check Redis settings") || !strings.Contains(text, "maxmemory-policy; persistence") {
		t.Errorf("start on a Redis refusing CONFIG and INFO did not warn:\n%s", text)
	}
}

func TestJudgeRedis(t *testing.T) {
	cases := []struct {
		name            string
		servers         []redisstore.ServerSettings
		unsafe, unknown string
	}{
		{"safe", []redisstore.ServerSettings{{MaxmemoryPolicy: "noeviction", Persistence: redisstore.PersistenceOn}}, "", ""},
		{"volatile policy evicts keys with a TTL, like idempotency keys",
			[]redisstore.ServerSettings{{MaxmemoryPolicy: "volatile-ttl", Persistence: redisstore.PersistenceOn}}, "maxmemory-policy is volatile-ttl", ""},
		{"INFO without persistence fields", []redisstore.ServerSettings{{Source: "INFO", MaxmemoryPolicy: "noeviction"}}, "", "persistence"},
		{"one cluster node off",
			[]redisstore.ServerSettings{
				{Addr: "10.0.0.1:6379", MaxmemoryPolicy: "noeviction", Persistence: redisstore.PersistenceOn},
				{Addr: "10.0.0.2:6379", MaxmemoryPolicy: "noeviction", Persistence: redisstore.PersistenceOff, PersistenceDetail: `appendonly no, save ""`},
			}, `10.0.0.2:6379: persistence is off (appendonly no, save ""; want appendonly yes`, ""},
	}
	for _, tc := range cases {
		unsafe, unknown := judgeRedis(tc.servers)
		if got := strings.Join(unsafe, "; "); (tc.unsafe == "") != (got == "") || !strings.Contains(got, tc.unsafe) {
			t.Errorf("judgeRedis(%s) unsafe = %q; want %q", tc.name, got, tc.unsafe)
		}
		if got := strings.Join(unknown, "; "); got != tc.unknown {
			t.Errorf("judgeRedis(%s) unknown = %q; want %q", tc.name, got, tc.unknown)
		}
	}
}
