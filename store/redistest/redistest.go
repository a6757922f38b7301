// Package redistest starts private redis-server processes for tests, on
// free ports, so tests never depend on (or disturb) a shared server and
// fault tests can kill and restart theirs.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server child process.
type Server struct {
	Port int
	Dir  string
	opts Options

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Options for Start.
type Options struct {
	// AppendOnly turns on the AOF with fsync on every write, for tests
	// that kill the server and expect acknowledged writes to survive.
	AppendOnly bool
	// Cluster starts the server as a Redis Cluster node (see StartCluster).
	Cluster bool
	// Save is the RDB snapshot rule; empty: no snapshots. PersistentSave
	// makes the server persistent, which the service's start check wants.
	Save string
	// MaxmemoryPolicy is the maxmemory-policy; empty: Redis's default,
	// noeviction.
	MaxmemoryPolicy string
	// Args are more redis-server arguments, e.g. "--rename-command",
	// "CONFIG", "" to act like a managed Redis that refuses CONFIG.
	Args []string
}

// PersistentSave is an RDB rule (an hour and a change) that no test lasts
// long enough to trigger: the server counts as persistent, as the service
// requires in production, and the tests pay no disk writes for it.
const PersistentSave = "3600 1"

// Start runs a redis-server in a temporary directory on a free port and
// stops it when the test ends. It fails the test (never skips) when
// redis-server cannot be found or started.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{Dir: tb.TempDir(), opts: opts}
	if err := s.start(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartMain is Start for TestMain, where there is no testing.TB: the caller
// must Stop the server after m.Run.
func StartMain() (*Server, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is a redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

func (s *Server) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server is not on PATH (install Debian's redis-server): %w", err)
	}
	if s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return err
		}
	}
	args := []string{
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--dir", s.Dir, "--save", s.opts.Save, "--daemonize", "no",
		"--logfile", filepath.Join(s.Dir, "redis.log"),
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.MaxmemoryPolicy != "" {
		args = append(args, "--maxmemory-policy", s.opts.MaxmemoryPolicy)
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(s.Dir, "nodes.conf"), "--cluster-node-timeout", "5000")
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited at start: %s", s.logTail())
		default:
		}
		if ping(s.Addr()) == nil {
			go func() {
				<-exited
				s.mu.Lock()
				if s.cmd == cmd {
					s.cmd = nil
				}
				s.mu.Unlock()
			}()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server did not answer on %s within 10s: %s", s.Addr(), s.logTail())
}

// StartCluster runs a Redis Cluster of n masters (no replicas) on free
// ports, its slots spread by redis-cli as an operator would, and stops it
// when the test ends. It answers the nodes' addresses.
func StartCluster(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := make([]string, 0, n)
	for range n {
		// Persistent, as an operator would run it, so the service starts on it.
		addrs = append(addrs, Start(tb, Options{Cluster: true, Save: PersistentSave}).Addr())
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redistest: redis-cli is not on PATH (Debian's redis-tools): %v", err)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: create cluster: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strings.TrimPrefix(addr, "127.0.0.1:"), "cluster", "info").Output()
			if err == nil && strings.Contains(string(out), "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ok within 15s: %s %v", addr, out, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addrs
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	for range 500 {
		if ping(s.Addr()) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port and directory, so an
// append-only file written before a Kill is replayed.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("redistest: restart: %v", err)
	}
}

// Stop ends the server if it runs.
func (s *Server) Stop() {
	s.Kill()
}

func (s *Server) logTail() string {
	raw, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping speaks just enough RESP to know the server answers.
func ping(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q", strings.TrimSpace(line))
	}
	return nil
}
