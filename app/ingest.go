package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Job kinds of store webhooks.
const (
	JobShopifyWebhook     = "shopify.webhook"
	JobWooCommerceWebhook = "woocommerce.webhook"
)

// webhookDoneTTL is how long a received webhook's key is remembered.
// Shopify retries for 4 hours and delays of a day happen; two days covers
// both with room.
const webhookDoneTTL = 48 * time.Hour

// ErrUnauthenticated is returned for a webhook whose signature does not
// verify, or whose store is unknown: refused, and stored nowhere.
var ErrUnauthenticated = errors.New("signature does not verify")

// ShopifyTopics are the topics the product subscribes to, plus the
// compliance topics every public app receives.
func ShopifyTopics() []string {
	return []string{
		"orders/create", "orders/updated", "orders/paid",
		"orders/fulfilled", "orders/partially_fulfilled", "orders/cancelled",
		"fulfillments/create", "fulfillments/update",
		"checkouts/create", "checkouts/update",
		"refunds/create", "app/uninstalled", "customers_marketing_consent/update", "customers/create",
		"customers/data_request", "customers/redact", "shop/redact",
	}
}

// WebhookOutcome says what became of an accepted webhook.
type WebhookOutcome string

const (
	WebhookAccepted     WebhookOutcome = "accepted"
	WebhookDuplicate    WebhookOutcome = "duplicate"
	WebhookUnknownTopic WebhookOutcome = "unknown_topic"
	WebhookPing         WebhookOutcome = "ping"
	// WebhookIgnored: verified, but for a merchant that has uninstalled.
	WebhookIgnored WebhookOutcome = "ignored"
)

// ShopifyWebhook is a webhook as Shopify sent it: the raw body and the
// headers that matter.
type ShopifyWebhook struct {
	Domain      string // X-Shopify-Shop-Domain
	Topic       string // X-Shopify-Topic
	HMAC        string // X-Shopify-Hmac-Sha256
	EventID     string // X-Shopify-Event-Id
	WebhookID   string // X-Shopify-Webhook-Id
	TriggeredAt string // X-Shopify-Triggered-At
	APIVersion  string // X-Shopify-API-Version
	Body        []byte
}

