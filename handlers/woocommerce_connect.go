package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// registerWooConnect adds the WooCommerce connection routes, behind
// limit.
func (h *Handlers) registerWooConnect(e *echo.Echo, limit echo.MiddlewareFunc) {
	if h.woo == nil {
		return
	}
	e.GET("/woocommerce/connect", h.wooConnect, limit)
	e.POST("/woocommerce/callback", h.wooCallback, limit)
}

// wooConnect sends the merchant to their store's wc-auth approval page.
func (h *Handlers) wooConnect(c echo.Context) error {
	target, err := h.woo.ConnectURL(c.Request().Context(), c.QueryParam("store_url"))
	if err != nil {
		return err
	}
	// The address carries a live connect token: keep it out of caches.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}

// wooCallbackRequest is what WooCommerce posts once the merchant approved.
type wooCallbackRequest struct {
	KeyID          int64  `json:"key_id"`
	UserID         string `json:"user_id"`
	ConsumerKey    string `json:"consumer_key"`
	ConsumerSecret string `json:"consumer_secret"`
	KeyPermissions string `json:"key_permissions"`
}

// wooCallback takes the store's new API key. WooCommerce deletes the key
// unless the answer is exactly 200 (201 and 204 included), so success is
// 200 and nothing else; the errors (a bad token, a key we cannot use, a
// key we could not keep) are the cases where that deletion is right.
func (h *Handlers) wooCallback(c echo.Context) error {
	var req wooCallbackRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	m, err := h.woo.Callback(c.Request().Context(), app.WooCallback{
		KeyID: req.KeyID, UserID: req.UserID, ConsumerKey: req.ConsumerKey,
		ConsumerSecret: req.ConsumerSecret, KeyPermissions: req.KeyPermissions,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "connected", "merchant_id": m.ID})
}
