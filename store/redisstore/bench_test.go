package redisstore

import (
	"context"
	"fmt"
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
	s, _ := newTestStore(b, nil)
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
	s, _ := newTestStore(b, nil)
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
func BenchmarkClaimAck(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, nil)
	const batch = 32
	n := 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			if err := s.Enqueue(ctx, newJob(benchMerchant(i), "", time.Time{})); err != nil {
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
// merchants with 4 keys each; the limit is high enough that most calls
// take a slot, so each runs the script's write path. The figure is
// whole calls per second across the goroutines.
func BenchmarkThrottle(b *testing.B) {
	ctx := context.Background()
	s, _ := newTestStore(b, nil)
	var next atomic.Int64
	b.SetParallelism(8) // 8 goroutines per CPU: calls wait on round trips
	b.RunParallel(func(pb *testing.PB) {
		n := int(next.Add(1))
		merchant, key := benchMerchant(n), fmt.Sprint("meta:phone-", n%4)
		for pb.Next() {
			if _, err := s.Throttle(ctx, merchant, key, 1_000_000, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
