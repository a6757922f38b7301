package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/app/loyalty"
)

func (h *Handlers) getLoyalty(c echo.Context) error {
	p, err := h.loyalty.Program(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (h *Handlers) putLoyalty(c echo.Context) error {
	// What the body leaves out keeps its default.
	p := loyalty.DefaultProgram()
	if err := bindJSON(c, &p); err != nil {
		return err
	}
	saved, err := h.loyalty.PutProgram(c.Request().Context(), c.Param("id"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, saved)
}

func (h *Handlers) getPoints(c echo.Context) error {
	limit := 0
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n <= 0 {
			return app.Invalid("limit", "must be a positive number")
		}
		limit = n
	}
	p, err := h.loyalty.Points(c.Request().Context(), c.Param("id"), c.Param("customer"), c.QueryParam("before"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (h *Handlers) adjustPoints(c echo.Context) error {
	var a loyalty.Adjustment
	if err := bindJSON(c, &a); err != nil {
		return err
	}
	entry, err := h.loyalty.Adjust(c.Request().Context(), c.Param("id"), c.Param("customer"), a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, entry)
}

func (h *Handlers) redeemPoints(c echo.Context) error {
	var r loyalty.Redemption
	if err := bindJSON(c, &r); err != nil {
		return err
	}
	redeemed, err := h.loyalty.Redeem(c.Request().Context(), c.Param("id"), c.Param("customer"), r)
	if err != nil {
		return redeemError(c, err)
	}
	return c.JSON(http.StatusOK, redeemed)
}

// redeemError answers a code the store did not make: 503 while the
// redemption's job retries (the same key answers the code once made),
// 502 when the store refused it and the points were given back.
func redeemError(c echo.Context, err error) error {
	var coupon *loyalty.CouponError
	if !errors.As(err, &coupon) {
		return err
	}
	if coupon.Pending {
		c.Response().Header().Set("Retry-After", "60")
		return &upstreamError{status: http.StatusServiceUnavailable, err: err,
			message: "the store did not answer; the points are held while storebridge retries, and given back if the store never makes the code: retry with the same key for the code"}
	}
	return &upstreamError{status: http.StatusBadGateway, message: coupon.Reason, err: err}
}

// upstreamError is a 5xx whose message the client reads: what the store
// did, never internal text (which the error handler only logs).
type upstreamError struct {
	status  int
	message string
	err     error
}

func (e *upstreamError) Error() string { return e.message + ": " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }
