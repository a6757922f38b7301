package loyalty_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
	"github.com/storebridge/storebridge/store/storetest"
)

// fakeClock only moves when told, so every ledger stamps and expires alike.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// step is one thing that happens to the ledger: a post for a customer, or
// the clock moving on and the expiry sweep running.
type step struct {
	customer string
	entries  []loyalty.Entry
	advance  time.Duration
}

func (s step) String() string {
	if s.entries == nil {
		return fmt.Sprintf("advance %s and sweep", s.advance)
	}
	parts := make([]string, len(s.entries))
	for i, e := range s.entries {
		parts[i] = fmt.Sprintf("%s %s ref=%s %d", e.Kind, e.Source, e.Ref, e.Points)
	}
	return s.customer + ": " + strings.Join(parts, ", ")
}

// scenario is what a store's orders do to the ledger, as the engine will
// post it: paid orders earn (some pending, then approved), cancels reverse
// the order's points, partial refunds reverse their share, customers
// redeem, merchants adjust, time passes and lots expire. Then the
// platforms' ways are played on it: some events swap places, some arrive
// twice, later.
func scenario(rng *rand.Rand, base time.Time, events int) []step {
	customers := []string{"+919812345678", "cust:7712398123", "guest@example.com"}
	var steps []step
	orders := 0
	type order struct {
		customer string
		source   string
		points   int64
		pending  bool
	}
	var placed []order
	for len(steps) < events {
		switch r := rng.IntN(100); {
		case r < 30 || len(placed) == 0:
			orders++
			o := order{customer: customers[rng.IntN(len(customers))], source: fmt.Sprintf("order:%d:earn", orders), points: 1 + rng.Int64N(500), pending: rng.IntN(2) == 0}
			e := loyalty.Entry{Kind: loyalty.KindEarn, Source: o.source, Points: o.points}
			if o.pending {
				e.Kind = loyalty.KindPendingEarn
			}
			if rng.IntN(4) > 0 {
				e.ExpiresAt = base.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
			}
			placed = append(placed, o)
			steps = append(steps, step{customer: o.customer, entries: []loyalty.Entry{e}})
		case r < 45:
			o := placed[rng.IntN(len(placed))]
			steps = append(steps, step{customer: o.customer, entries: []loyalty.Entry{{Kind: loyalty.KindApprove, Source: o.source + ":approve", Ref: o.source}}})
		case r < 52:
			o := placed[rng.IntN(len(placed))]
			steps = append(steps, step{customer: o.customer, entries: []loyalty.Entry{{Kind: loyalty.KindReverse, Source: o.source + ":cancel", Ref: o.source, Points: o.points}}})
		case r < 62:
			// A partial refund: its share of the order's points, rounded down.
			o := placed[rng.IntN(len(placed))]
			share := o.points * int64(5+rng.IntN(60)) / 100
			if share == 0 {
				continue
			}
			steps = append(steps, step{customer: o.customer, entries: []loyalty.Entry{{Kind: loyalty.KindReverse, Source: fmt.Sprintf("%s:refund:%d", o.source, len(steps)), Ref: o.source, Points: share}}})
		case r < 80:
			entries := []loyalty.Entry{{Kind: loyalty.KindRedeem, Source: fmt.Sprintf("redeem:%d", len(steps)), Points: 1 + rng.Int64N(400)}}
			if rng.IntN(3) == 0 {
				// A redemption whose coupon failed: the points come back in
				// the same post, as a new lot.
				entries = append(entries, loyalty.Entry{Kind: loyalty.KindAdjust, Source: fmt.Sprintf("redeem:%d:back", len(steps)), Points: entries[0].Points})
			}
			steps = append(steps, step{customer: customers[rng.IntN(len(customers))], entries: entries})
		case r < 88:
			points := rng.Int64N(200) - 100
			if points == 0 {
				continue
			}
			steps = append(steps, step{customer: customers[rng.IntN(len(customers))], entries: []loyalty.Entry{{Kind: loyalty.KindAdjust, Source: fmt.Sprintf("adjust:%d", len(steps)), Points: points}}})
		default:
			steps = append(steps, step{advance: time.Duration(rng.IntN(12*60)) * time.Minute})
		}
	}
	// Reordered: neighbours swap, as webhooks overtake each other.
	for i := 1; i < len(steps); i++ {
		if rng.IntN(4) == 0 {
			steps[i-1], steps[i] = steps[i], steps[i-1]
		}
	}
	// Duplicated: some posts arrive again, later.
	for range len(steps) / 5 {
		i := rng.IntN(len(steps))
		if steps[i].entries == nil {
			continue
		}
		at := i + rng.IntN(len(steps)-i)
		steps = append(steps[:at+1], steps[at:]...)
		steps[at+1] = steps[i]
	}
	return steps
}

