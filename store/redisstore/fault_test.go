package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// The server is killed (SIGKILL) and restarted on the same files: no job
// whose Enqueue returned nil is lost, and no acknowledged job comes back.
func TestFaultKillRestartKeepsJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := startRedis(0, t.TempDir(), "--appendonly", "yes", "--appendfsync", "always")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	clock := newClock()
	s := New(newClient(srv.addr()), Options{Prefix: "sb:", Now: clock.Now, ServerClockOffset: clock.Offset})
	t.Cleanup(func() { s.Close() })

	const n = 300
	enqueued := map[string]bool{}
	for i := range n {
		j := newJob([]string{"m-ananya", "m-vikram", "m-zoë"}[i%3], "", time.Time{})
		if err := s.Enqueue(ctx, j); err != nil {
			t.Fatalf("Enqueue = %v", err)
		}
		enqueued[j.ID] = true
	}
	claimed, err := s.ClaimJobs(ctx, time.Minute, 120)
	if err != nil || len(claimed) != 120 {
		t.Fatalf("ClaimJobs(120) = %d jobs, %v; want 120", len(claimed), err)
	}
	acked := map[string]bool{}
	for _, j := range claimed[:80] {
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack = %v", err)
		}
		acked[j.ID] = true
	}

	srv.kill()
	if err := s.Ping(ctx); !errors.Is(err, app.ErrUnavailable) {
		t.Fatalf("Ping with the server killed = %v; want ErrUnavailable", err)
	}
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}

	// Past the lease: the 40 claimed but unacknowledged jobs are due again.
	clock.Advance(2 * time.Minute)
	got := map[string]int{}
	for {
		jobs, err := s.ClaimJobs(ctx, time.Minute, 50)
		if err != nil {
			t.Fatalf("ClaimJobs after restart = %v", err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			got[j.ID]++
		}
	}
	for id := range enqueued {
		switch {
		case acked[id] && got[id] > 0:
			t.Errorf("acked job %s came back after the restart", id)
		case !acked[id] && got[id] != 1:
			t.Errorf("job %s claimed %d times after the restart; want once", id, got[id])
		}
	}
	if want := n - len(acked); len(got) != want {
		t.Errorf("jobs claimed after the restart = %d; want %d", len(got), want)
	}
}

// While the server is down every operation fails with ErrUnavailable; once
// it is back, the same store works again.
func TestUnavailableWhileDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := startRedis(0, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	s := New(newClient(srv.addr()), Options{})
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping = %v; want nil", err)
	}
	srv.kill()

	job := newJob("m-down", "", time.Time{})
	ops := map[string]func() error{
		"Ping":    func() error { return s.Ping(ctx) },
		"Enqueue": func() error { return s.Enqueue(ctx, job) },
		"ClaimAndEnqueue": func() error {
			_, err := s.ClaimAndEnqueue(ctx, "k", time.Hour, job)
			return err
		},
		"ClaimJobs": func() error { _, err := s.ClaimJobs(ctx, time.Minute, 10); return err },
		"Claim":     func() error { _, err := s.Claim(ctx, "m-down", "k", time.Minute); return err },
		"GetMerchant": func() error {
			_, err := s.GetMerchant(ctx, "m-down")
			return err
		},
		"CreateMerchant": func() error {
			return s.CreateMerchant(ctx, app.Merchant{ID: "m-down", Platform: app.PlatformShopify, Domain: "down.myshopify.com"})
		},
		"UpdateDelivery": func() error {
			_, err := s.UpdateDelivery(ctx, "m-down", "d1", func(*app.Delivery) error { return nil })
			return err
		},
		"ListDeliveries": func() error {
			_, _, err := s.ListDeliveries(ctx, "m-down", app.DeliveryFilter{})
			return err
		},
		"Incr": func() error {
			return s.Incr(ctx, 1, app.Counter{Merchant: "m-down", Day: "2025-01-02", Subject: "order.placed", Outcome: "sent"})
		},
		"Depth": func() error { _, err := s.Depth(ctx); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, app.ErrUnavailable) {
			t.Errorf("%s with the server down = %v; want ErrUnavailable", name, err)
		}
	}

	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping after restart = %v; want nil", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Enqueue(ctx, job); err != nil {
		t.Errorf("Enqueue after restart = %v; want nil", err)
	}
}
