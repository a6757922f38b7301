package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type deliveriesData struct {
	Deliveries    []deliveryView
	Status, Event string
	NextLink      string
	Statuses      []app.DeliveryStatus
	Events        []app.EventInfo
	CanRetryAll   bool
}

// deliveriesPage is the delivery log, newest first, as the API pages it.
func (h *Handlers) deliveriesPage(c echo.Context) error {
	s := sessionOf(c)
	f := app.DeliveryFilter{
		Status: app.DeliveryStatus(c.QueryParam("status")), Event: c.QueryParam("event"),
		Cursor: c.QueryParam("cursor"), Limit: 50,
	}
	list, next, err := h.svc.Deliveries(c.Request().Context(), s.merchant.ID, f)
	if err != nil {
		return err
	}
	d := deliveriesData{
		Status: string(f.Status), Event: f.Event, Statuses: app.DeliveryStatuses(), Events: app.EventCatalog(),
		CanRetryAll: f.Status == app.DeliveryFailed || f.Status == app.DeliveryDead,
	}
	if next != "" {
		d.NextLink = "/admin/deliveries?" + url.Values{"status": {d.Status}, "event": {d.Event}, "cursor": {next}}.Encode()
	}
	for _, dl := range list {
		d.Deliveries = append(d.Deliveries, toDeliveryView(dl))
	}
	p := h.newPage(c, "Deliveries", "/admin/deliveries")
	p.Subtitle = "Every message, newest first."
	p.Data = d
	return h.render(c, http.StatusOK, "deliveries", p)
}

// retryDeliveryPage queues one delivery of the signed-in merchant again.
func (h *Handlers) retryDeliveryPage(c echo.Context) error {
	s := sessionOf(c)
	id := c.Param("delivery")
	if owner, ok := app.MerchantOfDelivery(id); !ok || owner != s.merchant.ID {
		return app.ErrNotFound // another merchant's delivery does not exist here
	}
	if _, err := h.svc.RetryDelivery(c.Request().Context(), s.merchant.ID, id); err != nil {
		return err
	}
	return h.seeOther(c, "/admin/deliveries?done=retried")
}

// retryMatchingPage queues again every failed or dead delivery matching
// the filter, as the API's bulk retry does.
func (h *Handlers) retryMatchingPage(c echo.Context) error {
	s := sessionOf(c)
	status := app.DeliveryStatus(c.FormValue("status"))
	n, err := h.svc.RetryDeliveries(c.Request().Context(), s.merchant.ID, app.DeliveryFilter{Status: status, Event: c.FormValue("event")})
	if err != nil {
		return err
	}
	return h.seeOther(c, "/admin/deliveries?done=retried&queued="+strconv.Itoa(n))
}
