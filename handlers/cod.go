package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// codOrderView is a COD order in the admin API.
type codOrderView struct {
	ID          string     `json:"id"`
	Number      string     `json:"number"`
	State       string     `json:"state"`
	FirstName   string     `json:"first_name"`
	Phone       string     `json:"phone"`
	Total       string     `json:"total"`
	RequestedAt time.Time  `json:"requested_at"`
	Reminders   int        `json:"reminders_sent"`
	Answer      string     `json:"answer,omitempty"`
	AnsweredAt  *time.Time `json:"answered_at,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

func toCODOrderView(o app.CODOrder) codOrderView {
	v := codOrderView{
		ID: o.ID, Number: o.Number, State: o.State, FirstName: o.FirstName, Phone: o.Phone, Total: o.Total,
		RequestedAt: o.RequestedAt, Reminders: o.Reminders, Answer: o.Answer, DecidedBy: o.DecidedBy,
	}
	if !o.AnsweredAt.IsZero() {
		v.AnsweredAt = &o.AnsweredAt
	}
	if !o.DecidedAt.IsZero() {
		v.DecidedAt = &o.DecidedAt
	}
	return v
}

func (h *Handlers) listCODOrders(c echo.Context) error {
	f := app.CODOrderFilter{State: c.QueryParam("state")}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			return app.Invalid("limit", "must be a number")
		}
		f.Limit = n
	}
	list, err := h.svc.CODOrders(c.Request().Context(), c.Param("id"), f)
	if err != nil {
		return err
	}
	out := make([]codOrderView, 0, len(list))
	for _, o := range list {
		out = append(out, toCODOrderView(o))
	}
	return c.JSON(http.StatusOK, map[string]any{"orders": out})
}

type codDecisionRequest struct {
	Decision string `json:"decision"`
}

// decideCOD is the merchant's Confirm or Cancel; the app refuses any other
// decision (422) and a second one (409).
func (h *Handlers) decideCOD(c echo.Context) error {
	var req codDecisionRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	o, err := h.svc.DecideCOD(c.Request().Context(), c.Param("id"), c.Param("order"), req.Decision)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toCODOrderView(o))
}
