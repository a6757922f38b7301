package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// JobNectorEvent processes an event Nector's outbound integration sent to
// the merchant's Nector inbox.
const JobNectorEvent = "nector.event"

// NectorInboxPath is the route of a merchant's Nector inbox; the address
// shown to the merchant adds the secret token as ?token=.
const NectorInboxPath = "/webhooks/nector/:merchant_id"

// maxNectorDeliveryIDLen bounds the delivery id header kept as the event's
// id; longer ones are keyed on the body instead.
const maxNectorDeliveryIDLen = 200

// ErrNectorUnknownEvent is the decoder's answer for a Nector event name
// that has no loyalty event: acknowledged, kept and counted as an unknown
// topic.
var ErrNectorUnknownEvent = errors.New("not a Nector event storebridge maps")

// NectorDecoder reads one Nector event (its topic header, possibly empty,
// and its raw body) into the events API's shape. Its errors mean the body
// is unusable; ID and OccurredAt are left to the service.
type NectorDecoder func(topic string, body []byte) (APIEvent, error)

// NectorWebhook is a request to a merchant's Nector inbox as it arrived.
type NectorWebhook struct {
	MerchantID string
	Token      string // ?token= of the inbox address
	Topic      string // x-nector-topic
	DeliveryID string // x-nector-delivery-id
	Body       []byte
}

// nectorJob is what a queued Nector event carries: the id it was claimed
// under and what Nector sent, undecoded.
type nectorJob struct {
	ID    string `json:"id"`
	Topic string `json:"topic,omitempty"`
	Body  []byte `json:"body"`
}

// nectorTokenName is the merchant secret in its Nector inbox address.
const nectorTokenName = "nector_token"

// NectorToken is the secret token of a merchant's Nector inbox address.
// Nector signs its deliveries with a header whose scheme is not public,
// so the address carries the secret, as provider status URLs do: the one
// stored with the merchant (Reseal pins it), else the one derived from the
// oldest listed key, so a key rotation does not change the address.
func (s *Service) NectorToken(m Merchant) string {
	if token, err := s.MerchantSecret(m, nectorTokenName); err == nil {
		return token
	}
	return s.legacyNectorToken(m.ID)
}

func (s *Service) legacyNectorToken(merchantID string) string {
	keys := s.keyring.VerificationKeys()
	return derivedNectorToken(keys[len(keys)-1], merchantID)
}

func derivedNectorToken(key []byte, merchantID string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("nector-inbox\x00" + merchantID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// nectorTokenOK checks an inbox token in constant time: the stored one, or
// for a merchant without one the token under any listed key.
func (s *Service) nectorTokenOK(m Merchant, token string) bool {
	if token == "" {
		return false
	}
	if stored, err := s.MerchantSecret(m, nectorTokenName); err == nil {
		return subtle.ConstantTimeCompare([]byte(token), []byte(stored)) == 1
	}
	ok := false
	for _, key := range s.keyring.VerificationKeys() {
		if subtle.ConstantTimeCompare([]byte(token), []byte(derivedNectorToken(key, m.ID))) == 1 {
			ok = true
		}
	}
	return ok
}

// ReceiveNectorWebhook authenticates a Nector delivery by the inbox token
// and queues it once per Nector event: by its delivery id, or by the hash
// of topic and body when Nector sends none. Like a store webhook it is not
// decoded here: the worker does it, and buries what it cannot use.
func (s *Service) ReceiveNectorWebhook(ctx context.Context, in NectorWebhook) (WebhookOutcome, error) {
	cm, err := s.merchants.byID(ctx, in.MerchantID)
	if errors.Is(err, ErrNotFound) {
		return "", ErrUnauthenticated // an unknown merchant learns nothing either
	}
	if err != nil {
		return "", err
	}
	m := cm.Merchant
	if !s.nectorTokenOK(m, in.Token) {
		return "", ErrUnauthenticated
	}
	day := DayOf(s.now())
	if m.Status != MerchantActive {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: "inputs", Outcome: string(WebhookIgnored)}, 1)
		return WebhookIgnored, nil
	}
	id := strings.TrimSpace(in.DeliveryID)
	if id == "" || !plainText(id, maxNectorDeliveryIDLen) {
		sum := sha256.Sum256([]byte(strings.TrimSpace(in.Topic) + "\x00" + string(in.Body)))
		id = "body-" + hex.EncodeToString(sum[:16])
	}
	id = "nector:" + id
	payload, err := jsonMarshal(nectorJob{ID: id, Topic: strings.TrimSpace(in.Topic), Body: in.Body})
	if err != nil {
		return "", err
	}
	now := s.now()
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobNectorEvent, Payload: payload, CreatedAt: now}
	return s.enqueueWebhook(ctx, id, job, day)
}

// handleNectorJob decodes a queued Nector event and sends it down the
// events API's path. What cannot be used (an event name with no mapping,
// a body that is not Nector's, no customer) is buried for inspection and
// counted.
func (s *Service) handleNectorJob(ctx context.Context, job Job) error {
	var q nectorJob
	if err := jsonUnmarshal(job.Payload, &q); err != nil {
		return Permanent(fmt.Errorf("stored nector event: %w", err))
	}
	if s.nector == nil {
		return Permanent(errors.New("no nector decoder"))
	}
	day := DayOf(s.now())
	in, err := s.nector(q.Topic, q.Body)
	if err == nil {
		in.ID = q.ID
		if fields := validateAPIEvent(in); len(fields) > 0 {
			err = &ValidationError{Fields: fields}
		}
	}
	if err != nil {
		outcome := "invalid"
		if errors.Is(err, ErrNectorUnknownEvent) {
			outcome = string(WebhookUnknownTopic)
		}
		s.counters.add(Counter{Merchant: job.Merchant, Day: day, Subject: "inputs", Outcome: outcome}, 1)
		return Permanent(err)
	}
	return s.processAPIEvent(ctx, job.Merchant, in)
}
