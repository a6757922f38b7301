package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// shopifyStateCookie carries the signed install state from our redirect
// to Shopify's callback.
const shopifyStateCookie = "sb_shopify_state"

// registerShopifyInstall adds the Shopify app's install routes, behind
// limit.
func (h *Handlers) registerShopifyInstall(e *echo.Echo, limit echo.MiddlewareFunc) {
	e.GET("/shopify/install", h.shopifyInstall, limit)
	e.GET(app.ShopifyCallbackPath, h.shopifyCallback, limit)
}

// shopifyInstall starts the OAuth grant: the shop (and Shopify's signature
// when present) is checked, a nonce goes into a short-lived signed cookie
// and the browser goes to the shop's authorize page.
func (h *Handlers) shopifyInstall(c echo.Context) error {
	if !h.shopify.Enabled() {
		return shopifyInstallError(app.ErrShopifyAppOff)
	}
	start, err := h.shopify.BeginInstall(c.Request().Context(), c.QueryParams())
	if err != nil {
		return shopifyInstallError(err)
	}
	c.SetCookie(&http.Cookie{
		Name: shopifyStateCookie, Value: start.State, Path: "/shopify/",
		MaxAge: int(app.ShopifyStateTTL.Seconds()), Expires: start.Expires,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	return c.Redirect(http.StatusFound, start.RedirectURL)
}

// shopifyCallback finishes the grant and sends the merchant to the admin
// pages of the merchant it created or revived (/admin/?merchant=…).
func (h *Handlers) shopifyCallback(c echo.Context) error {
	if !h.shopify.Enabled() {
		return shopifyInstallError(app.ErrShopifyAppOff)
	}
	state := ""
	if cookie, err := c.Cookie(shopifyStateCookie); err == nil {
		state = cookie.Value
	}
	// The state is single use, whatever the outcome.
	c.SetCookie(&http.Cookie{
		Name: shopifyStateCookie, Value: "", Path: "/shopify/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	result, err := h.shopify.CompleteInstall(c.Request().Context(), c.QueryParams(), state)
	if err != nil {
		return shopifyInstallError(err)
	}
	// The merchant who just installed is signed in to their own admin.
	if _, err := h.setSessionCookie(c, result.MerchantID, false); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, "/admin/?merchant="+url.QueryEscape(result.MerchantID))
}

// secureCookies is off only for a plain-http APP_URL (local development),
// where browsers would drop a Secure cookie.
func (h *Handlers) secureCookies() bool { return !strings.HasPrefix(h.appURL, "http://") }

// shopifyInstallError answers a refused install step with its status and
// a reason the merchant can act on.
func shopifyInstallError(err error) error {
	reason := "the Shopify app is not configured on this server (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)"
	var refused *app.ShopifyInstallError
	if errors.As(err, &refused) {
		reason = refused.Reason
	} else if !errors.Is(err, app.ErrShopifyAppOff) {
		return err
	}
	switch {
	case errors.Is(err, app.ErrShopifyAppOff):
		return echo.NewHTTPError(http.StatusNotFound, reason)
	case errors.Is(err, app.ErrInvalidShop):
		return echo.NewHTTPError(http.StatusBadRequest, reason)
	case errors.Is(err, app.ErrUnauthenticated):
		return echo.NewHTTPError(http.StatusUnauthorized, reason)
	case errors.Is(err, app.ErrScopesNotGranted):
		return echo.NewHTTPError(http.StatusForbidden, reason)
	case errors.Is(err, app.ErrShopifyUnavailable):
		return echo.NewHTTPError(http.StatusBadGateway, reason).SetInternal(err)
	}
	return err
}
