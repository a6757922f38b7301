package handlers

import (
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
