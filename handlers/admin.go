package handlers

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// sessionCookie carries a merchant's admin session in the browser.
const sessionCookie = "sb_session"

// adminAuth admits the operator's bearer token (ADMIN_TOKEN: every
// merchant; never from the cookie) or a merchant's own session (that
// merchant only): our session cookie or bearer, or a Shopify App Bridge
// session token.
func (h *Handlers) adminAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.signInRefused(c); err != nil {
			return err
		}
		token, fromCookie := sessionToken(c)
		if token == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token or session")
		}
		// The operator's token counts only as a bearer header: a cookie
		// rides along on cross-site requests, which the JSON-only guard
		// below stops for sessions, not for the operator.
		if !fromCookie && h.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(h.adminToken)) == 1 {
			return next(c)
		}
		merchant, err := h.svc.SessionMerchant(c.Request().Context(), token)
		if errors.Is(err, app.ErrUnauthenticated) {
			// App Bridge fetches a fresh session token and retries.
			c.Response().Header().Set("X-Shopify-Retry-Invalid-Session-Request", "1")
			refused := echo.NewHTTPError(http.StatusUnauthorized, "wrong bearer token, or the session expired")
			if errors.Is(err, app.ErrSessionEnded) {
				return refused // signed by a key we trust: no guess
			}
			return h.signInFailed(c, refused)
		}
		if err != nil {
			return err
		}
		// A cookie rides along on any request the browser makes: changes
		// must come as JSON, which another site cannot send without CORS.
		if fromCookie && c.Request().Method != http.MethodGet && !strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "send changes as application/json")
		}
		if !sessionMayCall(c, merchant) {
			return echo.NewHTTPError(http.StatusForbidden, "this session is for another merchant, or the call is the operator's")
		}
		return next(c)
	}
}

// sessionToken is the request's bearer token, else its session cookie.
func sessionToken(c echo.Context) (token string, fromCookie bool) {
	if bearer, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer "); ok {
		return strings.TrimSpace(bearer), false
	}
	if cookie, err := c.Cookie(sessionCookie); err == nil {
		return cookie.Value, true
	}
	return "", false
}

// sessionMayCall says whether a merchant's session may make this call:
// only calls about that merchant, never creating merchants.
func sessionMayCall(c echo.Context, merchant string) bool {
	switch {
	case strings.HasPrefix(c.Path(), "/api/admin/merchants/:id"):
		return c.Param("id") == merchant
	case strings.HasPrefix(c.Path(), "/api/admin/deliveries/:id"):
		owner, ok := app.MerchantOfDelivery(c.Param("id"))
		return ok && owner == merchant
	}
	return false
}

// bindJSON decodes the body, one JSON value, into v; a malformed body is
// a 400 that says so, and an empty one leaves v to the validation. It
// reads JSON whatever the Content-Type: Echo's binder would bind an XML
// or form body by field name, and stop after the first JSON value, so a
// body that is not the JSON this call takes could still be accepted.
func bindJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var tooLarge *echo.HTTPError
		if errors.As(err, &tooLarge) {
			return tooLarge // the body limit's 413
		}
		return echo.NewHTTPError(http.StatusBadRequest, "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is not the JSON this call takes")
	}
	return nil
}

type createMerchantRequest struct {
	Platform       string `json:"platform"`
	ShopDomain     string `json:"shop_domain"`
	StoreURL       string `json:"store_url"`
	Name           string `json:"name"`
	Country        string `json:"country"`
	Timezone       string `json:"timezone"`
	AccessToken    string `json:"access_token"`
	ConsumerKey    string `json:"consumer_key"`
	ConsumerSecret string `json:"consumer_secret"`
	WebhookSecret  string `json:"webhook_secret"`
	// Sync starts the platform's upkeep for a store set up by hand: webhook
	// subscriptions kept in place and reconciliation of missed orders.
	Sync bool `json:"sync"`
}

