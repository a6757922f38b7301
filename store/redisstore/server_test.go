package redisstore

import (
	"context"
	"testing"
)

// ServerSettings reads CONFIG GET, falls back to INFO where CONFIG is
// refused (as on managed Redis), and reports unknown where both are.
func TestServerSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		args   []string
		source string
		policy string
		want   Persistence
		detail string
	}{
		{"defaults of the tests' servers", nil, "CONFIG GET", "noeviction", PersistenceOff, `appendonly no, save ""`},
		{"append-only file", []string{"--appendonly", "yes", "--appendfsync", "everysec"}, "CONFIG GET", "noeviction", PersistenceOn, "appendonly yes"},
		{"snapshots and an evicting policy", []string{"--save", "3600 1", "--maxmemory-policy", "volatile-lru"}, "CONFIG GET", "volatile-lru", PersistenceOn, `save "3600 1"`},
		{"CONFIG refused", []string{"--rename-command", "CONFIG", "", "--maxmemory-policy", "allkeys-lru"}, "INFO", "allkeys-lru", PersistenceUnknown, ""},
		{"CONFIG refused, AOF on", []string{"--rename-command", "CONFIG", "", "--appendonly", "yes"}, "INFO", "noeviction", PersistenceOn, "aof_enabled:1"},
		{"CONFIG and INFO refused", []string{"--rename-command", "CONFIG", "", "--rename-command", "INFO", ""}, "", "", PersistenceUnknown, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := startRedis(0, t.TempDir(), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.kill)
			s := New(newClient(srv.addr()), Options{})
			t.Cleanup(func() { s.Close() })
			got, err := s.ServerSettings(context.Background())
			if err != nil || len(got) != 1 {
				t.Fatalf("ServerSettings() = %+v, %v; want one server", got, err)
			}
			g := got[0]
			if g.Source != tc.source || g.MaxmemoryPolicy != tc.policy || g.Persistence != tc.want || g.PersistenceDetail != tc.detail {
				t.Errorf("ServerSettings() = %+v; want source %q, policy %q, persistence %d (%s)", g, tc.source, tc.policy, tc.want, tc.detail)
			}
		})
	}
}

// INFO says persistence is on when an RDB snapshot was written after the
// start, and never that it is off.
func TestInfoSettingsSnapshots(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		info string
		want Persistence
	}{
		{"saved after the start", "# Server\r\nserver_time_usec:1796191618502148\r\nuptime_in_seconds:600\r\n# Persistence\r\nrdb_last_save_time:1796191500\r\naof_enabled:0\r\n", PersistenceOn},
		{"no save since the start", "server_time_usec:1796191618502148\r\nuptime_in_seconds:600\r\nrdb_last_save_time:1796191018\r\naof_enabled:0\r\n", PersistenceUnknown},
		{"fields missing", "maxmemory_policy:noeviction\r\n", PersistenceUnknown},
	}
	for _, tc := range cases {
		if got := infoSettings(tc.info); got.Persistence != tc.want || got.Source != "INFO" {
			t.Errorf("infoSettings(%s) = %+v; want persistence %d from INFO", tc.name, got, tc.want)
		}
	}
}
