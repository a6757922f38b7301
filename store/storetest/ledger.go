package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// NewLedger returns a fresh, empty ledger that stamps entries with
// clock.Now. It must close what it opened in t.Cleanup.
type NewLedger func(t *testing.T, clock *Clock) loyalty.Ledger

// RunLedger runs the ledger's conformance suite against the backend
// newLedger makes.
func RunLedger(t *testing.T, newLedger NewLedger) {
	t.Helper()
	for _, tc := range ledgerCases() {
		t.Run("Ledger/"+tc.name, func(t *testing.T) {
			clock := &Clock{}
			tc.run(t, clock, newLedger(t, clock))
		})
	}
}

type ledgerCase struct {
	name string
	run  func(t *testing.T, clock *Clock, l loyalty.Ledger)
}

func earn(source string, points int64, expires time.Time) loyalty.Entry {
	return loyalty.Entry{Kind: loyalty.KindEarn, Source: source, Points: points, ExpiresAt: expires}
}

func onLot(kind loyalty.Kind, source, lot string, points int64) loyalty.Entry {
	return loyalty.Entry{Kind: kind, Source: source, Ref: lot, Points: points}
}

func spend(kind loyalty.Kind, source string, points int64) loyalty.Entry {
	return loyalty.Entry{Kind: kind, Source: source, Points: points}
}

// mustPost posts and fails the test on an error.
func mustPost(t *testing.T, l loyalty.Ledger, merchant, customer string, entries ...loyalty.Entry) loyalty.Result {
	t.Helper()
	res, err := l.Post(context.Background(), merchant, customer, entries)
	if err != nil {
		t.Fatalf("Post(%s, %s, %+v) = %v; want nil", merchant, customer, entries, err)
	}
	if len(res.Entries) != len(entries) {
		t.Fatalf("Post(%s, %s) answered %d entries; want %d", merchant, customer, len(res.Entries), len(entries))
	}
	return res
}

// wantRefused posts and wants a refusal for reason that wrote nothing.
func wantRefused(t *testing.T, l loyalty.Ledger, merchant, customer string, reason error, entries ...loyalty.Entry) {
	t.Helper()
	before := balanceOf(t, l, merchant, customer)
	_, err := l.Post(context.Background(), merchant, customer, entries)
	var refused *loyalty.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, reason) {
		t.Fatalf("Post(%+v) = %v; want a *RefusedError for %v", entries, err, reason)
	}
	if after := balanceOf(t, l, merchant, customer); after != before {
		t.Fatalf("Balance after a refused post = %+v; want %+v as before", after, before)
	}
}

func balanceOf(t *testing.T, l loyalty.Ledger, merchant, customer string) loyalty.Balance {
	t.Helper()
	b, err := l.Balance(context.Background(), merchant, customer)
	if err != nil {
		t.Fatalf("Balance(%s, %s) = %v", merchant, customer, err)
	}
	return b
}

func wantBalance(t *testing.T, l loyalty.Ledger, merchant, customer string, points, pending int64) {
	t.Helper()
	if b := balanceOf(t, l, merchant, customer); b.Points != points || b.Pending != pending {
		t.Fatalf("Balance(%s, %s) = %+v; want %d points, %d pending", merchant, customer, b, points, pending)
	}
	CheckLedger(t, l, merchant, customer)
}

// allEntries reads every entry of the customer, newest first.
func allEntries(t testing.TB, l loyalty.Ledger, merchant, customer string) []loyalty.Entry {
	t.Helper()
	var all []loyalty.Entry
	page := loyalty.Page{Limit: loyalty.MaxEntriesPage}
	for {
		entries, next, err := l.Entries(context.Background(), merchant, customer, page)
		if err != nil {
			t.Fatalf("Entries(%s, %s, %+v) = %v", merchant, customer, page, err)
		}
		all = append(all, entries...)
		if next == 0 {
			return all
		}
		page.Before = next
	}
}

