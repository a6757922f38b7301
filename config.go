package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Config is the environment, parsed once and validated. Field comments name
// the variable; CONTRACT.md is the reference for defaults.
type Config struct {
	Host                  string          // HOST
	Port                  int             // PORT
	AppURL                *url.URL        // APP_URL
	RedisURL              string          // REDIS_URL; empty: embedded store
	RedisPrefix           string          // REDIS_PREFIX
	RedisUnsafeOK         bool            // REDIS_UNSAFE_OK: start on a Redis that may lose data
	DataDir               string          // DATA_DIR
	SecretKeys            []string        // SECRET_KEY: comma-separated, newest first
	SecretKeyFile         string          // set when SECRET_KEY was generated into DATA_DIR
	AdminToken            string          // ADMIN_TOKEN
	AdminTokenFile        string          // set when ADMIN_TOKEN was generated into DATA_DIR (embedded store only)
	ClientIPHeader        string          // CLIENT_IP_HEADER: set by the proxy in front; empty: the socket's peer
	MetricsPort           int             // METRICS_PORT; 0: no port of its own
	MetricsToken          string          // METRICS_TOKEN
	ShopifyAPIKey         string          // SHOPIFY_API_KEY
	ShopifyAPISecret      string          // SHOPIFY_API_SECRET
	ShopifyScopes         []string        // SHOPIFY_SCOPES
	ShopifyAdminBaseURL   *url.URL        // SHOPIFY_ADMIN_BASE_URL
	AllowInsecureOutbound bool            // ALLOW_INSECURE_OUTBOUND
	RetrySchedule         []time.Duration // DELIVERY_RETRY_SCHEDULE
	WorkerConcurrency     int             // WORKER_CONCURRENCY: jobs a process runs at once
	LogLevel              slog.Level      // LOG_LEVEL
	LogFormat             string          // LOG_FORMAT: text or json
}

// ConfigError names the variable whose value stopped the start.
type ConfigError struct {
	Variable string
	Reason   string
}

func (e *ConfigError) Error() string { return e.Variable + ": " + e.Reason }

const defaultRetrySchedule = "10s,1m,5m,30m,2h,6h"

// WORKER_CONCURRENCY's default (app.WorkerOptions' own) and bound.
const (
	defaultWorkerConcurrency = 128
	maxWorkerConcurrency     = 4096
)

