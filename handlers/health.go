package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

type status struct {
	Status string `json:"status"`
	Store  string `json:"store,omitempty"`
	Error  string `json:"error,omitempty"`
}

// healthz answers while the process runs.
func (h *Handlers) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, status{Status: "ok"})
}

// readyz answers 200 only when the store answers, so a load balancer stops
// sending webhooks to an instance that could not enqueue them.
func (h *Handlers) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		h.metrics.StoreError("ping")
		h.log.Warn("store not ready", "err", err)
		return c.JSON(http.StatusServiceUnavailable, status{Status: "unavailable", Store: "not answering", Error: "store not answering"})
	}
	return c.JSON(http.StatusOK, status{Status: "ok", Store: "ok"})
}
