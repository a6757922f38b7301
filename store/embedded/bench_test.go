package embedded

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// benchWorkers is how many goroutines per CPU the benchmarks run, like a
// worker pool that is mostly waiting on providers.
const benchWorkers = 8

func reportJobsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func BenchmarkEnqueue(b *testing.B) {
	s := openBench(b)
	var n atomic.Int64
	b.SetParallelism(benchWorkers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := s.Enqueue(context.Background(), testJob(fmt.Sprintf("m%d", i%10), i)); err != nil {
				b.Errorf("Enqueue() = %v", err)
			}
		}
	})
	reportJobsPerSecond(b)
}

func BenchmarkClaimAndEnqueue(b *testing.B) {
	s := openBench(b)
	var n atomic.Int64
	b.SetParallelism(benchWorkers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			j := testJob(fmt.Sprintf("m%d", i%10), i)
			st, err := s.ClaimAndEnqueue(context.Background(), "shopify:"+j.ID, 24*time.Hour, j)
			if err != nil || st != app.ClaimNew {
				b.Errorf("ClaimAndEnqueue() = %v, %v; want new", st, err)
			}
		}
	})
	reportJobsPerSecond(b)
}

// BenchmarkClaimAck measures the worker side: claim up to ten jobs, ack
// each, over a backlog of ten merchants.
func BenchmarkClaimAck(b *testing.B) {
	s := openBench(b)
	// Fill the backlog in large transactions: only claiming is measured.
	const chunk = 10000
	for start := 0; start < b.N+chunk; start += chunk {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := start; i < start+chunk; i++ {
				if err := enqueue(tx, s.now(), testJob(fmt.Sprintf("m%d", i%10), i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("fill backlog: %v", err)
		}
	}
	b.SetParallelism(benchWorkers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var held []app.Job
		for pb.Next() {
			if len(held) == 0 {
				jobs, err := s.ClaimJobs(context.Background(), time.Minute, 10)
				if err != nil || len(jobs) == 0 {
					b.Errorf("ClaimJobs() = %d jobs, %v; want some", len(jobs), err)
					return
				}
				held = jobs
			}
			if err := s.Ack(context.Background(), held[0]); err != nil {
				b.Errorf("Ack() = %v", err)
			}
			held = held[1:]
		}
	})
	reportJobsPerSecond(b)
}

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatalf("Open() = %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close() = %v", err)
		}
	})
	return s
}

// BenchmarkPutTakeOnce is sign-in links' lives, made and used at once by
// many clients.
func BenchmarkPutTakeOnce(b *testing.B) {
	s := openBench(b)
	var n atomic.Int64
	b.SetParallelism(benchWorkers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("signin-link:%d", n.Add(1))
			if err := s.PutOnce(context.Background(), key, "m1", time.Minute); err != nil {
				b.Errorf("PutOnce() = %v", err)
			}
			if _, err := s.TakeOnce(context.Background(), key); err != nil {
				b.Errorf("TakeOnce() = %v", err)
			}
		}
	})
}

// BenchmarkIngestBurst is the embedded store under a webhook burst: 32
// requests at once each claim an event id and enqueue a ~5 KB body, over
// 100 merchants. It reports how many calls shared each commit.
func BenchmarkIngestBurst(b *testing.B) {
	s := openBench(b)
	payload := bytes.Repeat([]byte(`{"line_items":[{"title":"Kurta","price":"599.00"}]}`), 100)
	before := committedTx(b, s)
	var n atomic.Int64
	b.SetParallelism(16) // 32 senders on GOMAXPROCS 2
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			j := app.Job{ID: fmt.Sprintf("evt-%07d", i), Merchant: fmt.Sprintf("m%03d", i%100), Kind: "shopify.webhook", Payload: payload}
			st, err := s.ClaimAndEnqueue(context.Background(), "shopify:"+j.ID, 48*time.Hour, j)
			if err != nil || st != app.ClaimNew {
				b.Errorf("ClaimAndEnqueue() = %v, %v; want new", st, err)
			}
		}
	})
	b.StopTimer()
	reportJobsPerSecond(b)
	if commits := committedTx(b, s) - before; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "calls/commit")
	}
}

// committedTx is the id of the last committed write transaction: bbolt
// numbers them one by one.
func committedTx(tb testing.TB, s *Store) int {
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}
