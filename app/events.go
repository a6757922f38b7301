package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Job kinds of the delivery pipeline.
const (
	// JobSendDelivery sends one delivery.
	JobSendDelivery = "delivery.send"
	// JobProcessEvents turns the events of a recorded status change into
	// deliveries; the change and this job are stored in one step.
	JobProcessEvents = "events.process"
)

const (
	// eventClaimTTL bounds how long a crashed worker can hold an event's
	// exactly-once key before another may process the event.
	eventClaimTTL = 5 * time.Minute
	// eventDoneTTL is how long an event type is remembered as sent for a
	// subject: an order's life, returns and late platform retries included.
	eventDoneTTL = 120 * 24 * time.Hour
	// sendJobMaxAttempts bounds a send job's runs for failures outside the
	// provider call (the store gone); provider attempts follow the
	// delivery retry schedule.
	sendJobMaxAttempts = 25
)

// DecodedWebhook is what a platform adapter reads out of a queued store
// webhook.
type DecodedWebhook struct {
	// Events are ready to process (Shopify: the topic says what happened).
	Events []Event
	// State is set when the webhook reports a resource's current state
	// rather than a transition (WooCommerce orders).
	State *StateReport
	// Compliance is set for privacy requests and uninstalls.
	Compliance *ComplianceRequest
	// Consent is set for a store's word on a customer's marketing consent.
	Consent *ConsentReport
}

// StateReport is a resource's state as a platform last sent it; events
// follow only when the status moved.
type StateReport struct {
	Key     string // "order:727"
	Version int64  // modification time in ms: older reports are stale
	Status  string
	// Events builds the events of the current status through the
	// merchant's status map; mapped is false for a status the map lacks.
	Events func(statusMap map[string]string) (events []Event, mapped bool)
}

// ComplianceRequest is a store platform's privacy request or uninstall.
type ComplianceRequest struct {
	Topic      string // customers/redact, customers/data_request, shop/redact, app/uninstalled
	CustomerID string
	Phone      string
	Email      string
	OrderIDs   []string
	// RequestID is the platform's id of a customers/data_request, when it
	// gives one.
	RequestID string
}

// WebhookDecoder reads one platform's queued webhooks. Unusable payloads
// come back as Permanent errors: they are kept in the dead letters for
// inspection and counted.
type WebhookDecoder func(m Merchant, env WebhookEnvelope) (DecodedWebhook, error)

// handleWebhookJob is the worker's handler for queued store webhooks.
func (s *Service) handleWebhookJob(ctx context.Context, job Job) error {
	env, err := DecodeWebhookEnvelope(job.Payload)
	if err != nil {
		return Permanent(err)
	}
	// Settings change rarely; the cache saves a read per webhook. The
	// compliance path below reads the merchant afresh before writing it.
	cached, err := s.merchants.byID(ctx, job.Merchant)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Permanent(err)
		}
		return err
	}
	m := cached.Merchant
	decode, ok := s.decoders[env.Platform]
	if !ok {
		return Permanent(fmt.Errorf("no decoder for platform %q", env.Platform))
	}
	decoded, err := decode(m, env)
	if err != nil {
		var permanent *PermanentError
		if errors.As(err, &permanent) {
			s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: "inputs", Outcome: "invalid"}, 1)
		}
		return err
	}
	if decoded.Compliance != nil {
		fresh, err := s.store.GetMerchant(ctx, m.ID)
		if err != nil {
			return err
		}
		return s.handleCompliance(ctx, fresh, *decoded.Compliance)
	}
	if m.Status != MerchantActive {
		return nil
	}
	if c := decoded.Consent; c != nil {
		return s.recordConsent(ctx, m.ID, c.Phone, c.State, c.Source)
	}
	if decoded.State != nil {
		return s.recordStateChange(ctx, m, *decoded.State)
	}
	return s.ProcessEvents(ctx, m, decoded.Events)
}

// stateTTL is how long the last status of an order is kept.
const stateTTL = 180 * 24 * time.Hour

// mapStatusMap and mapSeenStatuses name the merchant maps of the status
// mapping page.
const (
	mapStatusMap    = "status_map"
	mapSeenStatuses = "seen_statuses"
)

