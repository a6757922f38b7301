package app

import (
	"context"
	"errors"
	"strings"
	"time"
)

// cartStateTTL keeps the mark left for a reminder a worker held when its
// cart was bought: long enough for that send to finish or be retried.
const cartStateTTL = 24 * time.Hour

const (
	cartStageRecovered = 2
	// skipRecovered is why a cart reminder was not sent.
	skipRecovered = "recovered"
)

func cartKey(token string) string { return "cart:" + token }

// cartOf names the cart an event is about: a checkout's own subject, or
// the checkout an order came from.
func cartOf(e Event) string {
	if token, ok := strings.CutPrefix(e.Subject, "cart:"); ok {
		return token
	}
	if v, ok := e.Lookup("order.checkout_token"); ok {
		return formatValue(v)
	}
	return ""
}

// recoverCart withdraws a cart's reminder when the cart is bought: an
// order (or a completed checkout) ends the sequence. Most carts have no
// reminder waiting, and then this is one read and no write.
func (s *Service) recoverCart(ctx context.Context, m Merchant, token string) error {
	if token == "" {
		return nil
	}
	reminder := deliveryID(m.ID, Event{Type: EventCartAbandoned, Subject: "cart:" + token})
	d, err := s.store.GetDelivery(ctx, m.ID, reminder)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || (d.Status != DeliveryQueued && d.Status != DeliveryRetrying) {
		return err
	}
	cancelled, err := s.store.Cancel(ctx, m.ID, "send:"+reminder)
	if err != nil {
		return err
	}
	if !cancelled {
		// A worker holds the send right now: leave it a mark to find.
		_, _, err := s.store.AdvanceState(ctx, m.ID, cartKey(token), cartStageRecovered, "recovered", cartStateTTL)
		return err
	}
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: d.Event, Outcome: "skipped." + skipRecovered}, 1)
	_, err = s.moveDelivery(ctx, d, DeliverySkipped, "the cart was bought before the reminder", nil)
	return err
}

// cartRecovered reports whether a cart reminder's cart was bought since.
func (s *Service) cartRecovered(ctx context.Context, m Merchant, e Event) (bool, error) {
	token := cartOf(e)
	if token == "" || e.Type != EventCartAbandoned {
		return false, nil
	}
	_, version, err := s.store.State(ctx, m.ID, cartKey(token))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil && version >= cartStageRecovered, err
}
