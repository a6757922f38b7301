package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// pushEvent takes an event from a loyalty platform or the merchant's own
// systems, authenticated by the merchant's API key, and queues it.
func (h *Handlers) pushEvent(c echo.Context) error {
	key, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="storebridge"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer API key")
	}
	m, err := h.svc.MerchantByAPIKey(c.Request().Context(), strings.TrimSpace(key))
	if err != nil {
		return err
	}
	var in app.APIEvent
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	outcome, err := h.svc.ReceiveEvent(c.Request().Context(), m, in)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if outcome == app.WebhookDuplicate {
		status = http.StatusOK
	}
	return c.JSON(status, map[string]string{"id": in.ID, "outcome": string(outcome)})
}
