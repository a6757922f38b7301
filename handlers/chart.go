package handlers

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// chartSeries is one kind of bar in a daily chart: its name in the legend
// and hover text, its colour, and a value per day in the days' order (a
// missing value counts as 0).
type chartSeries struct {
	Name   string
	Color  string // a CSS colour
	Values []int64
}

// The chart's own coordinates. The SVG scales to its container's width,
// so the text is sized to stay readable on a 360 px phone.
const (
	chartWidth, chartHeight = 400, 220
	chartLeft, chartRight   = 40, 392 // the plot, between the y labels and the edge
	chartTop, chartBottom   = 30, 196 // below the legend, above the x labels
	chartMaxBar             = 16.0    // no wider a bar, however few the days
	chartMinBar             = 2.0     // no narrower a bar beside another
	chartLabelWidth         = 44.0    // room one x label takes, gap included
	chartNoData             = "No messages in this range"
)

// dailyChart draws series as bars grouped by day, with a y axis of round
// ticks, day labels thinned to fit, a hover title per bar and a summary
// for screen readers. When the days are too many to set bars side by side
// they overlap, drawn in order, so the largest series goes first. days are
// statistics days (2006-01-02). With no day or nothing to show it says so
// instead. Every text is escaped, and the same input gives the same bytes.
func dailyChart(days []string, series []chartSeries) template.HTML {
	var top int64
	totals := make([]int64, len(series))
	for i, s := range series {
		for d := range days {
			v := seriesValue(s, d)
			totals[i] += v
			top = max(top, v)
		}
	}
	var b strings.Builder
	if top == 0 {
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" font-family="system-ui, sans-serif" font-size="12">`+"\n",
			chartWidth, chartHeight, chartNoData)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#8a8a8a"/>`+"\n", chartLeft, chartBottom, chartRight, chartBottom)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#616161">%s</text></svg>`, chartWidth/2, (chartTop+chartBottom)/2, chartNoData)
		return template.HTML(b.String()) // built of constants only
	}

	summary := make([]string, len(series))
	for i, s := range series {
		summary[i] = fmt.Sprintf("%s %d", s.Name, totals[i])
	}
	label := fmt.Sprintf("Messages per day, %s to %s: %s", chartDay(days[0], true), chartDay(days[len(days)-1], true), strings.Join(summary, ", "))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" font-family="system-ui, sans-serif" font-size="11">`+"\n",
		chartWidth, chartHeight, html.EscapeString(label))

	// The legend, left to right along the top.
	x := float64(chartLeft)
	for _, s := range series {
		fmt.Fprintf(&b, `<rect x="%s" y="8" width="10" height="10" fill="%s"/>`+"\n", num(x), html.EscapeString(s.Color))
		fmt.Fprintf(&b, `<text x="%s" y="17" fill="#303030">%s</text>`+"\n", num(x+14), html.EscapeString(s.Name))
		x += 14 + 6.5*float64(len([]rune(s.Name))) + 14
	}

	ticks := chartTicks(top)
	scale := float64(chartBottom-chartTop) / float64(ticks[len(ticks)-1])
	for _, t := range ticks {
		y := float64(chartBottom) - float64(t)*scale
		stroke := "#e3e3e3" // a grid line; the axis itself is darker
		if t == 0 {
			stroke = "#8a8a8a"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%s" x2="%d" y2="%s" stroke="%s"/>`+"\n", chartLeft, num(y), chartRight, num(y), stroke)
		fmt.Fprintf(&b, `<text x="%d" y="%s" text-anchor="end" fill="#616161">%s</text>`+"\n", chartLeft-6, num(y+4), tickLabel(t, ticks[len(ticks)-1]))
	}

	group := float64(chartRight-chartLeft) / float64(len(days))
	// Side by side while each bar is wide enough to see; past that (a
	// range of months) the series overlap, each day one column.
	bar, side := chartMaxBar, 1.0
	if len(series) > 0 {
		bar = min(chartMaxBar, group*0.8/float64(len(series)))
	}
	if bar < chartMinBar {
		bar, side = group*0.9, 0
	}
	every := int(math.Ceil(float64(len(days)) / math.Floor(float64(chartRight-chartLeft)/chartLabelWidth)))
	for d, day := range days {
		center := float64(chartLeft) + group*(float64(d)+0.5)
		left := center - bar*(1+side*float64(len(series)-1))/2
		for i, s := range series {
			v := seriesValue(s, d)
			if v == 0 {
				continue
			}
			h := max(float64(v)*scale, 1) // a count of one still shows
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
				num(left+side*bar*float64(i)), num(float64(chartBottom)-h), num(bar), num(h), html.EscapeString(s.Color),
				html.EscapeString(fmt.Sprintf("%s, %s: %d", chartDay(day, true), s.Name, v)))
		}
		if d%every == 0 {
			// Kept off the right edge, where half a label would not fit.
			fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle" fill="#616161">%s</text>`+"\n", num(min(center, chartWidth-chartLabelWidth/2+4)), chartBottom+16, html.EscapeString(chartDay(day, false)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it was escaped above
}

func seriesValue(s chartSeries, day int) int64 {
	if day < len(s.Values) {
		return max(s.Values[day], 0)
	}
	return 0
}

// chartTicks are the y axis' values from 0: the smallest step of 1, 2 or
// 5 times a power of ten that reaches top in at most 4 steps (and at least
// 2, so a top of 1 still has a middle tick), for the finest round axis.
func chartTicks(top int64) []int64 {
	if top <= 0 {
		return nil
	}
	step, n := int64(1), int64(0)
	for mag := int64(1); n == 0; mag *= 10 {
		for _, m := range []int64{1, 2, 5} {
			steps := top / (m * mag)
			if top%(m*mag) != 0 {
				steps++
			}
			if steps <= 4 {
				step, n = m*mag, max(steps, 2)
				break
			}
		}
	}
	ticks := make([]int64, 0, n+1)
	for i := range n + 1 {
		ticks = append(ticks, i*step)
	}
	return ticks
}

// tickLabel writes a tick in thousands or millions once the axis reaches
// ten of them, so the labels fit left of the plot; every tick of such an
// axis is a whole number of them (its step is at least five).
func tickLabel(v, top int64) string {
	switch {
	case v == 0:
		return "0"
	case top >= 10_000_000:
		return strconv.FormatInt(v/1_000_000, 10) + "M"
	case top >= 10_000:
		return strconv.FormatInt(v/1000, 10) + "k"
	}
	return strconv.FormatInt(v, 10)
}

// chartDay writes a statistics day as "5 Nov" or, in full, "5 Nov 2026";
// what is not a day is shown as given.
func chartDay(day string, full bool) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	if full {
		return t.Format("2 Jan 2006")
	}
	return t.Format("2 Jan")
}

// num writes a coordinate to a tenth, the same way every time.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}
