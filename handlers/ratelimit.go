package handlers

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// The rate limits, as the store's throttle applies them: a burst of the
// limit at once, then the limit per period. Webhooks have none: a platform
// must never get 429 for its legitimate traffic, and a flood of unsigned
// ones costs a signature check and at most a cached store read each.
const (
	// The events API per API key: 50 a second, in bursts of 100.
	eventsKeyLimit = 100
	eventsKeyPer   = 2 * time.Second
	// The events API per client address, whatever the keys: a loyalty
	// platform pushes for many merchants from few addresses, so 200 a
	// second in bursts of 400; it bounds guessed keys.
	eventsAddressLimit = 400
	eventsAddressPer   = 2 * time.Second
	// The connect and install routes per client address: 10 a minute, in
	// bursts of 20 (an install is two requests; a few retries fit).
	connectLimit = 20
	connectPer   = 2 * time.Minute
	// Failed sign-ins per client address: 10 a minute.
	signInLimit = 10
	signInPer   = time.Minute
)

// limit answers 429, with Retry-After, to callers that used up
// limit; key names the caller, and "" leaves the request alone.
func (h *Handlers) limit(limit app.RateLimit, key func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if k := key(c); k != "" {
				if err := h.svc.Allow(c.Request().Context(), limit, k); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

func clientAddress(c echo.Context) string { return c.RealIP() }

// apiKeyOf names an events API caller by its key's hash: the key itself
// must not end up in the store.
func apiKeyOf(c echo.Context) string {
	key, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || strings.TrimSpace(key) == "" {
		return ""
	}
	return app.HashAPIKey(strings.TrimSpace(key))
}

// signInFailures is the limit on failed sign-ins (admin bearer tokens and
// sessions; the /admin/login form too). It fails closed: it counts only
// callers who already failed.
func signInFailures() app.RateLimit {
	return app.RateLimit{Scope: "signin", Rule: app.Rate{Limit: signInLimit, Per: signInPer}, FailClosed: true}
}

// signInRefused answers 429 to an address that used up its failed
// sign-ins, before any token is tried: a right guess must not pass.
func (h *Handlers) signInRefused(c echo.Context) error {
	return h.svc.Refused(signInFailures(), c.RealIP())
}

// signInFailed counts a failed sign-in of the client's address and
// answers failure, or 429 once the address used up its attempts.
func (h *Handlers) signInFailed(c echo.Context, failure error) error {
	if err := h.svc.Allow(c.Request().Context(), signInFailures(), c.RealIP()); err != nil {
		return err
	}
	return failure
}

// clientIP is who a request comes from, for limits and logs: the socket's
// peer, unless header is set. Behind a proxy that sets header to the
// client's address on every request and replaces what the client sent
// (Fly.io's proxy and Fly-Client-IP), that header is the client; a value
// that is not one address falls back to the peer. X-Forwarded-For is never
// read: a client can put anything at its start.
func clientIP(header string) echo.IPExtractor {
	direct := echo.ExtractIPDirect()
	if header == "" {
		return direct
	}
	return func(req *http.Request) string {
		if ip := net.ParseIP(strings.TrimSpace(req.Header.Get(header))); ip != nil {
			return ip.String()
		}
		return direct(req)
	}
}
