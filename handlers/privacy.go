package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// dataRequestView is a data request as the merchant's list shows it: the
// customer's phone and email masked, as in the delivery log; the export
// has them in full.
type dataRequestView struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"` // open or answered
	ReceivedAt      time.Time  `json:"received_at"`
	AnsweredAt      *time.Time `json:"answered_at"`
	CustomerID      string     `json:"customer_id"`
	Phone           string     `json:"phone"`
	Email           string     `json:"email"`
	OrdersRequested []string   `json:"orders_requested"`
	ExportURL       string     `json:"export_url"`
}

func (h *Handlers) listDataRequests(c echo.Context) error {
	merchant := c.Param("id")
	requests, err := h.svc.DataRequests(c.Request().Context(), merchant)
	if err != nil {
		return err
	}
	out := make([]dataRequestView, 0, len(requests))
	for _, r := range requests {
		v := dataRequestView{
			ID: r.ID, Status: "open", ReceivedAt: r.ReceivedAt, CustomerID: r.CustomerID,
			OrdersRequested: r.OrderIDs,
			ExportURL:       "/api/admin/merchants/" + merchant + "/data-requests/" + r.ID + "/export",
		}
		if r.Phone != "" {
			v.Phone = app.MaskPhone(r.Phone)
		}
		if r.Email != "" {
			v.Email = app.MaskEmail(r.Email)
		}
		if !r.AnsweredAt.IsZero() {
			at := r.AnsweredAt
			v.Status, v.AnsweredAt = "answered", &at
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"data_requests": out})
}

func (h *Handlers) exportDataRequest(c echo.Context) error {
	x, err := h.svc.ExportDataRequest(c.Request().Context(), c.Param("id"), c.Param("request"))
	if err != nil {
		return err
	}
	return attachJSON(c, "customer-data-"+x.RequestID+".json", x)
}

type customerExportRequest struct {
	Phone      string `query:"phone"`
	CustomerID string `query:"customer_id"`
	Email      string `query:"email"`
}

func (h *Handlers) exportCustomer(c echo.Context) error {
	var req customerExportRequest
	if err := (&echo.DefaultBinder{}).BindQueryParams(c, &req); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the query is not the one this call takes")
	}
	// An unencoded "+919876543210" arrives as " 919876543210": the space
	// was the plus.
	if rest, ok := strings.CutPrefix(req.Phone, " "); ok {
		req.Phone = "+" + strings.TrimSpace(rest)
	}
	x, err := h.svc.ExportCustomer(c.Request().Context(), c.Param("id"), app.CustomerIdentity{
		Phone: req.Phone, CustomerID: req.CustomerID, Email: req.Email,
	})
	if err != nil {
		return err
	}
	return attachJSON(c, "customer-data-"+x.GeneratedAt.Format("20060102-150405")+".json", x)
}

// unsafeFilename is what a file name in Content-Disposition must not hold.
var unsafeFilename = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// attachJSON answers v as a JSON file to download. It holds personal data,
// so no cache keeps it.
func attachJSON(c echo.Context, filename string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export: %w", err)
	}
	header := c.Response().Header()
	header.Set(echo.HeaderContentDisposition, `attachment; filename="`+unsafeFilename.ReplaceAllString(filename, "_")+`"`)
	header.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, raw)
}
