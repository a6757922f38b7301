package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type codData struct {
	Gateways, Hold, Reminders, Timeout, OnTimeout string
	// The queue: the orders shown, and the state they were filtered by.
	Orders []app.CODOrder
	State  string
	States []string
}

// codPage is the COD flow's settings and its queue of orders.
func (h *Handlers) codPage(c echo.Context) error {
	s := sessionOf(c)
	return h.renderCOD(c, http.StatusOK, *s.merchant, nil, "")
}

func (h *Handlers) renderCOD(c echo.Context, status int, m app.Merchant, fields map[string]string, problem string) error {
	state := c.QueryParam("state")
	orders, err := h.svc.CODOrders(c.Request().Context(), m.ID, app.CODOrderFilter{State: state})
	if err != nil {
		return err
	}
	d := codData{
		Gateways: m.Settings["cod_gateways"], Hold: firstOf(m.Settings["cod_hold"], "on"),
		Reminders: firstOf(m.Settings["cod_reminders"], "2h"), Timeout: firstOf(m.Settings["cod_timeout"], "24h"),
		OnTimeout: firstOf(m.Settings["cod_timeout_action"], "tag"),
		Orders:    orders, State: state,
		States: []string{app.CODPending, app.CODConfirmed, app.CODCancelled, app.CODStateUnconfirmed},
	}
	if fields != nil {
		// Show what was typed, next to why it was refused.
		d.Gateways, d.Hold, d.Reminders = c.FormValue("cod_gateways"), c.FormValue("cod_hold"), c.FormValue("cod_reminders")
		d.Timeout, d.OnTimeout = c.FormValue("cod_timeout"), c.FormValue("cod_timeout_action")
	}
	p := h.newPage(c, "Cash on Delivery", "/admin/cod")
	p.Subtitle = "Customers confirm COD orders on WhatsApp before you ship."
	if fields != nil {
		p.Fields = fields
	}
	if problem != "" {
		p.Problem = problem
	}
	p.Data = d
	return h.render(c, status, "cod", p)
}

// saveCOD saves the flow's settings through the API's UpdateSettings.
func (h *Handlers) saveCOD(c echo.Context) error {
	s := sessionOf(c)
	in := app.SettingsInput{}
	for _, f := range []struct {
		name string
		to   **string
	}{
		{"cod_gateways", &in.CODGateways}, {"cod_hold", &in.CODHold}, {"cod_reminders", &in.CODReminders},
		{"cod_timeout", &in.CODTimeout}, {"cod_timeout_action", &in.CODTimeoutAction},
	} {
		v := strings.TrimSpace(c.FormValue(f.name))
		*f.to = &v
	}
	m, err := h.svc.UpdateSettings(c.Request().Context(), s.merchant.ID, in)
	if fields, ok := validationFields(err); ok {
		return h.renderCOD(c, http.StatusUnprocessableEntity, *s.merchant, fields, "")
	}
	if err != nil {
		return err
	}
	s.merchant = &m
	return h.seeOther(c, "/admin/cod?done=saved")
}

// decideCODPage is the merchant's Confirm or Cancel in the queue: the
// API's DecideCOD, for the signed-in merchant's orders only (another
// merchant's order is not found). An order decided meanwhile shows the
// queue again with who decided it.
func (h *Handlers) decideCODPage(c echo.Context) error {
	s := sessionOf(c)
	decision := c.FormValue("decision")
	_, err := h.svc.DecideCOD(c.Request().Context(), s.merchant.ID, c.Param("order"), decision)
	var conflict *app.CODConflictError
	if errors.As(err, &conflict) {
		_, body := classify(err)
		return h.renderCOD(c, http.StatusConflict, *s.merchant, nil, body.Error+".")
	}
	if err != nil {
		return err
	}
	done := "cod-confirmed"
	if decision == app.CODCancel {
		done = "cod-cancelled"
	}
	return h.seeOther(c, "/admin/cod?done="+done)
}
