package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// The sign-in links API per client address and per API key: a plugin
// asks for one when the merchant clicks, so 30 a minute per key is
// plenty; the address limit bounds guessed keys.
const (
	signInLinksKeyLimit     = 30
	signInLinksKeyPer       = time.Minute
	signInLinksAddressLimit = 120
	signInLinksAddressPer   = time.Minute
)

// signInLinkView is the answer of POST /api/v1/sign-in-links.
type signInLinkView struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createSignInLink gives the WooCommerce side (the merchant's API key as
// bearer) a one-time link that signs the merchant's browser in to the
// admin pages.
func (h *Handlers) createSignInLink(c echo.Context) error {
	key, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer API key")
	}
	ctx := c.Request().Context()
	m, err := h.svc.MerchantByAPIKey(ctx, strings.TrimSpace(key))
	if err != nil {
		return err
	}
	link, err := h.svc.NewSignInLink(ctx, m)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, signInLinkView{
		URL:       strings.TrimSuffix(h.appURL, "/") + "/admin/sign-in?" + url.Values{"token": {link.Token}}.Encode(),
		ExpiresAt: link.ExpiresAt.UTC().Truncate(time.Second), // whole seconds, never later than the truth
	})
}

// signInWithLink is GET /admin/sign-in?token=: a sign-in link, used up
// here, signs its merchant in and goes home; one unknown, used or expired
// gets the sign-in page with the reason.
func (h *Handlers) signInWithLink(c echo.Context) error {
	h.setPageErrors(c)
	if err := h.signInRefused(c); err != nil {
		return err
	}
	id, err := h.svc.SignInWithLink(c.Request().Context(), c.QueryParam("token"))
	if errors.Is(err, app.ErrUnauthenticated) {
		// Only a token that was never ours counts as a guess; an expired
		// or used one looks the same here, so every miss counts.
		if err := h.signInFailed(c, nil); err != nil {
			return err
		}
		p := h.newPage(c, "Sign in", "")
		p.Problem = "This sign-in link has expired or was used already. Ask for a new one, or sign in with your API key."
		p.Data = h.loginData(c)
		return h.render(c, http.StatusUnauthorized, "login", p)
	}
	if err != nil {
		return err
	}
	if _, err := h.setSessionCookie(c, id, false); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, "/admin")
}