// CheckLedger checks what must hold of every customer's ledger at any
// time: the balances are the sums of the entries' deltas and of what the
// lots hold, every entry's balances are never negative, entries run
// 1..Entries newest first with running balances that add up.
func CheckLedger(t testing.TB, l loyalty.Ledger, merchant, customer string) {
	t.Helper()
	b, err := l.Balance(context.Background(), merchant, customer)
	if err != nil {
		t.Fatalf("Balance(%s, %s) = %v", merchant, customer, err)
	}
	entries := allEntries(t, l, merchant, customer)
	if int64(len(entries)) != b.Entries {
		t.Fatalf("%s/%s has %d entries; Balance says %d", merchant, customer, len(entries), b.Entries)
	}
	var points, pending int64
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if want := int64(len(entries) - i); e.Seq != want {
			t.Fatalf("entry %d of %s/%s has Seq %d; want %d (newest first, no gaps)", i, merchant, customer, e.Seq, want)
		}
		points += e.Delta
		pending += e.PendingDelta
		if e.Balance != points || e.Pending != pending || points < 0 || pending < 0 {
			t.Fatalf("entry %+v: running sums %d points, %d pending; want them equal to its balances and never negative", e, points, pending)
		}
		if e.Customer != customer || e.Duplicate || e.CreatedAt.IsZero() {
			t.Fatalf("stored entry %+v; want customer %s, not a duplicate, a creation time", e, customer)
		}
	}
	if points != b.Points || pending != b.Pending {
		t.Fatalf("%s/%s: sum of entries %d points, %d pending; Balance %+v", merchant, customer, points, pending, b)
	}
	lots, err := l.Lots(context.Background(), merchant, customer)
	if err != nil {
		t.Fatalf("Lots(%s, %s) = %v", merchant, customer, err)
	}
	var inLots, pendingLots int64
	for _, lot := range lots {
		if lot.Remaining <= 0 || lot.Remaining+lot.Expired > lot.Points || lot.Reversed+lot.Expired > lot.Points {
			t.Fatalf("lot %+v; want it holding points, and its remaining, expired and reversed points within what it opened with", lot)
		}
		if lot.Pending {
			pendingLots += lot.Remaining
		} else {
			inLots += lot.Remaining
		}
	}
	if inLots != b.Points || pendingLots != b.Pending {
		t.Fatalf("%s/%s: lots hold %d points, %d pending; Balance %+v", merchant, customer, inLots, pendingLots, b)
	}
}

