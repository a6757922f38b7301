package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

const (
	// sendClaimTTL bounds how long a provider call may hold a delivery's
	// send key: longer than any call's timeout.
	sendClaimTTL = 2 * time.Minute
	// sentTTL remembers a sent delivery long after any lease could expire.
	sentTTL = 30 * 24 * time.Hour
)

// finished statuses never go back to sending.
func finished(st DeliveryStatus) bool {
	switch st {
	case DeliverySent, DeliveryDelivered, DeliveryRead, DeliveryFailed, DeliveryDead, DeliverySkipped:
		return true
	}
	return false
}

// HandleSendJob is the worker's handler for JobSendDelivery.
func (s *Service) HandleSendJob(ctx context.Context, job Job) error {
	_, err := s.sendDelivery(ctx, job.Merchant, string(job.Payload))
	return err
}

// sendDelivery builds the delivery's message from the current rule and
// sends it once. It returns the delivery as it stands after the attempt,
// and a RetryAtError when it must be tried again later.
func (s *Service) sendDelivery(ctx context.Context, merchantID, id string) (Delivery, error) {
	d, err := s.store.GetDelivery(ctx, merchantID, id)
	if errors.Is(err, ErrNotFound) {
		return Delivery{}, nil // redacted since it was queued
	}
	if err != nil || finished(d.Status) {
		return d, err
	}
	cached, err := s.merchants.byID(ctx, merchantID)
	if err != nil {
		return d, err
	}
	m := cached.Merchant
	day := DayOf(s.now())
	count := func(outcome string) {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: d.Event, Outcome: outcome}, 1)
	}
	skipWith := func(reason, detail string) (Delivery, error) {
		count("skipped." + reason)
		return s.moveDelivery(ctx, d, DeliverySkipped, detail, nil)
	}
	if m.Status != MerchantActive {
		return skipWith("uninstalled", "the store uninstalled the app")
	}
	var e Event
	if err := jsonUnmarshal(d.EventData, &e); err != nil {
		return skipWith("invalid", "the stored event cannot be read")
	}
	r, err := s.rule(ctx, m.ID, d.Event)
	if errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		return skipWith("no_rule", "the rule was removed or disabled")
	}
	if err != nil {
		return d, err
	}
	if reason := s.skipReason(ctx, m, r, e); reason.reason != "" {
		return skipWith(reason.reason, reason.detail)
	}
	if recovered, err := s.cartRecovered(ctx, m, e); err != nil {
		return d, err
	} else if recovered {
		return skipWith(skipRecovered, "the cart was bought before the reminder")
	}
	if r.Category == CategoryMarketing && !d.Test {
		if open := quietHoursEnd(m, s.now()); open.After(s.now()) {
			return d, RetryAt(open, "quiet hours")
		}
	}
	msg, err := buildMessage(m, r, e, d.ID)
	if err != nil {
		return skipWith("missing_value", err.Error())
	}
	client, kit, err := s.providerClient(m)
	if err != nil {
		count("failed")
		return s.moveDelivery(ctx, d, DeliveryFailed, err.Error(), nil)
	}
	if wait, err := s.throttle(ctx, m, kit, e.Customer.Phone); err != nil || wait > 0 {
		if err != nil {
			return d, err
		}
		return d, RetryAt(s.now().Add(wait), "provider rate limit")
	}

	// The send key makes the provider call happen once even if two workers
	// hold this job (a lease that ran out under a slow call).
	sendKey := "send:" + d.ID
	state, err := s.store.Claim(ctx, m.ID, sendKey, sendClaimTTL)
	if err != nil {
		return d, err
	}
	if state == ClaimDone {
		return d, nil
	}
	if state == ClaimInProgress {
		return d, RetryAt(s.now().Add(sendClaimTTL), "being sent by another worker")
	}
	started := s.now()
	result, sendErr := client.Send(ctx, msg)
	s.observeSend(providerName(m), sendErr, s.now().Sub(started))
	if sendErr == nil {
		if err := s.store.Complete(ctx, m.ID, sendKey, sentTTL); err != nil {
			s.log.Warn("marking a sent delivery failed", "delivery", d.ID, "err", err)
		}
		count("sent")
		d, err := s.moveDelivery(ctx, d, DeliverySent, "", func(d *Delivery) {
			d.Attempts++
			d.Values = msg.Values
			d.ProviderMessageID = result.ProviderMessageID
			d.Error = ""
		})
		if err != nil || result.ProviderMessageID == "" {
			return d, err
		}
		return d, s.applyEarlyStatus(ctx, m, d)
	}
	if err := s.store.Release(ctx, m.ID, sendKey); err != nil {
		s.log.Warn("releasing a delivery's send key failed", "delivery", d.ID, "err", err)
	}
	attempts := d.Attempts + 1
	record := func(d *Delivery) {
		d.Attempts = attempts
		d.Values = msg.Values
	}
	if !IsRetryable(sendErr) {
		count("failed")
		s.log.Warn("delivery failed", "merchant", m.ID, "delivery", d.ID, "event", d.Event, "provider", providerName(m), "err", sendErr)
		return s.moveDelivery(ctx, d, DeliveryFailed, sendErr.Error(), record)
	}
	if attempts >= s.retry.Attempts() {
		count("dead")
		s.log.Warn("delivery dead after its last attempt", "merchant", m.ID, "delivery", d.ID, "event", d.Event, "provider", providerName(m), "attempts", attempts, "err", sendErr)
		return s.moveDelivery(ctx, d, DeliveryDead, sendErr.Error(), record)
	}
	d, err = s.moveDelivery(ctx, d, DeliveryRetrying, sendErr.Error(), record)
	if err != nil {
		return d, err
	}
	return d, RetryAt(s.now().Add(s.retry.Delay(attempts)), sendErr.Error())
}

