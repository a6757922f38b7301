package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// The benchmarks run against the package's redis-server on loopback, so
// they measure round trips and script time, not the network.

func reportJobs(b *testing.B, jobs int) {
	b.ReportMetric(float64(jobs)/b.Elapsed().Seconds(), "jobs/s")
}

func benchMerchant(i int) string { return fmt.Sprintf("m-bench-%02d", i%16) }

func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	n := 0
	for b.Loop() {
		if err := s.Enqueue(ctx, newJob(benchMerchant(n), "", time.Time{})); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportJobs(b, n)
}

func BenchmarkClaimAndEnqueue(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	n := 0
	for b.Loop() {
		state, err := s.ClaimAndEnqueue(ctx, fmt.Sprintf("shopify:evt-%d", n), time.Hour, newJob(benchMerchant(n), "", time.Time{}))
		if err != nil || state != app.ClaimNew {
			b.Fatal(state, err)
		}
		n++
	}
	reportJobs(b, n)
}

// BenchmarkClaimAck claims batches of 32 jobs spread over 16 merchants and
// acks each; the jobs are enqueued with the timer stopped.
func BenchmarkClaimAck(b *testing.B) { benchClaimAck(b, nil) }

// BenchmarkClaimAck4KB is BenchmarkClaimAck with a 4 KB payload per job, a
// large webhook body.
func BenchmarkClaimAck4KB(b *testing.B) {
	benchClaimAck(b, []byte(strings.Repeat(`{"line_items":[{"title":"Kurta"}]}`, 4096/34)))
}

func benchClaimAck(b *testing.B, payload []byte) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	const batch = 32
	n := 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			j := newJob(benchMerchant(i), "", time.Time{})
			if payload != nil {
				j.Payload = payload
			}
			if err := s.Enqueue(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		jobs, err := s.ClaimJobs(ctx, time.Minute, batch)
		if err != nil || len(jobs) != batch {
			b.Fatalf("ClaimJobs = %d jobs, %v; want %d", len(jobs), err, batch)
		}
		for _, j := range jobs {
			if err := s.Ack(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
		n += batch
	}
	reportJobs(b, n)
}

// BenchmarkThrottle takes slots from many goroutines at once, over 16
// merchants with 4 keys each; the limit (80 per 10 ms: Meta's 80 slots
// in a ring, over a short window) is high enough that most calls take a
// slot, so each runs the script's write path over a full ring. The figure
// is whole calls per second across the goroutines.
func BenchmarkThrottle(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	var next atomic.Int64
	b.SetParallelism(8) // 8 goroutines per CPU: calls wait on round trips
	b.RunParallel(func(pb *testing.PB) {
		n := int(next.Add(1))
		merchant, key := benchMerchant(n), fmt.Sprint("meta:phone-", n%4)
		for pb.Next() {
			if _, err := s.Throttle(ctx, merchant, key, 80, 10*time.Millisecond, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkClaimAckManyMerchants is the steady state of a busy service: 200
// merchants with one to three due jobs each, drained by 4 claimers at once
// taking batches of 32 and acking every job. Each iteration enqueues the
// jobs with the timer stopped, then times the drain.
func BenchmarkClaimAckManyMerchants(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	const merchants, claimers, batch = 200, 4, 32
	n := 0
	for b.Loop() {
		b.StopTimer()
		total := 0
		for m := range merchants {
			for range 1 + (m+n)%3 {
				if err := s.Enqueue(ctx, newJob(fmt.Sprintf("m-many-%03d", m), "", time.Time{})); err != nil {
					b.Fatal(err)
				}
				total++
			}
		}
		b.StartTimer()
		var claimed atomic.Int64
		deadline := time.Now().Add(30 * time.Second)
		var wg sync.WaitGroup
		for range claimers {
			wg.Go(func() {
				for claimed.Load() < int64(total) {
					if time.Now().After(deadline) {
						b.Errorf("drained %d of %d jobs in 30s", claimed.Load(), total)
						return
					}
					jobs, err := s.ClaimJobs(ctx, time.Minute, batch)
					if err != nil {
						b.Error(err)
						return
					}
					for _, j := range jobs {
						if err := s.Ack(ctx, j); err != nil {
							b.Error(err)
							return
						}
					}
					claimed.Add(int64(len(jobs)))
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		n += total
	}
	reportJobs(b, n)
}

// BenchmarkPutTakeOnce is a sign-in link's life: made, then used.
func BenchmarkPutTakeOnce(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, Options{})
	n := 0
	for b.Loop() {
		key := fmt.Sprintf("signin-link:%d", n)
		if err := s.PutOnce(ctx, key, "m1", time.Minute); err != nil {
			b.Fatal(err)
		}
		if _, err := s.TakeOnce(ctx, key); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
