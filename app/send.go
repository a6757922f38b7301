package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// sendClaimTTL bounds how long a provider call may take before its
	// attempt counts as abandoned (the worker died mid-call): longer than
	// any call's timeout.
	sendClaimTTL = 2 * time.Minute
	// attemptTTL keeps a delivery's attempt records long after any retry.
	attemptTTL = 30 * 24 * time.Hour
	// recordTries and recordWait bound how hard the outcome of a provider
	// call is recorded before the job gives up and is retried: a message
	// the provider took must not be sent again for want of one write.
	recordTries = 4
	recordWait  = 250 * time.Millisecond
)

// attemptKey names the record of a delivery's provider calls. Its version
// is 2n once call n starts, so two workers holding the same job make call
// n once; the call's outcome is kept on the delivery's record (Attempts),
// so a run after a crash can tell a call that was answered from one that
// never was. Records written before outcomes moved there may be at 2n+1
// with the answer.
func attemptKey(deliveryID string) string { return "attempt:" + deliveryID }

// Outcomes of a provider call, as the attempt record keeps them.
const (
	attemptStarted = "started:" // then the start in unix ms
	attemptSent    = "sent:"    // then the provider's message id (older records)
)

// finished statuses never go back to sending.
func finished(st DeliveryStatus) bool {
	switch st {
	case DeliverySent, DeliveryDelivered, DeliveryRead, DeliveryFailed, DeliveryDead, DeliverySkipped:
		return true
	}
	return false
}

// handleSendJob is the worker's handler for JobSendDelivery.
func (s *Service) handleSendJob(ctx context.Context, job Job) error {
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
	if err != nil {
		return d, err
	}
	return s.sendLoaded(ctx, merchantID, d)
}

