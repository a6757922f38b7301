package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/web"
)

// BodyLimit is the largest request body accepted (1 MiB); larger ones get
// 413.
// Shopify's largest order payloads stay well under it.
const BodyLimit = "1MiB"

// NewEcho builds the router with the middleware every route shares.
func NewEcho(log *slog.Logger, metrics *Metrics) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = ErrorHandler(log, metrics)
	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: requestIDs()}),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableStackAll:   true,
			DisablePrintStack: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				log.Error("handler panicked", "path", c.Path(), "err", err, "stack", string(stack))
				return err
			},
		}),
		metrics.middleware,
		middleware.BodyLimit(BodyLimit),
	)
	return e
}

// requestIDs numbers requests after a random prefix per process: unique
// across instances, and far cheaper than 32 random characters a request.
func requestIDs() func() string {
	var prefix [6]byte
	_, _ = rand.Read(prefix[:]) // crypto/rand never fails on supported platforms
	p := base64.RawURLEncoding.EncodeToString(prefix[:]) + "-"
	var n atomic.Uint64
	return func() string { return p + strconv.FormatUint(n.Add(1), 36) }
}

// RegisterOps adds the routes every role serves on its main port, for
// the platform's checks: liveness and readiness.
func (h *Handlers) RegisterOps(e *echo.Echo) {
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
}

// RegisterMetrics adds /metrics, on the main port or a port of its own
// (METRICS_PORT). With a token (METRICS_TOKEN) only a request bearing it
// is answered: the metrics name routes, job kinds and providers, which the
// internet has no business reading.
func (h *Handlers) RegisterMetrics(e *echo.Echo, token string) {
	if token == "" {
		e.GET("/metrics", h.metrics.handler())
		return
	}
	e.GET("/metrics", h.metrics.handler(), requireBearer(token))
}

// requireBearer admits only requests with Authorization: Bearer token.
func requireBearer(token string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) != 1 {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge metrics"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong bearer token")
			}
			return next(c)
		}
	}
}

// Register adds every route of the web role.
func (h *Handlers) Register(e *echo.Echo) {
	// c.RealIP() is the client for limits and logs; see clientIP.
	e.IPExtractor = h.clientIP
	h.RegisterOps(e)
	// Webhooks are never rate limited (see the limits in ratelimit.go).
	e.POST(app.ShopifyWebhookPath, h.shopifyWebhook)
	e.POST("/webhooks/woocommerce/:merchant_id", h.wooCommerceWebhook)
	e.POST(app.NectorInboxPath, h.nectorInbox)
	connect := h.limit(app.RateLimit{Scope: "connect", Rule: app.Rate{Limit: connectLimit, Per: connectPer}}, clientAddress)
	h.registerShopifyInstall(e, connect)
	if h.woo != nil {
		e.GET("/woocommerce/connect", h.wooConnect, connect)
		e.POST("/woocommerce/callback", h.wooCallback, connect)
		if h.pages != nil {
			// wc-auth's return_url: the browser that started the connect
			// lands signed in.
			e.GET("/woocommerce/return", h.wooReturn, connect)
		}
	}
	e.GET("/webhooks/providers/:provider/:merchant_id", h.providerHandshake)
	e.POST("/webhooks/providers/:provider/:merchant_id", h.providerWebhook)

	e.POST("/api/v1/events", h.pushEvent,
		h.limit(app.RateLimit{Scope: "events-address", Rule: app.Rate{Limit: eventsAddressLimit, Per: eventsAddressPer}}, clientAddress),
		h.limit(app.RateLimit{Scope: "events-key", Rule: app.Rate{Limit: eventsKeyLimit, Per: eventsKeyPer}}, apiKeyOf))
	e.POST("/api/v1/sign-in-links", h.createSignInLink,
		h.limit(app.RateLimit{Scope: "signin-links-address", Rule: app.Rate{Limit: signInLinksAddressLimit, Per: signInLinksAddressPer}}, clientAddress),
		h.limit(app.RateLimit{Scope: "signin-links-key", Rule: app.Rate{Limit: signInLinksKeyLimit, Per: signInLinksKeyPer}}, apiKeyOf))
	e.POST("/api/v1/carts", h.captureCart,
		h.limit(app.RateLimit{Scope: "carts-address", Rule: app.Rate{Limit: cartsAddressLimit, Per: cartsAddressPer}}, clientAddress),
		h.cartTokenAuth,
		h.limit(app.RateLimit{Scope: "carts-merchant", Rule: app.Rate{Limit: cartsMerchantLimit, Per: cartsMerchantPer}}, cartMerchantID))

	if h.pages != nil { // every server has them; API-only handler tests leave them out
		h.registerPages(e)
	}

	admin := e.Group("/api/admin", h.adminAuth)
	admin.POST("/merchants", h.createMerchant)
	admin.GET("/merchants/:id", h.getMerchant)
	admin.PUT("/merchants/:id/settings", h.putSettings)
	admin.PUT("/merchants/:id/provider", h.putProvider)
	admin.GET("/merchants/:id/rules", h.listRules)
	admin.PUT("/merchants/:id/rules/:event", h.putRule)
	admin.GET("/merchants/:id/templates", h.listTemplates)
	admin.GET("/merchants/:id/status-map", h.getStatusMap)
	admin.PUT("/merchants/:id/status-map", h.putStatusMap)
	admin.POST("/merchants/:id/test-events", h.testEvent)
	admin.GET("/merchants/:id/deliveries", h.listDeliveries)
	admin.POST("/merchants/:id/deliveries/retry", h.retryDeliveries)
	admin.POST("/deliveries/:id/retry", h.retryDelivery)
	admin.GET("/merchants/:id/stats", h.stats)
	admin.GET("/merchants/:id/cod/orders", h.listCODOrders)
	admin.POST("/merchants/:id/cod/orders/:order/decision", h.decideCOD)
	admin.GET("/merchants/:id/data-requests", h.listDataRequests)
	admin.GET("/merchants/:id/data-requests/:request/export", h.exportDataRequest)
	admin.GET("/merchants/:id/customers/export", h.exportCustomer)
	admin.POST("/merchants/:id/cart-token", h.createCartToken)
	if h.loyalty != nil {
		admin.GET("/merchants/:id/loyalty", h.getLoyalty)
		admin.PUT("/merchants/:id/loyalty", h.putLoyalty)
		admin.GET("/merchants/:id/customers/:customer/points", h.getPoints)
		admin.POST("/merchants/:id/customers/:customer/points/adjust", h.adjustPoints)
		admin.POST("/merchants/:id/customers/:customer/points/redeem", h.redeemPoints)
		h.registerStorefront(e)
	}
}

