package handlers

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// pageAuth signs a page request in, from the first of: a session token in
// Authorization (App Bridge's fetch), Shopify's id_token (the address
// Shopify admin opens, or a form's field that admin.js adds; a new shop is
// installed by token exchange), our session cookie, the operator's cookie.
// Without any, a page inside Shopify admin asks App Bridge for a token,
// and any other goes to the sign-in page. A change signed in by a cookie
// must carry the session's CSRF token.
func (h *Handlers) pageAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(pageErrorKey, h.pageError)
		if err := h.signInRefused(c); err != nil {
			return err
		}
		s, err := h.pageSignIn(c)
		if err != nil {
			return err
		}
		if s == nil {
			return h.signInFirst(c)
		}
		c.Set(pageSessionKey, s)
		if s.cookie != "" && isFormPost(c) && !h.svc.CheckCSRF(s.cookie, c.FormValue("csrf")) {
			return echo.NewHTTPError(http.StatusForbidden, "this form has expired or did not come from storebridge: reload the page and try again")
		}
		if s.merchant == nil && !strings.HasPrefix(c.Path(), "/admin/merchants") {
			return c.Redirect(http.StatusSeeOther, "/admin/merchants")
		}
		return next(c)
	}
}

// pageSignIn answers the request's session, nil when it has none.
func (h *Handlers) pageSignIn(c echo.Context) (*pageSession, error) {
	ctx := c.Request().Context()
	s := &pageSession{
		embedded: c.QueryParam("embedded") == "1",
		shop:     c.QueryParam("shop"), host: c.QueryParam("host"),
	}
	if isFormPost(c) {
		s.embedded = s.embedded || c.FormValue("embedded") == "1"
		s.shop, s.host = firstOf(s.shop, c.FormValue("shop")), firstOf(s.host, c.FormValue("host"))
	}
	if bearer, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer "); ok {
		id, err := h.svc.SessionMerchant(ctx, strings.TrimSpace(bearer))
		if err != nil {
			c.Response().Header().Set("X-Shopify-Retry-Invalid-Session-Request", "1")
			return nil, h.refusedSession(c, err)
		}
		return h.withMerchant(c, s, id)
	}
	idToken := c.QueryParam("id_token")
	if idToken == "" && isFormPost(c) {
		idToken = c.FormValue("id_token")
	}
	if idToken != "" {
		if !h.shopify.Enabled() {
			return nil, echo.NewHTTPError(http.StatusNotFound, "the Shopify app is not configured on this server (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
		}
		result, err := h.shopify.SignInEmbedded(ctx, idToken, s.shop)
		if err != nil {
			if errors.Is(err, app.ErrUnauthenticated) {
				return nil, h.refusedSession(c, err)
			}
			return nil, shopifyInstallError(err)
		}
		s.embedded = true
		s.shop = result.Shop
		// Later plain navigations (and a browser without App Bridge) are
		// signed in by the cookie; this page's forms carry its CSRF token.
		cookie, err := h.setSessionCookie(c, result.MerchantID, true)
		if err != nil {
			return nil, err
		}
		s.newCookie = cookie
		return h.withMerchant(c, s, result.MerchantID)
	}
	if cookie, err := c.Cookie(sessionCookie); err == nil && cookie.Value != "" {
		id, err := h.svc.SessionMerchant(ctx, cookie.Value)
		if err == nil {
			s.cookie = cookie.Value
			return h.withMerchant(c, s, id)
		}
		if !errors.Is(err, app.ErrUnauthenticated) {
			return nil, err
		}
	}
	if cookie, err := c.Cookie(operatorCookie); err == nil && cookie.Value != "" {
		id, err := h.svc.OperatorSession(ctx, cookie.Value)
		if err == nil && h.adminToken != "" {
			s.cookie, s.operator = cookie.Value, true
			if id == "" {
				return s, nil
			}
			return h.withMerchant(c, s, id)
		}
	}
	return nil, nil
}

func (h *Handlers) withMerchant(c echo.Context, s *pageSession, id string) (*pageSession, error) {
	m, err := h.svc.Merchant(c.Request().Context(), id)
	if err != nil {
		return nil, err
	}
	s.merchant = &m
	if m.Platform == app.PlatformShopify && s.embedded {
		s.shop = m.Domain
	}
	return s, nil
}

// refusedSession answers a token that signs no one in; only a token no
// key of ours signed counts as a failed guess.
func (h *Handlers) refusedSession(c echo.Context, err error) error {
	refused := echo.NewHTTPError(http.StatusUnauthorized, "this sign-in has expired or is not valid: open storebridge again from your store's admin")
	if errors.Is(err, app.ErrSessionEnded) {
		return refused
	}
	return h.signInFailed(c, refused)
}

