package handlers

import (
	"crypto/subtle"
	"errors"
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

// wooConnect sends the merchant to their store's wc-auth approval page. A
// store that is already connected is connected again only from its
// merchant's signed-in admin, or by the operator.
func (h *Handlers) wooConnect(c echo.Context) error {
	who, err := h.wooConnectStarter(c)
	if err != nil {
		return err
	}
	target, err := h.woo.ConnectURL(c.Request().Context(), c.QueryParam("store_url"), who)
	if err != nil {
		return wooConnectError(err)
	}
	// The address carries a live connect token: keep it out of caches.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, target)
}

// wooConnectStarter says who asks for a connect: the operator
// (ADMIN_TOKEN as bearer), the merchant of an admin session (as adminAuth
// takes it: our cookie or bearer, or a Shopify session token), or a
// visitor with neither. A session that does not verify (expired, signed
// out) counts as none: a visitor may still connect a new store.
func (h *Handlers) wooConnectStarter(c echo.Context) (app.WooConnectStarter, error) {
	token, fromCookie := sessionToken(c)
	if token == "" {
		return app.WooConnectStarter{}, nil
	}
	// As in adminAuth: the operator's token counts only as a bearer.
	if !fromCookie && h.adminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(h.adminToken)) == 1 {
		return app.WooConnectStarter{Operator: true}, nil
	}
	merchant, err := h.svc.SessionMerchant(c.Request().Context(), token)
	if errors.Is(err, app.ErrUnauthenticated) {
		return app.WooConnectStarter{}, nil
	}
	if err != nil {
		return app.WooConnectStarter{}, err
	}
	return app.WooConnectStarter{Merchant: merchant}, nil
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
		return wooConnectError(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "connected", "merchant_id": m.ID})
}

// wooConnectError gives a refused connect step its status and its reason;
// other errors go to the error handler as they are.
func wooConnectError(err error) error {
	var refused *app.WooConnectError
	if !errors.As(err, &refused) {
		return err
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, app.ErrWooSessionRequired):
		status = http.StatusUnauthorized
	case errors.Is(err, app.ErrWooNotStoreOwner):
		status = http.StatusForbidden
	case errors.Is(err, app.ErrWooStoreUnavailable):
		status = http.StatusBadGateway
	}
	return echo.NewHTTPError(status, refused.Reason).SetInternal(err)
}
