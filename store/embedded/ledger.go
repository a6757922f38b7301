package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app/loyalty"
)

// The points ledger, one transaction per post. Keys (parts as in keys.go,
// seq and expiry as 8 big-endian bytes, an expiry of never as all ones):
//
//	loyalty_sources   merchant, source → seq, customer: each source once
//	loyalty_entries   merchant, customer, seq → entry (append-only)
//	loyalty_totals    merchant, customer → the cached balances
//	loyalty_lots      merchant, customer, seq → lot of the entry seq
//	loyalty_open      merchant, customer, expiry, seq: spendable lots
//	                  holding points, in spending order (FIFO)
//	loyalty_pending   merchant, customer, seq: pending lots holding points
//	loyalty_due       merchant, expiry, seq, customer: spendable lots with
//	                  an expiry holding points, for the sweep
const (
	bucketLoyaltySources = "loyalty_sources"
	bucketLoyaltyEntries = "loyalty_entries"
	bucketLoyaltyTotals  = "loyalty_totals"
	bucketLoyaltyLots    = "loyalty_lots"
	bucketLoyaltyOpen    = "loyalty_open"
	bucketLoyaltyPending = "loyalty_pending"
	bucketLoyaltyDue     = "loyalty_due"
)

func loyaltyBucketNames() []string {
	return []string{
		bucketLoyaltySources, bucketLoyaltyEntries, bucketLoyaltyTotals, bucketLoyaltyLots,
		bucketLoyaltyOpen, bucketLoyaltyPending, bucketLoyaltyDue,
	}
}

// Ledger is loyalty.Ledger on the store's file.
type Ledger struct{ s *Store }

var _ loyalty.Ledger = (*Ledger)(nil)

// Ledger returns the points ledger kept in the same file.
func (s *Store) Ledger() *Ledger { return &Ledger{s: s} }

// entryRecord and lotRecord are the stored forms; times in Unix ms.
type entryRecord struct {
	Kind      loyalty.Kind `json:"k"`
	Source    string       `json:"s"`
	Ref       string       `json:"r,omitempty"`
	Points    int64        `json:"n,omitempty"`
	ExpiresAt int64        `json:"x,omitempty"`
	Reason    string       `json:"w,omitempty"`
	Seq       int64        `json:"q"`
	CreatedAt int64        `json:"at"`
	Delta     int64        `json:"d,omitempty"`
	PDelta    int64        `json:"pd,omitempty"`
	Shortfall int64        `json:"sf,omitempty"`
	Balance   int64        `json:"b"`
	Pending   int64        `json:"p"`
}

type lotRecord struct {
	Source    string `json:"s"`
	Points    int64  `json:"n"`
	Remaining int64  `json:"r"`
	Reversed  int64  `json:"v,omitempty"`
	Expired   int64  `json:"e,omitempty"`
	Pending   bool   `json:"p,omitempty"`
	ExpiresAt int64  `json:"x,omitempty"`
}

type totalsRecord struct {
	Points  int64 `json:"b"`
	Pending int64 `json:"p"`
	Seq     int64 `json:"q"`
}

