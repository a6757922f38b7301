package loyalty_test

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/store/storetest"
)

// model is the reference ledger: the rules of loyalty.Ledger written as
// plainly as possible, with no cached totals (a balance is the sum of the
// entries, read afresh), no indexes (spending sorts the lots each time)
// and no rollback (a post works on a copy that replaces the state only
// when every entry went in).
type model struct {
	mu        sync.Mutex
	now       func() time.Time
	merchants map[string]*modelMerchant
}

type modelMerchant struct {
	sources   map[string]modelSource
	customers map[string]*modelCustomer
}

type modelSource struct {
	customer string
	seq      int64
}

type modelCustomer struct {
	entries []loyalty.Entry
	lots    map[int64]loyalty.Lot // by the seq of the entry that opened it
}

func newModel(now func() time.Time) *model {
	return &model{now: now, merchants: map[string]*modelMerchant{}}
}

var _ loyalty.Ledger = (*model)(nil)

func (m *modelMerchant) clone() *modelMerchant {
	c := &modelMerchant{sources: maps.Clone(m.sources), customers: map[string]*modelCustomer{}}
	for id, cust := range m.customers {
		c.customers[id] = &modelCustomer{entries: slices.Clone(cust.entries), lots: maps.Clone(cust.lots)}
	}
	return c
}

func (m *model) merchant(id string) *modelMerchant {
	if mm := m.merchants[id]; mm != nil {
		return mm
	}
	return &modelMerchant{sources: map[string]modelSource{}, customers: map[string]*modelCustomer{}}
}

func (m *modelMerchant) customer(id string) *modelCustomer {
	if c := m.customers[id]; c != nil {
		return c
	}
	c := &modelCustomer{lots: map[int64]loyalty.Lot{}}
	m.customers[id] = c
	return c
}

func (c *modelCustomer) balance() loyalty.Balance {
	var b loyalty.Balance
	for _, e := range c.entries {
		b.Points += e.Delta
		b.Pending += e.PendingDelta
	}
	b.Entries = int64(len(c.entries))
	return b
}

// spendable are the lots that hold spendable points, in spending order.
func (c *modelCustomer) spendable() []loyalty.Lot {
	var out []loyalty.Lot
	for _, lot := range c.lots {
		if !lot.Pending && lot.Remaining > 0 {
			out = append(out, lot)
		}
	}
	slices.SortFunc(out, func(a, b loyalty.Lot) int {
		return cmp.Or(cmp.Compare(expiryKey(a), expiryKey(b)), cmp.Compare(a.Seq, b.Seq))
	})
	return out
}

func expiryKey(l loyalty.Lot) int64 {
	if l.ExpiresAt.IsZero() {
		return 1 << 62
	}
	return l.ExpiresAt.UnixMilli()
}

func (c *modelCustomer) take(amount int64) int64 {
	taken := int64(0)
	for _, lot := range c.spendable() {
		n := min(lot.Remaining, amount-taken)
		lot.Remaining -= n
		c.lots[lot.Seq] = lot
		taken += n
	}
	return taken
}

