package embedded

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// holdWriter starts a write that runs until release is closed, and waits
// until it holds the lead: calls made meanwhile queue for the next group.
func holdWriter(t *testing.T, s *Store, release <-chan struct{}) <-chan error {
	t.Helper()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.batch(context.Background(), "hold", func(tx *bolt.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-release
			return bucket(tx, bucketMeta).Put([]byte("held"), []byte("1"))
		})
	}()
	<-started
	return done
}

// waitQueued waits until n calls wait in s's committer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.commits.mu.Lock()
		queued := len(s.commits.queue)
		s.commits.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10 s; want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	release := make(chan struct{})
	held := holdWriter(t, s, release)

	const n = 50
	ids := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.batch(context.Background(), "put", func(tx *bolt.Tx) error {
				ids[i] = tx.ID()
				return bucket(tx, bucketMeta).Put(fmt.Appendf(nil, "k%02d", i), []byte("v"))
			})
		})
	}
	waitQueued(t, s, n)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("held write = %v", err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d = %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("call %d ran in transaction %d, call 0 in %d; want all %d queued calls in one", i, ids[i], ids[0], n)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for i := range n {
			if bucket(tx, bucketMeta).Get(fmt.Appendf(nil, "k%02d", i)) == nil {
				return fmt.Errorf("k%02d missing", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the group: %v", err)
	}
}

func TestGroupCommitIsolatesAFailingCall(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	release := make(chan struct{})
	held := holdWriter(t, s, release)

	errBoom := errors.New("boom")
	const n = 20
	errs := make([]error, n)
	runs := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.batch(context.Background(), "put", func(tx *bolt.Tx) error {
				runs[i]++ // only the committer's goroutine runs fns, one at a time
				if err := bucket(tx, bucketMeta).Put(fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
					return err
				}
				switch i {
				case 7:
					return errBoom // after a write: it must be rolled back
				case 13:
					panic("bad call")
				}
				return nil
			})
		})
	}
	waitQueued(t, s, n)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatalf("held write = %v", err)
	}
	for i := range n {
		switch {
		case i == 7 && !errors.Is(errs[i], errBoom):
			t.Errorf("failing call = %v; want boom", errs[i])
		case i == 13 && (errs[i] == nil || !strings.Contains(errs[i].Error(), "panic")):
			t.Errorf("panicking call = %v; want a panic error", errs[i])
		case i != 7 && i != 13 && errs[i] != nil:
			t.Errorf("call %d = %v; want nil: another call's failure is not its own", i, errs[i])
		}
		if runs[i] == 0 {
			t.Errorf("call %d never ran", i)
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := bucket(tx, bucketMeta).Get(fmt.Appendf(nil, "k%02d", i)) != nil
			if want := i != 7 && i != 13; got != want {
				return fmt.Errorf("k%02d stored %v; want %v", i, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the group: %v", err)
	}
}

// TestGroupCommitLoneCallDoesNotWait: with nothing else running, a write
// commits at once, with no batching delay.
func TestGroupCommitLoneCallDoesNotWait(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	before := committedTx(t, s)
	for i := range 20 {
		if err := s.Enqueue(context.Background(), testJob("m1", i)); err != nil {
			t.Fatalf("Enqueue() = %v", err)
		}
	}
	if got := committedTx(t, s) - before; got != 20 {
		t.Fatalf("20 sequential enqueues made %d commits; want 20 (one each, none delayed into another)", got)
	}
}

// TestGroupCommitLingersForReturningCallers: callers that write again as
// soon as their commit returns (32 webhooks in a row each) end up sharing
// commits nearly all together, not in two half groups taking turns.
func TestGroupCommitLingersForReturningCallers(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "store.db"), nil)
	before := committedTx(t, s)
	const callers, each = 32, 20
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				j := testJob(fmt.Sprintf("m%02d", c), c*each+i)
				if _, err := s.ClaimAndEnqueue(context.Background(), "shopify:"+j.ID, time.Hour, j); err != nil {
					t.Errorf("ClaimAndEnqueue() = %v", err)
				}
			}
		})
	}
	wg.Wait()
	commits := committedTx(t, s) - before
	// Two half groups would be 40 commits or more; allow for the ramp and
	// for a slow machine's stragglers.
	perCommit := float64(callers*each) / float64(commits)
	t.Logf("%d calls in %d commits (%.1f each)", callers*each, commits, perCommit)
	if perCommit < 20 {
		t.Errorf("%d calls in %d commits (%.1f each); want over 20 each", callers*each, commits, perCommit)
	}
}