func (r entryRecord) entry(customer string) loyalty.Entry {
	return loyalty.Entry{
		Kind: r.Kind, Source: r.Source, Ref: r.Ref, Points: r.Points, ExpiresAt: msTime(r.ExpiresAt), Reason: r.Reason,
		Customer: customer, Seq: r.Seq, CreatedAt: msTime(r.CreatedAt),
		Delta: r.Delta, PendingDelta: r.PDelta, Shortfall: r.Shortfall, Balance: r.Balance, Pending: r.Pending,
	}
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func loyaltyCustomer(merchant, customer string) []byte {
	return appendPart(merchantPrefix(merchant), customer)
}

func appendU64(b []byte, n uint64) []byte { return binary.BigEndian.AppendUint64(b, n) }

// expiryOrder sorts lots that never expire after every other.
func expiryOrder(ms int64) uint64 {
	if ms == 0 {
		return math.MaxUint64
	}
	return uint64(ms)
}

// poster applies one post inside its transaction.
type poster struct {
	merchant, customer string
	prefix             []byte // loyaltyCustomer
	now                int64
	totals             totalsRecord
	sources, entries   *bolt.Bucket
	lots, open         *bolt.Bucket
	pending, due       *bolt.Bucket
}

// Post implements loyalty.Ledger.
func (l *Ledger) Post(ctx context.Context, merchant, customer string, entries []loyalty.Entry) (loyalty.Result, error) {
	entries, err := loyalty.CheckPost(merchant, customer, entries)
	if err != nil {
		return loyalty.Result{}, fmt.Errorf("embedded: post loyalty entries: %w", err)
	}
	now := loyalty.Now(l.s.now()).UnixMilli()
	var res loyalty.Result
	// batch: concurrent posts share a commit; fn sets res afresh each run.
	err = l.s.batch(ctx, "post loyalty entries", func(tx *bolt.Tx) error {
		p := &poster{
			merchant: merchant, customer: customer, prefix: loyaltyCustomer(merchant, customer), now: now,
			sources: bucket(tx, bucketLoyaltySources), entries: bucket(tx, bucketLoyaltyEntries),
			lots: bucket(tx, bucketLoyaltyLots), open: bucket(tx, bucketLoyaltyOpen),
			pending: bucket(tx, bucketLoyaltyPending), due: bucket(tx, bucketLoyaltyDue),
		}
		totals := bucket(tx, bucketLoyaltyTotals)
		if err := getJSONOrZero(totals, p.prefix, &p.totals); err != nil {
			return err
		}
		res = loyalty.Result{Entries: make([]loyalty.Entry, 0, len(entries))}
		for _, e := range entries {
			posted, err := p.apply(e)
			if err != nil {
				return err
			}
			res.Entries = append(res.Entries, posted)
		}
		res.Balance = loyalty.Balance{Points: p.totals.Points, Pending: p.totals.Pending, Entries: p.totals.Seq}
		return putJSON(totals, p.prefix, p.totals)
	})
	if err != nil {
		return loyalty.Result{}, err
	}
	return res, nil
}

func getJSONOrZero(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return nil
	}
	return json.Unmarshal(data, v)
}

func (p *poster) sourceKey(source string) []byte {
	return append(merchantPrefix(p.merchant), source...)
}

func (p *poster) seqKey(seq int64) []byte { return appendU64(bytes.Clone(p.prefix), uint64(seq)) }

func (p *poster) openKey(seq int64, lot lotRecord) []byte {
	return appendU64(appendU64(bytes.Clone(p.prefix), expiryOrder(lot.ExpiresAt)), uint64(seq))
}

func (p *poster) dueKey(seq int64, lot lotRecord) []byte {
	k := appendU64(appendU64(merchantPrefix(p.merchant), uint64(lot.ExpiresAt)), uint64(seq))
	return append(k, p.customer...)
}