// registerPages adds the merchant's admin pages: sign-in, then every page
// scoped to the signed-in merchant (no page takes a merchant from its
// address or its form).
func (h *Handlers) registerPages(e *echo.Echo) {
	static := http.StripPrefix("/admin/static/", http.FileServer(http.FS(web.StaticFiles())))
	e.GET("/admin/static/*", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Asset addresses carry their content's version: cache them for good.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		static.ServeHTTP(w, r)
	})))
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, "/admin?"+c.QueryString()) })
	e.GET("/admin/login", h.loginPage)
	e.POST("/admin/login", h.login)
	e.GET("/admin/sign-in", h.signInWithLink)
	e.POST("/admin/logout", h.logout)

	pages := e.Group("/admin", h.pageAuth)
	pages.GET("", h.home)
	pages.GET("/", h.home)
	pages.GET("/merchants", h.merchantPicker)
	pages.POST("/merchants", h.pickMerchant)
	pages.POST("/merchants/new", h.addStore)
	pages.GET("/provider", h.providerPage)
	pages.POST("/provider", h.saveProvider)
	pages.GET("/messages", h.messagesPage)
	pages.GET("/messages/:event", h.rulePage)
	pages.POST("/messages/:event", h.saveRule)
	pages.POST("/messages/:event/test", h.testRule)
	pages.GET("/phone", h.phoneCheck)
	pages.GET("/statuses", h.statusesPage)
	pages.POST("/statuses", h.saveStatuses)
	pages.GET("/cod", h.codPage)
	pages.POST("/cod", h.saveCOD)
	pages.POST("/cod/orders/:order", h.decideCODPage)
	pages.GET("/deliveries", h.deliveriesPage)
	pages.POST("/deliveries/retry", h.retryMatchingPage)
	pages.POST("/deliveries/:delivery/retry", h.retryDeliveryPage)
	pages.GET("/stats", h.statsPage)
	pages.GET("/stats.csv", h.statsCSVPage)
	pages.GET("/api-key", h.apiKeyPage)
	pages.POST("/api-key", h.newAPIKeyPage)
	if h.loyalty != nil {
		pages.GET("/loyalty", h.loyaltyPage)
		pages.POST("/loyalty", h.saveLoyalty)
		pages.POST("/loyalty/adjust", h.adjustLoyaltyPage)
		pages.POST("/loyalty/redeem", h.redeemLoyaltyPage)
	}
	pages.GET("/cart-capture", h.cartCapturePage)
	pages.POST("/cart-capture/token", h.newCartTokenPage)
	pages.GET("/cart-capture/plugin.zip", h.cartPluginZip)
}
