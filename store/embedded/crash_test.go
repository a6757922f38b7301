package embedded

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashEnv names the database the helper process writes to.
const crashEnv = "STOREBRIDGE_EMBEDDED_CRASH_DB"

// TestHelperProcess is the child of TestCrashKeepsAcknowledgedJobs: it
// enqueues jobs from several goroutines until it is killed, printing each
// id once Enqueue has returned.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as the child of TestCrashKeepsAcknowledgedJobs")
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
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				j := testJob("m1", 0)
				j.ID = fmt.Sprintf("w%d-%06d", w, i)
				if err := s.Enqueue(context.Background(), j); err != nil {
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

func TestCrashKeepsAcknowledgedJobs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
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

	s := openTest(t, path, nil)
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
	missing := 0
	for id := range printed {
		if !stored[id] {
			missing++
			t.Errorf("job %s was acknowledged before the crash but is not in the reopened store", id)
		}
	}
	t.Logf("acknowledged %d, stored %d (the rest were in flight at the kill), missing %d", len(printed), len(stored), missing)
}
