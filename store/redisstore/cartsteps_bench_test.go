package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// BenchmarkCartStepsPending fills the queue with CART_STEPS (default
// 100000) scheduled cart-step jobs, as the cart sequences make them (a
// key, a small payload, due over the next 72 hours, 1000 merchants), and
// reports the Redis memory they take, then moves the server clock an hour
// on and reports how fast the jobs due by then are claimed and acked.
//
//	CART_STEPS=1000000 go test -run '^$' -bench CartStepsPending -benchtime 1x ./store/redisstore
func BenchmarkCartStepsPending(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("CART_STEPS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		benchCartSteps(b, n)
	}
}

func benchCartSteps(b *testing.B, n int) {
	ctx := context.Background()
	var offset atomic.Int64
	s, _ := newTestStore(b, Options{ServerClockOffset: func() time.Duration { return time.Duration(offset.Load()) }})
	before := redisMemory(b, s)
	start := time.Now()
	base := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				token := fmt.Sprintf("%020d", i)
				step := i%3 + 1
				err := s.Enqueue(ctx, app.Job{
					ID: fmt.Sprintf("cartstep-%s-1-%d", token, step), Merchant: fmt.Sprintf("m-cart-%03d", i%1000),
					Kind: app.JobCartStep, Key: fmt.Sprintf("cart-step:%s:1:%d", token, step),
					Payload:     []byte(`{"token":"` + token + `","gen":1,"step":` + strconv.Itoa(step) + `}`),
					DueAt:       base.Add(time.Duration(i%4320) * time.Minute), // one a minute over 72h, per 4320
					MaxAttempts: 25, CreatedAt: base,
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fill := time.Since(start)
	after := redisMemory(b, s)
	b.ReportMetric(float64(n)/fill.Seconds(), "enqueued/s")
	b.ReportMetric(float64(after["used_memory"]-before["used_memory"])/float64(n), "redis_bytes/job")
	b.ReportMetric(float64(after["used_memory_rss"])/(1<<20), "redis_rss_MB")

	// An hour on: the jobs due in it (1/72 of them) are claimed and acked.
	offset.Store(int64(time.Hour))
	due := 0
	for i := range n {
		if time.Duration(i%4320)*time.Minute <= time.Hour {
			due++
		}
	}
	start = time.Now()
	claimed := 0
	var first time.Duration
	for {
		t0 := time.Now()
		jobs, err := s.ClaimJobs(ctx, time.Minute, 100)
		if err != nil {
			b.Fatal(err)
		}
		if first == 0 {
			first = time.Since(t0)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			if err := s.Ack(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
		claimed += len(jobs)
	}
	took := time.Since(start)
	// Jobs of the minutes the fill and the claims took fall due too.
	if claimed < due {
		b.Errorf("claimed %d of the %d jobs due", claimed, due)
	}
	b.ReportMetric(float64(claimed)/took.Seconds(), "claimed+acked/s")
	b.ReportMetric(float64(first.Microseconds())/1000, "first_claim_ms")
}

// redisMemory reads INFO memory's byte counts.
func redisMemory(b *testing.B, s *Store) map[string]int64 {
	b.Helper()
	info, err := s.rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for line := range strings.SplitSeq(info, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if n, err := strconv.ParseInt(value, 10, 64); ok && err == nil {
			out[name] = n
		}
	}
	return out
}
