package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Service holds the use cases. Handlers call one of its methods per request;
// job handlers run on its workers.
type Service struct {
	store             Store
	keyring           *Keyring
	now               func() time.Time
	log               *slog.Logger
	merchants         *merchantCache
	rules             ruleCache
	refusals          *expiringSet // rate limit refusals still running
	versionDrift      *expiringSet // shop and API version → next time to log it
	counters          counterBuffer
	shopifySecret     string
	shopifyKey        string
	wake              func()
	handoff           JobHandoff
	providers         map[string]ProviderKit
	decoders          map[Platform]WebhookDecoder
	nector            NectorDecoder
	defaultStatusMaps map[Platform]map[string]string
	clients           clientCache
	templates         templateCache
	retry             Backoff
	observer          SendObserver
	codWriters        map[Platform]CODWriter
	loyalty           LoyaltyRecords
	eventObserver     EventObserver
	checkURL          func(raw string) (*url.URL, error)
	cartDiscounts     CartDiscounts
}

// ServiceOptions are the service's dependencies.
type ServiceOptions struct {
	Store   Store
	Keyring *Keyring
	Now     func() time.Time // nil: time.Now
	Logger  *slog.Logger     // nil: discard
	// ShopifyAPISecret is the app's client secret: it signs the webhooks
	// and OAuth redirects of every shop that installed the public app.
	ShopifyAPISecret string
	// ShopifyAPIKey is the app's client id: the audience of App Bridge
	// session tokens.
	ShopifyAPIKey string
	// Wake, when set, is called after work is queued, so this process's
	// workers pick it up at once instead of at their next poll.
	Wake func()
	// Handoff, when set, runs the webhooks this process receives in its
	// own workers, stored leased to them: no claim is made for them.
	Handoff JobHandoff
	// Providers are the messaging providers merchants can connect, by
	// name; "sandbox" must be among them.
	Providers map[string]ProviderKit
	// Decoders read queued store webhooks, by platform.
	Decoders map[Platform]WebhookDecoder
	// Nector reads the events of merchants' Nector inboxes.
	Nector NectorDecoder
	// DefaultStatusMaps are each platform's status → event defaults, which
	// a merchant's own entries override.
	DefaultStatusMaps map[Platform]map[string]string
	// Retry is the schedule of delivery attempts (DELIVERY_RETRY_SCHEDULE).
	Retry Backoff
	// Observer, when set, is told of every provider call.
	Observer SendObserver
	// CheckURL refuses an outbound URL a merchant or operator gives that
	// production must not call (the outbound clients' one rule,
	// adapters.CheckURL, with ALLOW_INSECURE_OUTBOUND applied); nil
	// refuses every such URL.
	CheckURL func(raw string) (*url.URL, error)
}

// NewService returns the use cases over a store.
func NewService(opts ServiceOptions) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		store:             opts.Store,
		keyring:           opts.Keyring,
		now:               opts.Now,
		log:               opts.Logger,
		merchants:         newMerchantCache(opts.Store, opts.Keyring, opts.Now),
		refusals:          newExpiringSet(maxRefusals),
		versionDrift:      newExpiringSet(maxVersionDriftMemo),
		shopifySecret:     opts.ShopifyAPISecret,
		shopifyKey:        opts.ShopifyAPIKey,
		wake:              opts.Wake,
		handoff:           opts.Handoff,
		providers:         opts.Providers,
		decoders:          opts.Decoders,
		nector:            opts.Nector,
		defaultStatusMaps: opts.DefaultStatusMaps,
		retry:             opts.Retry,
		observer:          opts.Observer,
		checkURL:          opts.CheckURL,
	}
}

// JobHandlers are the handlers of the service's own job kinds, for the
// workers: one list, so no kind the service queues goes unhandled.
func (s *Service) JobHandlers() map[string]JobHandler {
	return map[string]JobHandler{
		JobShopifyWebhook:     s.handleWebhookJob,
		JobWooCommerceWebhook: s.handleWebhookJob,
		JobProcessEvents:      s.handleProcessEventsJob,
		JobSendDelivery:       s.handleSendJob,
		JobEarlyStatus:        s.handleEarlyStatusJob,
		JobAPIEvent:           s.handleAPIEventJob,
		JobNectorEvent:        s.handleNectorJob,
		JobCODWriteBack:       s.handleCODWriteBackJob,
		JobCODReminder:        s.handleCODReminderJob,
		JobCODTimeout:         s.handleCODTimeoutJob,
		JobCODDecided:         s.handleCODDecidedJob,
		JobCartStep:           s.handleCartStepJob,
		JobCartCapture:        s.handleCartCaptureJob,
	}
}

// counterFlushInterval is how often buffered statistics are written.
const counterFlushInterval = time.Second

// Run does the service's background work until ctx ends: it writes the
// buffered statistics every second, and once more on the way out.
func (s *Service) Run(ctx context.Context) {
	tick := time.NewTicker(counterFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.FlushCounters(flushCtx); err != nil {
				s.log.Error("writing statistics at shutdown failed", "err", err)
			}
			return
		case <-tick.C:
			if err := s.FlushCounters(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("writing statistics failed; kept for the next try", "err", err)
			}
		}
	}
}

// FlushCounters writes the statistics counted since the last flush.
func (s *Service) FlushCounters(ctx context.Context) error {
	return s.counters.flush(ctx, s.store, DayOf(s.now()))
}

// purgeBatch is how many deliveries one store call deletes: small enough
// that a batch holds the store (a Redis script, a bbolt write transaction)
// for only a few milliseconds.
const purgeBatch = 500

// Retention is how long records are kept before PurgeOld deletes them.
type Retention struct {
	Deliveries time.Duration // delivery records
	// DeadJobs are the jobs no retry could finish, kept for inspection and
	// replay. Their payloads are webhooks that name customers, so they are
	// kept no longer than a customer's redaction may take.
	DeadJobs time.Duration
}

// Purged counts what PurgeOld deleted.
type Purged struct{ Deliveries, DeadJobs int }

// PurgeOld deletes every merchant's deliveries and dead jobs older than
// the retention, in batches, and answers how many it deleted. A merchant
// whose purge fails is left for the next run; the others still go.
func (s *Service) PurgeOld(ctx context.Context, r Retention) (Purged, error) {
	var done Purged
	if r.Deliveries <= 0 || r.DeadJobs <= 0 {
		return done, Invalid("retention", fmt.Sprintf("must be positive, got %s and %s", r.Deliveries, r.DeadJobs))
	}
	merchants, err := s.store.ListMerchants(ctx)
	if err != nil {
		return done, fmt.Errorf("purge old records: %w", err)
	}
	now := s.now()
	purges := []struct {
		what   string
		before time.Time
		purge  func(ctx context.Context, merchant string, before time.Time, limit int) (int, error)
		count  *int
	}{
		{"deliveries", now.Add(-r.Deliveries), s.store.PurgeDeliveries, &done.Deliveries},
		{"dead jobs", now.Add(-r.DeadJobs), s.store.PurgeDeadJobs, &done.DeadJobs},
	}
	var errs []error
	for _, m := range merchants {
		for _, p := range purges {
			for {
				n, err := p.purge(ctx, m.ID, p.before, purgeBatch)
				*p.count += n
				if err != nil {
					if ctx.Err() != nil {
						return done, fmt.Errorf("purge old %s: %w", p.what, err)
					}
					errs = append(errs, fmt.Errorf("purge old %s of merchant %s: %w", p.what, m.ID, err))
					break
				}
				if n < purgeBatch {
					break
				}
			}
		}
	}
	return done, errors.Join(errs...)
}