// apply posts e, or answers the entry its source already posted.
func (p *poster) apply(e loyalty.Entry) (loyalty.Entry, error) {
	if v := p.sources.Get(p.sourceKey(e.Source)); v != nil {
		return p.duplicate(v)
	}
	rec := entryRecord{Kind: e.Kind, Source: e.Source, Ref: e.Ref, Points: e.Points, ExpiresAt: msOf(e.ExpiresAt), Reason: e.Reason}
	seq := p.totals.Seq + 1
	switch {
	case e.Kind == loyalty.KindEarn || e.Kind == loyalty.KindPendingEarn || (e.Kind == loyalty.KindAdjust && e.Points > 0):
		lot := lotRecord{Source: e.Source, Points: e.Points, Remaining: e.Points, Pending: e.Kind == loyalty.KindPendingEarn, ExpiresAt: rec.ExpiresAt}
		if lot.Pending {
			rec.PDelta = e.Points
		} else {
			rec.Delta = e.Points
		}
		if err := p.putLot(seq, lot, lotRecord{}); err != nil {
			return loyalty.Entry{}, err
		}
	case e.Kind == loyalty.KindRedeem || e.Kind == loyalty.KindAdjust:
		amount := max(e.Points, -e.Points)
		if amount > p.totals.Points {
			return loyalty.Entry{}, &loyalty.RefusedError{Source: e.Source, Reason: loyalty.ErrInsufficientPoints, Balance: p.totals.Points}
		}
		taken, err := p.consume(amount)
		if err != nil {
			return loyalty.Entry{}, err
		}
		rec.Delta = -taken
	default: // approve, reverse, expire: the lot Ref
		lotSeq, lot, err := p.lot(e)
		if err != nil {
			return loyalty.Entry{}, err
		}
		old := lot
		switch e.Kind {
		case loyalty.KindApprove:
			if !lot.Pending {
				return loyalty.Entry{}, p.refused(e, loyalty.ErrLotState)
			}
			lot.Pending = false
			rec.Delta, rec.PDelta = lot.Remaining, -lot.Remaining
		case loyalty.KindExpire:
			if lot.Pending || lot.ExpiresAt == 0 || lot.ExpiresAt > p.now {
				return loyalty.Entry{}, p.refused(e, loyalty.ErrLotState)
			}
			rec.Delta = -lot.Remaining
			lot.Expired += lot.Remaining
			lot.Remaining = 0
		case loyalty.KindReverse:
			// What the customer had of the lot: not what expired, not
			// what was taken back before.
			asked := min(e.Points, lot.Points-lot.Expired-lot.Reversed)
			fromLot := min(asked, lot.Remaining)
			lot.Remaining -= fromLot
			lot.Reversed += fromLot
			if lot.Pending {
				rec.PDelta = -fromLot
				rec.Shortfall = e.Points - fromLot
				break
			}
			// The lot's own points go first; only once it is empty do
			// the other lots give the rest, FIFO.
			if err := p.putLot(lotSeq, lot, old); err != nil {
				return loyalty.Entry{}, err
			}
			old = lot
			fromOthers, err := p.consume(min(asked-fromLot, p.totals.Points-fromLot))
			if err != nil {
				return loyalty.Entry{}, err
			}
			lot.Reversed += fromOthers
			rec.Delta = -(fromLot + fromOthers)
			rec.Shortfall = e.Points - fromLot - fromOthers
		}
		if err := p.putLot(lotSeq, lot, old); err != nil {
			return loyalty.Entry{}, err
		}
	}
	p.totals.Seq = seq
	p.totals.Points += rec.Delta
	p.totals.Pending += rec.PDelta
	if p.totals.Points > loyalty.MaxBalance || p.totals.Pending > loyalty.MaxBalance {
		return loyalty.Entry{}, p.refused(e, loyalty.ErrBalanceLimit) // the transaction is rolled back
	}
	rec.Seq, rec.CreatedAt, rec.Balance, rec.Pending = seq, p.now, p.totals.Points, p.totals.Pending
	if err := putJSON(p.entries, p.seqKey(seq), rec); err != nil {
		return loyalty.Entry{}, err
	}
	src := append(appendU64(nil, uint64(seq)), p.customer...)
	if err := p.sources.Put(p.sourceKey(e.Source), src); err != nil {
		return loyalty.Entry{}, err
	}
	return rec.entry(p.customer), nil
}

func (p *poster) refused(e loyalty.Entry, reason error) error {
	return &loyalty.RefusedError{Source: e.Source, Reason: reason, Balance: p.totals.Points}
}

// duplicate answers the entry a source posted, whichever customer's.
func (p *poster) duplicate(v []byte) (loyalty.Entry, error) {
	if len(v) < 8 {
		return loyalty.Entry{}, errors.New("corrupt loyalty source record")
	}
	seq, customer := int64(binary.BigEndian.Uint64(v)), string(v[8:])
	var rec entryRecord
	if err := getJSON(p.entries, appendU64(loyaltyCustomer(p.merchant, customer), uint64(seq)), &rec); err != nil {
		return loyalty.Entry{}, err
	}
	e := rec.entry(customer)
	e.Duplicate = true
	return e, nil
}

// lot finds the lot e.Ref opened for this customer.
func (p *poster) lot(e loyalty.Entry) (int64, lotRecord, error) {
	v := p.sources.Get(p.sourceKey(e.Ref))
	if len(v) < 8 || string(v[8:]) != p.customer {
		return 0, lotRecord{}, p.refused(e, loyalty.ErrUnknownLot)
	}
	seq := int64(binary.BigEndian.Uint64(v))
	var lot lotRecord
	if err := getJSON(p.lots, p.seqKey(seq), &lot); err != nil {
		return 0, lotRecord{}, p.refused(e, loyalty.ErrUnknownLot)
	}
	return seq, lot, nil
}