// sendLoaded is sendDelivery with the delivery as just read or written.
func (s *Service) sendLoaded(ctx context.Context, merchantID string, d Delivery) (Delivery, error) {
	if finished(d.Status) {
		return d, nil
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
	if d.Step > 0 {
		r = r.forStep(d.Step)
	}
	if reason, err := s.skipReason(ctx, m, r, e); err != nil {
		return d, err
	} else if reason.reason != "" {
		return skipWith(reason.reason, reason.detail)
	}
	if stopped, err := s.cartStopped(ctx, m, d); err != nil {
		return d, err
	} else if stopped != "" {
		// Counted when the sequence stopped.
		return s.moveDelivery(ctx, d, DeliverySkipped, cartStopNotes[stopped], nil)
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
	if wait, err := s.throttle(ctx, m, kit, e.Customer.Phone); err != nil {
		return d, err
	} else if err := sleep(ctx, wait); err != nil {
		return d, err
	}

	attempt, abandoned, err := s.startAttempt(ctx, m, d)
	if err == nil && abandoned {
		// The previous call was made and never answered (its worker died
		// mid-call): it counts as a call that may have been delivered.
		d, err = s.noteAmbiguous(ctx, m, d, kit, attempt, msg, "the worker making it stopped before the provider answered")
		if err != nil || finished(d.Status) {
			return d, err
		}
		attempt, _, err = s.startAttempt(ctx, m, d)
	}
	if err != nil || attempt == 0 {
		return d, err
	}
	started := s.now()
	result, sendErr := client.Send(ctx, msg)
	s.observeSend(providerName(m), sendErr, s.now().Sub(started))
	// The outcome is recorded even when the job's context ended meanwhile
	// (a lost lease, a shutdown): the call was made.
	rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sendErr == nil {
		// The delivery's record keeps the answer, as it keeps a failed
		// call's: once it says call attempt was made, no run makes it
		// again (startAttempt reads it before calling a started call
		// abandoned).
		count("sent")
		d, err := s.markSent(rec, d, attempt, msg.Values, result.ProviderMessageID)
		if err != nil || result.ProviderMessageID == "" || kit.EchoesDeliveryID {
			return d, err // a status that outran it has its own job (queueEarlyStatus)
		}
		return d, s.applyEarlyStatus(rec, m, d)
	}
	record := func(d *Delivery) {
		d.Attempts = attempt
		d.Values = msg.Values
	}
	var pe *ProviderError
	if errors.As(sendErr, &pe) && pe.Ambiguous {
		d, err := s.noteAmbiguous(rec, m, d, kit, attempt, msg, sendErr.Error())
		if err != nil || finished(d.Status) {
			return d, err
		}
		return d, RetryAt(s.now().Add(s.retry.Delay(attempt-d.RetryBase)), "may have been sent: "+sendErr.Error())
	}
	if !IsRetryable(sendErr) {
		count("failed")
		s.log.Warn("delivery failed", "merchant", m.ID, "delivery", d.ID, "event", d.Event, "provider", providerName(m), "err", sendErr)
		return s.moveDeliveryFirmly(rec, d, DeliveryFailed, sendErr.Error(), record)
	}
	return s.retryLater(rec, m, d, attempt, sendErr.Error(), record)
}

// startAttempt records that provider call number attempt begins, so no
// other worker makes it. It answers 0 when the call must not be made now
// (another worker is making it, or it was made and its outcome is now
// recorded), and abandoned, with the number of the call, when that call
// was started and never answered: the caller records it and starts again.
func (s *Service) startAttempt(ctx context.Context, m Merchant, d Delivery) (attempt int, abandoned bool, err error) {
	attempt = d.Attempts + 1
	now := s.now()
	_, advanced, err := s.store.AdvanceState(ctx, m.ID, attemptKey(d.ID), int64(2*attempt), attemptStarted+strconv.FormatInt(now.UnixMilli(), 10), attemptTTL)
	if err != nil || advanced {
		return attempt, false, err
	}
	value, version, err := s.store.State(ctx, m.ID, attemptKey(d.ID))
	if err != nil {
		return 0, false, err
	}
	switch {
	case version == int64(2*attempt+1) && strings.HasPrefix(value, attemptSent):
		// Made and answered, as records written before answers moved to
		// the delivery's record say; only that record was not written.
		_, err := s.markSent(ctx, d, attempt, nil, strings.TrimPrefix(value, attemptSent))
		return 0, false, err
	case version == int64(2*attempt):
		startedMS, _ := strconv.ParseInt(strings.TrimPrefix(value, attemptStarted), 10, 64)
		if started := time.UnixMilli(startedMS); now.Sub(started) < sendClaimTTL {
			return 0, false, RetryAt(started.Add(sendClaimTTL), "being sent by another worker")
		}
		// Started long ago: answered if the delivery's record says so
		// (d may be older than it, or not stored yet).
		stored, err := s.store.GetDelivery(ctx, m.ID, d.ID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return 0, false, err
		case stored.Attempts >= attempt && finished(stored.Status):
			return 0, false, nil
		case stored.Attempts >= attempt:
			return 0, false, RetryAt(now.Add(time.Second), "the delivery moved on since it was read")
		}
		return attempt, true, nil
	}
	// The record is ahead of the delivery as read: read again shortly.
	return 0, false, RetryAt(now.Add(time.Second), "the delivery moved on since it was read")
}

// markSent records a delivery as sent by call attempt.
func (s *Service) markSent(ctx context.Context, d Delivery, attempt int, values []string, messageID string) (Delivery, error) {
	return s.moveDeliveryFirmly(ctx, d, DeliverySent, "", func(d *Delivery) {
		d.Attempts = max(d.Attempts, attempt)
		if values != nil {
			d.Values = values
		}
		if messageID != "" {
			d.ProviderMessageID = messageID
		}
		d.Error = ""
	})
}

// noteAmbiguous records call attempt as one that may have reached the
// provider without an answer, and fails the delivery when no other call
// may be made: more calls are made where the provider drops repeats of a
// delivery, else one.
func (s *Service) noteAmbiguous(ctx context.Context, m Merchant, d Delivery, kit ProviderKit, attempt int, msg Message, why string) (Delivery, error) {
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: d.Event, Outcome: "ambiguous"}, 1)
	s.log.Warn("a provider call may have been delivered without an answer", "merchant", m.ID, "delivery", d.ID, "provider", providerName(m), "attempt", attempt, "why", why)
	record := func(d *Delivery) {
		d.Attempts = max(d.Attempts, attempt)
		d.Ambiguous++
		d.Values = msg.Values
	}
	if !kit.Dedupes && d.Ambiguous+1 >= maxAmbiguous {
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: d.Event, Outcome: "failed"}, 1)
		return s.moveDeliveryFirmly(ctx, d, DeliveryFailed, "not sent again: "+strconv.Itoa(d.Ambiguous+1)+" calls may have reached "+providerName(m)+" without an answer ("+why+")", record)
	}
	if attempt-d.RetryBase >= s.retry.Attempts() {
		return s.retryLater(ctx, m, d, attempt, "may have been sent: "+why, record) // buries it
	}
	return s.moveDeliveryFirmly(ctx, d, DeliveryRetrying, "may have been sent: "+why, record)
}

