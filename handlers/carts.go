package handlers

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// The cart capture API's limits: per store (the token's merchant) 20
// captures a second in bursts of 200, which a checkout page per customer,
// debounced, stays far below; per client address 400 in 2 s, since a
// shared host may carry many stores, which bounds forged tokens' cost.
const (
	cartsMerchantLimit = 200
	cartsMerchantPer   = 10 * time.Second
	cartsAddressLimit  = 400
	cartsAddressPer    = 2 * time.Second
)

// cartMerchantKey holds the merchant a store token named, for the
// handler and the per-merchant limit.
const cartMerchantKey = "storebridge.cart-merchant"

// cartTokenAuth admits requests bearing a live store token. The token is
// never logged: a refusal names only its reason.
func (h *Handlers) cartTokenAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, _ := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		m, err := h.svc.CartTokenMerchant(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge cart capture"`)
			return err
		}
		c.Set(cartMerchantKey, m)
		return next(c)
	}
}

func cartMerchant(c echo.Context) app.Merchant {
	m, _ := c.Get(cartMerchantKey).(app.Merchant)
	return m
}

func cartMerchantID(c echo.Context) string { return cartMerchant(c).ID }

// captureCart takes a cart the WordPress plugin captured at checkout.
func (h *Handlers) captureCart(c echo.Context) error {
	var in app.CartCapture
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	outcome, err := h.svc.CaptureCart(c.Request().Context(), cartMerchant(c), in)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if outcome != app.CartAccepted {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]any{"id": strings.TrimSpace(in.ID), "outcome": string(outcome)})
}

// createCartToken makes the merchant's store token (replacing the one
// before) and answers it, this once.
func (h *Handlers) createCartToken(c echo.Context) error {
	tok, err := h.svc.NewCartToken(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, tok)
}

// cartCaptureView is what the cart capture page shows.
type cartCaptureView struct {
	AppURL    string
	Token     *app.CartToken // just made: shown this once
	IssuedAt  time.Time
	ExpiresAt time.Time
	Expired   bool
}

// cartCapturePage is /admin/cart-capture: the WordPress plugin to
// download, the address and token to paste in it.
func (h *Handlers) cartCapturePage(c echo.Context) error {
	return h.renderCartCapture(c, nil)
}

// newCartTokenPage makes a new store token and shows it, this once.
func (h *Handlers) newCartTokenPage(c echo.Context) error {
	tok, err := h.svc.NewCartToken(c.Request().Context(), sessionOf(c).merchant.ID)
	if err != nil {
		return err
	}
	return h.renderCartCapture(c, &tok)
}

func (h *Handlers) renderCartCapture(c echo.Context, tok *app.CartToken) error {
	if err := h.requireWooCommerce(c); err != nil {
		return err
	}
	m := sessionOf(c).merchant
	view := cartCaptureView{AppURL: h.appURL, Token: tok}
	if tok != nil {
		view.IssuedAt, view.ExpiresAt = tok.IssuedAt, tok.ExpiresAt
	} else {
		view.IssuedAt, _ = time.Parse(time.RFC3339, m.Settings[app.SettingCartTokenIssuedAt])
		view.ExpiresAt, _ = time.Parse(time.RFC3339, m.Settings[app.SettingCartTokenExpiresAt])
		view.Expired = !view.ExpiresAt.IsZero() && time.Now().After(view.ExpiresAt)
	}
	p := h.newPage(c, "Cart capture", "/admin/cart-capture")
	p.Subtitle = "Abandoned carts from your WooCommerce checkout, through the storebridge plugin"
	p.Data = view
	return h.render(c, http.StatusOK, "cartcapture", p)
}

// cartPluginZip downloads the WordPress plugin, ready to upload in
// Plugins → Add New → Upload Plugin.
func (h *Handlers) cartPluginZip(c echo.Context) error {
	if err := h.requireWooCommerce(c); err != nil {
		return err
	}
	if h.cartPlugin == nil {
		return echo.NewHTTPError(http.StatusNotFound, "this server has no plugin to offer")
	}
	var buf bytes.Buffer
	if err := h.cartPlugin(&buf); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="storebridge-cart-capture.zip"`)
	return c.Blob(http.StatusOK, "application/zip", buf.Bytes())
}

// requireWooCommerce: cart capture is for WooCommerce stores only.
func (h *Handlers) requireWooCommerce(c echo.Context) error {
	if sessionOf(c).merchant.Platform != app.PlatformWooCommerce { // pageAuth: a merchant is picked
		return echo.NewHTTPError(http.StatusNotFound, "cart capture is for WooCommerce stores: Shopify sends its checkouts itself")
	}
	return nil
}