func wantLots(t *testing.T, l loyalty.Ledger, merchant, customer string, want ...string) {
	t.Helper()
	lots, err := l.Lots(context.Background(), merchant, customer)
	if err != nil {
		t.Fatalf("Lots() = %v", err)
	}
	got := make([]string, len(lots))
	for i, lot := range lots {
		got[i] = fmt.Sprintf("%s=%d", lot.ID, lot.Remaining)
		if lot.Pending {
			got[i] += " pending"
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Lots(%s, %s) = %v; want %v", merchant, customer, got, want)
	}
}

func ledgerCases() []ledgerCase {
	ctx := context.Background()
	return []ledgerCase{
		{"SourcePostsOnce", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			first := mustPost(t, l, "m1", "c1", earn("order:1:earn", 100, time.Time{}))
			e := first.Entries[0]
			if e.Duplicate || e.Seq != 1 || e.Delta != 100 || e.Balance != 100 || e.Customer != "c1" || e.Kind != loyalty.KindEarn {
				t.Fatalf("first post = %+v; want entry 1, +100, not a duplicate", e)
			}
			clock.Advance(time.Hour)
			// A redelivery, even with other points, answers the first entry.
			again := mustPost(t, l, "m1", "c1", earn("order:1:earn", 250, time.Time{}))
			d := again.Entries[0]
			if !d.Duplicate || d.Seq != 1 || d.Points != 100 || d.Delta != 100 || !d.CreatedAt.Equal(e.CreatedAt) {
				t.Fatalf("second post = %+v; want the first entry (%+v) marked duplicate", d, e)
			}
			if again.Balance.Points != 100 || again.Balance.Entries != 1 {
				t.Fatalf("balance after the duplicate = %+v; want 100 in 1 entry", again.Balance)
			}
			// The same source twice in one post: the second answers the first.
			res := mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem:1", 10), spend(loyalty.KindRedeem, "redeem:1", 10))
			if res.Entries[0].Duplicate || !res.Entries[1].Duplicate || res.Entries[1].Seq != res.Entries[0].Seq {
				t.Fatalf("one source twice in a post = %+v; want the second a duplicate of the first", res.Entries)
			}
			wantBalance(t, l, "m1", "c1", 90, 0)
		}},
		{"ForgetIsARedaction", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "+919876543210", earn("order:1:earn", 100, clock.Now().Add(24*time.Hour)), earn("order:2:earn", 50, time.Time{}),
				spend(loyalty.KindRedeem, "redeem:1", 30))
			mustPost(t, l, "m1", "c2", earn("order:3:earn", 70, clock.Now().Add(24*time.Hour)))
			mustPost(t, l, "m2", "+919876543210", earn("order:1:earn", 10, time.Time{}))
			n, err := l.Forget(ctx, "m1", "+919876543210")
			if err != nil || n != 3 {
				t.Fatalf("Forget() = %d, %v; want the 3 entries", n, err)
			}
			if b, err := l.Balance(ctx, "m1", "+919876543210"); err != nil || b != (loyalty.Balance{}) {
				t.Fatalf("Balance after Forget = %+v, %v; want nothing", b, err)
			}
			if entries, _, err := l.Entries(ctx, "m1", "+919876543210", loyalty.Page{Limit: 10}); err != nil || len(entries) != 0 {
				t.Fatalf("Entries after Forget = %v, %v; want none", entries, err)
			}
			wantLots(t, l, "m1", "+919876543210")
			// The sweep no longer finds the forgotten customer's lots.
			due, err := l.DueLots(ctx, "m1", clock.Now().Add(48*time.Hour), 10)
			if err != nil || len(due) != 1 || due[0].Customer != "c2" {
				t.Fatalf("DueLots after Forget = %+v, %v; want only c2's lot", due, err)
			}
			// Others are untouched; a later order starts afresh.
			wantBalance(t, l, "m1", "c2", 70, 0)
			wantBalance(t, l, "m2", "+919876543210", 10, 0)
			again := mustPost(t, l, "m1", "+919876543210", earn("order:1:earn", 100, time.Time{}))
			if again.Entries[0].Duplicate || again.Entries[0].Seq != 1 {
				t.Fatalf("a post after Forget = %+v; want a new first entry", again.Entries[0])
			}
			if n, err := l.Forget(ctx, "m1", "nobody"); err != nil || n != 0 {
				t.Fatalf("Forget(unknown) = %d, %v; want 0", n, err)
			}
		}},
		{"ConcurrentSameSourceOneEntry", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "c1", earn("order:0:earn", 1000, time.Time{}))
			var wg sync.WaitGroup
			seqs := make(chan int64, 40)
			for i := range 40 {
				wg.Go(func() {
					// Half earn, half redeem, each a storm on one source.
					entry := earn("order:1:earn", 100, time.Time{})
					if i%2 == 1 {
						entry = spend(loyalty.KindRedeem, "redeem:1", 300)
					}
					res, err := l.Post(ctx, "m1", "c1", []loyalty.Entry{entry})
					if err != nil {
						t.Errorf("Post() = %v", err)
						return
					}
					if !res.Entries[0].Duplicate {
						seqs <- res.Entries[0].Seq
					}
				})
			}
			wg.Wait()
			close(seqs)
			if n := len(seqs); n != 2 {
				t.Fatalf("posts answered as new = %d; want 2 (one per source)", n)
			}
			wantBalance(t, l, "m1", "c1", 800, 0)
		}},
		{"ConcurrentSourcesAllCount", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "c1", earn("seed", 500, time.Time{}))
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					entry := earn(fmt.Sprintf("order:%d:earn", i), 10, time.Time{})
					if i%3 == 0 {
						entry = spend(loyalty.KindRedeem, fmt.Sprintf("redeem:%d", i), 20)
					}
					if _, err := l.Post(ctx, "m1", "c1", []loyalty.Entry{entry}); err != nil {
						t.Errorf("Post(%s) = %v", entry.Source, err)
					}
				})
			}
			wg.Wait()
			wantBalance(t, l, "m1", "c1", 500+20*10-10*20, 0)
		}},
		{"NeverNegative", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints, spend(loyalty.KindRedeem, "redeem:1", 1))
			mustPost(t, l, "m1", "c1", earn("order:1:earn", 100, time.Time{}))
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints, spend(loyalty.KindRedeem, "redeem:2", 101))
			// The first redeem of a refused post spent nothing from the lots.
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints,
				spend(loyalty.KindRedeem, "redeem:5", 60), spend(loyalty.KindRedeem, "redeem:6", 60))
			wantLots(t, l, "m1", "c1", "order:1:earn=100")
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints, spend(loyalty.KindAdjust, "adjust:1", -101))
			// All or nothing: the earn of a refused post is not written.
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints,
				earn("order:2:earn", 50, time.Time{}), spend(loyalty.KindRedeem, "redeem:3", 200))
			_, err := l.Post(ctx, "m1", "c1", []loyalty.Entry{spend(loyalty.KindRedeem, "redeem:4", 200)})
			var refused *loyalty.RefusedError
			if !errors.As(err, &refused) || refused.Source != "redeem:4" || refused.Balance != 100 {
				t.Fatalf("Post(redeem 200) = %v; want a refusal naming redeem:4 at balance 100", err)
			}
			res := mustPost(t, l, "m1", "c1", earn("order:2:earn", 50, time.Time{}), spend(loyalty.KindRedeem, "redeem:3", 150))
			if res.Entries[0].Duplicate || res.Balance.Points != 0 {
				t.Fatalf("earn then redeem = %+v; want both new, balance 0", res)
			}
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints, spend(loyalty.KindAdjust, "adjust:2", -1))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindAdjust, "adjust:3", 40))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindAdjust, "adjust:4", -40))
			wantBalance(t, l, "m1", "c1", 0, 0)
		}},
		{"FIFOAcrossLots", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			now := clock.Now()
			mustPost(t, l, "m1", "c1",
				earn("a", 100, now.Add(30*24*time.Hour)),
				earn("never", 100, time.Time{}),
				earn("b", 100, now.Add(10*24*time.Hour)),
				earn("c", 100, now.Add(30*24*time.Hour)))
			wantLots(t, l, "m1", "c1", "b=100", "a=100", "c=100", "never=100")
			mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem:1", 150))
			wantLots(t, l, "m1", "c1", "a=50", "c=100", "never=100")
			mustPost(t, l, "m1", "c1", spend(loyalty.KindAdjust, "adjust:1", -100))
			wantLots(t, l, "m1", "c1", "c=50", "never=100")
			// A reverse of a spent lot takes from the next lots FIFO.
			res := mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:b", "b", 60))
			if e := res.Entries[0]; e.Delta != -60 || e.Shortfall != 0 {
				t.Fatalf("reverse of spent lot b = %+v; want -60 from the other lots", e)
			}
			wantLots(t, l, "m1", "c1", "never=90")
			wantBalance(t, l, "m1", "c1", 90, 0)
		}},
		{"ExpiryOfPartlySpentLots", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			now := clock.Now()
			mustPost(t, l, "m1", "c1", earn("a", 100, now.Add(time.Hour)), earn("b", 100, now.Add(2*time.Hour)))
			mustPost(t, l, "m1", "c2", earn("c2:a", 30, now.Add(time.Hour)))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem:1", 30))
			wantRefused(t, l, "m1", "c1", loyalty.ErrLotState, onLot(loyalty.KindExpire, loyalty.ExpirySource("a"), "a", 0))
			if due, err := l.DueLots(ctx, "m1", clock.Now(), 10); err != nil || len(due) != 0 {
				t.Fatalf("DueLots(now) = %+v, %v; want none yet", due, err)
			}
			clock.Advance(90 * time.Minute)
			due, err := l.DueLots(ctx, "m1", clock.Now(), 10)
			if err != nil || len(due) != 2 {
				t.Fatalf("DueLots(+90m) = %+v, %v; want a of c1 and c2:a", due, err)
			}
			n, err := loyalty.ExpireDue(ctx, l, "m1", clock.Now(), 1)
			if err != nil || n != 2 {
				t.Fatalf("ExpireDue(+90m) = %d, %v; want 2", n, err)
			}
			entries := allEntries(t, l, "m1", "c1")
			if e := entries[0]; e.Kind != loyalty.KindExpire || e.Ref != "a" || e.Delta != -70 || e.Source != "expiry:a" {
				t.Fatalf("newest entry after the sweep = %+v; want expire of the 70 left of lot a", e)
			}
			wantLots(t, l, "m1", "c1", "b=100")
			wantBalance(t, l, "m1", "c1", 100, 0)
			wantBalance(t, l, "m1", "c2", 0, 0)
			// A second sweep, or an expire redelivered, changes nothing.
			if n, err := loyalty.ExpireDue(ctx, l, "m1", clock.Now(), 10); err != nil || n != 0 {
				t.Fatalf("ExpireDue again = %d, %v; want 0", n, err)
			}
			res := mustPost(t, l, "m1", "c1", onLot(loyalty.KindExpire, "expiry:a", "a", 0))
			if !res.Entries[0].Duplicate {
				t.Fatalf("expire of lot a again = %+v; want the first as a duplicate", res.Entries[0])
			}
			// A refund of the order of an expired lot takes back what the
			// customer spent of it (30, from lot b), not the 70 that
			// expired: those are gone already.
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:a", "a", 100))
			if e := res.Entries[0]; e.Delta != -30 || e.Shortfall != 70 {
				t.Fatalf("reverse of expired lot a = %+v; want -30 from lot b, shortfall 70", e)
			}
			wantLots(t, l, "m1", "c1", "b=70")
			clock.Advance(time.Hour)
			if n, err := loyalty.ExpireDue(ctx, l, "m1", clock.Now(), 10); err != nil || n != 1 {
				t.Fatalf("ExpireDue(+150m) = %d, %v; want lot b", n, err)
			}
			if due, err := l.DueLots(ctx, "m1", clock.Now().Add(time.Hour), 10); err != nil || len(due) != 0 {
				t.Fatalf("DueLots after every lot expired = %+v, %v; want none", due, err)
			}
			wantBalance(t, l, "m1", "c1", 0, 0)
			mustPost(t, l, "m1", "c1", earn("order:9:earn", 10, time.Time{}), spend(loyalty.KindRedeem, "redeem:9", 10))
			clock.Advance(time.Hour)
			if due, err := l.DueLots(ctx, "m1", clock.Now(), 10); err != nil || len(due) != 0 {
				t.Fatalf("DueLots = %+v, %v; want none: a spent lot and one that never expires are not due", due, err)
			}
		}},
		{"PendingApproveReverse", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			pending := loyalty.Entry{Kind: loyalty.KindPendingEarn, Source: "order:1:earn", Points: 100}
			res := mustPost(t, l, "m1", "c1", pending)
			if e := res.Entries[0]; e.Delta != 0 || e.PendingDelta != 100 {
				t.Fatalf("pending earn = %+v; want +100 pending, 0 spendable", e)
			}
			wantBalance(t, l, "m1", "c1", 0, 100)
			wantLots(t, l, "m1", "c1", "order:1:earn=100 pending")
			wantRefused(t, l, "m1", "c1", loyalty.ErrInsufficientPoints, spend(loyalty.KindRedeem, "redeem:1", 1))
			wantRefused(t, l, "m1", "c1", loyalty.ErrLotState, onLot(loyalty.KindExpire, "expiry:order:1:earn", "order:1:earn", 0))
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindApprove, "order:1:approve", "order:1:earn", 0))
			if e := res.Entries[0]; e.Delta != 100 || e.PendingDelta != -100 {
				t.Fatalf("approve = %+v; want +100 spendable, -100 pending", e)
			}
			wantBalance(t, l, "m1", "c1", 100, 0)
			wantRefused(t, l, "m1", "c1", loyalty.ErrLotState, onLot(loyalty.KindApprove, "order:1:approve-again", "order:1:earn", 0))
			// A partial refund reverses from the lot itself.
			mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:1", "order:1:earn", 40))
			wantLots(t, l, "m1", "c1", "order:1:earn=60")
			mustPost(t, l, "m1", "c1", earn("order:2:earn", 50, time.Time{}))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem:2", 80)) // 60 of order 1, 20 of order 2
			wantLots(t, l, "m1", "c1", "order:2:earn=30")
			// The rest of order 1 is refunded: 60 asked, 30 in the balance
			// to take, the other 30 a shortfall; the balance stops at zero.
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:2", "order:1:earn", 60))
			if e := res.Entries[0]; e.Delta != -30 || e.Shortfall != 30 || e.Balance != 0 {
				t.Fatalf("reverse beyond the balance = %+v; want -30, shortfall 30, balance 0", e)
			}
			// Later points cover what was short, but a lot is never
			// reversed by more than it earned: 70 were taken, 30 are left.
			mustPost(t, l, "m1", "c1", earn("order:3:earn", 500, time.Time{}))
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:3", "order:1:earn", 50))
			if e := res.Entries[0]; e.Delta != -30 || e.Shortfall != 20 {
				t.Fatalf("reverse beyond what the lot earned = %+v; want -30, shortfall 20", e)
			}
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:4", "order:1:earn", 1))
			if e := res.Entries[0]; e.Delta != 0 || e.Shortfall != 1 {
				t.Fatalf("reverse of a lot taken back in full = %+v; want nothing taken", e)
			}
			wantBalance(t, l, "m1", "c1", 470, 0)
		}},
		{"ReverseBeforeApprove", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "c1", loyalty.Entry{Kind: loyalty.KindPendingEarn, Source: "order:1:earn", Points: 100, ExpiresAt: clock.Now().Add(time.Hour)})
			res := mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "refund:1", "order:1:earn", 30))
			if e := res.Entries[0]; e.Delta != 0 || e.PendingDelta != -30 || e.Shortfall != 0 {
				t.Fatalf("reverse of a pending lot = %+v; want -30 pending only", e)
			}
			wantBalance(t, l, "m1", "c1", 0, 70)
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindReverse, "cancel:1", "order:1:earn", 100))
			if e := res.Entries[0]; e.PendingDelta != -70 || e.Shortfall != 30 {
				t.Fatalf("cancel of the rest = %+v; want -70 pending, shortfall 30", e)
			}
			wantBalance(t, l, "m1", "c1", 0, 0)
			wantLots(t, l, "m1", "c1")
			res = mustPost(t, l, "m1", "c1", onLot(loyalty.KindApprove, "order:1:approve", "order:1:earn", 0))
			if e := res.Entries[0]; e.Delta != 0 || e.PendingDelta != 0 {
				t.Fatalf("approve of a cancelled lot = %+v; want nothing", e)
			}
			clock.Advance(2 * time.Hour)
			if due, err := l.DueLots(ctx, "m1", clock.Now(), 10); err != nil || len(due) != 0 {
				t.Fatalf("DueLots = %+v, %v; want none: the lot holds nothing", due, err)
			}
			wantBalance(t, l, "m1", "c1", 0, 0)
		}},
		{"ApprovedLotExpiresLikeAnother", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "c1", loyalty.Entry{Kind: loyalty.KindPendingEarn, Source: "p", Points: 80, ExpiresAt: clock.Now().Add(time.Hour)})
			clock.Advance(2 * time.Hour)
			if due, err := l.DueLots(ctx, "m1", clock.Now(), 10); err != nil || len(due) != 0 {
				t.Fatalf("DueLots = %+v, %v; want none: a pending lot is not spendable, so not due", due, err)
			}
			mustPost(t, l, "m1", "c1", onLot(loyalty.KindApprove, "p:approve", "p", 0))
			if n, err := loyalty.ExpireDue(ctx, l, "m1", clock.Now(), 0); err != nil || n != 1 {
				t.Fatalf("ExpireDue = %d, %v; want the approved, past-expiry lot", n, err)
			}
			wantBalance(t, l, "m1", "c1", 0, 0)
		}},
		{"UnknownLots", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			wantRefused(t, l, "m1", "c1", loyalty.ErrUnknownLot, onLot(loyalty.KindApprove, "x:approve", "x", 0))
			wantRefused(t, l, "m1", "c1", loyalty.ErrUnknownLot, onLot(loyalty.KindReverse, "x:refund", "x", 5))
			mustPost(t, l, "m1", "c2", earn("c2:lot", 10, time.Time{}))
			mustPost(t, l, "m1", "c1", earn("c1:lot", 10, time.Time{}), spend(loyalty.KindRedeem, "c1:redeem", 5))
			wantRefused(t, l, "m1", "c1", loyalty.ErrUnknownLot, onLot(loyalty.KindReverse, "refund:c2", "c2:lot", 5))
			// Only a lot-opening entry is a lot.
			wantRefused(t, l, "m1", "c1", loyalty.ErrUnknownLot, onLot(loyalty.KindReverse, "refund:r", "c1:redeem", 5))
			wantBalance(t, l, "m1", "c1", 5, 0)
		}},
		{"EntriesNewestFirst", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			for i := range 7 {
				mustPost(t, l, "m1", "c1", earn(fmt.Sprintf("order:%d:earn", i), int64(i+1), time.Time{}))
				clock.Advance(time.Second)
			}
			var seqs []int64
			var pages []int64
			page := loyalty.Page{Limit: 3}
			for {
				entries, next, err := l.Entries(ctx, "m1", "c1", page)
				if err != nil {
					t.Fatalf("Entries(%+v) = %v", page, err)
				}
				for _, e := range entries {
					seqs = append(seqs, e.Seq)
					if e.Points != e.Seq || e.Source != fmt.Sprintf("order:%d:earn", e.Seq-1) {
						t.Fatalf("entry %+v; want the one posted %d-th", e, e.Seq)
					}
				}
				pages = append(pages, next)
				if next == 0 {
					break
				}
				page.Before = next
			}
			if fmt.Sprint(seqs) != "[7 6 5 4 3 2 1]" || fmt.Sprint(pages) != "[5 2 0]" {
				t.Fatalf("paged seqs %v, cursors %v; want [7 6 5 4 3 2 1] in pages ending 5, 2, 0", seqs, pages)
			}
			entries, next, err := l.Entries(ctx, "m1", "nobody", loyalty.Page{})
			if err != nil || len(entries) != 0 || next != 0 {
				t.Fatalf("Entries(nobody) = %v, %d, %v; want none", entries, next, err)
			}
			if b := balanceOf(t, l, "m1", "nobody"); b != (loyalty.Balance{}) {
				t.Fatalf("Balance(nobody) = %+v; want zero", b)
			}
			CheckLedger(t, l, "m1", "c1")
		}},
		{"Isolation", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			mustPost(t, l, "m1", "c1", earn("order:1:earn", 100, clock.Now().Add(time.Minute)))
			// Another merchant's same source and customer key are its own.
			res := mustPost(t, l, "m2", "c1", earn("order:1:earn", 7, clock.Now().Add(time.Minute)))
			if res.Entries[0].Duplicate {
				t.Fatalf("the same source at another merchant = %+v; want new", res.Entries[0])
			}
			// Within a merchant a source is one, whichever customer posts it:
			// the second customer gets the first one's entry, not points.
			res = mustPost(t, l, "m1", "c2", earn("order:1:earn", 100, time.Time{}))
			if e := res.Entries[0]; !e.Duplicate || e.Customer != "c1" || res.Balance.Points != 0 {
				t.Fatalf("c2 posting c1's source = %+v; want c1's entry as a duplicate and c2 at 0", res)
			}
			mustPost(t, l, "m1", "c2", earn("order:2:earn", 5, time.Time{}))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem:1", 60))
			wantBalance(t, l, "m1", "c1", 40, 0)
			wantBalance(t, l, "m1", "c2", 5, 0)
			wantBalance(t, l, "m2", "c1", 7, 0)
			clock.Advance(2 * time.Minute)
			due, err := l.DueLots(ctx, "m2", clock.Now(), 10)
			if err != nil || len(due) != 1 || due[0].Customer != "c1" || due[0].Lot != "order:1:earn" {
				t.Fatalf("DueLots(m2) = %+v, %v; want m2's lot only", due, err)
			}
			if n, err := loyalty.ExpireDue(ctx, l, "m2", clock.Now(), 10); err != nil || n != 1 {
				t.Fatalf("ExpireDue(m2) = %d, %v; want 1", n, err)
			}
			wantBalance(t, l, "m1", "c1", 40, 0)
			wantBalance(t, l, "m2", "c1", 0, 0)
			// Customer keys that share a start stay apart.
			mustPost(t, l, "m1", "c", earn("short", 1, time.Time{}))
			mustPost(t, l, "m1", "c10", earn("long", 2, time.Time{}))
			wantBalance(t, l, "m1", "c", 1, 0)
			wantBalance(t, l, "m1", "c10", 2, 0)
		}},
		{"BalanceLimit", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			big := func(prefix string, kind loyalty.Kind) []loyalty.Entry {
				var entries []loyalty.Entry
				for i := range loyalty.MaxBatch {
					entries = append(entries, loyalty.Entry{Kind: kind, Source: fmt.Sprintf("%s:%d", prefix, i), Points: loyalty.MaxPoints})
				}
				return entries
			}
			for i := range loyalty.MaxBalance / loyalty.MaxPoints / loyalty.MaxBatch {
				mustPost(t, l, "m1", "c1", big(fmt.Sprintf("earn%d", i), loyalty.KindEarn)...)
				mustPost(t, l, "m1", "c1", big(fmt.Sprintf("pending%d", i), loyalty.KindPendingEarn)...)
			}
			wantRefused(t, l, "m1", "c1", loyalty.ErrBalanceLimit, earn("one-more", 1, time.Time{}))
			wantRefused(t, l, "m1", "c1", loyalty.ErrBalanceLimit, loyalty.Entry{Kind: loyalty.KindPendingEarn, Source: "one-more", Points: 1})
			wantRefused(t, l, "m1", "c1", loyalty.ErrBalanceLimit, onLot(loyalty.KindApprove, "approve", "pending0:0", 0))
			mustPost(t, l, "m1", "c1", spend(loyalty.KindRedeem, "redeem", 1), earn("one-more", 1, time.Time{}))
			wantBalance(t, l, "m1", "c1", loyalty.MaxBalance, loyalty.MaxBalance)
		}},
		{"Invalid", func(t *testing.T, clock *Clock, l loyalty.Ledger) {
			for name, tc := range map[string]struct {
				merchant, customer string
				entries            []loyalty.Entry
			}{
				"no merchant":       {"", "c1", []loyalty.Entry{earn("a", 1, time.Time{})}},
				"no customer":       {"m1", "", []loyalty.Entry{earn("a", 1, time.Time{})}},
				"no entries":        {"m1", "c1", nil},
				"no source":         {"m1", "c1", []loyalty.Entry{earn("", 1, time.Time{})}},
				"zero earn":         {"m1", "c1", []loyalty.Entry{earn("a", 0, time.Time{})}},
				"negative redeem":   {"m1", "c1", []loyalty.Entry{spend(loyalty.KindRedeem, "r", -5)}},
				"reverse, no ref":   {"m1", "c1", []loyalty.Entry{spend(loyalty.KindReverse, "r", 5)}},
				"approve points":    {"m1", "c1", []loyalty.Entry{onLot(loyalty.KindApprove, "r", "a", 5)}},
				"unknown kind":      {"m1", "c1", []loyalty.Entry{spend("bonus", "r", 5)}},
				"redeem, expiring":  {"m1", "c1", []loyalty.Entry{{Kind: loyalty.KindRedeem, Source: "r", Points: 1, ExpiresAt: clock.Now()}}},
				"too many points":   {"m1", "c1", []loyalty.Entry{earn("a", loyalty.MaxPoints+1, time.Time{})}},
				"one bad, one good": {"m1", "c1", []loyalty.Entry{earn("ok", 1, time.Time{}), earn("bad", -1, time.Time{})}},
			} {
				_, err := l.Post(ctx, tc.merchant, tc.customer, tc.entries)
				var invalid *app.ValidationError
				if !errors.As(err, &invalid) {
					t.Errorf("Post(%s) = %v; want an *app.ValidationError", name, err)
				}
			}
			wantBalance(t, l, "m1", "c1", 0, 0)
		}},
	}
}