// maxAmbiguous is how many calls that may have reached a provider without
// dropping repeats are made in all: one unanswered call and one retry, so a
// customer gets a message at most twice.
const maxAmbiguous = 2

// retryLater schedules the next call on the retry schedule, or buries the
// delivery after its last attempt.
func (s *Service) retryLater(ctx context.Context, m Merchant, d Delivery, attempt int, reason string, record func(*Delivery)) (Delivery, error) {
	tries := attempt - d.RetryBase
	if tries >= s.retry.Attempts() {
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: d.Event, Outcome: "dead"}, 1)
		s.log.Warn("delivery dead after its last attempt", "merchant", m.ID, "delivery", d.ID, "event", d.Event, "provider", providerName(m), "attempts", attempt, "err", reason)
		return s.moveDeliveryFirmly(ctx, d, DeliveryDead, reason, record)
	}
	d, err := s.moveDeliveryFirmly(ctx, d, DeliveryRetrying, reason, record)
	if err != nil {
		return d, err
	}
	return d, RetryAt(s.now().Add(s.retry.Delay(tries)), reason)
}

// moveDeliveryFirmly is moveDelivery tried a few times: the provider call
// it records was made.
func (s *Service) moveDeliveryFirmly(ctx context.Context, d Delivery, status DeliveryStatus, note string, change func(*Delivery)) (Delivery, error) {
	var out Delivery
	err := s.firmly(ctx, func() error {
		var err error
		out, err = s.moveDelivery(ctx, d, status, note, change)
		return err
	})
	if err != nil {
		return d, err
	}
	return out, nil
}

// firmly runs write up to recordTries times, waiting between tries.
func (s *Service) firmly(ctx context.Context, write func() error) error {
	var err error
	for try := range recordTries {
		if err = write(); err == nil || !IsRetryable(err) {
			return err
		}
		if try < recordTries-1 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(recordWait << try):
			}
		}
	}
	return err
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

