package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

// The storefront's loyalty calls, for one customer, in two ways that
// answer alike:
//
//   - Shopify's App Proxy forwards the storefront's /apps/loyalty/... to
//     app.ShopifyAppProxyPath/..., signed, with the logged-in customer;
//   - any store's server trades its API key for a customer token
//     (POST /api/v1/customer-tokens), which the store's pages send as a
//     bearer to /api/v1/customer/points, from the store's own origin.
//
// The merchant's API key never reaches a browser.

// The limits of the storefront calls: per customer, 60 a minute in bursts
// of 30 (a page load is one or two calls); token issuing per API key as
// the events API, since a store's server asks for one per page view.
const (
	storefrontCustomerLimit = 30
	storefrontCustomerPer   = 30 * time.Second
)

// storefrontRedemptionReason is the ledger's reason for a redemption the
// customer made on the storefront.
const storefrontRedemptionReason = "redeemed on the storefront"

// storefrontCustomerKey holds the verified app.StorefrontCustomer of a
// storefront call.
const storefrontCustomerKey = "storebridge.storefront-customer"

func storefrontCustomerOf(c echo.Context) app.StorefrontCustomer {
	sc, _ := c.Get(storefrontCustomerKey).(app.StorefrontCustomer)
	return sc
}

// registerStorefront adds the storefront's routes.
func (h *Handlers) registerStorefront(e *echo.Echo) {
	perCustomer := h.limit(app.RateLimit{Scope: "storefront-customer", Rule: app.Rate{Limit: storefrontCustomerLimit, Per: storefrontCustomerPer}}, storefrontCustomerID)
	e.POST("/api/v1/customer-tokens", h.issueCustomerToken,
		h.limit(app.RateLimit{Scope: "events-address", Rule: app.Rate{Limit: eventsAddressLimit, Per: eventsAddressPer}}, clientAddress),
		h.limit(app.RateLimit{Scope: "customer-tokens-key", Rule: app.Rate{Limit: eventsKeyLimit, Per: eventsKeyPer}}, apiKeyOf))

	e.GET(app.ShopifyAppProxyPath+"/points", h.storefrontPoints, h.appProxyAuth, perCustomer)
	e.OPTIONS("/api/v1/customer/points", h.customerPreflight)
	e.GET("/api/v1/customer/points", h.storefrontPoints, h.customerTokenAuth(app.ScopeLoyaltyRead), perCustomer)
	e.POST(app.ShopifyAppProxyPath+"/points/redeem", h.storefrontRedeem, h.appProxyAuth, requireJSON, perCustomer)
	e.OPTIONS("/api/v1/customer/points/redeem", h.customerPreflight)
	e.POST("/api/v1/customer/points/redeem", h.storefrontRedeem, h.customerTokenAuth(app.ScopeLoyaltyRedeem), perCustomer)
}

// storefrontCustomerID names a storefront caller for its limit: the
// merchant and customer, hashed (a customer may be a phone number, which
// the store must not keep in a limiter's key).
func storefrontCustomerID(c echo.Context) string {
	sc := storefrontCustomerOf(c)
	if sc.ID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(sc.Merchant.ID + "\x00" + sc.ID))
	return hex.EncodeToString(sum[:16])
}

// appProxyAuth admits a request Shopify's App Proxy signed, for the
// customer logged in to the storefront.
func (h *Handlers) appProxyAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		sc, err := h.storefront.CustomerByAppProxy(c.Request().Context(), c.QueryParams())
		switch {
		case errors.Is(err, app.ErrNoCustomer):
			return echo.NewHTTPError(http.StatusUnauthorized, "no customer is logged in")
		case err != nil:
			return err
		}
		c.Set(storefrontCustomerKey, sc)
		return next(c)
	}
}

// customerTokenAuth admits a request bearing a customer token with scope,
// from the token's store (or from no browser at all). Another store's
// page using the token is refused like a forged token: the token is not
// for it. A refusal is readable by any store's page (CORS), so a page
// whose token expired can tell and fetch a new one.
func (h *Handlers) customerTokenAuth(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			hdr := c.Response().Header()
			hdr.Set("Cache-Control", "no-store")
			hdr.Add("Vary", "Origin")
			origin := c.Request().Header.Get(echo.HeaderOrigin)
			refuse := func(err error) error {
				hdr.Set("WWW-Authenticate", `Bearer realm="storebridge customer", error="invalid_token"`)
				if ok, lookupErr := h.storefront.StoreOfOrigin(c.Request().Context(), origin); lookupErr == nil && ok {
					allowOrigin(hdr, origin)
				}
				return err
			}
			token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			if !ok || strings.TrimSpace(token) == "" {
				return refuse(echo.NewHTTPError(http.StatusUnauthorized, "missing bearer customer token"))
			}
			sc, err := h.storefront.CustomerByToken(c.Request().Context(), strings.TrimSpace(token))
			if err != nil {
				return refuse(err)
			}
			if origin != "" {
				if !strings.EqualFold(origin, app.StoreOrigin(sc.Merchant)) {
					return refuse(echo.NewHTTPError(http.StatusUnauthorized, "the token is not for this store"))
				}
				allowOrigin(hdr, origin)
			}
			if !sc.Can(scope) {
				return echo.NewHTTPError(http.StatusForbidden, "the token's scope does not allow this")
			}
			c.Set(storefrontCustomerKey, sc)
			return next(c)
		}
	}
}