// recordStateChange records a state report and, when the status moved,
// queues its events in the same store step: a failure after the change is
// recorded cannot lose them, and a retry, which finds the change recorded,
// queues nothing twice. Only a status newer than and different from the
// last one seen is a transition.
func (s *Service) recordStateChange(ctx context.Context, m Merchant, st StateReport) error {
	statusMap, err := s.store.MapAll(ctx, m.ID, mapStatusMap)
	if err != nil {
		return err
	}
	events, mapped := st.Events(statusMap)
	if !mapped && st.Status != "" {
		if err := s.store.MapSet(ctx, m.ID, mapSeenStatuses, map[string]string{st.Status: s.now().UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	var effects []Job
	if len(events) > 0 {
		payload, err := json.Marshal(events)
		if err != nil {
			return Permanent(err)
		}
		now := s.now()
		// The id names the transition, so two runs of it make one job.
		sum := sha256.Sum256([]byte(st.Key + "\x00" + strconv.FormatInt(st.Version, 10) + "\x00" + st.Status))
		effects = append(effects, Job{
			ID: "events-" + hex.EncodeToString(sum[:12]), Merchant: m.ID, Kind: JobProcessEvents,
			Payload: payload, DueAt: now, CreatedAt: now,
		})
	}
	_, advanced, err := s.store.AdvanceState(ctx, m.ID, st.Key+":status", st.Version, st.Status, stateTTL, effects...)
	if err == nil && advanced && len(effects) > 0 && s.wake != nil {
		s.wake()
	}
	return err
}

// handleProcessEventsJob processes the events of a recorded status change.
func (s *Service) handleProcessEventsJob(ctx context.Context, job Job) error {
	var events []Event
	if err := jsonUnmarshal(job.Payload, &events); err != nil {
		return Permanent(fmt.Errorf("stored events: %w", err))
	}
	cached, err := s.merchants.byID(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return Permanent(err)
	}
	if err != nil {
		return err
	}
	if cached.Status != MerchantActive {
		return nil
	}
	return s.ProcessEvents(ctx, cached.Merchant, events)
}

// ProcessEvents turns events into deliveries: once per event type and
// subject, through the merchant's rule for the type.
func (s *Service) ProcessEvents(ctx context.Context, m Merchant, events []Event) error {
	for _, e := range events {
		if err := s.processEvent(ctx, m, e); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) processEvent(ctx context.Context, m Merchant, e Event) error {
	// An order, or a completed checkout, ends its cart's reminders.
	now := s.now()
	e.Merchant = m.ID
	if e.ID == "" {
		e.ID = "ev_" + NewID(now)
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now.UTC()
	}
	if (e.Type == EventCartRecovered || strings.HasPrefix(e.Type, "order.")) && !e.Test {
		if err := s.cartOrdered(ctx, m, e); err != nil {
			return err
		}
	}
	enrichProperties(&e, m)
	if s.eventObserver != nil {
		if err := s.eventObserver.ObserveEvent(ctx, m, e); err != nil {
			return err
		}
	}
	if err := s.recordConsent(ctx, m.ID, e.Customer.Phone, e.Customer.Consent, e.Customer.ConsentSource); err != nil {
		return err
	}
	day := DayOf(now)
	count := func(outcome string) {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: e.Type, Outcome: outcome}, 1)
	}
	if e.Type == EventCartAbandoned && !e.Test && strings.HasPrefix(e.Subject, "cart:") {
		return s.planCart(ctx, m, e, count)
	}

	key := ""
	if e.Subject != "" && !e.Test {
		key = "event:" + e.Type + ":" + e.Subject
		if r, err := s.rule(ctx, m.ID, e.Type); errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
			// No rule wants it (cod.confirmation_requested beside every
			// COD order, most often): done as soon as claimed, so one
			// write instead of a claim and a completion, counted as a
			// run of planDelivery would count it.
			state, err := s.store.MarkDone(ctx, m.ID, key, eventDoneTTL)
			switch {
			case err != nil:
				return err
			case state == ClaimDone:
				count("skipped.duplicate")
			case state == ClaimInProgress:
				return RetryAt(now.Add(30*time.Second), "event "+e.Type+" for "+e.Subject+" is being processed elsewhere")
			default:
				count("skipped.no_rule")
				count("received")
			}
			return nil
		}
		state, err := s.store.Claim(ctx, m.ID, key, eventClaimTTL)
		if err != nil {
			return err
		}
		switch state {
		case ClaimDone:
			count("skipped.duplicate")
			return nil
		case ClaimInProgress:
			return RetryAt(now.Add(30*time.Second), "event "+e.Type+" for "+e.Subject+" is being processed elsewhere")
		}
	}
	reached, err := s.planDelivery(ctx, m, e, count)
	if err == nil {
		count("received") // once: a failed run is retried and counts then
	}
	if key == "" {
		return err
	}
	// An event that could not reach the customer (no phone) leaves its key
	// free: a later copy with a phone (Shopify's refund carries none, the
	// order update does) may still be sent, once.
	if err != nil || !reached {
		if relErr := s.store.Release(ctx, m.ID, key); relErr != nil && err == nil {
			err = relErr
		}
		return err
	}
	if e.Type == EventCODConfirmationAsked {
		if err := s.startCOD(ctx, m, e); err != nil {
			if relErr := s.store.Release(ctx, m.ID, key); relErr != nil {
				s.log.Warn("releasing an event key failed", "merchant", m.ID, "err", relErr)
			}
			return err
		}
	}
	return s.store.Complete(ctx, m.ID, key, eventDoneTTL)
}

// enrichProperties adds the customer's own fields and the shop's name.
func enrichProperties(e *Event, m Merchant) {
	if e.Properties == nil {
		e.Properties = map[string]any{}
	}
	customer, _ := e.Properties["customer"].(map[string]any)
	if customer == nil {
		customer = map[string]any{}
	}
	set := func(k, v string) {
		if _, ok := customer[k]; !ok && v != "" {
			customer[k] = v
		}
	}
	set("first_name", e.Customer.FirstName)
	set("last_name", e.Customer.LastName)
	set("name", e.Customer.Name())
	set("email", e.Customer.Email)
	set("phone", e.Customer.Phone)
	set("id", e.Customer.ID)
	e.Properties["customer"] = customer
	shop, _ := e.Properties["shop"].(map[string]any)
	if shop == nil {
		shop = map[string]any{}
		e.Properties["shop"] = shop
	}
	if _, ok := shop["name"]; !ok && m.Name != "" {
		shop["name"] = m.Name
	}
}

// deliveryID is derived from what makes a delivery unique, so a replayed
// event finds the delivery it already made instead of making another. It
// starts with the merchant's id, so a delivery can be found from its id
// alone (MerchantOfDelivery).
func deliveryID(merchant string, e Event) string {
	if e.Subject == "" || e.Test {
		return merchant + "-" + NewID(time.Now())
	}
	sum := sha256.Sum256([]byte(merchant + "\x00" + e.Type + "\x00" + e.Subject))
	return merchant + "-" + hex.EncodeToString(sum[:13])
}

// MerchantOfDelivery returns the merchant a delivery id belongs to.
func MerchantOfDelivery(id string) (string, bool) {
	merchant, rest, ok := strings.Cut(id, "-")
	return merchant, ok && merchant != "" && rest != ""
}

// planDelivery records the delivery of e and queues its send. reached is
// false when the event cannot reach the customer at all (no phone).
func (s *Service) planDelivery(ctx context.Context, m Merchant, e Event, count func(string)) (reached bool, err error) {
	r, err := s.rule(ctx, m.ID, e.Type)
	if errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		count("skipped.no_rule")
		return true, nil
	}
	if err != nil {
		return false, err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return false, Permanent(err)
	}
	now := s.now().UTC()
	d := Delivery{
		ID: deliveryID(m.ID, e), Merchant: m.ID, EventID: e.ID, Event: e.Type,
		Subject: e.Subject, CustomerID: e.Customer.ID, Phone: e.Customer.Phone,
		Provider: providerName(m), Template: r.Template, Status: DeliveryQueued,
		Test: e.Test, EventData: data, CreatedAt: now, UpdatedAt: now,
	}
	skip, err := s.skipReason(ctx, m, r, e)
	if err != nil {
		return false, err
	}
	if skip.reason != "" {
		d.Status, d.Error = DeliverySkipped, skip.detail
		d.History = []StatusChange{{Status: DeliverySkipped, At: now, Note: skip.detail}}
		if err := s.store.CreateDelivery(ctx, d); err != nil && !errors.Is(err, ErrConflict) {
			return false, err
		}
		count("skipped." + skip.reason)
		// Reasons a later copy of the event may not have (a phone, a
		// provider connected meanwhile) leave its once-only key free.
		return skip.reason != "no_phone" && skip.reason != skipNoProvider.reason, nil
	}
	due := now.Add(r.Delay)
	note := ""
	if r.Delay > 0 {
		note = "waits " + r.Delay.String() + " as the rule says"
	}
	if r.Category == CategoryMarketing && !e.Test {
		if open := quietHoursEnd(m, due); open.After(due) {
			due = open
			note = "held for the merchant's quiet hours until " + open.Format("15:04 MST")
		}
	}
	d.History = []StatusChange{{Status: DeliveryQueued, At: now, Note: note}}
	if !due.After(now) && inJob(ctx) {
		// A message due now is sent here, by the job that planned it: no
		// send job is queued, claimed and settled for it, and the
		// delivery is stored once, in the state the send leaves it in
		// (pending). A send job is queued only when the message must wait
		// (a retry, a rate limit) or the send could not be made; the
		// delivery is then stored queued first, below, if the send did
		// not store it. A crash in between leaves the event's key held
		// and the delivery perhaps not stored: the event's job runs again
		// when its lease ends, and once the key's claim ends
		// (eventClaimTTL) plans the delivery again. The attempt record
		// keeps the call made once either way.
		planned := d
		planned.pending = true
		var later *RetryAtError
		stored, err := s.sendLoaded(ctx, m.ID, planned)
		if !stored.pending {
			switch {
			case err == nil:
				return true, nil
			case errors.As(err, &later):
				return true, s.queueSend(ctx, m.ID, d.ID, later.At)
			}
			s.log.Warn("sending a planned message failed; its send is queued", "merchant", m.ID, "delivery", d.ID, "err", err)
			return true, s.queueSend(ctx, m.ID, d.ID, due)
		}
		switch {
		case err == nil:
			// Nothing was moved: an earlier run made the call and stored
			// its answer; the delivery is found stored below.
		case errors.As(err, &later):
			due = later.At
		default:
			s.log.Warn("sending a planned message failed; its send is queued", "merchant", m.ID, "delivery", d.ID, "err", err)
		}
	}
	return s.storeQueued(ctx, m, d, due, now)
}