// moveDelivery records a new status with its note. A pending delivery is
// stored with it: one write instead of a create and an update.
func (s *Service) moveDelivery(ctx context.Context, d Delivery, status DeliveryStatus, note string, change func(*Delivery)) (Delivery, error) {
	now := s.now().UTC()
	move := func(d *Delivery) error {
		if change != nil {
			change(d)
		}
		// A fast provider may have reported delivered or read before this
		// worker recorded the send: the status stays where it got to.
		to := status
		if to == DeliverySent && statusRank(d.Status) > statusRank(DeliverySent) {
			to = d.Status
		}
		d.Status = to
		if note != "" {
			d.Error = note
		}
		d.UpdatedAt = now
		d.History = append(d.History, StatusChange{Status: to, At: now, Note: note})
		return nil
	}
	if !d.pending {
		return s.store.UpdateDelivery(ctx, d.Merchant, d.ID, move)
	}
	created := d
	created.pending = false
	created.Values = slices.Clone(d.Values)
	created.History = slices.Clone(d.History)
	if err := move(&created); err != nil {
		return d, err
	}
	err := s.store.CreateDelivery(ctx, created)
	if err == nil {
		return created, nil
	}
	if !errors.Is(err, ErrConflict) {
		return d, err
	}
	// Stored meanwhile, or before: by an earlier copy of the event skipped
	// then (for want of a phone this copy has), or by an earlier run of
	// this one. The move applies to the stored record, with what this
	// plan knows when the stored one was a skip.
	return s.store.UpdateDelivery(ctx, d.Merchant, d.ID, func(old *Delivery) error {
		if old.Status == DeliverySkipped {
			old.Phone, old.CustomerID, old.EventID, old.EventData = d.Phone, d.CustomerID, d.EventID, d.EventData
			old.Provider, old.Template = d.Provider, d.Template
		}
		return move(old)
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

// A send's slot of the provider's limit is one of one per Rate.Per plus
// sendSlack over Rate.Limit (13.75 ms for Meta's 80/s): sends are paced
// evenly, so no window of Rate.Per sees more than Rate.Limit, and no burst
// lands on the provider at once, whose calls would arrive spread out and
// crowd the next window. sendSlack is how much the time from a slot to
// the provider's receipt (the wait's timer, the attempt record's write,
// the request itself) may vary between 81 calls in a row: a round trip or
// two on an idle machine, but 60 ms was measured on 2 shared cores at a
// load of 8, and the embedded store adds an fsync. The limit is still used
// to 91 % (72.7/s of Meta's 80). A slot up to slotLead away is taken and
// waited for in the job; a send with none that near takes nothing and
// comes back slotLead before the turn the throttle gives it, so the
// waiters of a busy number come back one at a time as slots free, and
// none holds a slot it may come back too late for.
const (
	sendSlack = 100 * time.Millisecond
	slotLead  = 50 * time.Millisecond
)

// throttle takes the call's slots of the provider's limits: the account
// limit's next free slot within slotLead, then Meta's pair limit's now (a
// pair refused wastes the account slot, which is rare; the other order
// would spend a pair slot each time the account refused). It answers how
// long until the call may be made, or a RetryAtError (for the call's turn
// of the account limit) when it may not.
func (s *Service) throttle(ctx context.Context, m Merchant, kit ProviderKit, phone string) (time.Duration, error) {
	name := providerName(m)
	var wait time.Duration
	if kit.Rate.Limit > 0 {
		var err error
		pace := (kit.Rate.Per + sendSlack + time.Duration(kit.Rate.Limit) - 1) / time.Duration(kit.Rate.Limit)
		wait, err = s.store.Throttle(ctx, m.ID, "provider:"+name, 1, pace, slotLead)
		if err != nil {
			return 0, err
		}
		if wait > slotLead {
			// Back a lead early, to take its slot with a wait rather than late.
			return 0, RetryAt(s.now().Add(wait-slotLead), "provider rate limit: waiting for its turn")
		}
	}
	if name == "meta" && phone != "" {
		pair, err := s.store.Throttle(ctx, m.ID, "pair:"+phone, pairLimit, pairWindow, 0)
		if err != nil {
			return 0, err
		}
		if pair > 0 {
			return 0, RetryAt(s.now().Add(pair), "provider rate limit for the customer")
		}
	}
	return wait, nil
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
		// The retry schedule starts again; the attempt count goes on, as
		// the attempt records do.
		d.RetryBase = d.Attempts
		d.Ambiguous = 0
		d.Error = ""
	})
	if err != nil {
		return Delivery{}, err
	}
	return d, s.queueSend(ctx, merchantID, d.ID, s.now())
}
