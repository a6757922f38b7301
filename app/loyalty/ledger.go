// Package loyalty is the loyalty engine. Its heart is the points ledger:
// append-only entries per merchant and customer, each posted once by its
// source key, with a balance derived from them and kept in the same atomic
// step. The store backends implement Ledger; one conformance suite
// (store/storetest) proves both.
package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what an entry does to a customer's points.
type Kind string

// Entry kinds. Every earn (and positive adjust) opens a lot with its own
// expiry; redeem, reverse and negative adjust take points from the lots that
// expire first (FIFO), oldest first among equal expiries, lots that never
// expire last.
const (
	// KindEarn opens a spendable lot of Points.
	KindEarn Kind = "earn"
	// KindPendingEarn opens a lot of Points that counts as pending, not
	// spendable, until an approve names it.
	KindPendingEarn Kind = "pending_earn"
	// KindApprove makes the pending lot Ref spendable, whatever of it is
	// left after reversals.
	KindApprove Kind = "approve"
	// KindReverse takes back up to Points of the lot Ref (a cancel or a
	// refund). A pending lot loses them from pending. An approved lot gives
	// them from what remains of it first and then, for the part the
	// customer spent, from the other lots FIFO. What expired of the lot is
	// not taken again, nothing is taken beyond what the lot earned, and the
	// balance never goes below zero: what could not be taken back is
	// recorded as Shortfall.
	KindReverse Kind = "reverse"
	// KindRedeem spends Points; refused when the balance is lower.
	KindRedeem Kind = "redeem"
	// KindExpire takes what remains of the lot Ref once its expiry passed.
	KindExpire Kind = "expire"
	// KindAdjust is a manual change by Points (signed): positive opens a
	// lot, negative spends like a redeem and is refused below zero.
	KindAdjust Kind = "adjust"
)

// Limits of what one post may carry.
const (
	MaxPoints = 1_000_000_000_000
	// MaxBalance bounds a customer's spendable and pending balances, well
	// inside a Lua number's exact integers (2^53).
	MaxBalance     = 1_000_000_000_000_000
	MaxSource      = 256
	MaxCustomer    = 256
	MaxReason      = 500
	MaxBatch       = 100
	MaxEntriesPage = 200
)

// Entry is one line of the ledger. A caller fills the first group; the
// ledger fills the rest when it posts it.
type Entry struct {
	Kind Kind
	// Source is unique per merchant: the same source posts once, and a
	// second post answers the first one's entry (with Duplicate set).
	Source string
	// Ref is the Source of the earn or pending earn whose lot an approve,
	// reverse or expire acts on.
	Ref    string
	Points int64
	// ExpiresAt is the expiry of the lot an earn, pending earn or positive
	// adjust opens; zero: never. Kept to the millisecond.
	ExpiresAt time.Time
	Reason    string

	Customer  string
	Seq       int64 // 1, 2, ... per customer, in posting order
	CreatedAt time.Time
	// Delta and PendingDelta are the changes of the spendable and pending
	// balances; the balances are their sums.
	Delta        int64
	PendingDelta int64
	// Shortfall is what a reverse could not take back.
	Shortfall int64
	// Balance and Pending are the customer's balances right after it.
	Balance int64
	Pending int64
	// Duplicate is set in a Post's answer when the source was posted
	// before (or earlier in the same post): the entry is that first one.
	Duplicate bool
}

// Balance is a customer's cached totals.
type Balance struct {
	Points  int64 // spendable
	Pending int64
	Entries int64 // the Seq of the newest entry
}

// Result answers a Post: one entry per entry given, in order, and the
// customer's balance after the post.
type Result struct {
	Entries []Entry
	Balance Balance
}

// Lot is what an earn, pending earn or positive adjust opened.
type Lot struct {
	ID        string // the source that opened it
	Seq       int64
	Points    int64 // as opened
	Remaining int64
	Reversed  int64 // taken back by reverses, from it or from other lots
	Expired   int64
	Pending   bool
	ExpiresAt time.Time // zero: never
}

// DueLot names a lot whose expiry passed and which still holds points.
type DueLot struct {
	Customer  string
	Lot       string
	ExpiresAt time.Time
}

// Page selects entries newest first: those with Seq below Before (0: from
// the newest), at most Limit (0: 50).
type Page struct {
	Before int64
	Limit  int
}

// Ledger is the store contract of the points ledger.
type Ledger interface {
	// Post applies entries in order in one atomic step: all of them, or
	// none when one is refused (a *RefusedError) or invalid.
	Post(ctx context.Context, merchant, customer string, entries []Entry) (Result, error)
	// Balance is the customer's totals; zero for a customer with no
	// entries.
	Balance(ctx context.Context, merchant, customer string) (Balance, error)
	// Entries pages the customer's entries newest first; next is the
	// Before of the following page, 0 after the oldest.
	Entries(ctx context.Context, merchant, customer string, page Page) (entries []Entry, next int64, err error)
	// Lots are the customer's lots that still hold points, spendable or
	// pending, in the order they are spent.
	Lots(ctx context.Context, merchant, customer string) ([]Lot, error)
	// DueLots are up to limit spendable lots of the merchant whose expiry
	// is at or before until and which still hold points, soonest first.
	DueLots(ctx context.Context, merchant string, until time.Time, limit int) ([]DueLot, error)
	// Forget deletes the customer's ledger (a privacy redaction): entries,
	// lots, balances and the sources they posted, and answers how many
	// entries went. A later post starts the customer afresh.
	Forget(ctx context.Context, merchant, customer string) (int64, error)
}

// Refusals. A refused post writes nothing; the error is a *RefusedError
// that unwraps to one of these.
var (
	// ErrInsufficientPoints: a redeem or negative adjust above the
	// spendable balance.
	ErrInsufficientPoints = errors.New("insufficient points")
	// ErrUnknownLot: Ref names no lot of this customer.
	ErrUnknownLot = errors.New("unknown lot")
	// ErrLotState: the lot is not in a state the entry applies to (an
	// approve of an approved lot, an expire of a pending lot or of one not
	// yet expired).
	ErrLotState = errors.New("lot state")
	// ErrBalanceLimit: the post would take a balance above MaxBalance.
	ErrBalanceLimit = errors.New("balance limit")
)

// RefusedError says which entry of a post was refused and why.
type RefusedError struct {
	Source  string
	Reason  error // one of the Err* refusals
	Balance int64 // the spendable balance when it was refused
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("loyalty: entry %q refused: %v (balance %d)", e.Source, e.Reason, e.Balance)
}

func (e *RefusedError) Unwrap() error { return e.Reason }