// putLot stores lot and moves it between the indexes old (its previous
// state; zero for a new lot) was in and those it belongs in now.
func (p *poster) putLot(seq int64, lot, old lotRecord) error {
	if err := putJSON(p.lots, p.seqKey(seq), lot); err != nil {
		return err
	}
	type index struct {
		b       *bolt.Bucket
		key     func(lotRecord) []byte
		belongs func(lotRecord) bool
	}
	spendable := func(l lotRecord) bool { return !l.Pending && l.Remaining > 0 }
	for _, ix := range []index{
		{p.open, func(l lotRecord) []byte { return p.openKey(seq, l) }, spendable},
		{p.pending, func(lotRecord) []byte { return p.seqKey(seq) }, func(l lotRecord) bool { return l.Pending && l.Remaining > 0 }},
		{p.due, func(l lotRecord) []byte { return p.dueKey(seq, l) }, func(l lotRecord) bool { return spendable(l) && l.ExpiresAt > 0 }},
	} {
		was, is := old.Source != "" && ix.belongs(old), ix.belongs(lot)
		switch {
		case was && !is:
			if err := ix.b.Delete(ix.key(old)); err != nil {
				return err
			}
		case is && !was:
			if err := ix.b.Put(ix.key(lot), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// consume takes up to amount from the spendable lots in spending order
// and answers how much it took.
func (p *poster) consume(amount int64) (int64, error) {
	type take struct {
		seq int64
		lot lotRecord
	}
	var takes []take
	taken := int64(0)
	c := p.open.Cursor()
	for k, _ := c.Seek(p.prefix); k != nil && bytes.HasPrefix(k, p.prefix) && taken < amount; k, _ = c.Next() {
		if len(k) != len(p.prefix)+16 {
			return 0, errors.New("corrupt loyalty lot index")
		}
		seq := int64(binary.BigEndian.Uint64(k[len(p.prefix)+8:]))
		var lot lotRecord
		if err := getJSON(p.lots, p.seqKey(seq), &lot); err != nil {
			return 0, err
		}
		n := min(lot.Remaining, amount-taken)
		taken += n
		takes = append(takes, take{seq, lot})
	}
	// Written after the walk: deleting under a bbolt cursor skips keys.
	left := taken
	for _, t := range takes {
		lot := t.lot
		n := min(lot.Remaining, left)
		lot.Remaining -= n
		left -= n
		if err := p.putLot(t.seq, lot, t.lot); err != nil {
			return 0, err
		}
	}
	return taken, nil
}

// Balance implements loyalty.Ledger.
func (l *Ledger) Balance(ctx context.Context, merchant, customer string) (loyalty.Balance, error) {
	if err := required("merchant", merchant, "customer", customer); err != nil {
		return loyalty.Balance{}, fmt.Errorf("embedded: loyalty balance: %w", err)
	}
	var t totalsRecord
	err := l.s.view(ctx, "loyalty balance", func(tx *bolt.Tx) error {
		return getJSONOrZero(bucket(tx, bucketLoyaltyTotals), loyaltyCustomer(merchant, customer), &t)
	})
	return loyalty.Balance{Points: t.Points, Pending: t.Pending, Entries: t.Seq}, err
}

// Entries implements loyalty.Ledger.
func (l *Ledger) Entries(ctx context.Context, merchant, customer string, page loyalty.Page) ([]loyalty.Entry, int64, error) {
	if err := required("merchant", merchant, "customer", customer); err != nil {
		return nil, 0, fmt.Errorf("embedded: loyalty entries: %w", err)
	}
	limit := loyalty.PageLimit(page)
	var out []loyalty.Entry
	var next int64
	err := l.s.view(ctx, "loyalty entries", func(tx *bolt.Tx) error {
		out, next = nil, 0
		prefix := loyaltyCustomer(merchant, customer)
		before := uint64(math.MaxUint64)
		if page.Before > 0 {
			before = uint64(page.Before)
		}
		c := bucket(tx, bucketLoyaltyEntries).Cursor()
		k, v := c.Seek(appendU64(bytes.Clone(prefix), before))
		// Seek lands on the first key at or after before: step back below.
		switch {
		case k == nil:
			k, v = c.Last()
		case !bytes.HasPrefix(k, prefix) || binary.BigEndian.Uint64(k[len(prefix):]) >= before:
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				next = out[len(out)-1].Seq
				return nil
			}
			var rec entryRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("corrupt loyalty entry: %w", err)
			}
			out = append(out, rec.entry(customer))
		}
		return nil
	})
	return out, next, err
}

// Lots implements loyalty.Ledger.
func (l *Ledger) Lots(ctx context.Context, merchant, customer string) ([]loyalty.Lot, error) {
	if err := required("merchant", merchant, "customer", customer); err != nil {
		return nil, fmt.Errorf("embedded: loyalty lots: %w", err)
	}
	var out []loyalty.Lot
	err := l.s.view(ctx, "loyalty lots", func(tx *bolt.Tx) error {
		out = nil
		prefix := loyaltyCustomer(merchant, customer)
		lots := bucket(tx, bucketLoyaltyLots)
		add := func(seq uint64) error {
			var lot lotRecord
			if err := getJSON(lots, appendU64(bytes.Clone(prefix), seq), &lot); err != nil {
				return err
			}
			out = append(out, loyalty.Lot{
				ID: lot.Source, Seq: int64(seq), Points: lot.Points, Remaining: lot.Remaining,
				Reversed: lot.Reversed, Expired: lot.Expired, Pending: lot.Pending, ExpiresAt: msTime(lot.ExpiresAt),
			})
			return nil
		}
		c := bucket(tx, bucketLoyaltyOpen).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := add(binary.BigEndian.Uint64(k[len(prefix)+8:])); err != nil {
				return err
			}
		}
		c = bucket(tx, bucketLoyaltyPending).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if err := add(binary.BigEndian.Uint64(k[len(prefix):])); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DueLots implements loyalty.Ledger.
func (l *Ledger) DueLots(ctx context.Context, merchant string, until time.Time, limit int) ([]loyalty.DueLot, error) {
	if err := required("merchant", merchant); err != nil {
		return nil, fmt.Errorf("embedded: loyalty due lots: %w", err)
	}
	if limit <= 0 {
		limit = 500
	}
	end := uint64(msOf(until))
	var out []loyalty.DueLot
	err := l.s.view(ctx, "loyalty due lots", func(tx *bolt.Tx) error {
		out = nil
		prefix := merchantPrefix(merchant)
		lots := bucket(tx, bucketLoyaltyLots)
		c := bucket(tx, bucketLoyaltyDue).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			rest := k[len(prefix):]
			if len(rest) < 16 {
				return errors.New("corrupt loyalty due index")
			}
			at := binary.BigEndian.Uint64(rest)
			if at > end {
				break
			}
			customer := string(rest[16:])
			var lot lotRecord
			if err := getJSON(lots, appendU64(loyaltyCustomer(merchant, customer), binary.BigEndian.Uint64(rest[8:])), &lot); err != nil {
				return err
			}
			out = append(out, loyalty.DueLot{Customer: customer, Lot: lot.Source, ExpiresAt: msTime(int64(at))})
		}
		return nil
	})
	return out, err
}

// Forget implements loyalty.Ledger.
func (l *Ledger) Forget(ctx context.Context, merchant, customer string) (int64, error) {
	if err := required("merchant", merchant, "customer", customer); err != nil {
		return 0, fmt.Errorf("embedded: forget loyalty customer: %w", err)
	}
	var forgotten int64
	err := l.s.update(ctx, "forget loyalty customer", func(tx *bolt.Tx) error {
		forgotten = 0
		prefix := loyaltyCustomer(merchant, customer)
		sources, due := bucket(tx, bucketLoyaltySources), bucket(tx, bucketLoyaltyDue)
		var drop [][]byte // sources and due lots, deleted after the walks
		err := forEachPrefixed(bucket(tx, bucketLoyaltyEntries), prefix, func(_, v []byte) error {
			var rec entryRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			forgotten++
			key := append(merchantPrefix(merchant), rec.Source...)
			if owner := sources.Get(key); len(owner) >= 8 && string(owner[8:]) == customer {
				drop = append(drop, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = forEachPrefixed(bucket(tx, bucketLoyaltyLots), prefix, func(k, v []byte) error {
			var lot lotRecord
			if err := json.Unmarshal(v, &lot); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			drop = append(drop, append(appendU64(appendU64(merchantPrefix(merchant), uint64(lot.ExpiresAt)), seq), customer...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := sources.Delete(k); err != nil {
				return err
			}
			if err := due.Delete(k); err != nil {
				return err
			}
		}
		for _, name := range []string{bucketLoyaltyEntries, bucketLoyaltyLots, bucketLoyaltyOpen, bucketLoyaltyPending} {
			if err := deletePrefixed(bucket(tx, name), prefix); err != nil {
				return err
			}
		}
		return bucket(tx, bucketLoyaltyTotals).Delete(prefix)
	})
	return forgotten, err
}

// forEachPrefixed calls fn for every key of b starting with prefix.
func forEachPrefixed(b *bolt.Bucket, prefix []byte, fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// deletePrefixed deletes every key of b starting with prefix.
func deletePrefixed(b *bolt.Bucket, prefix []byte) error {
	var keys [][]byte
	if err := forEachPrefixed(b, prefix, func(k, _ []byte) error { keys = append(keys, bytes.Clone(k)); return nil }); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