// storeQueued stores the planned delivery d queued and queues its send at
// due; a delivery stored before is queued again only where its state asks
// for it.
func (s *Service) storeQueued(ctx context.Context, m Merchant, d Delivery, due, now time.Time) (reached bool, err error) {
	if err := s.store.CreateDelivery(ctx, d); err != nil {
		if !errors.Is(err, ErrConflict) {
			return false, err
		}
		// Planned before: by a run that may have died before queueing it,
		// or skipped then for want of a phone this copy of the event has.
		existing, getErr := s.store.GetDelivery(ctx, m.ID, d.ID)
		if getErr != nil {
			return false, getErr
		}
		switch existing.Status {
		case DeliveryQueued, DeliveryRetrying:
			// Its send may be queued already (the queue then refuses a
			// second), or not: an inline send (below) that ended in a
			// retry whose job could not be queued.
		case DeliverySkipped:
			if _, err := s.store.UpdateDelivery(ctx, m.ID, d.ID, func(old *Delivery) error {
				if old.Status != DeliverySkipped {
					return errAlreadyMoved
				}
				old.Phone, old.CustomerID, old.EventID, old.EventData = d.Phone, d.CustomerID, d.EventID, d.EventData
				old.Provider, old.Template = d.Provider, d.Template
				old.Status, old.Error, old.UpdatedAt = DeliveryQueued, "", now
				old.History = append(old.History, StatusChange{Status: DeliveryQueued, At: now, Note: "the event came again, and can be sent now"})
				return nil
			}); errors.Is(err, errAlreadyMoved) {
				return true, nil
			} else if err != nil {
				return false, err
			}
		default:
			return true, nil
		}
	}
	return true, s.queueSend(ctx, m.ID, d.ID, due)
}

