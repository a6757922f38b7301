package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ProviderWebhook is a provider's call to a merchant's status URL.
type ProviderWebhook struct {
	Provider   string
	MerchantID string
	Token      string // the URL's token, for providers that sign nothing
	Header     http.Header
	Query      url.Values
	Body       []byte
}

// ProviderHandshake answers a provider's subscription check (a GET with a
// challenge); ErrUnauthenticated when the merchant's verify token differs.
func (s *Service) ProviderHandshake(ctx context.Context, in ProviderWebhook) (string, error) {
	m, kit, creds, err := s.providerWebhookTarget(ctx, in)
	if err != nil {
		return "", err
	}
	if kit.Handshake == nil {
		return "", fmt.Errorf("%s has no webhook handshake: %w", in.Provider, ErrNotFound)
	}
	challenge, ok := kit.Handshake(creds, in.Query)
	if !ok {
		s.log.Warn("provider handshake refused", "merchant", m.ID, "provider", in.Provider)
		return "", ErrUnauthenticated
	}
	return challenge, nil
}

func (s *Service) providerWebhookTarget(ctx context.Context, in ProviderWebhook) (Merchant, ProviderKit, map[string]string, error) {
	cm, err := s.merchants.byID(ctx, in.MerchantID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Merchant{}, ProviderKit{}, nil, fmt.Errorf("merchant %q: %w", in.MerchantID, ErrNotFound)
		}
		return Merchant{}, ProviderKit{}, nil, err
	}
	m := cm.Merchant
	kit, ok := s.providers[in.Provider]
	if !ok || providerName(m) != in.Provider {
		return Merchant{}, ProviderKit{}, nil, fmt.Errorf("provider %q for merchant %q: %w", in.Provider, in.MerchantID, ErrNotFound)
	}
	creds, err := s.providerCredentials(m)
	if err != nil {
		return Merchant{}, ProviderKit{}, nil, err
	}
	return m, kit, creds, nil
}

// ReceiveProviderWebhook authenticates a provider's status or reply webhook
// and applies it: deliveries move forward, replies are kept, STOP opts the
// customer out of marketing.
func (s *Service) ReceiveProviderWebhook(ctx context.Context, in ProviderWebhook) error {
	m, kit, creds, err := s.providerWebhookTarget(ctx, in)
	if err != nil {
		return err
	}
	// Either the provider's signature or the secret token of the URL we
	// gave the merchant authenticates a webhook.
	tokenOK := s.statusTokenOK(m, in.Provider, in.Token)
	if !tokenOK && (kit.VerifyWebhook == nil || kit.VerifyWebhook(creds, in.Header, in.Body) != nil) {
		return ErrUnauthenticated
	}
	if kit.ParseWebhook == nil {
		return nil
	}
	report, err := kit.ParseWebhook(in.Header, in.Body)
	if err != nil {
		return Invalid("body", "not a "+in.Provider+" webhook: "+err.Error())
	}
	return s.applyReport(ctx, m, report)
}

// ApplyProviderReport moves a merchant's deliveries by a provider's report
// and keeps its customers' replies.
func (s *Service) ApplyProviderReport(ctx context.Context, merchantID string, report ProviderReport) error {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return err
	}
	return s.applyReport(ctx, m, report)
}

func (s *Service) applyReport(ctx context.Context, m Merchant, report ProviderReport) error {
	for _, st := range report.Statuses {
		if err := s.applyStatus(ctx, m, st); err != nil {
			return err
		}
	}
	for _, r := range report.Replies {
		if err := s.applyReply(ctx, m, r); err != nil {
			return err
		}
	}
	return nil
}

// statusRank orders the statuses a provider reports; a delivery never
// moves to a lower rank, since reports arrive out of order.
func statusRank(st DeliveryStatus) int {
	switch st {
	case DeliverySent:
		return 1
	case DeliveryDelivered:
		return 2
	case DeliveryRead:
		return 3
	case DeliveryFailed:
		return 4 // final, but only from below delivered (checked apart)
	}
	return 0
}

func (s *Service) applyStatus(ctx context.Context, m Merchant, st StatusReport) error {
	var d Delivery
	var err error
	if st.DeliveryID != "" {
		d, err = s.store.GetDelivery(ctx, m.ID, st.DeliveryID)
	}
	if st.DeliveryID == "" || errors.Is(err, ErrNotFound) {
		if st.ProviderMessageID == "" {
			return nil
		}
		d, err = s.store.DeliveryByProviderMessageID(ctx, m.ID, st.ProviderMessageID)
	}
	if errors.Is(err, ErrNotFound) {
		// Not ours (a campaign the provider sent), redacted, or a status
		// that outran our recording of the send: kept a while for the last.
		if s.providers[providerName(m)].EchoesDeliveryID {
			return s.queueEarlyStatus(ctx, m, st)
		}
		return s.stashEarlyStatus(ctx, m, st)
	}
	if err != nil {
		return err
	}
	at := st.At
	if at.IsZero() {
		at = s.now()
	}
	moved := false
	_, err = s.store.UpdateDelivery(ctx, m.ID, d.ID, func(d *Delivery) error {
		moved = false
		current := statusRank(d.Status)
		next := statusRank(st.Status)
		if st.Status == DeliveryFailed {
			if d.Status == DeliveryDelivered || d.Status == DeliveryRead || d.Status == DeliveryFailed {
				return nil
			}
		} else if next <= current || d.Status == DeliveryFailed {
			return nil
		}
		d.Status = st.Status
		if st.Error != "" {
			d.Error = st.Error
		}
		if st.ProviderMessageID != "" && d.ProviderMessageID == "" {
			d.ProviderMessageID = st.ProviderMessageID
		}
		d.UpdatedAt = s.now().UTC()
		d.History = append(d.History, StatusChange{Status: st.Status, At: at.UTC(), Note: st.Error})
		moved = true
		return nil
	})
	if err != nil {
		return err
	}
	if moved && (st.Status == DeliveryDelivered || st.Status == DeliveryRead || st.Status == DeliveryFailed) {
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: d.Event, Outcome: string(st.Status)}, 1)
	}
	return nil
}

