package handlers

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/storebridge/storebridge/app"
)

// QueueDepther reports the queue's size at scrape time.
type QueueDepther interface {
	Depth(ctx context.Context) (app.QueueDepth, error)
}

// Metrics are the service's Prometheus collectors, on a registry of their
// own so tests can build as many as they like.
type Metrics struct {
	registry    *prometheus.Registry
	httpLatency *prometheus.HistogramVec
	jobs        *prometheus.CounterVec
	jobLatency  *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	providers   *prometheus.HistogramVec
	webhooks    *prometheus.CounterVec
	versions    *prometheus.CounterVec
}

// NewMetrics registers the collectors. queue may be nil (no depth gauge).
func NewMetrics(queue QueueDepther, log *slog.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "storebridge_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storebridge_jobs_total",
			Help: "Jobs finished by kind and outcome (done, retried, rescheduled, dead, lost).",
		}, []string{"kind", "outcome"}),
		jobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "storebridge_job_duration_seconds",
			Help:    "Time a job took to run and settle, by kind.",
			Buckets: prometheus.DefBuckets,
		}, []string{"kind"}),
		providers: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "storebridge_provider_request_duration_seconds",
			Help:    "Calls to messaging providers by provider and outcome (ok, retryable, permanent).",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "outcome"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storebridge_webhooks_total",
			Help: "Store webhooks received, by platform and outcome (accepted, duplicate, unknown_topic, ignored, ping, refused, failed).",
		}, []string{"platform", "outcome"}),
		versions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storebridge_shopify_webhook_version_drift_total",
			Help: "Verified Shopify webhooks whose X-Shopify-API-Version is not the pinned " + app.ShopifyAPIVersion + ", by version (YYYY-MM, unstable, or other).",
		}, []string{"version"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storebridge_store_errors_total",
			Help: "Store operations that failed, by where they were seen.",
		}, []string{"op"}),
	}
	m.registry.MustRegister(m.httpLatency, m.jobs, m.jobLatency, m.storeErrors, m.providers, m.webhooks, m.versions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if queue != nil {
		m.registry.MustRegister(&depthCollector{
			queue: queue, errors: m.storeErrors, log: log,
			desc: prometheus.NewDesc("storebridge_queue_jobs", "Jobs in the queue by state (ready, scheduled, running, dead).", []string{"state"}, nil),
		})
	}
	return m
}

// JobFinished implements app.JobObserver.
func (m *Metrics) JobFinished(kind, outcome string, took time.Duration) {
	m.jobs.WithLabelValues(kind, outcome).Inc()
	m.jobLatency.WithLabelValues(kind).Observe(took.Seconds())
}

// ProviderCall implements app.SendObserver.
func (m *Metrics) ProviderCall(provider, outcome string, took time.Duration) {
	m.providers.WithLabelValues(provider, outcome).Observe(took.Seconds())
}

// webhook counts a store webhook by its outcome; refused ones (a bad
// signature, an unknown store) and failed ones (the store down) included.
func (m *Metrics) webhook(platform string, outcome app.WebhookOutcome, err error) {
	label := string(outcome)
	switch {
	case errors.Is(err, app.ErrUnauthenticated), errors.Is(err, app.ErrNotFound):
		label = "refused"
	case err != nil:
		label = "failed"
	}
	m.webhooks.WithLabelValues(platform, label).Inc()
}

// shopifyVersion counts a verified Shopify webhook sent at an API version
// other than the pinned one, so a drift shows before Shopify retires it.
func (m *Metrics) shopifyVersion(version string) {
	if app.ShopifyVersionDrift(version) {
		m.versions.WithLabelValues(app.ShopifyVersionLabel(version)).Inc()
	}
}

// StoreError counts a failed store operation.
func (m *Metrics) StoreError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			// The error handler runs after this middleware; predict its status.
			status, _ = classify(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.httpLatency.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
		return err
	}
}

func (m *Metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}

// depthCollector reads the queue depth when Prometheus scrapes.
type depthCollector struct {
	queue  QueueDepther
	errors *prometheus.CounterVec
	log    *slog.Logger
	desc   *prometheus.Desc
}

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depth, err := d.queue.Depth(ctx)
	if err != nil {
		d.errors.WithLabelValues("queue_depth").Inc()
		d.log.Warn("reading queue depth failed", "err", err)
		return
	}
	for state, n := range map[string]int64{"ready": depth.Ready, "scheduled": depth.Scheduled, "running": depth.Running, "dead": depth.Dead} {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, float64(n), state)
	}
}
