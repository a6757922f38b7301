// Command storebridge turns store and loyalty events into WhatsApp messages
// through each merchant's own messaging provider. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // merchants' time zones, also in a distroless image

	"github.com/redis/go-redis/v9"
	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/adapters/woocommerce/plugin"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
	"github.com/storebridge/storebridge/handlers"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
)

// shutdownTimeout bounds the whole graceful stop; fly.toml's kill_timeout
// (30 s) must stay above it so in-flight requests and jobs can finish.
const shutdownTimeout = 20 * time.Second

// workerDrainTimeout is the part of the stop given to jobs in hand.
const workerDrainTimeout = 15 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "storebridge:", err)
		os.Exit(1)
	}
}

const usage = `usage: storebridge [command] [flags]

commands:
  serve [--role=all|web|worker]   HTTP server and workers (the default command)
  demo [--once]                   a tour: sandbox merchants, sample webhooks replayed, messages printed
  reseal                          seal every stored secret again under the first SECRET_KEY
  shopify-config [file]           write shopify.app.toml for APP_URL and SHOPIFY_API_KEY (to stdout, or to file)
  woocommerce-plugin [out.zip]    write the WordPress cart capture plugin's zip (default storebridge-cart-capture.zip; - for stdout)

configuration comes from the environment; see README.md`

// run is the whole program: it returns when ctx is cancelled (SIGINT or
// SIGTERM) after a graceful stop, or with the error that stopped the start.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	command, arg, err := parseCommand(args[1:], stdout)
	if err != nil {
		return err
	}
	switch command {
	case "serve":
		return serve(ctx, arg, getenv, stdout)
	case "demo", "demo-once":
		return runDemo(ctx, command == "demo-once", getenv, stdout)
	case "reseal":
		return runReseal(ctx, getenv, stdout)
	case "shopify-config":
		return runShopifyConfig(getenv, stdout, arg)
	case "woocommerce-plugin":
		return runWooPlugin(stdout, arg)
	case "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", command, usage)
}

// parseCommand reads the command and its flags, and its one argument (the
// role of serve, the file of shopify-config); flag errors are written to
// out.
func parseCommand(args []string, out io.Writer) (command, arg string, err error) {
	command = "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		command, args = args[0], args[1:]
	}
	switch command {
	case "serve":
		flags := flag.NewFlagSet("serve", flag.ContinueOnError)
		flags.SetOutput(out)
		r := flags.String("role", "all", "all: HTTP and workers; web: HTTP only; worker: workers only")
		if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
			return "help", "", nil
		} else if err != nil {
			return "", "", err
		}
		if flags.NArg() > 0 {
			return "", "", fmt.Errorf("serve: unexpected argument %q", flags.Arg(0))
		}
		if *r != "all" && *r != "web" && *r != "worker" {
			return "", "", fmt.Errorf("--role=%s: want all, web or worker", *r)
		}
		return command, *r, nil
	case "demo":
		flags := flag.NewFlagSet("demo", flag.ContinueOnError)
		flags.SetOutput(out)
		once := flags.Bool("once", false, "stop after printing the messages")
		if err := flags.Parse(args); err != nil {
			return "", "", err
		}
		if *once {
			return "demo-once", "", nil
		}
		return "demo", "", nil
	case "reseal":
		if len(args) > 0 {
			return "", "", fmt.Errorf("reseal: unexpected argument %q", args[0])
		}
		return command, "", nil
	case "shopify-config":
		if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
			return "", "", errNoShopifyConfigArg
		}
		if len(args) == 1 {
			return command, args[0], nil
		}
		return command, "", nil
	case "woocommerce-plugin":
		if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-") && args[0] != "-") {
			return "", "", errors.New("woocommerce-plugin: want at most one argument, the zip to write (- for stdout)")
		}
		if len(args) == 1 {
			return command, args[0], nil
		}
		return command, plugin.Slug + ".zip", nil
	case "help", "-h", "--help":
		return "help", "", nil
	}
	return "", "", fmt.Errorf("unknown command %q\n%s", command, usage)
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Store is what the service needs of a backend, plus its housekeeping.
type Store interface {
	app.Store
	Maintain(ctx context.Context) error
	// LoyaltyLedger is the backend's points ledger.
	LoyaltyLedger() loyalty.Ledger
}

// enqueueNotifier is a store that tells of work queued by any process
// (the Redis store; the embedded one is one process's).
type enqueueNotifier interface {
	WatchEnqueued(ctx context.Context, wake func())
}