// earlyStatusTTL is how long a status for a message we do not know yet is
// kept, waiting for the send it belongs to to be recorded.
const earlyStatusTTL = time.Hour

func earlyStatusKey(messageID string) string { return "early-status:" + messageID }

// stashEarlyStatus keeps the furthest status reported for a message id we
// have not recorded (yet).
func (s *Service) stashEarlyStatus(ctx context.Context, m Merchant, st StatusReport) error {
	if st.ProviderMessageID == "" {
		return nil
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, _, err = s.store.AdvanceState(ctx, m.ID, earlyStatusKey(st.ProviderMessageID), int64(statusRank(st.Status)), string(raw), earlyStatusTTL)
	return err
}

// JobEarlyStatus applies a status of a provider that echoes delivery ids
// once its send is recorded.
const JobEarlyStatus = "delivery.early_status"

// earlyStatusWait is how long a status that outran its send waits first:
// the send's record is written as soon as the provider answers.
const earlyStatusWait = 2 * time.Second

// earlyStatus is a JobEarlyStatus job's payload.
type earlyStatus struct {
	Report   StatusReport
	Received time.Time
}

// queueEarlyStatus keeps a status naming one of our deliveries (the
// provider echoes its id) that is not recorded yet, in a job that applies
// it once the send is: the sends of such a provider never look for early
// statuses. A status naming none is not ours, and is dropped.
func (s *Service) queueEarlyStatus(ctx context.Context, m Merchant, st StatusReport) error {
	if owner, ok := MerchantOfDelivery(st.DeliveryID); !ok || owner != m.ID {
		return nil
	}
	now := s.now()
	raw, err := json.Marshal(earlyStatus{Report: st, Received: now})
	if err != nil {
		return err
	}
	err = s.store.Enqueue(ctx, Job{
		ID: "status-" + NewID(now), Merchant: m.ID, Kind: JobEarlyStatus,
		Key: "status:" + st.DeliveryID + ":" + string(st.Status), Payload: raw,
		DueAt: now.Add(earlyStatusWait), CreatedAt: now,
	})
	if errors.Is(err, ErrConflict) {
		return nil // the same status waits already
	}
	return err
}

// handleEarlyStatusJob applies a status once its send is recorded, trying
// again at doubling waits for as long as an early status is kept.
func (s *Service) handleEarlyStatusJob(ctx context.Context, job Job) error {
	var es earlyStatus
	if err := jsonUnmarshal(job.Payload, &es); err != nil {
		return Permanent(fmt.Errorf("stored status: %w", err))
	}
	cached, err := s.merchants.byID(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch _, err := s.store.GetDelivery(ctx, job.Merchant, es.Report.DeliveryID); {
	case errors.Is(err, ErrNotFound):
		if s.now().Sub(es.Received) >= earlyStatusTTL {
			return nil // redacted, or never recorded
		}
		return RetryAt(s.now().Add(earlyStatusWait<<min(job.Attempt, 11)), "its send is not recorded yet")
	case err != nil:
		return err
	}
	return s.applyStatus(ctx, cached.Merchant, es.Report)
}

// applyEarlyStatus applies a status that arrived before the send was
// recorded, if one did.
func (s *Service) applyEarlyStatus(ctx context.Context, m Merchant, d Delivery) error {
	raw, _, err := s.store.State(ctx, m.ID, earlyStatusKey(d.ProviderMessageID))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var st StatusReport
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil // not ours to fail a send over
	}
	st.DeliveryID = d.ID
	return s.applyStatus(ctx, m, st)
}

// optOut reports replies that mean "no more marketing messages"; optIn,
// the ones that undo them.
func optOut(word string) bool {
	switch word {
	case "stop", "stop all", "unsubscribe", "opt out", "optout", "stop promotions":
		return true
	}
	return false
}

func optIn(word string) bool {
	switch word {
	case "start", "subscribe", "unstop":
		return true
	}
	return false
}

func (s *Service) applyReply(ctx context.Context, m Merchant, r Reply) error {
	if r.Phone == "" {
		return nil
	}
	phone, err := NormalizePhone(r.Phone, m.Country)
	if err != nil {
		return nil // a reply we cannot tie to a customer
	}
	if r.At.IsZero() {
		r.At = s.now()
	}
	r.Phone = phone
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.store.MapSet(ctx, m.ID, mapReplies, map[string]string{phone: string(raw)}); err != nil {
		return err
	}
	word := strings.ToLower(strings.TrimSpace(r.Text))
	switch {
	case optOut(word) || strings.EqualFold(r.ButtonID, "optout"):
		s.counters.add(Counter{Merchant: m.ID, Day: DayOf(s.now()), Subject: "customers", Outcome: "opted_out"}, 1)
		return s.store.MapSet(ctx, m.ID, mapOptOuts, map[string]string{phone: r.At.UTC().Format(time.RFC3339)})
	case optIn(word):
		if err := s.store.MapDelete(ctx, m.ID, mapOptOuts, phone); err != nil {
			return err
		}
		return s.recordConsent(ctx, m.ID, phone, ConsentGranted, "whatsapp reply")
	}
	return s.codReply(ctx, m, r)
}