// headerName is an HTTP header name as CLIENT_IP_HEADER takes it.
var headerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// loadConfig reads every variable of the contract through getenv. It does
// no I/O: a SECRET_KEY that must be generated is left to ensureSecretKey.
func loadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	fail := func(variable, format string, args ...any) {
		errs = append(errs, &ConfigError{Variable: variable, Reason: fmt.Sprintf(format, args...)})
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}

	cfg := Config{
		Host:         get("HOST", "0.0.0.0"),
		RedisURL:     get("REDIS_URL", ""),
		RedisPrefix:  get("REDIS_PREFIX", "sb:"),
		DataDir:      get("DATA_DIR", "./data"),
		AdminToken:   get("ADMIN_TOKEN", ""),
		MetricsToken: get("METRICS_TOKEN", ""),
		LogFormat:    get("LOG_FORMAT", "text"),
	}

	if ip := net.ParseIP(cfg.Host); ip == nil && cfg.Host != "localhost" {
		fail("HOST", "%q is not an IP address to listen on", cfg.Host)
	}
	port, err := strconv.Atoi(get("PORT", "8080"))
	if err != nil || port < 1 || port > 65535 {
		fail("PORT", "%q is not a port number (1-65535)", getenv("PORT"))
	}
	cfg.Port = port
	if raw := get("METRICS_PORT", ""); raw != "" {
		metricsPort, err := strconv.Atoi(raw)
		if err != nil || metricsPort < 1 || metricsPort > 65535 {
			fail("METRICS_PORT", "%q is not a port number (1-65535)", raw)
		} else if metricsPort == port {
			fail("METRICS_PORT", "%d is PORT too; /metrics moves to a port of its own", metricsPort)
		}
		cfg.MetricsPort = metricsPort
	}

	// Webhook addresses registered with the platforms and OAuth redirects
	// are built from APP_URL: in production (REDIS_URL) a localhost default
	// would register addresses no platform can reach, so it must be given,
	// and be https, which Shopify requires.
	appURL := get("APP_URL", fmt.Sprintf("http://localhost:%d", port))
	if u, err := url.Parse(appURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail("APP_URL", "%q is not an absolute http(s) URL", appURL)
	} else if cfg.RedisURL != "" && get("APP_URL", "") == "" {
		fail("APP_URL", "is required when REDIS_URL is set: the public https:// address platforms send webhooks to (e.g. https://<app>.fly.dev)")
	} else if cfg.RedisURL != "" && u.Scheme != "https" {
		fail("APP_URL", "%q must be https:// when REDIS_URL is set", appURL)
	} else {
		u.Path = strings.TrimSuffix(u.Path, "/")
		cfg.AppURL = u
	}

	if cfg.RedisURL != "" {
		if u, err := url.Parse(cfg.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			fail("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
	}
	// Only a proxy every request passes through, and which replaces what
	// the client sent, may name the client (Fly.io: Fly-Client-IP).
	cfg.ClientIPHeader = get("CLIENT_IP_HEADER", "")
	if h := cfg.ClientIPHeader; h != "" && !headerName.MatchString(h) {
		fail("CLIENT_IP_HEADER", "%q is not a header name", h)
	} else if strings.EqualFold(h, "X-Forwarded-For") {
		fail("CLIENT_IP_HEADER", "X-Forwarded-For is a list a client can write to; name the header your proxy sets to the one client address (Fly.io: Fly-Client-IP)")
	}
	if raw := get("REDIS_UNSAFE_OK", "false"); raw != "" {
		ok, err := strconv.ParseBool(raw)
		if err != nil {
			fail("REDIS_UNSAFE_OK", "%q is not true or false", raw)
		}
		cfg.RedisUnsafeOK = ok
	}
	if strings.ContainsAny(cfg.RedisPrefix, "{} \t\n") {
		fail("REDIS_PREFIX", "must not contain braces or spaces (they would break the hash tags)")
	}

	if secret := getenv("SECRET_KEY"); strings.TrimSpace(secret) != "" {
		for i, key := range strings.Split(secret, ",") {
			key = strings.TrimSpace(key)
			if len(key) < app.MinSecretKeyLen {
				fail("SECRET_KEY", "key %d is shorter than %d characters", i+1, app.MinSecretKeyLen)
			}
			cfg.SecretKeys = append(cfg.SecretKeys, key)
		}
	} else if cfg.RedisURL != "" {
		fail("SECRET_KEY", "is required when REDIS_URL is set (every instance must share it)")
	}

	if cfg.ShopifyAPIKey, cfg.ShopifyAPISecret = get("SHOPIFY_API_KEY", ""), get("SHOPIFY_API_SECRET", ""); (cfg.ShopifyAPIKey == "") != (cfg.ShopifyAPISecret == "") {
		fail("SHOPIFY_API_SECRET", "SHOPIFY_API_KEY and SHOPIFY_API_SECRET go together")
	}
	cfg.ShopifyScopes = shopifyScopes(getenv("SHOPIFY_SCOPES"))
	if raw := get("SHOPIFY_ADMIN_BASE_URL", ""); raw != "" {
		if u, err := url.Parse(raw); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			fail("SHOPIFY_ADMIN_BASE_URL", "%q is not an absolute http(s) URL", raw)
		} else {
			cfg.ShopifyAdminBaseURL = u
		}
	}

	if raw := get("ALLOW_INSECURE_OUTBOUND", "false"); raw != "" {
		allow, err := strconv.ParseBool(raw)
		if err != nil {
			fail("ALLOW_INSECURE_OUTBOUND", "%q is not true or false", raw)
		}
		cfg.AllowInsecureOutbound = allow
	}

	schedule, err := parseSchedule(get("DELIVERY_RETRY_SCHEDULE", defaultRetrySchedule))
	if err != nil {
		fail("DELIVERY_RETRY_SCHEDULE", "%v", err)
	}
	cfg.RetrySchedule = schedule
	// Jobs mostly wait on the provider, so a process delivers at most
	// WORKER_CONCURRENCY messages per provider round trip: the knob for a
	// slow provider, up to what the cores and the store keep up with.
	concurrency, err := strconv.Atoi(get("WORKER_CONCURRENCY", strconv.Itoa(defaultWorkerConcurrency)))
	if err != nil || concurrency < 1 || concurrency > maxWorkerConcurrency {
		fail("WORKER_CONCURRENCY", "%q is not a number of jobs from 1 to %d", getenv("WORKER_CONCURRENCY"), maxWorkerConcurrency)
	}
	cfg.WorkerConcurrency = concurrency

	if err := cfg.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		fail("LOG_LEVEL", "%q is not debug, info, warn or error", getenv("LOG_LEVEL"))
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		fail("LOG_FORMAT", "%q is not text or json", cfg.LogFormat)
	}
	return cfg, errors.Join(errs...)
}