func (r createMerchantRequest) Validate() map[string]string {
	fields := map[string]string{}
	switch app.Platform(r.Platform) {
	case app.PlatformShopify:
		if r.ShopDomain == "" {
			fields["shop_domain"] = "is required for a Shopify store"
		}
	case app.PlatformWooCommerce:
		if r.StoreURL == "" {
			fields["store_url"] = "is required for a WooCommerce store"
		}
		if r.ConsumerKey != "" && !strings.HasPrefix(r.ConsumerKey, "ck_") {
			fields["consumer_key"] = "must start with ck_"
		}
		if r.ConsumerSecret != "" && !strings.HasPrefix(r.ConsumerSecret, "cs_") {
			fields["consumer_secret"] = "must start with cs_"
		}
	default:
		fields["platform"] = "must be shopify or woocommerce"
	}
	if r.Sync {
		if app.Platform(r.Platform) == app.PlatformShopify && r.AccessToken == "" {
			fields["access_token"] = "is required to keep a shop in sync"
		}
		if app.Platform(r.Platform) == app.PlatformWooCommerce && (r.ConsumerKey == "" || r.ConsumerSecret == "" || r.WebhookSecret == "") {
			fields["sync"] = "needs consumer_key, consumer_secret and webhook_secret"
		}
	}
	return fields
}

func (h *Handlers) createMerchant(c echo.Context) error {
	var req createMerchantRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, apiKey, err := h.addMerchant(c, req)
	if err != nil {
		return err
	}
	view := h.merchantView(m)
	view.APIKey = apiKey
	return c.JSON(http.StatusCreated, view)
}

// addMerchant creates a store set up by hand, from the API or the
// operator's page, and starts its upkeep when asked to.
func (h *Handlers) addMerchant(c echo.Context, req createMerchantRequest) (app.Merchant, string, error) {
	if fields := req.Validate(); len(fields) > 0 {
		return app.Merchant{}, "", &app.ValidationError{Fields: fields}
	}
	secrets := map[string]string{}
	for name, value := range map[string]string{
		"access_token": req.AccessToken, "consumer_key": req.ConsumerKey,
		"consumer_secret": req.ConsumerSecret, "webhook_secret": req.WebhookSecret,
	} {
		if value != "" {
			secrets[name] = value
		}
	}
	m, apiKey, err := h.svc.CreateMerchant(c.Request().Context(), app.NewMerchant{
		Platform: app.Platform(req.Platform), Domain: req.ShopDomain, StoreURL: req.StoreURL,
		Name: req.Name, Country: req.Country, Timezone: req.Timezone, Secrets: secrets,
	})
	if err != nil {
		return app.Merchant{}, "", err
	}
	if req.Sync {
		if err := h.startSync(c, m); err != nil {
			return app.Merchant{}, "", err
		}
	}
	return m, apiKey, nil
}

func (h *Handlers) startSync(c echo.Context, m app.Merchant) error {
	ctx := c.Request().Context()
	switch {
	case m.Platform == app.PlatformShopify && h.shopify != nil:
		return h.shopify.StartSync(ctx, m.ID)
	case m.Platform == app.PlatformWooCommerce && h.woo != nil:
		return h.woo.StartSync(ctx, m.ID)
	}
	return app.Invalid("sync", "this platform's upkeep is not available in this setup")
}

