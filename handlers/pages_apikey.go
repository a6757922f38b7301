package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// apiKeyPage is /admin/api-key: what the store's API key is for, and a
// button for a new one (storebridge keeps only its hash).
func (h *Handlers) apiKeyPage(c echo.Context) error {
	p := h.newPage(c, "API key", "")
	return h.render(c, http.StatusOK, "apikey", p)
}

// newAPIKeyPage replaces the signed-in store's API key and shows the new
// one, this once.
func (h *Handlers) newAPIKeyPage(c echo.Context) error {
	key, err := h.svc.NewAPIKey(c.Request().Context(), sessionOf(c).merchant.ID)
	if err != nil {
		return err
	}
	p := h.newPage(c, "API key", "")
	p.Data = key
	return h.render(c, http.StatusOK, "apikey", p)
}
