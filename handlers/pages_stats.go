package handlers

import (
	"bytes"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/storebridge/storebridge/app"
)

type statsRow struct {
	Event string
	eventStats
}

type statsData struct {
	From, To string
	Chart    template.HTML
	Rows     []statsRow
	CSVLink  string
	Outcomes statsOutcomes
	// CartRevenue and CartSteps are the cart outcomes in display order.
	CartRevenue []cartRevenueRow
	CartSteps   []cartStepRow
}

type cartRevenueRow struct{ Currency, Amount string }

type cartStepRow struct {
	Step string
	stepOutcomes
}

// statsPage is the statistics over a range: a chart per day, the table
// the API answers, and the same numbers as CSV.
func (h *Handlers) statsPage(c echo.Context) error {
	s := sessionOf(c)
	v, err := h.svc.Stats(c.Request().Context(), s.merchant.ID, c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	res := statsJSON(v)
	d := statsData{From: v.From, To: v.To, Chart: statsChart(v), Outcomes: res.Outcomes,
		CSVLink: "/admin/stats.csv?" + url.Values{"from": {v.From}, "to": {v.To}}.Encode()}
	for _, currency := range slices.Sorted(maps.Keys(v.Outcomes.Carts.Revenue)) {
		d.CartRevenue = append(d.CartRevenue, cartRevenueRow{Currency: currency, Amount: app.FormatMoney(v.Outcomes.Carts.Revenue[currency], currency)})
	}
	for _, step := range slices.Sorted(maps.Keys(res.Outcomes.Carts.ByStep)) {
		d.CartSteps = append(d.CartSteps, cartStepRow{Step: step, stepOutcomes: res.Outcomes.Carts.ByStep[step]})
	}
	for _, event := range slices.Sorted(maps.Keys(res.Events)) {
		d.Rows = append(d.Rows, statsRow{Event: event, eventStats: res.Events[event]})
	}
	p := h.newPage(c, "Statistics", "/admin/stats")
	p.Subtitle = "Messages per event, " + v.From + " to " + v.To + " (UTC days)."
	p.Data = d
	return h.render(c, http.StatusOK, "stats", p)
}

// statsCSVPage downloads the page's numbers, as the API's CSV.
func (h *Handlers) statsCSVPage(c echo.Context) error {
	s := sessionOf(c)
	v, err := h.svc.Stats(c.Request().Context(), s.merchant.ID, c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	var body bytes.Buffer
	if err := writeStatsCSV(&body, v); err != nil {
		return err
	}
	name := fmt.Sprintf("storebridge-stats-%s-%s-%s.csv", fileNamePart(s.merchant.ID), v.From, v.To)
	h.pageHeaders(c)
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", body.Bytes())
}
