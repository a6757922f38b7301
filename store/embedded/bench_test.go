package embedded

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
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
// 100 merchants. It reports how many calls shared each commit and the
// pages they wrote per webhook.
func BenchmarkIngestBurst(b *testing.B) {
	s := openBench(b)
	payload := bytes.Repeat([]byte(`{"line_items":[{"title":"Kurta","price":"599.00"}]}`), 100)
	before, pages := committedTx(b, s), pagesWritten(s)
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
	b.ReportMetric(float64(pagesWritten(s)-pages)/float64(b.N), "pages/webhook")
}

// pagesWritten counts the pages the store's commits have written.
func pagesWritten(s *Store) float64 {
	st := s.db.Stats()
	return float64(st.TxStats.GetPageAlloc()) / float64(s.db.Info().PageSize)
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

// BenchmarkBurstWithWorkers is BenchmarkIngestBurst while workers run jobs
// as a whole process does, each a claim, then the writes of a webhook job
// (its event claimed, an attempt recorded, a delivery created, the event
// completed, another event marked done) and its ack, 128 at a time. It
// reports the webhooks' rate, the jobs finished meanwhile, the calls per
// commit and the pages written per webhook.
func BenchmarkBurstWithWorkers(b *testing.B) {
	s := openBench(b)
	ctx, stop := context.WithCancel(context.Background())
	payload := bytes.Repeat([]byte(`{"line_items":[{"title":"Kurta","price":"599.00"}]}`), 100)
	eventData := bytes.Repeat([]byte(`{"order":{"number":1001}}`), 40)
	var jobs atomic.Int64
	var workers sync.WaitGroup
	slots := make(chan struct{}, 128)
	workers.Go(func() {
		for ctx.Err() == nil {
			claimed, err := s.ClaimJobs(ctx, time.Minute, 128-len(slots))
			if err != nil && ctx.Err() == nil {
				b.Errorf("ClaimJobs() = %v", err)
				return
			}
			if len(claimed) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			for _, j := range claimed {
				slots <- struct{}{}
				workers.Go(func() {
					defer func() { <-slots }()
					if err := benchJobLife(ctx, s, j, eventData); err != nil && ctx.Err() == nil {
						b.Errorf("job %s: %v", j.ID, err)
					}
					jobs.Add(1)
				})
			}
		}
	})
	before, beforeTx := pagesWritten(s), committedTx(b, s)
	var n atomic.Int64
	b.SetParallelism(16) // 32 senders on GOMAXPROCS 2
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			j := app.Job{ID: fmt.Sprintf("evt-%07d", i), Merchant: fmt.Sprintf("m%03d", i%100), Kind: "shopify.webhook", Payload: payload}
			st, err := s.ClaimAndEnqueue(ctx, "shopify:"+j.ID, 48*time.Hour, j)
			if err != nil || st != app.ClaimNew {
				b.Errorf("ClaimAndEnqueue() = %v, %v; want new", st, err)
			}
		}
	})
	b.StopTimer()
	done := jobs.Load()
	after, afterTx := pagesWritten(s), committedTx(b, s)
	stop()
	workers.Wait()
	reportJobsPerSecond(b)
	b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "done/s")
	if commits := afterTx - beforeTx; commits > 0 {
		b.ReportMetric(float64(int64(b.N)+7*done)/float64(commits), "calls/commit")
	}
	b.ReportMetric((after-before)/float64(b.N), "pages/webhook")
}

func benchJobLife(ctx context.Context, s *Store, j app.Job, eventData []byte) error {
	event := "event:" + j.ID
	if _, err := s.Claim(ctx, j.Merchant, event, time.Hour); err != nil {
		return err
	}
	if _, _, err := s.AdvanceState(ctx, j.Merchant, "attempt:"+j.ID, 1, "started", time.Hour); err != nil {
		return err
	}
	time.Sleep(time.Millisecond) // the provider's answer
	d := app.Delivery{ID: "d-" + j.ID, Merchant: j.Merchant, EventID: j.ID, Event: "order.placed", Subject: "order:" + j.ID,
		CustomerID: "c-" + j.ID, Phone: "+9198765" + j.ID[len(j.ID)-5:], Provider: "interakt", Template: "order_placed",
		Values: []string{"Asha", "1001", "₹1,299.00"}, EventData: eventData, Status: app.DeliverySent, Attempts: 1}
	if err := s.CreateDelivery(ctx, d); err != nil {
		return err
	}
	if err := s.Complete(ctx, j.Merchant, event, time.Hour); err != nil {
		return err
	}
	if _, err := s.MarkDone(ctx, j.Merchant, "event:fulfilled:"+j.ID, time.Hour); err != nil {
		return err
	}
	return s.Ack(ctx, j)
}