// outcome is a post's answer in a form equal across ledgers.
func outcome(res loyalty.Result, err error) string {
	var refused *loyalty.RefusedError
	switch {
	case errors.As(err, &refused):
		return fmt.Sprintf("refused %s: %v at %d", refused.Source, refused.Reason, refused.Balance)
	case err != nil:
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, e := range res.Entries {
		fmt.Fprintf(&b, "%s/%d %s %s ref=%s n=%d x=%d at=%d d=%d pd=%d sf=%d b=%d p=%d dup=%v; ",
			e.Customer, e.Seq, e.Kind, e.Source, e.Ref, e.Points, e.ExpiresAt.UnixMilli(), e.CreatedAt.UnixMilli(),
			e.Delta, e.PendingDelta, e.Shortfall, e.Balance, e.Pending, e.Duplicate)
	}
	fmt.Fprintf(&b, "balance %+v", res.Balance)
	return b.String()
}

// ledgers are the ledgers a scenario replays on, the model first.
type ledgers struct {
	names []string
	all   []loyalty.Ledger
}

// replay plays steps on every ledger, wants the same answer from each at
// every step, and checks the invariants at the end.
func replay(t *testing.T, clock *fakeClock, ls ledgers, steps []step) {
	t.Helper()
	ctx := context.Background()
	const merchant = "m-prop"
	customers := map[string]bool{}
	tally := map[string]int{}
	for i, s := range steps {
		var want string
		for j, l := range ls.all {
			var got string
			if s.entries == nil {
				if j == 0 {
					clock.Advance(s.advance)
				}
				n, err := loyalty.ExpireDue(ctx, l, merchant, clock.Now(), 7)
				got = fmt.Sprintf("expired %d, %v", n, err)
			} else {
				customers[s.customer] = true
				got = outcome(l.Post(ctx, merchant, s.customer, s.entries))
			}
			if strings.HasPrefix(got, "error") {
				t.Fatalf("step %d (%s) on %s: %s", i, s, ls.names[j], got)
			}
			if j == 0 {
				want = got
				tallyOutcome(tally, got)
			} else if got != want {
				t.Fatalf("step %d (%s):\n%s answered %s\n%s answered %s", i, s, ls.names[j], got, ls.names[0], want)
			}
		}
	}
	t.Logf("%d steps: %v", len(steps), tally)
	for c := range customers {
		var want string
		for j, l := range ls.all {
			storetest.CheckLedger(t, l, merchant, c)
			b, err := l.Balance(ctx, merchant, c)
			lots, lerr := l.Lots(ctx, merchant, c)
			if err != nil || lerr != nil {
				t.Fatalf("%s: Balance, Lots(%s) = %v, %v", ls.names[j], c, err, lerr)
			}
			got := fmt.Sprintf("%+v %+v", b, lots)
			if j == 0 {
				want = got
			} else if got != want {
				t.Fatalf("%s of %s at the end = %s; the model says %s", ls.names[j], c, got, want)
			}
		}
	}
}

// FuzzLedgerAgainstModel replays a random scenario (from the seed) on the
// reference model, the embedded store and Redis.
func FuzzLedgerAgainstModel(f *testing.F) {
	for seed := range uint64(12) {
		f.Add(seed, uint8(120))
	}
	srv := redistest.Start(f, redistest.Options{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	f.Cleanup(func() { rdb.Close() })
	prefixes := 0
	f.Fuzz(func(t *testing.T, seed uint64, events uint8) {
		base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		clock := &fakeClock{t: base}
		db, err := embedded.Open(filepath.Join(t.TempDir(), "store.db"), embedded.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		prefixes++
		rs := redisstore.New(rdb, redisstore.Options{Prefix: fmt.Sprintf("prop%d-%d:", seed, prefixes), Now: clock.Now})
		ls := ledgers{
			names: []string{"model", "embedded", "redis"},
			all:   []loyalty.Ledger{newModel(clock.Now), db.Ledger(), rs.Ledger()},
		}
		rng := rand.New(rand.NewPCG(seed, uint64(events)))
		replay(t, clock, ls, scenario(rng, base, 10+int(events)))
	})
}

// tallyOutcome counts the kinds of answers a replay met, so a run can show
// it reached refusals, duplicates, shortfalls and expiries.
func tallyOutcome(tally map[string]int, got string) {
	switch {
	case strings.HasPrefix(got, "refused"):
		for _, reason := range []error{loyalty.ErrInsufficientPoints, loyalty.ErrUnknownLot, loyalty.ErrLotState} {
			if strings.Contains(got, ": "+reason.Error()+" at ") {
				tally["refused: "+reason.Error()]++
			}
		}
	case strings.HasPrefix(got, "expired 0"):
		tally["sweep"]++
	case strings.HasPrefix(got, "expired"):
		tally["sweep expiring"]++
	default:
		if strings.Contains(got, "dup=true") {
			tally["duplicate"]++
		}
		if !strings.Contains(got, " sf=0 ") {
			tally["shortfall"]++
		}
		tally["posted"]++
	}
}
