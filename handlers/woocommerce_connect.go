package handlers

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// wooBrowserCookie holds, from the connect to its return, the secret that
// marks the browser that started a connect: only that browser lands
// signed in. Its path keeps it off every other request.
const wooBrowserCookie = "sb_woo_connect"

// wooConnect sends the merchant to their store's wc-auth approval page. A
// store that is already connected is connected again only from its
// merchant's signed-in admin, or by the operator.
func (h *Handlers) wooConnect(c echo.Context) error {
	who, err := h.wooConnectStarter(c)
	if err != nil {
		return err
	}
	start, err := h.woo.BeginConnect(c.Request().Context(), c.QueryParam("store_url"), who)
	if err != nil {
		return wooConnectError(err)
	}
	// Lax: the return is a top-level navigation from the store's site.
	c.SetCookie(&http.Cookie{
		Name: wooBrowserCookie, Value: start.Browser, Path: "/woocommerce/",
		MaxAge: int(app.WooConnectTokenTTL.Seconds()), Expires: start.Expires,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	// The address carries a live connect token: keep it out of caches.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, start.URL)
}

// wooReturnData is the page of a return that signs nobody in.
type wooReturnData struct {
	// Denied: the merchant did not approve in WordPress.
	Denied bool
	// OtherBrowser: this browser did not start the connect (or dropped
	// its cookie).
	OtherBrowser bool
	// Retry is this address, for a return that came before its callback.
	Retry string
}

// wooReturn is where WooCommerce sends the merchant's browser after the
// approval (return_url, with success and user_id added). The browser that
// started the connect, once the callback kept the keys, lands signed in
// on the admin home; any other return gets a page that says what to do,
// and no session.
func (h *Handlers) wooReturn(c echo.Context) error {
	h.setPageErrors(c)
	data := wooReturnData{Retry: "/woocommerce/return?" + url.Values{"connect": {c.QueryParam("connect")}}.Encode()}
	if c.QueryParam("success") == "0" {
		data.Denied = true
		return h.wooReturnRefused(c, http.StatusForbidden, data)
	}
	browser := ""
	if cookie, err := c.Cookie(wooBrowserCookie); err == nil {
		browser = cookie.Value
	}
	if browser == "" {
		data.OtherBrowser = true
		return h.wooReturnRefused(c, http.StatusUnauthorized, data)
	}
	id, err := h.woo.SignInOnReturn(c.Request().Context(), c.QueryParam("connect"), browser)
	if errors.Is(err, app.ErrUnauthenticated) {
		return h.wooReturnRefused(c, http.StatusUnauthorized, data)
	}
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{
		Name: wooBrowserCookie, Value: "", Path: "/woocommerce/", MaxAge: -1,
		HttpOnly: true, Secure: h.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	if _, err := h.setSessionCookie(c, id, false); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, "/admin")
}

func (h *Handlers) wooReturnRefused(c echo.Context, status int, data wooReturnData) error {
	p := h.newPage(c, "Connecting your store", "")
	p.Data = data
	return h.render(c, status, "woocommerce_return", p)
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
