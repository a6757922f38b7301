package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// fillBacklog queues n jobs over merchants merchants (named by name), due
// an hour ago, or half of them in an hour when delayed, through the
// enqueue script in pipelines of 1,000, then sets the index as SweepIndex
// does.
func fillBacklog(b *testing.B, s *Store, n, merchants int, name func(int) string, delayed bool) {
	b.Helper()
	ctx := context.Background()
	// One enqueue by the usual path loads the script for EVALSHA.
	mustEnqueueB(b, s, newJob(name(0), "", time.Now().Add(-time.Hour)))
	now := time.Now()
	for start := 1; start < n; start += 1000 {
		pipe := s.rdb.Pipeline()
		for i := start; i < min(n, start+1000); i++ {
			due := now.Add(-time.Hour)
			if delayed && i%2 == 1 {
				due = now.Add(time.Hour)
			}
			job := app.Job{ID: "bk" + strconv.Itoa(i), Merchant: name(i % merchants), Kind: "shopify.webhook", Payload: []byte(`{"order":` + strconv.Itoa(i) + `}`), DueAt: due}
			raw, dueMS, dueNow, err := s.newJob(job)
			if err != nil {
				b.Fatal(err)
			}
			q := s.keys.queue(job.Merchant)
			s.scripts.enqueue.EvalSha(ctx, pipe, []string{q.jobs, q.due, q.keys, q.lease},
				job.ID, raw, dueMS, "", dueNow, s.offsetMS())
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatalf("fill at %d: %v", start, err)
		}
	}
	for i := range merchants {
		if err := s.noteMerchant(ctx, name(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.SweepIndex(ctx); err != nil {
		b.Fatal(err)
	}
}

func mustEnqueueB(b *testing.B, s *Store, job app.Job) {
	b.Helper()
	if err := s.Enqueue(context.Background(), job); err != nil {
		b.Fatalf("Enqueue(%s) = %v", job.ID, err)
	}
}

// processRSS is this process's resident set in MB.
func processRSS(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Logf("no /proc/self/status: %v", err)
		return 0
	}
	defer f.Close()
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		if v, ok := strings.CutPrefix(scan.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func percentileMS(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[min(int(q*float64(len(d))), len(d)-1)]) / float64(time.Millisecond)
}

// BenchmarkClaimBacklog measures ClaimJobs (32 jobs a claim) with 0,
// 100,000 and 1,000,000 jobs queued over 1,000 merchants, half due and half
// delayed. Each claimed job is put back due now (Retry), so the backlog
// stays the same size; only the claim is timed. A claim reads ranges by
// score (ZRANGEBYSCORE ... LIMIT), never a scan that grows with the
// backlog, so its latency and this process's memory stay flat:
//
//	go test -run '^$' -bench ClaimBacklog -benchtime 300x ./store/redisstore/
//
// STOREBRIDGE_BACKLOG_LEVELS (comma separated) changes the sizes.
func BenchmarkClaimBacklog(b *testing.B) {
	levels := []int{0, 100_000, 1_000_000}
	if raw := os.Getenv("STOREBRIDGE_BACKLOG_LEVELS"); raw != "" {
		levels = nil
		for f := range strings.SplitSeq(raw, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("STOREBRIDGE_BACKLOG_LEVELS=%q: %v", raw, err)
			}
			levels = append(levels, n)
		}
	}
	for _, level := range levels {
		b.Run(fmt.Sprintf("backlog=%d", level), func(b *testing.B) {
			ctx := context.Background()
			s, _ := newTestStore(b, Options{})
			name := func(i int) string { return fmt.Sprintf("m-backlog-%03d", i) }
			fillStart := time.Now()
			fillBacklog(b, s, max(level, 32), 1000, name, true)
			fillTook := time.Since(fillStart)
			runtime.GC()
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				jobs, err := s.ClaimJobs(ctx, time.Minute, 32)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if len(jobs) == 0 {
					b.Fatal("no due job claimed from the backlog")
				}
				for _, j := range jobs {
					if err := s.Retry(ctx, j, time.Time{}, "put back"); err != nil {
						b.Fatal(err)
					}
				}
			}
			var mem runtime.MemStats
			runtime.ReadMemStats(&mem)
			b.ReportMetric(percentileMS(lat, 0.5), "claim-p50-ms")
			b.ReportMetric(percentileMS(lat, 0.99), "claim-p99-ms")
			b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap-MB")
			b.ReportMetric(processRSS(b), "rss-MB")
			b.Logf("backlog %d filled in %s", level, fillTook.Round(time.Millisecond))
		})
	}
}

// BenchmarkFairnessFlashSale queues one merchant's flash sale (50,000
// orders due at once) and runs a worker pool (app.Workers, 32 at a time,
// 2 ms of work a job) over it, while quiet merchants queue an order every
// 20 ms each. It reports how long the quiet merchants' orders waited from
// their enqueue to their handler (p50, p99, max) while the sale drains,
// and how fast the sale drained:
//
//	go test -run '^$' -bench FairnessFlashSale -benchtime 1x ./store/redisstore/
//
// Claims share workers between merchants: each ClaimJobs reads up to 64
// merchants with due work, in a random order, and gives each an equal
// share of the batch, the flash merchant's leftovers going last.
func BenchmarkFairnessFlashSale(b *testing.B) {
	const sale, quietMerchants, work = 50_000, 4, 2 * time.Millisecond
	for b.Loop() {
		ctx := context.Background()
		s, _ := newTestStore(b, Options{})
		fillStart := time.Now()
		fillBacklog(b, s, sale, 1, func(int) string { return "m-flash" }, false)
		b.Logf("sale of %d queued in %s", sale, time.Since(fillStart).Round(time.Millisecond))

		var mu sync.Mutex
		var waits []time.Duration
		flashDone := make(chan struct{})
		var flashLeft = sale
		workers := app.NewWorkers(s, app.WorkerOptions{Concurrency: 32})
		workers.Handle("shopify.webhook", func(ctx context.Context, job app.Job) error {
			time.Sleep(work)
			mu.Lock()
			defer mu.Unlock()
			if job.Merchant == "m-flash" {
				if flashLeft--; flashLeft == 0 {
					close(flashDone)
				}
				return nil
			}
			sent, _ := time.Parse(time.RFC3339Nano, string(job.Payload))
			waits = append(waits, time.Since(sent))
			return nil
		})
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = workers.Run(runCtx) })
		start := time.Now()
		quietCtx, stopQuiet := context.WithCancel(ctx)
		for q := range quietMerchants {
			wg.Go(func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for n := 0; ; n++ {
					select {
					case <-quietCtx.Done():
						return
					case <-tick.C:
					}
					job := app.Job{ID: fmt.Sprintf("quiet-%d-%d", q, n), Merchant: fmt.Sprintf("m-quiet-%d", q), Kind: "shopify.webhook",
						Payload: []byte(time.Now().Format(time.RFC3339Nano))}
					if err := s.Enqueue(ctx, job); err != nil {
						b.Error(err)
						return
					}
					workers.Wake()
				}
			})
		}
		select {
		case <-flashDone:
		case <-time.After(5 * time.Minute):
			b.Error("the sale did not drain within 5 minutes")
		}
		drained := time.Since(start)
		stopQuiet()
		time.Sleep(200 * time.Millisecond) // the last quiet orders
		stop()
		wg.Wait()
		mu.Lock()
		b.ReportMetric(percentileMS(waits, 0.5), "quiet-p50-ms")
		b.ReportMetric(percentileMS(waits, 0.99), "quiet-p99-ms")
		b.ReportMetric(percentileMS(waits, 1), "quiet-max-ms")
		b.ReportMetric(float64(sale)/drained.Seconds(), "sale-jobs/s")
		b.Logf("sale drained in %s; %d quiet orders", drained.Round(time.Millisecond), len(waits))
		mu.Unlock()
	}
}