func (s *Service) queueSend(ctx context.Context, merchant, deliveryID string, due time.Time) error {
	job := Job{
		ID: "send-" + deliveryID + "-" + NewID(s.now()), Merchant: merchant, Kind: JobSendDelivery,
		Key: "send:" + deliveryID, Payload: []byte(deliveryID), DueAt: due,
		MaxAttempts: sendJobMaxAttempts, CreatedAt: s.now(),
	}
	if err := s.store.Enqueue(ctx, job); err != nil && !errors.Is(err, ErrConflict) {
		return err // a conflict means the send is already queued
	}
	if s.wake != nil && !due.After(s.now()) {
		s.wake()
	}
	return nil
}

// errAlreadyMoved aborts an update that another worker made moot.
var errAlreadyMoved = errors.New("delivery already moved on")

type skip struct{ reason, detail string }

// skipReason says why an event's message must not be sent, if it must not.
func (s *Service) skipReason(ctx context.Context, m Merchant, r Rule, e Event) (skip, error) {
	if providerName(m) == "" {
		return skipNoProvider, nil
	}
	needsPhone := r.Mode == ModeTemplate || m.Provider.CommonProperty == "" || m.Provider.CommonProperty == "phone"
	if kit, ok := s.providers[providerName(m)]; ok && kit.NeedsPhone {
		needsPhone = true
	}
	if needsPhone && e.Customer.Phone == "" {
		detail := "no usable phone"
		if e.Customer.PhoneProblem != "" {
			detail += ": " + e.Customer.PhoneProblem
		}
		return skip{"no_phone", detail}, nil
	}
	if r.Category != CategoryMarketing || e.Customer.Phone == "" {
		return skip{}, nil
	}
	// A store that cannot say whether the customer opted out or in fails
	// the run (it is retried), rather than message them on a guess.
	switch _, err := s.store.MapGet(ctx, m.ID, mapOptOuts, e.Customer.Phone); {
	case err == nil:
		return skip{"opted_out", "the customer opted out of marketing messages"}, nil
	case !errors.Is(err, ErrNotFound):
		return skip{}, err
	}
	if e.Test {
		return skip{}, nil // the merchant's own phone, typed for the test
	}
	if ok, err := s.marketingAllowed(ctx, m, e); err != nil || !ok {
		return skip{"no_consent", "the customer has not opted in to marketing messages"}, err
	}
	return skip{}, nil
}