// SendObserver is told how each provider call went, for metrics.
type SendObserver interface {
	// ProviderCall reports outcome "ok", "retryable" or "permanent".
	ProviderCall(provider, outcome string, took time.Duration)
}

func (s *Service) observeSend(provider string, err error, took time.Duration) {
	if s.observer == nil {
		return
	}
	outcome := "ok"
	switch {
	case err == nil:
	case IsRetryable(err):
		outcome = "retryable"
	default:
		outcome = "permanent"
	}
	s.observer.ProviderCall(provider, outcome, took)
}

// moveDelivery records a new status with its note.
func (s *Service) moveDelivery(ctx context.Context, d Delivery, status DeliveryStatus, note string, change func(*Delivery)) (Delivery, error) {
	now := s.now().UTC()
	return s.store.UpdateDelivery(ctx, d.Merchant, d.ID, func(d *Delivery) error {
		if change != nil {
			change(d)
		}
		// A fast provider may have reported delivered or read before this
		// worker recorded the send: the status stays where it got to.
		if status == DeliverySent && statusRank(d.Status) > statusRank(DeliverySent) {
			status = d.Status
		}
		d.Status = status
		if note != "" {
			d.Error = note
		}
		d.UpdatedAt = now
		d.History = append(d.History, StatusChange{Status: status, At: now, Note: note})
		return nil
	})
}

// buildMessage resolves the rule against the event.
func buildMessage(m Merchant, r Rule, e Event, deliveryID string) (Message, error) {
	msg := Message{
		DeliveryID: deliveryID, Mode: r.Mode, Template: r.Template, Language: r.Language,
		Names: r.Variables, Event: e.Type, OccurredAt: e.OccurredAt,
		Properties: flatten(e.Properties),
		To: Recipient{
			Phone: e.Customer.Phone, Email: e.Customer.Email, CustomerID: e.Customer.ID, Name: e.Customer.Name(),
		},
		Buttons: codButtons(e),
	}
	switch m.Provider.CommonProperty {
	case "email":
		msg.To.Identity = e.Customer.Email
	case "customer_id":
		msg.To.Identity = e.Customer.ID
	default:
		msg.To.Identity = e.Customer.Phone
	}
	if r.Mode == ModeTemplate {
		values, err := resolveVariables(e, r.Variables)
		if err != nil {
			return Message{}, err
		}
		msg.Values = values
	}
	return msg, nil
}

// flatten turns nested properties into dotted keys with string values.
func flatten(props map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(prefix+"."+k, "."), x[k])
			}
		case nil:
		default:
			out[prefix] = formatValue(x)
		}
	}
	walk("", props)
	return out
}

// Meta's per-recipient pace (about one message per 6 s, in bursts), shared
// across instances like the account limit.
const (
	pairLimit  = 10
	pairWindow = time.Minute
)

// throttle takes a slot of the provider's limits, or says how long to wait.
func (s *Service) throttle(ctx context.Context, m Merchant, kit ProviderKit, phone string) (time.Duration, error) {
	name := providerName(m)
	if kit.Rate.Limit > 0 {
		wait, err := s.store.Throttle(ctx, m.ID, "provider:"+name, kit.Rate.Limit, kit.Rate.Per)
		if err != nil || wait > 0 {
			return wait, err
		}
	}
	if name == "meta" && phone != "" {
		return s.store.Throttle(ctx, m.ID, "pair:"+phone, pairLimit, pairWindow)
	}
	return 0, nil
}

// RetryDelivery queues a failed, dead or skipped delivery again, for the
// merchant's "retry" button; it is sent with the current rule.
func (s *Service) RetryDelivery(ctx context.Context, merchantID, id string) (Delivery, error) {
	d, err := s.store.GetDelivery(ctx, merchantID, id)
	if err != nil {
		return Delivery{}, err
	}
	switch d.Status {
	case DeliveryFailed, DeliveryDead, DeliverySkipped:
	default:
		return Delivery{}, &ValidationError{Fields: map[string]string{"status": fmt.Sprintf("a %s delivery cannot be retried", d.Status)}}
	}
	d, err = s.moveDelivery(ctx, d, DeliveryQueued, "queued again by the merchant", func(d *Delivery) {
		d.Attempts = 0
		d.Error = ""
	})
	if err != nil {
		return Delivery{}, err
	}
	if err := s.store.Release(ctx, merchantID, "send:"+d.ID); err != nil {
		return Delivery{}, err
	}
	return d, s.queueSend(ctx, merchantID, d.ID, s.now())
}
