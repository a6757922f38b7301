package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/store/storetest"
)

const redisServerPath = "/usr/bin/redis-server"

// sharedAddr is the private redis-server every test of the package shares,
// each under its own prefix.
var sharedAddr string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "redisstore")
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisstore tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	srv, err := startRedis(0, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisstore tests:", err)
		return 1
	}
	defer srv.kill()
	sharedAddr = srv.addr()
	return m.Run()
}

// redisServer is a redis-server process the tests own.
type redisServer struct {
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startRedis starts redis-server on port (0: a free one) with its files in
// dir, plus extra arguments, and waits until it answers PING.
func startRedis(port int, dir string, extra ...string) (*redisServer, error) {
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	args := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "no",
	}, extra...)
	srv := &redisServer{port: port, dir: dir, args: args}
	return srv, srv.start()
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() error {
	cmd := exec.Command(redisServerPath, r.args...)
	cmd.Dir = r.dir
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.cmd = cmd
	rdb := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := rdb.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server on %s did not answer: %w\n%s", r.addr(), err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server at once (SIGKILL): no shutdown save, no goodbye.
func (r *redisServer) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// uniquePrefix gives each store its own key space on the shared server.
func uniquePrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + ":"
}

// newClient connects to addr with short timeouts, so tests of an absent
// server fail fast.
func newClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:        addr,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: 1, DialerRetries: 1, DialerRetryTimeout: 10 * time.Millisecond,
	})
}

// newTestStore returns a store with opts on the shared server under a fresh
// prefix; its keys are deleted and the store closed when the test ends.
func newTestStore(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	prefix := uniquePrefix()
	opts.Prefix = prefix
	s := New(newClient(sharedAddr), opts)
	t.Cleanup(func() {
		if err := deleteKeys(s.rdb, prefix); err != nil {
			t.Errorf("delete keys of %s: %v", prefix, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	})
	return s, prefix
}

func deleteKeys(rdb redis.UniversalClient, prefix string) error {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := rdb.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return rdb.Del(ctx, batch...).Err()
	}
	return nil
}

// scanKeys lists every key under prefix.
func scanKeys(t testing.TB, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN %s* = %v", prefix, err)
	}
	return out
}

// newClock is a clock the test moves by hand.
func newClock() *storetest.Clock { return &storetest.Clock{} }

// clocked runs the store on clock: its own clock, and the server's as the
// queue reads it, both moved when the test advances the clock.
func clocked(clock *storetest.Clock) Options {
	return Options{Now: clock.Now, ServerClockOffset: clock.Offset}
}