// LedgerPurge checks that purge (the backend's PurgeMerchantData, a shop's
// redaction) takes the merchant's points ledger and leaves another's.
func LedgerPurge(t *testing.T, l loyalty.Ledger, purge func(ctx context.Context, merchant string) (int, error)) {
	t.Helper()
	ctx := context.Background()
	for _, m := range []string{"m1", "m2"} {
		mustPost(t, l, m, "c1",
			earn("order:1:earn", 100, time.Now().Add(time.Hour)),
			loyalty.Entry{Kind: loyalty.KindPendingEarn, Source: "order:2:earn", Points: 50},
			spend(loyalty.KindRedeem, "redeem:1", 10))
	}
	if _, err := purge(ctx, "m1"); err != nil {
		t.Fatalf("PurgeMerchantData() = %v", err)
	}
	wantBalance(t, l, "m1", "c1", 0, 0)
	if due, err := l.DueLots(ctx, "m1", time.Now().Add(2*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("DueLots(m1) after the purge = %+v, %v; want none", due, err)
	}
	if res := mustPost(t, l, "m1", "c1", earn("order:1:earn", 1, time.Time{})); res.Entries[0].Duplicate {
		t.Errorf("Post(m1, order:1:earn) after the purge = %+v; want a new entry", res)
	}
	wantBalance(t, l, "m2", "c1", 90, 50)
}
