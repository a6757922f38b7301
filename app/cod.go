package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Job kinds of the Cash-on-Delivery flow.
const (
	JobCODWriteBack = "cod.writeback"
	JobCODReminder  = "cod.reminder"
	JobCODTimeout   = "cod.timeout"
	// JobCODDecided carries out a decision once it is recorded: the
	// reminders and timeout stopped, the customer told.
	JobCODDecided = "cod.decided"
)

// COD actions, as the customer's reply or the timeout decides them, and
// as written back to the store.
const (
	CODHold        = "hold"
	CODConfirm     = "confirm"
	CODCancel      = "cancel"
	CODUnconfirmed = "unconfirmed"
)

const (
	// codStateTTL keeps an order's COD state past any reminder, timeout
	// and late reply.
	codStateTTL = 30 * 24 * time.Hour
	// codMaxReminders bounds the reminders a merchant may set.
	codMaxReminders = 3
	// CODHoldHandle names our holds on Shopify fulfillment orders, so we
	// release ours and never another app's.
	CODHoldHandle = "storebridge-cod"
)

// Outcomes the flow counts under cod.confirmation_requested, once per
// order: when its flow starts, and at its first decision (a reply, or the
// timeout whatever it does).
const (
	codCountAsked     = "cod.asked"
	codCountConfirmed = "cod.confirmed"
	codCountCancelled = "cod.cancelled"
	codCountTimedOut  = "cod.timed_out"
)

// CODWriter writes the COD flow's decisions back to a store platform:
// hold the order, confirm it, cancel it, or mark it unconfirmed.
type CODWriter interface {
	WriteCOD(ctx context.Context, m Merchant, orderID, action string) error
}

// SetCODWriter names the platform's writer of COD decisions. Call before
// the workers start.
func (s *Service) SetCODWriter(p Platform, w CODWriter) {
	if s.codWriters == nil {
		s.codWriters = map[Platform]CODWriter{}
	}
	s.codWriters[p] = w
}