func (m *model) Post(ctx context.Context, merchant, customer string, entries []loyalty.Entry) (loyalty.Result, error) {
	entries, err := loyalty.CheckPost(merchant, customer, entries)
	if err != nil {
		return loyalty.Result{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := loyalty.Now(m.now())
	st := m.merchant(merchant).clone()
	var res loyalty.Result
	for _, e := range entries {
		posted, err := st.apply(customer, e, now)
		if err != nil {
			return loyalty.Result{}, err
		}
		res.Entries = append(res.Entries, posted)
	}
	m.merchants[merchant] = st
	res.Balance = st.customer(customer).balance()
	return res, nil
}

func (m *modelMerchant) apply(customer string, e loyalty.Entry, now time.Time) (loyalty.Entry, error) {
	if src, ok := m.sources[e.Source]; ok {
		first := m.customers[src.customer].entries[src.seq-1]
		first.Duplicate = true
		return first, nil
	}
	c := m.customer(customer)
	bal := c.balance()
	refused := func(reason error) error {
		return &loyalty.RefusedError{Source: e.Source, Reason: reason, Balance: bal.Points}
	}
	seq := bal.Entries + 1
	switch {
	case e.Kind == loyalty.KindEarn || e.Kind == loyalty.KindPendingEarn || (e.Kind == loyalty.KindAdjust && e.Points > 0):
		lot := loyalty.Lot{ID: e.Source, Seq: seq, Points: e.Points, Remaining: e.Points, Pending: e.Kind == loyalty.KindPendingEarn, ExpiresAt: e.ExpiresAt}
		c.lots[seq] = lot
		if lot.Pending {
			e.PendingDelta = e.Points
		} else {
			e.Delta = e.Points
		}
	case e.Kind == loyalty.KindRedeem || e.Kind == loyalty.KindAdjust:
		amount := max(e.Points, -e.Points)
		if amount > bal.Points {
			return loyalty.Entry{}, refused(loyalty.ErrInsufficientPoints)
		}
		e.Delta = -c.take(amount)
	default:
		src, ok := m.sources[e.Ref]
		lot, isLot := c.lots[src.seq]
		if !ok || src.customer != customer || !isLot {
			return loyalty.Entry{}, refused(loyalty.ErrUnknownLot)
		}
		switch e.Kind {
		case loyalty.KindApprove:
			if !lot.Pending {
				return loyalty.Entry{}, refused(loyalty.ErrLotState)
			}
			lot.Pending = false
			e.Delta, e.PendingDelta = lot.Remaining, -lot.Remaining
			c.lots[lot.Seq] = lot
		case loyalty.KindExpire:
			if lot.Pending || lot.ExpiresAt.IsZero() || lot.ExpiresAt.After(now) {
				return loyalty.Entry{}, refused(loyalty.ErrLotState)
			}
			e.Delta = -lot.Remaining
			lot.Expired += lot.Remaining
			lot.Remaining = 0
			c.lots[lot.Seq] = lot
		case loyalty.KindReverse:
			// What the customer had of the lot: not what expired, not what
			// was taken back before.
			had := lot.Points - lot.Expired - lot.Reversed
			fromLot := min(e.Points, had, lot.Remaining)
			lot.Remaining -= fromLot
			lot.Reversed += fromLot
			c.lots[lot.Seq] = lot
			if lot.Pending {
				e.PendingDelta = -fromLot
				e.Shortfall = e.Points - fromLot
				break
			}
			others := c.take(min(e.Points, had) - fromLot)
			lot = c.lots[lot.Seq]
			lot.Reversed += others
			c.lots[lot.Seq] = lot
			e.Delta = -(fromLot + others)
			e.Shortfall = e.Points - fromLot - others
		}
	}
	e.Customer, e.Seq, e.CreatedAt = customer, seq, now
	e.Balance, e.Pending = bal.Points+e.Delta, bal.Pending+e.PendingDelta
	if e.Balance > loyalty.MaxBalance || e.Pending > loyalty.MaxBalance {
		return loyalty.Entry{}, refused(loyalty.ErrBalanceLimit)
	}
	c.entries = append(c.entries, e)
	m.sources[e.Source] = modelSource{customer, seq}
	return e, nil
}

func (m *model) Balance(ctx context.Context, merchant, customer string) (loyalty.Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.merchant(merchant).customers[customer]; c != nil {
		return c.balance(), nil
	}
	return loyalty.Balance{}, nil
}

func (m *model) Entries(ctx context.Context, merchant, customer string, page loyalty.Page) ([]loyalty.Entry, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.merchant(merchant).customers[customer]
	if c == nil {
		return nil, 0, nil
	}
	top := int64(len(c.entries))
	if page.Before > 0 {
		top = min(top, page.Before-1)
	}
	var out []loyalty.Entry
	for seq := top; seq >= 1 && len(out) < loyalty.PageLimit(page); seq-- {
		out = append(out, c.entries[seq-1])
	}
	var next int64
	if len(out) > 0 && out[len(out)-1].Seq > 1 {
		next = out[len(out)-1].Seq
	}
	return out, next, nil
}

func (m *model) Lots(ctx context.Context, merchant, customer string) ([]loyalty.Lot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.merchant(merchant).customers[customer]
	if c == nil {
		return nil, nil
	}
	out := c.spendable()
	var pending []loyalty.Lot
	for _, lot := range c.lots {
		if lot.Pending && lot.Remaining > 0 {
			pending = append(pending, lot)
		}
	}
	slices.SortFunc(pending, func(a, b loyalty.Lot) int { return cmp.Compare(a.Seq, b.Seq) })
	return append(out, pending...), nil
}

func (m *model) DueLots(ctx context.Context, merchant string, until time.Time, limit int) ([]loyalty.DueLot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type due struct {
		loyalty.DueLot
		seq int64
	}
	var all []due
	for id, c := range m.merchant(merchant).customers {
		for _, lot := range c.spendable() {
			if !lot.ExpiresAt.IsZero() && !lot.ExpiresAt.After(until) {
				all = append(all, due{loyalty.DueLot{Customer: id, Lot: lot.ID, ExpiresAt: lot.ExpiresAt}, lot.Seq})
			}
		}
	}
	slices.SortFunc(all, func(a, b due) int {
		return cmp.Or(a.ExpiresAt.Compare(b.ExpiresAt), cmp.Compare(a.seq, b.seq), cmp.Compare(a.Customer, b.Customer))
	})
	if limit <= 0 {
		limit = 500
	}
	var out []loyalty.DueLot
	for _, d := range all[:min(limit, len(all))] {
		out = append(out, d.DueLot)
	}
	return out, nil
}

// The model passes the suite the backends pass: it is the same ledger.
func TestModelConformance(t *testing.T) {
	storetest.RunLedger(t, func(t *testing.T, clock *storetest.Clock) loyalty.Ledger {
		return newModel(clock.Now)
	})
}

// Forget implements loyalty.Ledger.
func (m *model) Forget(ctx context.Context, merchant, customer string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.merchants[merchant]
	if mm == nil || mm.customers[customer] == nil {
		return 0, nil
	}
	n := int64(len(mm.customers[customer].entries))
	delete(mm.customers, customer)
	for src, owner := range mm.sources {
		if owner.customer == customer {
			delete(mm.sources, src)
		}
	}
	return n, nil
}