func serve(ctx context.Context, role string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if role != "all" && cfg.RedisURL == "" {
		// The embedded store is one file one process may open: a web process
		// and a worker process cannot share it.
		return &ConfigError{Variable: "REDIS_URL", Reason: "--role=" + role + " needs a shared store; without REDIS_URL run --role=all"}
	}
	log := newLogger(cfg, stdout)

	// The admin pages parse now: a broken template stops the start here.
	pages, err := handlers.LoadPages()
	if err != nil {
		return err
	}
	generated, err := ensureSecretKey(&cfg)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if generated {
		log.Warn("SECRET_KEY is not set: generated one for development; set SECRET_KEY in production, or every stored credential is lost with this file", "file", cfg.SecretKeyFile)
	}
	if err := ensureDevAdminToken(&cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.AdminTokenFile != "" {
		log.Info("ADMIN_TOKEN is not set: the operator token for this development install is in a file; sign in with it at /admin/login",
			"file", cfg.AdminTokenFile, "admin", cfg.AppURL.String()+"/admin/login")
	}
	keyring, err := app.NewKeyring(cfg.SecretKeys...)
	if err != nil {
		return &ConfigError{Variable: "SECRET_KEY", Reason: err.Error()}
	}
	log.Debug("secrets keyring ready", "key_id", keyring.KeyID())

	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()

	metrics := handlers.NewMetrics(st, log)
	workers := app.NewWorkers(st, app.WorkerOptions{
		Concurrency:  cfg.WorkerConcurrency,
		Backoff:      app.Backoff{Waits: cfg.RetrySchedule, Jitter: 0.2},
		DrainTimeout: workerDrainTimeout,
		Observer:     metrics,
		Logger:       log,
	})

	svc := app.NewService(app.ServiceOptions{
		Store:             st,
		Keyring:           keyring,
		Logger:            log,
		ShopifyAPISecret:  cfg.ShopifyAPISecret,
		ShopifyAPIKey:     cfg.ShopifyAPIKey,
		Wake:              workers.Wake,
		Handoff:           workers, // hands over only while they run (not --role=web)
		Providers:         providerKits(cfg.AllowInsecureOutbound),
		Decoders:          webhookDecoders(),
		Nector:            nectorDecoder(),
		DefaultStatusMaps: defaultStatusMaps(),
		Retry:             app.Backoff{Waits: cfg.RetrySchedule, Jitter: 0.2},
		Observer:          metrics,
		CheckURL:          func(raw string) (*url.URL, error) { return adapters.CheckURL(raw, cfg.AllowInsecureOutbound) },
	})
	registerJobs(workers, svc)
	// discounts makes codes in merchants' stores: loyalty redemptions,
	// referrals' welcome codes and cart steps.
	discounts := app.NewDiscountCodes(keyring.SigningKey())
	svc.SetCartDiscounts(discounts)
	engine := newLoyaltyEngine(st, svc, discounts, log)
	workers.HandleAll(engine.JobHandlers())
	shopifyInstaller := app.NewShopifyInstaller(svc, shopifyInstallOptions(cfg))
	registerShopifyJobs(workers, svc, shopifyInstaller)
	wooConnector := app.NewWooConnector(svc, wooConnectOptions(cfg))
	registerWooJobs(workers, svc, wooConnector)
	discounts.Set(app.PlatformShopify, shopifyInstaller)
	discounts.Set(app.PlatformWooCommerce, wooConnector)

	h := handlers.New(handlers.Options{
		Service: svc, ShopifyInstall: shopifyInstaller, WooConnect: wooConnector, Loyalty: engine,
		AppURL: cfg.AppURL.String(), AdminToken: cfg.AdminToken, ClientIPHeader: cfg.ClientIPHeader,
		Store: st, Metrics: metrics, Logger: log,
		Pages: pages, ShopifyAPIKey: cfg.ShopifyAPIKey, AllowInsecureOutbound: cfg.AllowInsecureOutbound,
		OperatorTokenFile: cfg.AdminTokenFile, CartPlugin: plugin.WriteZip,
	})
	e := handlers.NewEcho(log, metrics)
	if role == "worker" {
		h.RegisterOps(e) // health only, for the checks
	} else {
		h.Register(e)
	}
	if metricsOnMainPort(cfg) {
		h.RegisterMetrics(e, cfg.MetricsToken)
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return &ConfigError{Variable: "PORT", Reason: err.Error()}
	}
	servers := []*http.Server{newHTTPServer(e, log)}
	listeners := []net.Listener{listener}
	if cfg.MetricsPort != 0 {
		metricsListener, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.MetricsPort)))
		if err != nil {
			listener.Close()
			return &ConfigError{Variable: "METRICS_PORT", Reason: err.Error()}
		}
		me := handlers.NewEcho(log, metrics)
		h.RegisterMetrics(me, cfg.MetricsToken)
		servers, listeners = append(servers, newHTTPServer(me, log)), append(listeners, metricsListener)
	}
	log.Info("storebridge started", "role", role, "addr", listener.Addr().String(), "store", storeName(cfg), "app_url", cfg.AppURL.String(),
		"metrics", metricsWhere(cfg, listeners))

	var wg sync.WaitGroup
	serveErr := make(chan error, len(servers))
	for i, server := range servers {
		wg.Go(func() {
			if err := server.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	workerCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	serviceCtx, stopService := context.WithCancel(context.WithoutCancel(ctx))
	defer stopService()
	serviceDone := make(chan struct{})
	go func() { svc.Run(serviceCtx); close(serviceDone) }()
	if role != "web" {
		wg.Go(func() {
			if err := workers.Run(workerCtx); err != nil {
				log.Error("workers stopped", "err", err)
			}
		})
		wg.Go(func() { maintain(workerCtx, st, svc, log) })
		if n, ok := st.(enqueueNotifier); ok {
			// Work queued by other processes (--role=web) wakes these
			// workers at once; polling stays as the fallback.
			wg.Go(func() { n.WatchEnqueued(workerCtx, workers.Wake) })
		}
	}

	var failure error
	select {
	case <-ctx.Done():
	case failure = <-serveErr:
	}
	log.Info("shutting down", "timeout", shutdownTimeout.String())
	stopWorkers()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, server := range servers {
		if err := server.Shutdown(shutdownCtx); err != nil {
			log.Warn("HTTP shutdown did not finish in time", "err", err)
		}
	}
	wg.Wait()
	// The service stops last, after requests and jobs, so their counts are
	// written.
	stopService()
	<-serviceDone
	log.Info("stopped")
	return failure
}

// runReseal seals every stored secret under the first SECRET_KEY and says
// whether the others can be removed.
func runReseal(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if _, err := ensureSecretKey(&cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	keyring, err := app.NewKeyring(cfg.SecretKeys...)
	if err != nil {
		return &ConfigError{Variable: "SECRET_KEY", Reason: err.Error()}
	}
	log := newLogger(cfg, stdout)
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Logger: log})
	report, err := svc.Reseal(ctx)
	fmt.Fprintf(stdout, "storebridge reseal: %d merchants read; %d values sealed again and %d status URL and Nector inbox tokens stored under key %s\n",
		report.Merchants, report.Resealed, report.Pinned, report.KeyID)
	if err != nil {
		return err
	}
	switch {
	case !report.OldKeysCanGo():
		fmt.Fprintf(stdout, "%d values open with no listed key (sealed with a key not in SECRET_KEY, or damaged): %s\nKeep every key you still have until they are set again.\n",
			len(report.Unopened), strings.Join(report.Unopened, ", "))
		return fmt.Errorf("reseal: %d values could not be opened", len(report.Unopened))
	case len(report.OldKeyIDs) == 0:
		fmt.Fprintln(stdout, "Only one key is listed: nothing else to remove.")
	default:
		fmt.Fprintf(stdout, "Every stored secret is sealed with key %s now. The older key(s) %s can be removed from SECRET_KEY once every instance runs with the new key first and %s have passed since (admin sessions and connect links signed with an older key stop working when it goes).\n",
			report.KeyID, strings.Join(report.OldKeyIDs, ", "), app.SessionTTL)
	}
	return nil
}

// newHTTPServer serves handler with every timeout set.
func newHTTPServer(handler http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// metricsOnMainPort says whether the main port serves /metrics: not when
// METRICS_PORT takes it, and in production (REDIS_URL) only behind
// METRICS_TOKEN, so the web role does not publish its internals to the
// internet by default.
func metricsOnMainPort(cfg Config) bool {
	return cfg.MetricsPort == 0 && (cfg.RedisURL == "" || cfg.MetricsToken != "")
}

// metricsWhere says, for the start log, where /metrics is served.
func metricsWhere(cfg Config, listeners []net.Listener) string {
	token := ""
	if cfg.MetricsToken != "" {
		token = ", METRICS_TOKEN required"
	}
	switch {
	case cfg.MetricsPort != 0:
		return listeners[len(listeners)-1].Addr().String() + token
	case metricsOnMainPort(cfg):
		return "main port" + token
	}
	return "off: set METRICS_PORT (a port not exposed to the internet) or METRICS_TOKEN"
}

func storeName(cfg Config) string {
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "embedded"
}

// openStore connects to Redis when REDIS_URL is set, else opens the
// embedded store in DATA_DIR.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (Store, error) {
	if cfg.RedisURL == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, &ConfigError{Variable: "DATA_DIR", Reason: err.Error()}
		}
		st, err := embedded.Open(filepath.Join(cfg.DataDir, "storebridge.db"), embedded.Options{})
		if err != nil {
			return nil, &ConfigError{Variable: "DATA_DIR", Reason: err.Error()}
		}
		return embeddedStore{st}, nil
	}
	rdb, err := redisClient(ctx, cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	st := redisstore.New(rdb, redisstore.Options{Prefix: cfg.RedisPrefix})
	// Wait a little for Redis at start (a deploy may race its restart), then
	// give up with a message that names the variable.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := st.Ping(pingCtx)
		cancel()
		if err == nil {
			if err := checkRedisServer(ctx, st, cfg.RedisUnsafeOK, log); err != nil {
				st.Close()
				return nil, err
			}
			return redisStore{st}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			st.Close()
			return nil, &ConfigError{Variable: "REDIS_URL", Reason: "Redis does not answer: " + err.Error()}
		}
		log.Warn("waiting for Redis", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// redisClient connects to REDIS_URL: a single server, or a Redis Cluster
// when the URL lists several nodes (?addr=host:port) or the server it
// names says it is a cluster node. The store keeps each merchant's keys in
// one slot, so either works.
func redisClient(ctx context.Context, rawURL string) (redis.UniversalClient, error) {
	cluster, err := redis.ParseClusterURL(rawURL)
	if err != nil {
		return nil, &ConfigError{Variable: "REDIS_URL", Reason: err.Error()}
	}
	// Fail fast when Redis is gone: a webhook then gets 503 within
	// Shopify's 5 s and is retried by Shopify, instead of hanging here.
	cluster.DialTimeout, cluster.ReadTimeout, cluster.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cluster.DialerRetries, cluster.MaxRetries = 1, 1
	if len(cluster.Addrs) > 1 {
		return redis.NewClusterClient(cluster), nil
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, &ConfigError{Variable: "REDIS_URL", Reason: err.Error()}
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	opts.DialerRetries, opts.MaxRetries = 1, 1
	single := redis.NewClient(opts)
	probe, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if info, err := single.Info(probe, "cluster").Result(); err == nil && strings.Contains(info, "cluster_enabled:1") {
		single.Close()
		return redis.NewClusterClient(cluster), nil
	}
	return single, nil // not answering yet: the caller waits for it
}

type embeddedStore struct{ *embedded.Store }

// Maintain drops expired idempotency keys.
func (s embeddedStore) LoyaltyLedger() loyalty.Ledger { return s.Ledger() }

func (s embeddedStore) Maintain(ctx context.Context) error {
	_, err := s.Purge(ctx)
	return err
}

type redisStore struct{ *redisstore.Store }

// Maintain repairs the queue's merchant index after a crash mid-enqueue.
func (s redisStore) LoyaltyLedger() loyalty.Ledger { return s.Ledger() }

func (s redisStore) Maintain(ctx context.Context) error { return s.SweepIndex(ctx) }

// deliveryRetention is how long delivery records are kept. 90 days covers
// what the records are read for: the merchant's delivery log, and disputes
// about a message (a customer or a provider asking what was sent and when),
// which come within weeks. Statistics do not need the records: they are
// kept apart, as daily counters.
const deliveryRetention = 90 * 24 * time.Hour

// deadJobRetention is how long a dead job (a webhook or send no retry
// could finish) is kept for inspection and replay. Its payload names the
// customer, and Shopify gives a customers/redact 30 days: whatever is
// dead when a redaction arrives is gone within them.
const deadJobRetention = 30 * 24 * time.Hour

// deliveryPurgeInterval is how often maintain purges expired records.
const deliveryPurgeInterval = time.Hour

// maintain runs the store's housekeeping every half minute, and deletes the
// deliveries and dead jobs past their retention at most once an hour.
func maintain(ctx context.Context, st Store, svc *app.Service, log *slog.Logger) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var lastPurge time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := st.Maintain(ctx); err != nil && ctx.Err() == nil {
				log.Warn("store maintenance failed", "err", err)
			}
			if time.Since(lastPurge) < deliveryPurgeInterval {
				continue
			}
			lastPurge = time.Now()
			n, err := svc.PurgeOld(ctx, app.Retention{Deliveries: deliveryRetention, DeadJobs: deadJobRetention})
			if err != nil && ctx.Err() == nil {
				log.Warn("purging old records failed; retried next hour", "err", err, "deliveries", n.Deliveries, "dead_jobs", n.DeadJobs)
			} else if n.Deliveries > 0 || n.DeadJobs > 0 {
				log.Info("purged old records", "deliveries", n.Deliveries, "dead_jobs", n.DeadJobs,
					"retention", deliveryRetention.String(), "dead_job_retention", deadJobRetention.String())
			}
		}
	}
}
