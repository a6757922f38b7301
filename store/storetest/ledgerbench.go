package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app/loyalty"
)

// BenchLedgerPost measures posts of one entry from 8 goroutines per CPU,
// as the workers would post them: three earns to one redeem, over 1000
// customers of 10 merchants. It reports posts/s.
func BenchLedgerPost(b *testing.B, l loyalty.Ledger) {
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			merchant, customer := fmt.Sprintf("m-bench-%d", i%10), fmt.Sprintf("c%d", (i/4)%1000)
			e := loyalty.Entry{Kind: loyalty.KindEarn, Source: fmt.Sprintf("order:%d:earn", i), Points: 10, ExpiresAt: time.Now().Add(365 * 24 * time.Hour)}
			if i%4 == 3 {
				e = loyalty.Entry{Kind: loyalty.KindRedeem, Source: fmt.Sprintf("redeem:%d", i), Points: 5}
			}
			_, err := l.Post(ctx, merchant, customer, []loyalty.Entry{e})
			if err != nil && !errors.Is(err, loyalty.ErrInsufficientPoints) {
				b.Errorf("Post() = %v", err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
}

// ScaleFigures are what MeasureLedgerScale found.
type ScaleFigures struct {
	Entries, Customers int
	Fill               time.Duration
	BalanceRead        time.Duration // mean of one Balance
	PageRead           time.Duration // mean of one Entries page of 50
	Expired            int
	Sweep              time.Duration
	// HeapBefore and HeapPeak are this process's live heap before and
	// at most during the sweep (sampled every 5 ms).
	HeapBefore, HeapPeak uint64
}

func (f ScaleFigures) String() string {
	return fmt.Sprintf("%d entries of %d customers filled in %s; Balance %s, a page of 50 entries %s; "+
		"sweep expired %d lots in %s (%.0f lots/s); heap %.1f MiB before, peak %.1f MiB while sweeping",
		f.Entries, f.Customers, f.Fill.Round(time.Millisecond), f.BalanceRead, f.PageRead,
		f.Expired, f.Sweep.Round(time.Millisecond), float64(f.Expired)/f.Sweep.Seconds(),
		float64(f.HeapBefore)/(1<<20), float64(f.HeapPeak)/(1<<20))
}

// MeasureLedgerScale fills one merchant's ledger with customers × 100
// entries (99 earns with their own expiries and a redeem that spends part
// of the first lots), then times balance reads and the expiry sweep of the
// lots due: one in ten customers has ten lots due, of which the redeem
// spent the first and half the second, so nine expire. The ledger must read the time from clock.
func MeasureLedgerScale(tb testing.TB, l loyalty.Ledger, clock *Clock, customers int) ScaleFigures {
	tb.Helper()
	ctx := context.Background()
	const merchant, perCustomer = "m-scale", 100
	base := clock.Now()
	fig := ScaleFigures{Entries: customers * perCustomer, Customers: customers}

	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for c := range work {
				entries := make([]loyalty.Entry, 0, perCustomer)
				for j := range perCustomer - 1 {
					expires := base.Add(30*24*time.Hour + time.Duration(j)*time.Hour)
					if c%10 == 0 && j < 10 {
						expires = base.Add(time.Hour + time.Duration(j)*time.Minute)
					}
					entries = append(entries, loyalty.Entry{Kind: loyalty.KindEarn, Source: fmt.Sprintf("order:%d-%d:earn", c, j), Points: 100, ExpiresAt: expires})
				}
				entries = append(entries, loyalty.Entry{Kind: loyalty.KindRedeem, Source: fmt.Sprintf("redeem:%d", c), Points: 150})
				if _, err := l.Post(ctx, merchant, fmt.Sprintf("c%06d", c), entries); err != nil {
					tb.Errorf("Post(c%06d) = %v", c, err)
				}
			}
		})
	}
	for c := range customers {
		work <- c
	}
	close(work)
	wg.Wait()
	fig.Fill = time.Since(start)

	const reads = 2000
	start = time.Now()
	for i := range reads {
		b, err := l.Balance(ctx, merchant, fmt.Sprintf("c%06d", i*7919%customers))
		if err != nil || b.Points != 99*100-150 || b.Entries != perCustomer {
			tb.Fatalf("Balance() = %+v, %v; want %d points in %d entries", b, err, 99*100-150, perCustomer)
		}
	}
	fig.BalanceRead = time.Since(start) / reads
	start = time.Now()
	for i := range reads / 10 {
		entries, _, err := l.Entries(ctx, merchant, fmt.Sprintf("c%06d", i*7919%customers), loyalty.Page{Before: 60})
		if err != nil || len(entries) != 50 {
			tb.Fatalf("Entries() = %d entries, %v; want 50", len(entries), err)
		}
	}
	fig.PageRead = time.Since(start) / (reads / 10)

	clock.Advance(2 * time.Hour)
	runtime.GC()
	fig.HeapBefore = heapInUse()
	done := make(chan struct{})
	var peak atomic.Uint64
	peak.Store(fig.HeapBefore)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if h := heapInUse(); h > peak.Load() {
					peak.Store(h)
				}
			}
		}
	}()
	start = time.Now()
	n, err := loyalty.ExpireDue(ctx, l, merchant, clock.Now(), 0)
	fig.Sweep = time.Since(start)
	close(done)
	fig.HeapPeak = max(peak.Load(), heapInUse())
	fig.Expired = n
	if want := (customers + 9) / 10 * 9; err != nil || n != want {
		tb.Fatalf("ExpireDue() = %d, %v; want %d", n, err, want)
	}
	// Of the ten due lots, the 850 points the redeem left expired.
	CheckLedger(tb, l, merchant, "c000000")
	if b, err := l.Balance(ctx, merchant, "c000000"); err != nil || b.Points != 99*100-150-850 {
		tb.Fatalf("Balance(c000000) after the sweep = %+v, %v; want %d", b, err, 99*100-150-850)
	}
	return fig
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