// allowOrigin lets a store's page read the answer, and the headers that
// say when to retry and why a token was refused.
func allowOrigin(hdr http.Header, origin string) {
	hdr.Set(echo.HeaderAccessControlAllowOrigin, origin)
	hdr.Set(echo.HeaderAccessControlExposeHeaders, "Retry-After, WWW-Authenticate")
}

// customerPreflight answers a browser's CORS preflight: granted only to
// an active merchant's own storefront origin; the call itself then checks
// that the token is that store's.
func (h *Handlers) customerPreflight(c echo.Context) error {
	hdr := c.Response().Header()
	hdr.Add("Vary", "Origin")
	origin := c.Request().Header.Get(echo.HeaderOrigin)
	ok, err := h.storefront.StoreOfOrigin(c.Request().Context(), origin)
	if err != nil {
		return err
	}
	if ok {
		hdr.Set(echo.HeaderAccessControlAllowOrigin, origin)
		hdr.Set(echo.HeaderAccessControlAllowMethods, "GET, POST")
		hdr.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
		hdr.Set(echo.HeaderAccessControlMaxAge, "600")
	}
	return c.NoContent(http.StatusNoContent)
}

// requireJSON refuses a body that is not JSON. On the App Proxy it stops
// another site's plain form from redeeming for a logged-in customer: the
// storefront's session rides along on any request to the store, and only
// a plain form can be sent cross-site without a preflight.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !strings.HasPrefix(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		}
		return next(c)
	}
}

type customerTokenRequest struct {
	Customer string `json:"customer"`
	Scope    string `json:"scope"`
}

type customerTokenView struct {
	Token     string    `json:"token"`
	Customer  string    `json:"customer"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

// issueCustomerToken is the store's server asking, with the merchant's
// API key, for a token for one of its customers.
func (h *Handlers) issueCustomerToken(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	key, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer API key")
	}
	m, err := h.svc.MerchantByAPIKey(c.Request().Context(), strings.TrimSpace(key))
	if err != nil {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge"`)
		return err
	}
	var req customerTokenRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	tok, err := h.storefront.IssueCustomerToken(m, req.Customer, req.Scope)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, customerTokenView{Token: tok.Token, Customer: tok.Customer, Scope: tok.Scope, ExpiresAt: tok.ExpiresAt})
}

type storefrontPointsView struct {
	Customer   string              `json:"customer"`
	Balance    int64               `json:"balance"`
	Pending    int64               `json:"pending"`
	Tier       string              `json:"tier"`
	NextExpiry *loyalty.NextExpiry `json:"next_expiry"`
	// ReferralCode is the customer's code while the merchant runs
	// referrals, for the page to show and share.
	ReferralCode string `json:"referral_code,omitempty"`
}

// storefrontPoints is the customer's standing, without the ledger.
func (h *Handlers) storefrontPoints(c echo.Context) error {
	sc := storefrontCustomerOf(c)
	p, err := h.loyalty.Points(c.Request().Context(), sc.Merchant.ID, sc.ID, "", 1)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, storefrontPointsView{Customer: p.Customer, Balance: p.Balance, Pending: p.Pending, Tier: p.Tier, NextExpiry: p.NextExpiry, ReferralCode: p.ReferralCode})
}

type storefrontRedeemRequest struct {
	Points int64 `json:"points"`
	// Key makes a retried redemption post once.
	Key string `json:"key"`
}

type storefrontRedeemedView struct {
	Entry  loyalty.EntryView `json:"entry"`
	Coupon app.DiscountCode  `json:"coupon"`
}

// storefrontRedeem turns the customer's points into a discount code.
func (h *Handlers) storefrontRedeem(c echo.Context) error {
	sc := storefrontCustomerOf(c)
	var req storefrontRedeemRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	out, err := h.loyalty.Redeem(c.Request().Context(), sc.Merchant.ID, sc.ID, loyalty.Redemption{Points: req.Points, Key: req.Key, Reason: storefrontRedemptionReason})
	if err != nil {
		return redeemError(c, err)
	}
	return c.JSON(http.StatusOK, storefrontRedeemedView{Entry: out.Entry, Coupon: out.Coupon})
}