// signInFirst answers a page request without a session: inside Shopify
// admin, a page that asks App Bridge for a token and loads again with it;
// elsewhere, the sign-in page.
func (h *Handlers) signInFirst(c echo.Context) error {
	if c.QueryParam("embedded") == "1" || (c.QueryParam("host") != "" && app.ValidShopDomain(c.QueryParam("shop"))) {
		c.Set(pageSessionKey, &pageSession{embedded: true, shop: c.QueryParam("shop"), host: c.QueryParam("host")})
		p := h.newPage(c, "Opening storebridge", "")
		return h.render(c, http.StatusOK, "bounce", p)
	}
	if isFormPost(c) {
		return echo.NewHTTPError(http.StatusUnauthorized, "your session has ended: sign in again")
	}
	return c.Redirect(http.StatusSeeOther, "/admin/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
}

// setSessionCookie signs a merchant in to its admin pages (and its own
// JSON API calls), whichever way it proved who it is: Shopify's id_token
// or OAuth callback, the API key, a sign-in link, the return from
// wc-auth. Every sign-in sets the cookie here, so all of them get the
// same one; framed is the Shopify admin's iframe. It answers the
// session's token, which the page's CSRF tokens are bound to.
func (h *Handlers) setSessionCookie(c echo.Context, merchantID string, framed bool) (string, error) {
	token, expires, err := h.svc.NewSession(merchantID)
	if err != nil {
		return "", err
	}
	h.writeSessionCookie(c, sessionCookie, token, expires, framed)
	clearCookie(c, operatorCookie, h.secureCookies())
	return token, nil
}

// setOperatorCookie signs the operator in to the pages, looking at
// merchantID ("" until a store is picked).
func (h *Handlers) setOperatorCookie(c echo.Context, merchantID string) error {
	token, expires, err := h.svc.NewOperatorSession(merchantID)
	if err != nil {
		return err
	}
	h.writeSessionCookie(c, operatorCookie, token, expires, false)
	return nil
}

// writeSessionCookie sets a session cookie (both kinds last SessionTTL):
// HttpOnly, Secure except on a plain-http APP_URL (development), and
// SameSite=Lax, so a top-level navigation from another site (the store's
// WordPress, an email) carries it and another site's form post or frame
// does not. Inside Shopify admin the pages are a third-party frame,
// where a browser sends only a partitioned SameSite=None cookie (and only
// over https).
func (h *Handlers) writeSessionCookie(c echo.Context, name, value string, expires time.Time, framed bool) {
	cookie := &http.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires, MaxAge: int(app.SessionTTL.Seconds()),
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode,
	}
	if framed && h.secureCookies() {
		cookie.SameSite, cookie.Partitioned = http.SameSiteNoneMode, true
	}
	c.SetCookie(cookie)
}

func clearCookie(c echo.Context, name string, secure bool) {
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// loginPage is /admin/login: the operator's token, or a WooCommerce
// merchant's API key.
type loginData struct {
	Next         string
	OperatorOn   bool
	WooConnectOn bool
	ShopifyOn    bool
	// OperatorTokenFile: a development install generated its operator
	// token into this file.
	OperatorTokenFile string
}

func (h *Handlers) loginPage(c echo.Context) error {
	h.setPageErrors(c)
	p := h.newPage(c, "Sign in", "")
	p.Data = h.loginData(c)
	return h.render(c, http.StatusOK, "login", p)
}

func (h *Handlers) loginData(c echo.Context) loginData {
	return loginData{
		Next: safeNext(c.FormValue("next")), OperatorOn: h.adminToken != "",
		WooConnectOn: h.woo != nil, ShopifyOn: h.shopify.Enabled(), OperatorTokenFile: h.operatorTokenFile,
	}
}

// login takes the form of /admin/login. The form needs no CSRF token: it
// signs in whoever holds the secret typed into it, and nobody else.
func (h *Handlers) login(c echo.Context) error {
	h.setPageErrors(c)
	if err := h.signInRefused(c); err != nil {
		return err
	}
	secret := strings.TrimSpace(c.FormValue("secret"))
	next := safeNext(c.FormValue("next"))
	if secret == "" {
		return h.loginRefused(c, "Type your API key, or the operator's token.")
	}
	if h.adminToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(h.adminToken)) == 1 {
		if err := h.setOperatorCookie(c, ""); err != nil {
			return err
		}
		clearCookie(c, sessionCookie, h.secureCookies())
		return c.Redirect(http.StatusSeeOther, "/admin/merchants")
	}
	id, err := h.svc.SignInWithAPIKey(c.Request().Context(), secret)
	if errors.Is(err, app.ErrUnauthenticated) {
		if err := h.signInFailed(c, nil); err != nil {
			return err
		}
		return h.loginRefused(c, "That key signs no store in. Use the API key storebridge gave when the store connected, or a one-time sign-in link.")
	}
	if err != nil {
		return err
	}
	if _, err := h.setSessionCookie(c, id, false); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

func (h *Handlers) loginRefused(c echo.Context, reason string) error {
	p := h.newPage(c, "Sign in", "")
	p.Fields["secret"] = reason
	p.Data = h.loginData(c)
	return h.render(c, http.StatusUnauthorized, "login", p)
}

// logout ends the browser's sessions.
func (h *Handlers) logout(c echo.Context) error {
	clearCookie(c, sessionCookie, h.secureCookies())
	clearCookie(c, operatorCookie, h.secureCookies())
	return c.Redirect(http.StatusSeeOther, "/admin/login")
}

// setPageErrors makes the error handler answer this request with a page.
func (h *Handlers) setPageErrors(c echo.Context) { c.Set(pageErrorKey, h.pageError) }

// safeNext keeps a sign-in's way back on our own admin pages.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/admin") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/admin"
	}
	return next
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// merchantPicker is the operator's list of stores.
func (h *Handlers) merchantPicker(c echo.Context) error {
	s := sessionOf(c)
	if !s.operator {
		return echo.NewHTTPError(http.StatusForbidden, "only the operator picks a store")
	}
	return h.renderStores(c, http.StatusOK, storesData{}, nil)
}

// pickMerchant points the operator's session at one store.
func (h *Handlers) pickMerchant(c echo.Context) error {
	s := sessionOf(c)
	if !s.operator {
		return echo.NewHTTPError(http.StatusForbidden, "only the operator picks a store")
	}
	m, err := h.svc.Merchant(c.Request().Context(), c.FormValue("merchant"))
	if err != nil {
		return err
	}
	if err := h.setOperatorCookie(c, m.ID); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin")
}
