package app

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The states of a COD order, as the queue shows and filters them.
const (
	CODPending          = "pending"
	CODConfirmed        = "confirmed"
	CODCancelled        = "cancelled"
	CODStateUnconfirmed = "unconfirmed"
)

// The merchant's indexes of COD orders, by the time each was asked about:
// every order the flow keeps, and those still awaiting a decision.
const (
	indexCODOrders   = "cod_orders"
	indexCODAwaiting = "cod_awaiting"
)

// Bounds of a COD queue listing.
const (
	codListDefault = 50
	codListMax     = 200
	// codScanMax bounds the index entries one listing reads: a filter
	// that matches few orders cannot walk a month of them.
	codScanMax  = 2000
	codScanPage = 100
)

// CODOrder is an order of the COD flow as the merchant's queue shows it.
type CODOrder struct {
	ID          string // the platform's order id
	Number      string // as the store shows it, e.g. #1001
	State       string // CODPending, CODConfirmed, CODCancelled, CODStateUnconfirmed
	FirstName   string
	Phone       string // masked
	Total       string
	RequestedAt time.Time
	Reminders   int // reminders sent so far
	// Answer is what the customer said: the reply that decided the order,
	// or, while it waits, their last message since we asked.
	Answer     string
	AnsweredAt time.Time
	DecidedBy  string // CODByCustomer, CODByMerchant, CODByTimeout; "" while pending
	DecidedAt  time.Time
}

// CODOrderFilter selects a merchant's COD orders: State empty for all
// (those awaiting first), Limit 0 for the default.
type CODOrderFilter struct {
	State string
	Limit int
}

// CODConflictError answers a decision on an order already decided: State
// is the order's state now, and DecidedBy who took the decision.
type CODConflictError struct {
	Order, State, DecidedBy string
}

func (e *CODConflictError) Error() string {
	return "cod order " + e.Order + " is already " + e.State
}

// Is makes a CODConflictError an ErrConflict.
func (e *CODConflictError) Is(target error) bool { return target == ErrConflict }

// indexCOD enters an order in the merchant's queue. Written before the
// order's state is read back by anyone, and repeated by a retry, so no
// order the flow keeps is missing from it.
func (s *Service) indexCOD(ctx context.Context, merchant, orderID string, at time.Time) error {
	for _, index := range []string{indexCODOrders, indexCODAwaiting} {
		if err := s.store.IndexAdd(ctx, merchant, index, orderID, at, codStateTTL); err != nil {
			return err
		}
	}
	return nil
}

// CODOrders lists the merchant's COD orders: those awaiting a decision
// first, then the decided ones, newest first in each; or only those of
// f.State.
func (s *Service) CODOrders(ctx context.Context, merchantID string, f CODOrderFilter) ([]CODOrder, error) {
	switch f.State {
	case "", CODPending, CODConfirmed, CODCancelled, CODStateUnconfirmed:
	default:
		return nil, Invalid("state", "must be pending, confirmed, cancelled or unconfirmed")
	}
	if f.Limit < 0 || f.Limit > codListMax {
		return nil, Invalid("limit", "must be between 1 and 200")
	}
	limit := f.Limit
	if limit == 0 {
		limit = codListDefault
	}
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	out := []CODOrder{}
	seen := map[string]bool{}
	// collect walks an index newest first, keeping the orders want takes.
	collect := func(index string, want func(codOrder) bool) error {
		for offset := 0; len(out) < limit && offset < codScanMax; offset += codScanPage {
			ids, err := s.store.IndexNewest(ctx, m.ID, index, offset, codScanPage)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if seen[id] {
					continue
				}
				order, _, err := s.loadCOD(ctx, m.ID, id)
				if errors.Is(err, ErrNotFound) {
					continue // expired, or redacted
				}
				if err != nil {
					return err
				}
				if !want(order) {
					continue
				}
				seen[id] = true
				view, err := s.codOrderView(ctx, m, id, order)
				if err != nil {
					return err
				}
				if out = append(out, view); len(out) == limit {
					return nil
				}
			}
			if len(ids) < codScanPage {
				return nil
			}
		}
		return nil
	}
	if f.State == "" || f.State == CODPending {
		if err := collect(indexCODAwaiting, func(o codOrder) bool { return o.State == CODPending }); err != nil {
			return nil, err
		}
	}
	if f.State != CODPending {
		if err := collect(indexCODOrders, func(o codOrder) bool { return f.State == "" || o.State == f.State }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CODOrder is one of the merchant's COD orders; ErrNotFound when the flow
// keeps no such order for this merchant.
func (s *Service) CODOrder(ctx context.Context, merchantID, orderID string) (CODOrder, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return CODOrder{}, err
	}
	if orderID == "" {
		return CODOrder{}, ErrNotFound
	}
	order, _, err := s.loadCOD(ctx, m.ID, orderID)
	if err != nil {
		return CODOrder{}, err
	}
	return s.codOrderView(ctx, m, orderID, order)
}

// DecideCOD is the merchant's Confirm or Cancel on an order awaiting the
// customer: the same decision as the customer's reply, so the first of the
// reply, the merchant and the timeout wins, the store hears it once and
// the reminders stop. A decided order answers a *CODConflictError.
func (s *Service) DecideCOD(ctx context.Context, merchantID, orderID, decision string) (CODOrder, error) {
	if decision != CODConfirm && decision != CODCancel {
		return CODOrder{}, Invalid("decision", "must be confirm or cancel")
	}
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return CODOrder{}, err
	}
	if orderID == "" {
		return CODOrder{}, ErrNotFound
	}
	order, decided, err := s.resolveCOD(ctx, m, orderID, codDecision{action: decision, by: CODByMerchant, why: "the merchant decided in the admin"})
	if err != nil {
		return CODOrder{}, err
	}
	if !decided {
		return CODOrder{}, &CODConflictError{Order: orderID, State: order.State, DecidedBy: order.DecidedBy}
	}
	return s.codOrderView(ctx, m, orderID, order)
}

// codOrderView is what the queue shows of an order: its state with the
// reminders sent and the customer's words.
func (s *Service) codOrderView(ctx context.Context, m Merchant, orderID string, o codOrder) (CODOrder, error) {
	v := CODOrder{
		ID: orderID, Number: o.Number, State: o.State, FirstName: o.FirstName, Phone: MaskPhone(o.Phone), Total: o.Total,
		RequestedAt: o.RequestedAt, Answer: o.Answer, DecidedBy: o.DecidedBy, DecidedAt: o.DecidedAt,
	}
	if o.Answer != "" {
		v.AnsweredAt = o.DecidedAt
	}
	_, sent, err := s.store.State(ctx, m.ID, codRemindersKey(orderID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return CODOrder{}, err
	}
	v.Reminders = int(sent)
	if o.State != CODPending || o.Phone == "" {
		return v, nil
	}
	// Waiting: the customer may have written something else than yes or
	// no since we asked ("can it come on Friday?").
	raw, err := s.store.MapGet(ctx, m.ID, mapReplies, o.Phone)
	if errors.Is(err, ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return CODOrder{}, err
	}
	var r Reply
	if json.Unmarshal([]byte(raw), &r) == nil && !r.At.Before(o.RequestedAt) {
		v.Answer, v.AnsweredAt = codAnswer(r), r.At
	}
	return v, nil
}