// codOrder is what the flow keeps of an order awaiting confirmation.
type codOrder struct {
	State       string    `json:"state"` // pending, confirmed, cancelled, unconfirmed
	Phone       string    `json:"phone"`
	FirstName   string    `json:"first_name,omitempty"`
	Number      string    `json:"number,omitempty"`
	Total       string    `json:"total,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	// Set by the decision: who took it (CODByCustomer, CODByMerchant,
	// CODByTimeout), when, and the customer's words when theirs.
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Answer    string    `json:"answer,omitempty"`
}

// Who decides a COD order.
const (
	CODByCustomer = "customer"
	CODByMerchant = "merchant"
	CODByTimeout  = "timeout"
)

// codDecision is one decision on an order, as resolveCOD records it.
type codDecision struct {
	action string
	by     string
	// phone is the reply's: a customer decides only their own orders.
	phone  string
	answer string // the customer's words
	why    string // for the log
}

// COD stages: the state record's version, so the first resolution wins.
const (
	codStagePending  = 1
	codStageResolved = 2
)

func codOrderKey(orderID string) string { return "cod:order:" + orderID }
func codPhoneKey(phone string) string   { return "cod:phone:" + phone }
func codJobKey(orderID, what string) string {
	return "cod:" + orderID + ":" + what
}

// codRemindersKey counts the reminders sent: the state's version is the
// last reminder's number.
func codRemindersKey(orderID string) string { return "cod:reminders:" + orderID }

// codSettings are a merchant's COD options: reminders after the request
// ("cod_reminders", default "2h"; "off"), the wait before the timeout
// ("cod_timeout", default "24h") and what it does ("cod_timeout_action":
// "tag" marks the order unconfirmed, "cancel" cancels it), and whether the
// order is held meanwhile ("cod_hold", default on).
type codSettings struct {
	reminders     []time.Duration
	timeout       time.Duration
	cancelOnLapse bool
	hold          bool
}

func codSettingsOf(m Merchant) codSettings {
	cs := codSettings{timeout: 24 * time.Hour, hold: m.Settings["cod_hold"] != "off"}
	raw := m.Settings["cod_reminders"]
	if raw == "" {
		raw = "2h"
	}
	if raw != "off" {
		for part := range strings.SplitSeq(raw, ",") {
			if d, err := time.ParseDuration(strings.TrimSpace(part)); err == nil && d > 0 && len(cs.reminders) < codMaxReminders {
				cs.reminders = append(cs.reminders, d)
			}
		}
	}
	if d, err := time.ParseDuration(m.Settings["cod_timeout"]); err == nil && d > 0 {
		cs.timeout = d
	}
	cs.cancelOnLapse = m.Settings["cod_timeout_action"] == "cancel"
	return cs
}

// startCOD begins the flow for an order's confirmation request: the state,
// the customer's latest pending order by phone, the hold, the reminders
// and the timeout. It runs once per order (the event's exactly-once key).
func (s *Service) startCOD(ctx context.Context, m Merchant, e Event) error {
	orderID, ok := strings.CutPrefix(e.Subject, "order:")
	if !ok || orderID == "" || e.Customer.Phone == "" {
		return nil
	}
	// Only a merchant who set up the confirmation message, and connected a
	// provider to send it, gets the flow: holding orders nobody is asked
	// about would stall every COD order.
	if providerName(m) == "" {
		return nil
	}
	if r, err := s.rule(ctx, m.ID, EventCODConfirmationAsked); errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		return nil
	} else if err != nil {
		return err
	}
	now := s.now()
	order := codOrder{State: CODPending, Phone: e.Customer.Phone, FirstName: e.Customer.FirstName, RequestedAt: now.UTC()}
	if v, ok := e.Lookup("order.number"); ok {
		order.Number = formatValue(v)
	}
	if v, ok := e.Lookup("order.total"); ok {
		order.Total = formatValue(v)
	}
	raw, err := json.Marshal(order)
	if err != nil {
		return err
	}
	// The latest order of a phone is what a bare "yes" answers; written
	// first, as a repeat of it is harmless.
	if _, _, err := s.store.AdvanceState(ctx, m.ID, codPhoneKey(order.Phone), now.UnixMilli(), orderID, codStateTTL); err != nil {
		return err
	}
	// The hold, the reminders and the timeout are queued in the same step
	// that records the order as pending: a retry finds it pending and
	// queues nothing twice, and a failure after it loses none of them.
	settings := codSettingsOf(m)
	var jobs []Job
	if settings.hold {
		jobs = append(jobs, s.codJob(m.ID, JobCODWriteBack, codJobKey(orderID, CODHold), now, codPayload{Order: orderID, Action: CODHold}))
	}
	for i, after := range settings.reminders {
		jobs = append(jobs, s.codJob(m.ID, JobCODReminder, codJobKey(orderID, "reminder-"+strconv.Itoa(i+1)), now.Add(after), codPayload{Order: orderID, Reminder: i + 1}))
	}
	jobs = append(jobs, s.codJob(m.ID, JobCODTimeout, codJobKey(orderID, "timeout"), now.Add(settings.timeout), codPayload{Order: orderID}))
	previous, advanced, err := s.store.AdvanceState(ctx, m.ID, codOrderKey(orderID), codStagePending, string(raw), codStateTTL, jobs...)
	if err != nil {
		return err
	}
	if !advanced {
		// A retry of a flow already started: still waiting, it may lack
		// the queue's entries the failed run did not write.
		var was codOrder
		if json.Unmarshal([]byte(previous), &was) == nil && was.State == CODPending {
			return s.indexCOD(ctx, m.ID, orderID, was.RequestedAt)
		}
		return nil
	}
	if err := s.indexCOD(ctx, m.ID, orderID, now); err != nil {
		return err
	}
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(now), Subject: EventCODConfirmationAsked, Outcome: codCountAsked}, 1)
	if s.wake != nil {
		s.wake()
	}
	return nil
}

type codPayload struct {
	Order    string `json:"order"`
	Action   string `json:"action,omitempty"`
	Reminder int    `json:"reminder,omitempty"`
}

func (s *Service) codJob(merchant, kind, key string, due time.Time, p codPayload) Job {
	raw, _ := json.Marshal(p) // a struct of strings and ints always encodes
	return Job{ID: NewID(s.now()), Merchant: merchant, Kind: kind, Key: key, Payload: raw, DueAt: due, CreatedAt: s.now()}
}

// codReplyAction reads a customer's reply as a COD decision: a tap on our
// Confirm or Cancel button (which names the order), or a word in English
// or Hindi. orderID is empty when the reply did not name one.
func codReplyAction(r Reply) (action, orderID string) {
	if rest, ok := strings.CutPrefix(r.ButtonID, "cod:"); ok {
		action, orderID, _ = strings.Cut(rest, ":")
		if action == CODConfirm || action == CODCancel {
			return action, orderID
		}
		return "", ""
	}
	word := strings.ToLower(strings.TrimFunc(r.Text, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsPunct(c) }))
	// Only words that answer the question: "ok" or "thanks" after a
	// shipping update must not confirm a pending order.
	switch word {
	case "yes", "y", "confirm", "confirmed", "1", "haan", "han", "ha", "हाँ", "हां":
		return CODConfirm, ""
	case "no", "n", "cancel", "2", "nahi", "nahin", "नहीं", "ना":
		return CODCancel, ""
	}
	return "", ""
}

// codReply applies a customer's reply to their pending COD order, if the
// reply is a decision and there is such an order.
func (s *Service) codReply(ctx context.Context, m Merchant, r Reply) error {
	action, orderID := codReplyAction(r)
	if action == "" {
		return nil
	}
	if orderID == "" {
		id, _, err := s.store.State(ctx, m.ID, codPhoneKey(r.Phone))
		if errors.Is(err, ErrNotFound) {
			return nil // a "yes" with no order waiting on it
		}
		if err != nil {
			return err
		}
		orderID = id
	}
	_, _, err := s.resolveCOD(ctx, m, orderID, codDecision{
		action: action, by: CODByCustomer, phone: r.Phone, answer: codAnswer(r), why: "the customer replied on WhatsApp",
	})
	if errors.Is(err, ErrNotFound) {
		return nil // not ours, or expired
	}
	return err
}

// codAnswerMax bounds the customer's words kept with a decision.
const codAnswerMax = 500

// codAnswer is what the customer said, in words: their text, or the title
// of the button they tapped.
func codAnswer(r Reply) string {
	answer := strings.TrimSpace(r.Text)
	if answer == "" {
		switch {
		case strings.HasPrefix(r.ButtonID, "cod:"+CODConfirm+":"):
			answer = "Confirm order"
		case strings.HasPrefix(r.ButtonID, "cod:"+CODCancel+":"):
			answer = "Cancel order"
		}
	}
	if runes := []rune(answer); len(runes) > codAnswerMax {
		answer = string(runes[:codAnswerMax]) + "…"
	}
	return answer
}

// resolveCOD records the first decision on an order, whoever takes it (the
// customer's reply, the merchant's button, the timeout), and in the same
// store step queues the write-back and the job that stops the reminders
// and tells the customer. It answers the order as it stands after the
// call and whether this call decided it: false when it was decided
// already (or, for a reply, when it came from another phone than the
// order's: a reply decides only its own phone's orders, whatever order
// its button names). ErrNotFound when the flow has no such order.
func (s *Service) resolveCOD(ctx context.Context, m Merchant, orderID string, d codDecision) (codOrder, bool, error) {
	order, version, err := s.loadCOD(ctx, m.ID, orderID)
	if err != nil || version != codStagePending {
		return order, false, err
	}
	if d.phone != "" && d.phone != order.Phone {
		s.log.Warn("cod reply ignored: it came from another phone than the order's", "merchant", m.ID, "order", orderID, "from", MaskPhone(d.phone))
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: EventCODConfirmationAsked, Outcome: "skipped.wrong_phone"}, 1)
		return order, false, nil
	}
	action := d.action
	now := s.now()
	order.State = codStateOf(action)
	order.DecidedBy, order.DecidedAt, order.Answer = d.by, now.UTC(), d.answer
	next, err := json.Marshal(order)
	if err != nil {
		return codOrder{}, false, err
	}
	if action == CODCancel {
		// The store will echo the cancellation as an order update: the
		// customer already hears cod.cancelled, so order.cancelled is
		// marked sent. Before the decision is recorded, so no write-back
		// can overtake it; should a concurrent reply decide otherwise, the
		// cost is one order.cancelled message not sent.
		if err := s.store.Complete(ctx, m.ID, "event:"+EventOrderCancelled+":order:"+orderID, eventDoneTTL); err != nil {
			return codOrder{}, false, err
		}
	}
	decided := codPayload{Order: orderID, Action: action}
	_, advanced, err := s.store.AdvanceState(ctx, m.ID, codOrderKey(orderID), codStageResolved, string(next), codStateTTL,
		s.codJob(m.ID, JobCODWriteBack, codJobKey(orderID, action), now, decided),
		s.codJob(m.ID, JobCODDecided, codJobKey(orderID, "decided"), now, decided))
	if err != nil {
		return codOrder{}, false, err
	}
	if !advanced { // a concurrent decision came first: answer it
		order, _, err := s.loadCOD(ctx, m.ID, orderID)
		return order, false, err
	}
	outcome := codCountTimedOut
	if d.by != CODByTimeout {
		outcome = map[string]string{CODConfirm: codCountConfirmed, CODCancel: codCountCancelled}[action]
	}
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(now), Subject: EventCODConfirmationAsked, Outcome: outcome}, 1)
	if s.wake != nil {
		s.wake()
	}
	s.log.Info("cod order decided", "merchant", m.ID, "order", orderID, "action", action, "by", d.by, "why", d.why)
	return order, true, nil
}

// codStateOf is the order's state after an action.
func codStateOf(action string) string {
	switch action {
	case CODConfirm:
		return CODConfirmed
	case CODCancel:
		return CODCancelled
	}
	return CODStateUnconfirmed
}

// loadCOD reads an order's COD state and its stage; ErrNotFound when the
// flow keeps none.
func (s *Service) loadCOD(ctx context.Context, merchant, orderID string) (codOrder, int64, error) {
	raw, version, err := s.store.State(ctx, merchant, codOrderKey(orderID))
	if err != nil {
		return codOrder{}, 0, err
	}
	var order codOrder
	if err := json.Unmarshal([]byte(raw), &order); err != nil {
		return codOrder{}, 0, Permanent(fmt.Errorf("cod state of order %s: %w", orderID, err))
	}
	return order, version, nil
}

// handleCODDecidedJob carries out a recorded decision: the reminders and
// the timeout stop, and the customer hears cod.confirmed or cod.cancelled
// (an order only marked unconfirmed tells no one). Each step is safe to
// repeat, so a retry finishes what a failed run began.
func (s *Service) handleCODDecidedJob(ctx context.Context, job Job) error {
	var p codPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return Permanent(err)
	}
	if err := s.store.IndexRemove(ctx, job.Merchant, indexCODAwaiting, p.Order); err != nil {
		return err
	}
	for i := 1; i <= codMaxReminders; i++ {
		if _, err := s.store.Cancel(ctx, job.Merchant, codJobKey(p.Order, "reminder-"+strconv.Itoa(i))); err != nil {
			return err
		}
	}
	if _, err := s.store.Cancel(ctx, job.Merchant, codJobKey(p.Order, "timeout")); err != nil {
		return err
	}
	m, err := s.store.GetMerchant(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || m.Status != MerchantActive {
		return err
	}
	if p.Action == CODUnconfirmed && !codSettingsOf(m).cancelOnLapse {
		return nil // only marked for the merchant
	}
	raw, _, err := s.store.State(ctx, m.ID, codOrderKey(p.Order))
	if errors.Is(err, ErrNotFound) {
		return nil // redacted meanwhile
	}
	if err != nil {
		return err
	}
	var order codOrder
	if err := json.Unmarshal([]byte(raw), &order); err != nil {
		return Permanent(fmt.Errorf("cod state of order %s: %w", p.Order, err))
	}
	event := EventCODCancelled
	if p.Action == CODConfirm {
		event = EventCODConfirmed
	}
	return s.ProcessEvents(ctx, m, []Event{codEvent(event, "order:"+p.Order, order)})
}

func codEvent(eventType, subject string, order codOrder) Event {
	return Event{
		Type: eventType, Subject: subject,
		Customer:   Customer{Phone: order.Phone, FirstName: order.FirstName},
		Properties: map[string]any{"order": map[string]any{"number": order.Number, "total": order.Total}},
	}
}

// handleCODReminderJob sends a reminder while the order is still waiting.
func (s *Service) handleCODReminderJob(ctx context.Context, job Job) error {
	var p codPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return Permanent(err)
	}
	raw, version, err := s.store.State(ctx, job.Merchant, codOrderKey(p.Order))
	if errors.Is(err, ErrNotFound) || (err == nil && version != codStagePending) {
		return nil
	}
	if err != nil {
		return err
	}
	var order codOrder
	if err := json.Unmarshal([]byte(raw), &order); err != nil {
		return Permanent(err)
	}
	m, err := s.merchants.byID(ctx, job.Merchant)
	if err != nil {
		return err
	}
	// Each reminder is its own subject, so each is sent once.
	subject := "order:" + p.Order + "#reminder-" + strconv.Itoa(p.Reminder)
	if err := s.ProcessEvents(ctx, m.Merchant, []Event{codEvent(EventCODReminder, subject, order)}); err != nil {
		return err
	}
	// Counted for the queue only when a message goes out: with no
	// reminder rule, none does.
	if r, err := s.rule(ctx, job.Merchant, EventCODReminder); errors.Is(err, ErrNotFound) || (err == nil && !r.Enabled) {
		return nil
	} else if err != nil {
		return err
	}
	_, _, err = s.store.AdvanceState(ctx, job.Merchant, codRemindersKey(p.Order), int64(p.Reminder), s.now().UTC().Format(time.RFC3339), codStateTTL)
	return err
}

// handleCODTimeoutJob decides an order nobody answered for: marked
// unconfirmed, or cancelled, as the merchant chose.
func (s *Service) handleCODTimeoutJob(ctx context.Context, job Job) error {
	var p codPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return Permanent(err)
	}
	m, err := s.store.GetMerchant(ctx, job.Merchant)
	if err != nil {
		return err
	}
	action := CODUnconfirmed
	if codSettingsOf(m).cancelOnLapse {
		action = CODCancel
	}
	_, _, err = s.resolveCOD(ctx, m, p.Order, codDecision{action: action, by: CODByTimeout, why: "no answer before the timeout"})
	if errors.Is(err, ErrNotFound) {
		return nil // redacted, or expired
	}
	return err
}

// handleCODWriteBackJob writes a decision back to the store platform.
func (s *Service) handleCODWriteBackJob(ctx context.Context, job Job) error {
	var p codPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return Permanent(err)
	}
	m, err := s.store.GetMerchant(ctx, job.Merchant)
	if err != nil {
		return err
	}
	if m.Status != MerchantActive {
		return nil
	}
	w, ok := s.codWriters[m.Platform]
	if !ok {
		return Permanent(fmt.Errorf("no COD write-back for %s", m.Platform))
	}
	return w.WriteCOD(ctx, m, p.Order, p.Action)
}

// codButtons are the quick replies of a confirmation request or reminder.
func codButtons(e Event) []Button {
	if e.Type != EventCODConfirmationAsked && e.Type != EventCODReminder {
		return nil
	}
	orderID, _, _ := strings.Cut(strings.TrimPrefix(e.Subject, "order:"), "#")
	return []Button{
		{ID: "cod:" + CODConfirm + ":" + orderID, Title: "Confirm order"},
		{ID: "cod:" + CODCancel + ":" + orderID, Title: "Cancel order"},
	}
}