// mapOptOuts holds the phones that asked for no marketing messages.
const mapOptOuts = "opt_outs"

// quietHours is when marketing messages wait, in the merchant's time zone:
// 21:00 to 09:00 unless the merchant's "quiet_hours" setting says
// otherwise ("22:00-08:00", or "off").
func quietHours(m Merchant) (start, end int, on bool) {
	spec := strings.TrimSpace(m.Settings["quiet_hours"])
	if spec == "off" {
		return 0, 0, false
	}
	start, end = 21*60, 9*60
	if a, b, ok := strings.Cut(spec, "-"); ok {
		if sa, okA := minuteOfDay(a); okA {
			if sb, okB := minuteOfDay(b); okB && sa != sb {
				start, end = sa, sb
			}
		}
	}
	return start, end, true
}

func minuteOfDay(hhmm string) (int, bool) {
	t, err := time.Parse("15:04", strings.TrimSpace(hhmm))
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// quietHoursEnd returns at, or the end of the quiet hours it falls in.
func quietHoursEnd(m Merchant, at time.Time) time.Time {
	start, end, on := quietHours(m)
	if !on {
		return at
	}
	loc, err := time.LoadLocation(m.Timezone)
	if err != nil {
		loc = time.UTC
	}
	local := at.In(loc)
	minute := local.Hour()*60 + local.Minute()
	quiet := (start < end && minute >= start && minute < end) || (start > end && (minute >= start || minute < end))
	if !quiet {
		return at
	}
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	open := midnight.Add(time.Duration(end) * time.Minute)
	if !open.After(local) {
		open = open.AddDate(0, 0, 1)
	}
	return open
}
