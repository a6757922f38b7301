package redisstore

import (
	"context"
	"testing"
	"time"
)

// A worker process learns of work another process queued through Redis,
// without polling: work due now wakes it, work due later does not.
func TestWatchEnqueuedWakesOtherProcesses(t *testing.T) {
	t.Parallel()
	web, prefix := newTestStore(t, Options{})
	worker := New(newClient(sharedAddr), Options{Prefix: prefix})
	t.Cleanup(func() { worker.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	woken := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		worker.WatchEnqueued(ctx, func() { woken <- struct{}{} })
	}()
	// The subscription is made in the background: enqueue until it is.
	deadline := time.Now().Add(5 * time.Second)
	for got := false; !got; {
		mustEnqueue(t, web, newJob("m-asha", "", time.Time{}))
		// Claim it, so the next one is again the merchant's earliest work.
		if _, err := web.ClaimJobs(ctx, time.Minute, 10); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
			got = true
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("work due now queued by another store did not wake the watcher within 5s")
			}
		}
	}
	for len(woken) > 0 {
		<-woken
	}
	mustEnqueue(t, web, newJob("m-ravi", "", time.Now().Add(time.Hour)))
	select {
	case <-woken:
		t.Error("work due in an hour woke the watcher; want no wake")
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchEnqueued did not return after its context ended")
	}
}
