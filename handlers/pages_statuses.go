package handlers

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type statusRow struct {
	Status, Event string
	Unmapped      bool
}

type statusesData struct {
	Rows   []statusRow
	Events []app.EventInfo
}

// statusesPage maps every platform status to an event: the unmapped ones
// (seen in webhooks, custom WooCommerce statuses) first.
func (h *Handlers) statusesPage(c echo.Context) error {
	s := sessionOf(c)
	v, err := h.svc.StatusMap(c.Request().Context(), s.merchant.ID)
	if err != nil {
		return err
	}
	return h.renderStatuses(c, http.StatusOK, v, nil)
}

func (h *Handlers) renderStatuses(c echo.Context, status int, v app.StatusMapView, fields map[string]string) error {
	var rows []statusRow
	for _, st := range v.Unmapped {
		rows = append(rows, statusRow{Status: st, Unmapped: true})
	}
	mapped := make([]string, 0, len(v.StatusMap))
	for st := range v.StatusMap {
		mapped = append(mapped, st)
	}
	slices.Sort(mapped)
	for _, st := range mapped {
		rows = append(rows, statusRow{Status: st, Event: v.StatusMap[st]})
	}
	p := h.newPage(c, "Order statuses", "/admin/statuses")
	p.Subtitle = "Which message each of your store's order statuses sends."
	if fields != nil {
		p.Fields = fields
	}
	var events []app.EventInfo
	for _, e := range app.EventCatalog() {
		if strings.HasPrefix(e.Type, "order.") {
			events = append(events, e)
		}
	}
	p.Data = statusesData{Rows: rows, Events: events}
	return h.render(c, status, "statuses", p)
}

// saveStatuses saves the whole map in one submit, as the API's PUT does.
func (h *Handlers) saveStatuses(c echo.Context) error {
	s := sessionOf(c)
	params, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the form could not be read")
	}
	entries := map[string]string{}
	for key, values := range params {
		if st, ok := strings.CutPrefix(key, "map."); ok && len(values) > 0 {
			entries[st] = strings.TrimSpace(values[len(values)-1])
		}
	}
	_, err = h.svc.PutStatusMap(c.Request().Context(), s.merchant.ID, entries)
	if fields, ok := validationFields(err); ok {
		current, cerr := h.svc.StatusMap(c.Request().Context(), s.merchant.ID)
		if cerr != nil {
			return cerr
		}
		return h.renderStatuses(c, http.StatusUnprocessableEntity, current, fields)
	}
	if err != nil {
		return err
	}
	return h.seeOther(c, "/admin/statuses?done=saved")
}
