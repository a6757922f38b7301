package handlers

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/storebridge/storebridge/app"
)

type eventStats struct {
	Received  int64 `json:"received"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	Failed    int64 `json:"failed"`
	Dead      int64 `json:"dead"`
	// Ambiguous counts provider calls that may have been delivered
	// without an answer (README, Guarantees).
	Ambiguous int64            `json:"ambiguous"`
	Skipped   map[string]int64 `json:"skipped"`
}

type statsResponse struct {
	From     string                `json:"from"`
	To       string                `json:"to"`
	Events   map[string]eventStats `json:"events"`
	Inputs   map[string]int64      `json:"inputs"`
	Outcomes statsOutcomes         `json:"outcomes"`
}

type statsOutcomes struct {
	Carts   cartOutcomes    `json:"cart.abandoned"`
	COD     codOutcomes     `json:"cod.confirmation_requested"`
	Loyalty loyaltyOutcomes `json:"loyalty"`
}

type cartOutcomes struct {
	Carts     int64 `json:"carts"`
	Recovered int64 `json:"recovered"`
	// Revenue is by currency, decimal strings ("1499.00").
	Revenue map[string]string `json:"revenue"`
	// ByStep is by step number, "1" always there.
	ByStep map[string]stepOutcomes `json:"by_step"`
}

type stepOutcomes struct {
	Sent      int64 `json:"sent"`
	Recovered int64 `json:"recovered"`
}

type loyaltyOutcomes struct {
	PointsEarned   int64 `json:"points_earned"`
	PointsRedeemed int64 `json:"points_redeemed"`
	CouponsCreated int64 `json:"coupons_created"`
	CouponsUsed    int64 `json:"coupons_used"`
	// ReviewsRequested and ReviewsAnswered: orders asked for a review, and
	// those of them reviewed since.
	ReviewsRequested int64 `json:"reviews_requested"`
	ReviewsAnswered  int64 `json:"reviews_answered"`
}

func outcomesJSON(o app.StatsOutcomes) statsOutcomes {
	out := statsOutcomes{
		Carts: cartOutcomes{Carts: o.Carts.Carts, Recovered: o.Carts.Recovered, Revenue: map[string]string{},
			ByStep: map[string]stepOutcomes{"1": {}}},
		COD: codOutcomes{Asked: o.COD.Asked, Confirmed: o.COD.Confirmed, Cancelled: o.COD.Cancelled, TimedOut: o.COD.TimedOut},
		Loyalty: loyaltyOutcomes{
			PointsEarned: o.Loyalty.PointsEarned, PointsRedeemed: o.Loyalty.PointsRedeemed,
			CouponsCreated: o.Loyalty.CouponsCreated, CouponsUsed: o.Loyalty.CouponsUsed,
			ReviewsRequested: o.Loyalty.ReviewsRequested, ReviewsAnswered: o.Loyalty.ReviewsAnswered,
		},
	}
	for currency, amount := range o.Carts.Revenue {
		out.Carts.Revenue[currency] = amount
	}
	for step, so := range o.Carts.ByStep {
		out.Carts.ByStep[strconv.Itoa(step)] = stepOutcomes(so)
	}
	return out
}

type codOutcomes struct {
	Asked     int64 `json:"asked"`
	Confirmed int64 `json:"confirmed"`
	Cancelled int64 `json:"cancelled"`
	TimedOut  int64 `json:"timed_out"`
}

func (h *Handlers) stats(c echo.Context) error {
	asCSV, err := wantsCSV(c.QueryParam("format"), c.Request().Header.Get(echo.HeaderAccept))
	if err != nil {
		return err
	}
	v, err := h.svc.Stats(c.Request().Context(), c.Param("id"), c.QueryParam("from"), c.QueryParam("to"))
	if err != nil {
		return err
	}
	if !asCSV {
		return c.JSON(http.StatusOK, statsJSON(v))
	}
	var body bytes.Buffer
	if err := writeStatsCSV(&body, v); err != nil {
		return err
	}
	name := fmt.Sprintf("storebridge-stats-%s-%s-%s.csv", fileNamePart(c.Param("id")), v.From, v.To)
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", body.Bytes())
}

// wantsCSV reads the format asked for: ?format= first, else an Accept
// header that lists text/csv.
func wantsCSV(format, accept string) (bool, error) {
	switch format {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, app.Invalid("format", "must be csv or json")
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mediaType == "text/csv" && !refused(params["q"]) {
			return true, nil
		}
	}
	return false, nil
}

// refused says whether an Accept quality value is zero ("not acceptable").
func refused(q string) bool {
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}

// fileNamePart keeps a merchant id safe inside a quoted file name.
func fileNamePart(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

// isEvent tells an event type ("order.placed") from the other subjects
// counted ("inputs", "customers").
func isEvent(subject string) bool { return strings.Contains(subject, ".") }

func statsJSON(v app.StatsView) statsResponse {
	out := statsResponse{
		From: v.From, To: v.To, Events: map[string]eventStats{},
		Inputs:   map[string]int64{"accepted": 0, "duplicate": 0, "invalid": 0, "unknown_topic": 0},
		Outcomes: outcomesJSON(v.Outcomes),
	}
	for subject, outcomes := range v.Counts {
		switch {
		case subject == "inputs":
			for outcome, n := range outcomes {
				out.Inputs[outcome] += n
			}
		case isEvent(subject):
			s := eventStatsOf(outcomes)
			// The contract's skipped reasons always show, zero or not.
			for _, reason := range [...]string{"duplicate", "opted_out", "no_phone", "no_rule", "no_provider", "no_consent"} {
				if _, ok := s.Skipped[reason]; !ok {
					s.Skipped[reason] = 0
				}
			}
			out.Events[subject] = s
		}
	}
	return out
}

// eventStatsOf sorts an event's counters into the statistics' fields;
// outcomes that are not messages' (the COD flow's) are left out.
func eventStatsOf(outcomes map[string]int64) eventStats {
	s := eventStats{Skipped: map[string]int64{}}
	for outcome, n := range outcomes {
		switch outcome {
		case "received":
			s.Received = n
		case "sent":
			s.Sent = n
		case "delivered":
			s.Delivered = n
		case "read":
			s.Read = n
		case "failed":
			s.Failed = n
		case "dead":
			s.Dead = n
		case "ambiguous":
			s.Ambiguous = n
		default:
			if reason, ok := strings.CutPrefix(outcome, "skipped."); ok {
				s.Skipped[reason] += n
			}
		}
	}
	return s
}

// writeStatsCSV writes a row per day and event with anything counted,
// days in order and events by name: the JSON's fields (dead after the
// others, so the first columns stay as first published), then a column
// per skipped reason seen in the range, by name, then the outcomes
// (outcomeColumns) on the rows of the events they follow. Event types
// start with a letter, so no cell reads as a spreadsheet formula.
func writeStatsCSV(w io.Writer, v app.StatsView) error {
	type row struct {
		day, event string
		s          eventStats
		skipped    int64
		outcomes   map[string]string
	}
	var rows []row
	reasons := map[string]bool{}
	outcomes := outcomeColumns(v)
	for _, day := range v.Days {
		dayOutcomes := app.OutcomesOf(day.Counts)
		events := make([]string, 0, len(day.Counts))
		for subject := range day.Counts {
			if isEvent(subject) {
				events = append(events, subject)
			}
		}
		slices.Sort(events)
		for _, event := range events {
			r := row{day: day.Day, event: event, s: eventStatsOf(day.Counts[event]), outcomes: outcomeCells(event, dayOutcomes)}
			for reason, n := range r.s.Skipped {
				if n != 0 {
					reasons[reason] = true
					r.skipped += n
				}
			}
			if e := r.s; r.skipped != 0 || e.Received != 0 || e.Sent != 0 || e.Delivered != 0 || e.Read != 0 || e.Failed != 0 || e.Ambiguous != 0 || e.Dead != 0 || len(r.outcomes) > 0 {
				rows = append(rows, r)
			}
		}
	}
	skipColumns := make([]string, 0, len(reasons))
	for reason := range reasons {
		skipColumns = append(skipColumns, reason)
	}
	slices.Sort(skipColumns)

	cw := csv.NewWriter(w)
	header := []string{"day", "event", "received", "sent", "delivered", "read", "failed", "skipped", "ambiguous", "dead"}
	for _, reason := range skipColumns {
		header = append(header, "skipped_"+reason)
	}
	header = append(header, outcomes...)
	if err := cw.Write(header); err != nil {
		return err
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range rows {
		record := []string{r.day, r.event, n(r.s.Received), n(r.s.Sent), n(r.s.Delivered), n(r.s.Read), n(r.s.Failed), n(r.skipped), n(r.s.Ambiguous), n(r.s.Dead)}
		for _, reason := range skipColumns {
			record = append(record, n(r.s.Skipped[reason]))
		}
		for _, column := range outcomes {
			cell, ok := r.outcomes[column]
			if !ok {
				cell = "0"
			}
			record = append(record, cell)
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// statsChart draws the messages sent, delivered and failed each day, all
// events together, for the statistics page. Failed includes the dead:
// either way the message did not get through.
func statsChart(v app.StatsView) template.HTML {
	days := make([]string, len(v.Days))
	series := []chartSeries{
		{Name: "Sent", Color: "#005bd3", Values: make([]int64, len(v.Days))},
		{Name: "Delivered", Color: "#29845a", Values: make([]int64, len(v.Days))},
		{Name: "Failed", Color: "#c70a24", Values: make([]int64, len(v.Days))},
	}
	for i, day := range v.Days {
		days[i] = day.Day
		for subject, outcomes := range day.Counts {
			if isEvent(subject) {
				series[0].Values[i] += outcomes["sent"]
				series[1].Values[i] += outcomes["delivered"]
				series[2].Values[i] += outcomes["failed"] + outcomes["dead"]
			}
		}
	}
	return dailyChart(days, series)
}

// outcomeColumns are the CSV's outcome columns: the cart sequences'
// (carts, recovered, step_<n>_sent and step_<n>_recovered for each step
// seen, step 1 always, revenue_<currency> for each currency seen), then
// the COD flow's.
func outcomeColumns(v app.StatsView) []string {
	columns := []string{"carts", "recovered"}
	steps := []int{1}
	for step := range v.Outcomes.Carts.ByStep {
		if step != 1 {
			steps = append(steps, step)
		}
	}
	slices.Sort(steps)
	for _, step := range steps {
		columns = append(columns, fmt.Sprintf("step_%d_sent", step), fmt.Sprintf("step_%d_recovered", step))
	}
	for _, currency := range slices.Sorted(maps.Keys(v.Outcomes.Carts.Revenue)) {
		columns = append(columns, "revenue_"+currency)
	}
	return append(columns, "cod_asked", "cod_confirmed", "cod_cancelled", "cod_timed_out")
}

// outcomeCells are the outcome cells of one day's row of event, only
// those not zero; empty for an event no outcome follows.
func outcomeCells(event string, o app.StatsOutcomes) map[string]string {
	cells := map[string]string{}
	put := func(column string, n int64) {
		if n != 0 {
			cells[column] = strconv.FormatInt(n, 10)
		}
	}
	switch event {
	case app.EventCartAbandoned:
		put("carts", o.Carts.Carts)
		put("recovered", o.Carts.Recovered)
		for step, so := range o.Carts.ByStep {
			put(fmt.Sprintf("step_%d_sent", step), so.Sent)
			put(fmt.Sprintf("step_%d_recovered", step), so.Recovered)
		}
		for currency, amount := range o.Carts.Revenue {
			cells["revenue_"+currency] = amount
		}
	case app.EventCODConfirmationAsked:
		put("cod_asked", o.COD.Asked)
		put("cod_confirmed", o.COD.Confirmed)
		put("cod_cancelled", o.COD.Cancelled)
		put("cod_timed_out", o.COD.TimedOut)
	}
	return cells
}