func parseSchedule(raw string) ([]time.Duration, error) {
	var out []time.Duration
	for part := range strings.SplitSeq(raw, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration like 10s or 2h", part)
		}
		if d <= 0 || d > 7*24*time.Hour {
			return nil, fmt.Errorf("%s is outside 0 to 7 days", d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("needs at least one wait")
	}
	return out, nil
}

// ensureSecretKey gives a development install without SECRET_KEY a stable
// key: generated once into DATA_DIR, read back on later starts.
func ensureSecretKey(cfg *Config) (generated bool, err error) {
	if len(cfg.SecretKeys) > 0 {
		return false, nil
	}
	path := filepath.Join(cfg.DataDir, "secret.key")
	cfg.SecretKeyFile = path
	key, generated, err := generatedOnce(path, "SECRET_KEY", app.MinSecretKeyLen)
	if err != nil {
		return false, err
	}
	cfg.SecretKeys = []string{key}
	return generated, nil
}

// ensureDevAdminToken gives a development install (the embedded store)
// without ADMIN_TOKEN an operator token in DATA_DIR, so that a fresh
// `go run .` can be signed in to at /admin/login. With Redis (production)
// the operator stays off unless ADMIN_TOKEN is set.
func ensureDevAdminToken(cfg *Config) error {
	if cfg.AdminToken != "" || cfg.RedisURL != "" {
		return nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	token, _, err := generatedOnce(path, "ADMIN_TOKEN", minAdminTokenLen)
	if err != nil {
		return err
	}
	cfg.AdminToken, cfg.AdminTokenFile = token, path
	return nil
}

// minAdminTokenLen is the shortest generated operator token read back.
const minAdminTokenLen = 32

// generatedOnce reads a secret from path, or generates it there (0600)
// when the file does not exist yet; variable names the setting it stands
// in for, in errors.
func generatedOnce(path, variable string, minLen int) (value string, generated bool, err error) {
	if raw, err := os.ReadFile(path); err == nil {
		value := strings.TrimSpace(string(raw))
		if len(value) < minLen {
			return "", false, &ConfigError{Variable: variable, Reason: path + " holds a value that is too short"}
		}
		return value, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, &ConfigError{Variable: variable, Reason: "cannot read " + path + ": " + err.Error()}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, &ConfigError{Variable: "DATA_DIR", Reason: err.Error()}
	}
	buf := make([]byte, 48)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("generate %s: %w", variable, err)
	}
	value = base64.RawURLEncoding.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, &ConfigError{Variable: variable, Reason: "cannot write " + path + ": " + err.Error()}
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	return value, true, nil
}

// shopifyScopes reads SHOPIFY_SCOPES. The default is what the product
// needs, the scopes shopify.app.toml names; a list set here replaces it in
// what the install asks for and checks.
func shopifyScopes(raw string) []string {
	if strings.TrimSpace(raw) == "" {
		return app.ShopifyScopes()
	}
	var scopes []string
	for scope := range strings.SplitSeq(raw, ",") {
		if scope = strings.TrimSpace(scope); scope != "" {
			scopes = append(scopes, scope)
		}
	}
	return scopes
}