// merchantView is a merchant as the admin API shows it: secrets masked.
type merchantView struct {
	ID         string            `json:"id"`
	APIKey     string            `json:"api_key,omitempty"`
	Platform   app.Platform      `json:"platform"`
	ShopDomain string            `json:"shop_domain,omitempty"`
	StoreURL   string            `json:"store_url,omitempty"`
	Name       string            `json:"name"`
	Country    string            `json:"country"`
	Timezone   string            `json:"timezone"`
	Status     string            `json:"status"`
	Secrets    map[string]string `json:"secrets"`
	Settings   map[string]string `json:"settings"`
	Provider   providerView      `json:"provider"`
	Webhooks   map[string]string `json:"webhooks"`
	Warnings   []string          `json:"warnings"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

type providerView struct {
	Name           string            `json:"name"`
	CommonProperty string            `json:"common_property,omitempty"`
	Credentials    map[string]string `json:"credentials"`
	VerifiedAt     *time.Time        `json:"verified_at,omitempty"`
	StatusURL      string            `json:"status_url,omitempty"`
}

const masked = "••••••••"

func (h *Handlers) merchantView(m app.Merchant) merchantView {
	v := merchantView{
		ID: m.ID, Platform: m.Platform, Name: m.Name, Country: m.Country, Timezone: m.Timezone,
		Status: string(m.Status), Secrets: map[string]string{}, Webhooks: map[string]string{}, Settings: m.Settings,
		Warnings:  append([]string{}, m.Warnings()...),
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt,
		Provider: providerView{Name: m.Provider.Name, CommonProperty: m.Provider.CommonProperty, Credentials: map[string]string{}},
	}
	if m.Platform == app.PlatformShopify {
		v.ShopDomain = m.Domain
		v.Webhooks["shopify"] = h.appURL + app.ShopifyWebhookPath
	} else {
		v.StoreURL = m.StoreURL
		v.Webhooks["woocommerce"] = h.appURL + "/webhooks/woocommerce/" + m.ID
	}
	// Where the merchant points Nector's outbound events (the inbox token
	// is its secret, shown like the provider status URL's).
	v.Webhooks["nector"] = h.appURL + strings.Replace(app.NectorInboxPath, ":merchant_id", m.ID, 1) + "?token=" + h.svc.NectorToken(m)
	for name := range m.Secrets {
		v.Secrets[name] = masked
	}
	for name := range m.Provider.Credentials {
		v.Provider.Credentials[name] = masked
	}
	if !m.Provider.VerifiedAt.IsZero() {
		at := m.Provider.VerifiedAt
		v.Provider.VerifiedAt = &at
	}
	if m.Provider.Name != "" && m.Provider.Name != app.ProviderSandbox {
		v.Provider.StatusURL = h.appURL + "/webhooks/providers/" + m.Provider.Name + "/" + m.ID + "?token=" + h.svc.ProviderStatusToken(m)
	}
	return v
}

func (h *Handlers) getMerchant(c echo.Context) error {
	m, err := h.svc.Merchant(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.merchantView(m))
}

type settingsRequest struct {
	Name             *string `json:"name"`
	Country          *string `json:"country"`
	Timezone         *string `json:"timezone"`
	QuietHours       *string `json:"quiet_hours"`
	CODGateways      *string `json:"cod_gateways"`
	CODHold          *string `json:"cod_hold"`
	CODReminders     *string `json:"cod_reminders"`
	CODTimeout       *string `json:"cod_timeout"`
	CODTimeoutAction *string `json:"cod_timeout_action"`
	MarketingConsent *string `json:"marketing_consent"`
	MarketingBasis   *string `json:"marketing_basis"`
}

func (h *Handlers) putSettings(c echo.Context) error {
	var req settingsRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, err := h.svc.UpdateSettings(c.Request().Context(), c.Param("id"), app.SettingsInput(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.merchantView(m))
}

type providerRequest struct {
	Provider       string            `json:"provider"`
	Credentials    map[string]string `json:"credentials"`
	CommonProperty string            `json:"common_property"`
}

func (h *Handlers) putProvider(c echo.Context) error {
	var req providerRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Provider == "" {
		return app.Invalid("provider", "is required")
	}
	if req.Credentials == nil {
		req.Credentials = map[string]string{}
	}
	m, err := h.svc.SetProvider(c.Request().Context(), c.Param("id"), app.ProviderInput{
		Provider: req.Provider, Credentials: req.Credentials, CommonProperty: req.CommonProperty,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h.merchantView(m))
}

type ruleView struct {
	Event     string   `json:"event"`
	Enabled   bool     `json:"enabled"`
	Mode      string   `json:"mode"`
	Category  string   `json:"category"`
	Template  string   `json:"template,omitempty"`
	Language  string   `json:"language,omitempty"`
	Variables []string `json:"variables"`
	Delay     string   `json:"delay"`
	// Steps and AttributionWindow show on cart.abandoned rules that set
	// them.
	Steps             []cartStepView `json:"steps,omitempty"`
	AttributionWindow string         `json:"attribution_window,omitempty"`
	UpdatedAt         time.Time      `json:"updated_at"`
}

type cartStepView struct {
	Delay     string            `json:"delay"`
	Template  string            `json:"template,omitempty"`
	Language  string            `json:"language,omitempty"`
	Variables []string          `json:"variables"`
	Discount  *cartDiscountView `json:"discount,omitempty"`
}

type cartDiscountView struct {
	Type      string      `json:"type"`
	Value     json.Number `json:"value"`
	ExpiresIn string      `json:"expires_in"`
}

func toRuleView(r app.Rule) ruleView {
	v := ruleView{
		Event: r.Event, Enabled: r.Enabled, Mode: r.Mode, Category: r.Category, Template: r.Template,
		Language: r.Language, Variables: r.Variables, Delay: r.Delay.String(), UpdatedAt: r.UpdatedAt,
	}
	for _, st := range r.Steps {
		sv := cartStepView{Delay: st.Delay.String(), Template: st.Template, Language: st.Language, Variables: st.Variables}
		if d := st.Discount; d != nil {
			sv.Discount = &cartDiscountView{Type: d.Type, Value: json.Number(d.Value), ExpiresIn: d.ExpiresIn.String()}
		}
		v.Steps = append(v.Steps, sv)
	}
	if r.AttributionWindow > 0 {
		v.AttributionWindow = r.AttributionWindow.String()
	}
	return v
}

func (h *Handlers) listRules(c echo.Context) error {
	rules, err := h.svc.Rules(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]ruleView, 0, len(rules))
	for _, r := range rules {
		out = append(out, toRuleView(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"rules": out})
}

type ruleRequest struct {
	Enabled   *bool    `json:"enabled"`
	Mode      string   `json:"mode"`
	Category  string   `json:"category"`
	Template  string   `json:"template"`
	Language  string   `json:"language"`
	Variables []string `json:"variables"`
	Delay     string   `json:"delay"`
	// Steps and AttributionWindow: cart.abandoned only (CONTRACT.md).
	Steps             []cartStepRequest `json:"steps"`
	AttributionWindow string            `json:"attribution_window"`
}

type cartStepRequest struct {
	Delay     string               `json:"delay"`
	Template  string               `json:"template"`
	Language  string               `json:"language"`
	Variables []string             `json:"variables"`
	Discount  *cartDiscountRequest `json:"discount"`
}

type cartDiscountRequest struct {
	Type      string      `json:"type"`
	Value     json.Number `json:"value"`
	ExpiresIn string      `json:"expires_in"`
}

func (h *Handlers) putRule(c echo.Context) error {
	var req ruleRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	in := app.RuleInput{
		Enabled: req.Enabled, Mode: req.Mode, Category: req.Category, Template: req.Template,
		Language: req.Language, Variables: req.Variables, Delay: req.Delay,
		AttributionWindow: req.AttributionWindow,
	}
	for _, st := range req.Steps {
		step := app.CartStepInput{Delay: st.Delay, Template: st.Template, Language: st.Language, Variables: st.Variables}
		if d := st.Discount; d != nil {
			step.Discount = &app.CartDiscountInput{Type: d.Type, Value: d.Value.String(), ExpiresIn: d.ExpiresIn}
		}
		in.Steps = append(in.Steps, step)
	}
	r, err := h.svc.PutRule(c.Request().Context(), c.Param("id"), c.Param("event"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRuleView(r))
}

type statusMapView struct {
	StatusMap map[string]string `json:"status_map"`
	Unmapped  []string          `json:"unmapped"`
}

func (h *Handlers) getStatusMap(c echo.Context) error {
	v, err := h.svc.StatusMap(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statusMapView(v))
}

func (h *Handlers) putStatusMap(c echo.Context) error {
	var entries map[string]string
	if err := bindJSON(c, &entries); err != nil {
		return err
	}
	v, err := h.svc.PutStatusMap(c.Request().Context(), c.Param("id"), entries)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, statusMapView(v))
}

type testEventRequest struct {
	Event      string         `json:"event"`
	Phone      string         `json:"phone"`
	Properties map[string]any `json:"properties"`
}

func (h *Handlers) testEvent(c echo.Context) error {
	var req testEventRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	d, err := h.svc.SendTestEvent(c.Request().Context(), c.Param("id"), app.TestEventInput{
		Event: req.Event, Phone: req.Phone, Properties: req.Properties,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toDeliveryView(d))
}

// deliveryView is a delivery as the log shows it: the phone masked.
type deliveryView struct {
	ID                string             `json:"id"`
	EventID           string             `json:"event_id"`
	Event             string             `json:"event"`
	Phone             string             `json:"phone"`
	Provider          string             `json:"provider"`
	Template          string             `json:"template"`
	Values            []string           `json:"values,omitempty"`
	Status            app.DeliveryStatus `json:"status"`
	Attempts          int                `json:"attempts"`
	Error             string             `json:"error"`
	Test              bool               `json:"test,omitempty"`
	ProviderMessageID string             `json:"provider_message_id,omitempty"`
	History           []statusChangeView `json:"history"`
	CreatedAt         time.Time          `json:"created_at"`
	UpdatedAt         time.Time          `json:"updated_at"`
}

type statusChangeView struct {
	Status app.DeliveryStatus `json:"status"`
	At     time.Time          `json:"at"`
	Note   string             `json:"note,omitempty"`
}

func toDeliveryView(d app.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, EventID: d.EventID, Event: d.Event, Phone: app.MaskPhone(d.Phone), Provider: d.Provider,
		Template: d.Template, Values: d.Values, Status: d.Status, Attempts: d.Attempts, Error: d.Error,
		Test: d.Test, ProviderMessageID: d.ProviderMessageID, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		History: make([]statusChangeView, 0, len(d.History)),
	}
	for _, h := range d.History {
		v.History = append(v.History, statusChangeView(h))
	}
	return v
}

func (h *Handlers) listDeliveries(c echo.Context) error {
	f := app.DeliveryFilter{
		Status: app.DeliveryStatus(c.QueryParam("status")),
		Event:  c.QueryParam("event"),
		Cursor: c.QueryParam("cursor"),
	}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return app.Invalid("limit", "must be a number")
		}
		f.Limit = n
	}
	list, next, err := h.svc.Deliveries(c.Request().Context(), c.Param("id"), f)
	if err != nil {
		return err
	}
	out := make([]deliveryView, 0, len(list))
	for _, d := range list {
		out = append(out, toDeliveryView(d))
	}
	return c.JSON(http.StatusOK, map[string]any{"deliveries": out, "next": next})
}

func (h *Handlers) retryDelivery(c echo.Context) error {
	id := c.Param("id")
	merchant, ok := app.MerchantOfDelivery(id)
	if !ok {
		return app.ErrNotFound
	}
	d, err := h.svc.RetryDelivery(c.Request().Context(), merchant, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toDeliveryView(d))
}

type bulkRetryRequest struct {
	Status string `json:"status"`
	Event  string `json:"event"`
	Limit  int    `json:"limit"`
}

func (h *Handlers) retryDeliveries(c echo.Context) error {
	var req bulkRetryRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	n, err := h.svc.RetryDeliveries(c.Request().Context(), c.Param("id"), app.DeliveryFilter{
		Status: app.DeliveryStatus(req.Status), Event: req.Event, Limit: req.Limit,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"queued": n})
}