// WebhookEnvelope is what a webhook job carries: the headers that matter,
// then the raw body, untouched.
type WebhookEnvelope struct {
	Platform    Platform  `json:"platform"`
	Topic       string    `json:"topic"`
	EventID     string    `json:"event_id,omitempty"`
	WebhookID   string    `json:"webhook_id,omitempty"`
	TriggeredAt string    `json:"triggered_at,omitempty"`
	APIVersion  string    `json:"api_version,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	Body        []byte    `json:"-"`
}

// encode writes the headers as one JSON line and the body after it, so the
// body is neither escaped nor parsed on the hot path.
func (e WebhookEnvelope) encode() ([]byte, error) {
	head, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+1+len(e.Body))
	out = append(out, head...)
	out = append(out, '\n')
	return append(out, e.Body...), nil
}

// DecodeWebhookEnvelope reads a webhook job's payload.
func DecodeWebhookEnvelope(payload []byte) (WebhookEnvelope, error) {
	head, body, ok := bytes.Cut(payload, []byte{'\n'})
	var e WebhookEnvelope
	if !ok {
		return e, errors.New("webhook envelope: no header line")
	}
	if err := json.Unmarshal(head, &e); err != nil {
		return e, fmt.Errorf("webhook envelope: %w", err)
	}
	e.Body = body
	return e, nil
}

// ReceiveShopifyWebhook verifies a Shopify webhook and queues it, exactly
// once per event and topic, in one atomic store step. It does not decode
// the body: that is the worker's job.
func (s *Service) ReceiveShopifyWebhook(ctx context.Context, in ShopifyWebhook) (WebhookOutcome, error) {
	m, err := s.verifiedShopifyMerchant(ctx, in)
	if err != nil {
		return "", err
	}
	s.noteShopifyVersion(m, in.APIVersion)
	day := DayOf(s.now())
	if m.Status != MerchantActive && in.Topic != "shop/redact" && in.Topic != "customers/redact" {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: "inputs", Outcome: string(WebhookIgnored)}, 1)
		return WebhookIgnored, nil
	}
	if !slices.Contains(ShopifyTopics(), in.Topic) {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: "inputs", Outcome: string(WebhookUnknownTopic)}, 1)
		return WebhookUnknownTopic, nil
	}
	// Shopify's event id names the event; each subscription to a topic
	// gets its own copy, so the topic is part of the key.
	id := in.EventID
	if id == "" {
		id = in.WebhookID
	}
	if id == "" {
		sum := sha256.Sum256(in.Body)
		id = "body-" + hex.EncodeToString(sum[:16])
	}
	now := s.now()
	payload, err := WebhookEnvelope{
		Platform: PlatformShopify, Topic: in.Topic, EventID: in.EventID, WebhookID: in.WebhookID,
		TriggeredAt: in.TriggeredAt, APIVersion: in.APIVersion, ReceivedAt: now.UTC(), Body: in.Body,
	}.encode()
	if err != nil {
		return "", err
	}
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobShopifyWebhook, Payload: payload, CreatedAt: now}
	return s.enqueueWebhook(ctx, "shopify:"+id+":"+in.Topic, job, day)
}

// JobHandoff runs jobs this process stores leased to itself (Workers).
type JobHandoff interface {
	// Take reserves a slot and answers the lease to store the job with;
	// false when none is free.
	Take() (lease time.Duration, ok bool)
	// Start runs the job stored leased in the slot reserved.
	Start(job Job)
	// Release frees the slot when no job was stored.
	Release()
	// Ingest and Ingested bracket a webhook's store step, so the workers
	// give way while webhooks pile up.
	Ingest()
	Ingested()
}

func (s *Service) enqueueWebhook(ctx context.Context, key string, job Job, day string) (WebhookOutcome, error) {
	state, err := s.claimAndQueue(ctx, key, job)
	if err != nil {
		return "", fmt.Errorf("queue webhook: %w", err)
	}
	outcome := WebhookAccepted
	if state != ClaimNew {
		outcome = WebhookDuplicate
	}
	s.counters.add(Counter{Merchant: job.Merchant, Day: day, Subject: "inputs", Outcome: string(outcome)}, 1)
	return outcome, nil
}

// claimAndQueue claims the webhook's key and stores its job in one step.
// When this process's workers have a free slot, the job is stored leased
// to them and run at once: no claim, no wait for a poll. Otherwise it is
// queued for any worker, and this process's are woken.
func (s *Service) claimAndQueue(ctx context.Context, key string, job Job) (ClaimState, error) {
	if s.handoff != nil {
		s.handoff.Ingest()
		defer s.handoff.Ingested()
		if lease, ok := s.handoff.Take(); ok {
			state, leased, err := s.store.ClaimAndLease(ctx, key, webhookDoneTTL, job, lease)
			if err != nil || state != ClaimNew {
				// A failed call that stored the job anyway leaves it
				// leased to nobody: it runs when the lease ends.
				s.handoff.Release()
				return state, err
			}
			s.handoff.Start(leased)
			return state, nil
		}
	}
	state, err := s.store.ClaimAndEnqueue(ctx, key, webhookDoneTTL, job)
	if err == nil && state == ClaimNew && s.wake != nil {
		s.wake()
	}
	return state, err
}

// verifiedShopifyMerchant finds the shop's merchant and checks the
// signature. The app's client secret signs every webhook of a public app;
// a merchant set up by hand (a custom app) carries its own webhook secret.
func (s *Service) verifiedShopifyMerchant(ctx context.Context, in ShopifyWebhook) (Merchant, error) {
	// No merchant can have a domain that is not a shop's: no store read.
	if in.HMAC == "" || !ValidShopDomain(in.Domain) {
		return Merchant{}, ErrUnauthenticated
	}
	appSigned := s.shopifySecret != "" && verifyBase64HMAC(s.shopifySecret, in.Body, in.HMAC)
	m, err := s.merchants.byDomain(ctx, PlatformShopify, in.Domain)
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, ErrUnauthenticated
	}
	if err != nil {
		return Merchant{}, err
	}
	if appSigned || (m.webhookSecret != "" && verifyBase64HMAC(m.webhookSecret, in.Body, in.HMAC)) {
		return m.Merchant, nil
	}
	return Merchant{}, ErrUnauthenticated
}

// verifyBase64HMAC checks a base64 HMAC-SHA256 of body, in constant time.
// An empty secret never verifies.
func verifyBase64HMAC(secret string, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}

// verifyWooSignature is verifyBase64HMAC as WooCommerce signs: with the
// secret after wp_specialchars_decode, so a secret a merchant typed with
// "&amp;" in it is tried decoded too.
func verifyWooSignature(secret string, body []byte, signature string) bool {
	if verifyBase64HMAC(secret, body, signature) {
		return true
	}
	decoded := wpSpecialcharsDecode(secret)
	return decoded != secret && verifyBase64HMAC(decoded, body, signature)
}

// wpSpecialcharsDecode is PHP's wp_specialchars_decode($s, ENT_QUOTES): the
// five entities WordPress itself encodes.
func wpSpecialcharsDecode(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer(
		"&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#039;", "'", "&#39;", "'", "&#x27;", "'",
	).Replace(s)
}

// WooCommerceWebhook is a webhook as WooCommerce sent it.
type WooCommerceWebhook struct {
	MerchantID string // from the delivery URL
	Topic      string // X-WC-Webhook-Topic, e.g. order.updated
	Signature  string // X-WC-Webhook-Signature
	WebhookID  string // X-WC-Webhook-ID
	Body       []byte
}

var wooPing = regexp.MustCompile(`^webhook_id=\d+$`)

// ReceiveWooCommerceWebhook answers WooCommerce's ping, verifies anything
// else and queues it once per webhook, resource, modification and status.
func (s *Service) ReceiveWooCommerceWebhook(ctx context.Context, in WooCommerceWebhook) (WebhookOutcome, error) {
	m, err := s.merchants.byID(ctx, in.MerchantID)
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("merchant %q: %w", in.MerchantID, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	if m.Platform != PlatformWooCommerce {
		return "", fmt.Errorf("merchant %q is not a WooCommerce store: %w", in.MerchantID, ErrNotFound)
	}
	// WooCommerce's ping carries no signature and must get exactly 200,
	// or the webhook is never activated.
	if in.Signature == "" && wooPing.Match(bytes.TrimSpace(in.Body)) {
		return WebhookPing, nil
	}
	if !verifyWooSignature(m.webhookSecret, in.Body, in.Signature) {
		return "", ErrUnauthenticated
	}
	day := DayOf(s.now())
	if m.Status != MerchantActive {
		s.counters.add(Counter{Merchant: m.ID, Day: day, Subject: "inputs", Outcome: string(WebhookIgnored)}, 1)
		return WebhookIgnored, nil
	}
	now := s.now()
	payload, err := WebhookEnvelope{
		Platform: PlatformWooCommerce, Topic: in.Topic, WebhookID: in.WebhookID, ReceivedAt: now.UTC(), Body: in.Body,
	}.encode()
	if err != nil {
		return "", err
	}
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobWooCommerceWebhook, Payload: payload, CreatedAt: now}
	return s.enqueueWebhook(ctx, wooDedupeKey(in), job, day)
}

// wooDedupeKey names one state of one resource as one webhook delivered it.
// WooCommerce's delivery id changes only once a second and says nothing of
// the content, so the key is built from the body: the resource id, its
// modification time and status. A body that is not JSON keys on its hash
// and is kept by the worker for inspection.
func wooDedupeKey(in WooCommerceWebhook) string {
	var head struct {
		ID               json.Number `json:"id"`
		Status           string      `json:"status"`
		DateModifiedGMT  string      `json:"date_modified_gmt"`
		DateModifiedGMT2 string      `json:"date_modified"`
	}
	if err := json.Unmarshal(in.Body, &head); err != nil || head.ID == "" {
		sum := sha256.Sum256(in.Body)
		return "wc:" + in.WebhookID + ":body-" + hex.EncodeToString(sum[:16])
	}
	modified := head.DateModifiedGMT
	if modified == "" {
		modified = head.DateModifiedGMT2
	}
	return "wc:" + in.WebhookID + ":" + in.Topic + ":" + head.ID.String() + ":" + modified + ":" + head.Status
}
