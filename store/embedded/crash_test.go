package embedded

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// crashEnv names the database the helper process writes to; crashWebhooks
// makes it take webhooks (ClaimAndEnqueue, 32 at once) instead of jobs.
const (
	crashEnv      = "STOREBRIDGE_EMBEDDED_CRASH_DB"
	crashWebhooks = "STOREBRIDGE_EMBEDDED_CRASH_WEBHOOKS"
)

// TestHelperProcess is the child of the crash tests: it enqueues jobs from
// several goroutines until it is killed, printing each id once Enqueue
// (or ClaimAndEnqueue) has returned.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as the child of the crash tests")
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var (
		out = bufio.NewWriter(os.Stdout)
		mu  sync.Mutex
		wg  sync.WaitGroup
	)
	webhooks := os.Getenv(crashWebhooks) != ""
	senders := 8
	if webhooks {
		senders = 32
	}
	for w := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				j := testJob("m1", 0)
				j.ID = fmt.Sprintf("w%02d-%06d", w, i)
				var err error
				if webhooks {
					j.Merchant = crashMerchant(j.ID)
					j.Payload = crashPayload
					var st app.ClaimState
					st, err = s.ClaimAndEnqueue(context.Background(), "shopify:"+j.ID, time.Hour, j)
					if err == nil && st != app.ClaimNew {
						err = fmt.Errorf("ClaimAndEnqueue(%s) = %v; want new", j.ID, st)
					}
				} else {
					err = s.Enqueue(context.Background(), j)
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintln(out, j.ID)
				out.Flush() // the parent must see the id only once it is stored
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// crashMerchant is the merchant of webhook id: one per sender, w00 → m00.
func crashMerchant(id string) string { return "m" + id[1:3] }

// crashPayload is a webhook body's size: every job spans pages.
var crashPayload = bytes.Repeat([]byte(`{"line_items":[{"title":"Kurta","price":"599.00"}]}`), 100)

func TestCrashKeepsAcknowledgedJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	printed := crashAfterAcks(t, path, false)
	s := openTest(t, path, nil)
	stored := claimAll(t, s)
	missing := 0
	for id := range printed {
		if !stored[id] {
			missing++
			t.Errorf("job %s was acknowledged before the crash but is not in the reopened store", id)
		}
	}
	t.Logf("acknowledged %d, stored %d (the rest were in flight at the kill), missing %d", len(printed), len(stored), missing)
}

// TestCrashKeepsAcknowledgedWebhooks is the webhook path under group
// commit: 32 senders claim and enqueue at once, so commits hold many
// calls; every acknowledged one must be stored after a SIGKILL, with its
// idempotency key still taken.
func TestCrashKeepsAcknowledgedWebhooks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	printed := crashAfterAcks(t, path, true)
	s := openTest(t, path, nil)
	commits := committedTx(t, s)
	stored := claimAll(t, s)
	for id := range printed {
		if !stored[id] {
			t.Errorf("webhook %s was acknowledged before the crash but its job is not in the reopened store", id)
		}
		j := testJob(crashMerchant(id), 0)
		j.ID = id + "-retry"
		st, err := s.ClaimAndEnqueue(context.Background(), "shopify:"+id, time.Hour, j)
		if err != nil || st == app.ClaimNew {
			t.Errorf("ClaimAndEnqueue(%s) after the crash = %v, %v; want the key still claimed", id, st, err)
		}
	}
	// Each write transaction has its own id: fewer commits than stored
	// webhooks means commits were shared.
	if commits >= len(stored) {
		t.Errorf("%d webhooks stored in %d commits; want fewer commits than webhooks (group commit)", len(stored), commits)
	}
	t.Logf("acknowledged %d, stored %d in %d commits", len(printed), len(stored), commits)
}

// crashAfterAcks runs the helper on path, kills it with SIGKILL once it
// acknowledged 500 writes, and answers the ids it acknowledged.
func crashAfterAcks(t *testing.T, path string, webhooks bool) map[string]bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if webhooks {
		cmd.Env = append(cmd.Env, crashWebhooks+"=1")
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	printed := map[string]bool{}
	lines := bufio.NewScanner(stdout)
	deadline := time.Now().Add(20 * time.Second)
	for len(printed) < 500 && time.Now().Before(deadline) && lines.Scan() {
		printed[lines.Text()] = true
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	// Ids already in the pipe were printed before the kill: they count too.
	for lines.Scan() {
		printed[lines.Text()] = true
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("helper exited cleanly; want it killed")
	}
	if len(printed) < 500 {
		t.Fatalf("helper printed %d ids before the deadline; want 500", len(printed))
	}
	return printed
}

// claimAll leases every job of s and answers their ids.
func claimAll(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	for {
		jobs, err := s.ClaimJobs(context.Background(), time.Hour, 500)
		if err != nil {
			t.Fatalf("ClaimJobs() after the crash = %v", err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			stored[j.ID] = true
		}
	}
	return stored
}
