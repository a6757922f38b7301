package handlers

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

var updateChart = flag.Bool("update-chart", false, "rewrite handlers/testdata/*.golden.svg")

// novemberSeries is a month of sent, delivered and failed counts.
func novemberSeries() ([]string, []chartSeries) {
	var days []string
	sent, delivered, failed := make([]int64, 30), make([]int64, 30), make([]int64, 30)
	for i := range 30 {
		days = append(days, time.Date(2026, 11, i+1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
		if i%7 == 3 {
			continue // a quiet day
		}
		sent[i] = int64(20 + (i*37)%60)
		delivered[i] = sent[i] - int64(i%5)
		failed[i] = int64(i % 3)
	}
	return days, []chartSeries{
		{Name: "Sent", Color: "#005bd3", Values: sent},
		{Name: "Delivered", Color: "#29845a", Values: delivered},
		{Name: "Failed", Color: "#c70a24", Values: failed},
	}
}

func TestDailyChartGolden(t *testing.T) {
	days, series := novemberSeries()
	got := []byte(dailyChart(days, series))
	if again := []byte(dailyChart(days, series)); !bytes.Equal(got, again) {
		t.Fatal("dailyChart() drew the same series two ways")
	}
	wellFormed(t, got)
	path := filepath.Join("testdata", "chart.golden.svg")
	if *updateChart {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-chart to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("dailyChart() differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// wellFormed fails unless svg parses as XML, and returns its elements'
// names in order.
func wellFormed(t *testing.T, svg []byte) []string {
	t.Helper()
	var names []string
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		if el, ok := tok.(xml.StartElement); ok {
			names = append(names, el.Name.Local)
		}
	}
}

func TestChartTicks(t *testing.T) {
	for top, want := range map[int64][]int64{
		0: nil, 1: {0, 1, 2}, 2: {0, 1, 2}, 3: {0, 1, 2, 3}, 4: {0, 1, 2, 3, 4}, 5: {0, 2, 4, 6},
		9: {0, 5, 10}, 10: {0, 5, 10}, 11: {0, 5, 10, 15}, 21: {0, 10, 20, 30}, 79: {0, 20, 40, 60, 80},
		1234: {0, 500, 1000, 1500}, 20000: {0, 5000, 10000, 15000, 20000}, 20001: {0, 10000, 20000, 30000},
	} {
		if got := chartTicks(top); !reflect.DeepEqual(got, want) {
			t.Errorf("chartTicks(%d) = %v; want %v", top, got, want)
		}
	}
	for top := int64(1); top <= 100_000; top += 1 + top/50 {
		ticks := chartTicks(top)
		step := ticks[1]
		for step%10 == 0 {
			step /= 10
		}
		if len(ticks) < 3 || len(ticks) > 5 || ticks[len(ticks)-1] < top || ticks[len(ticks)-2] >= top && len(ticks) > 3 || (step != 1 && step != 2 && step != 5) {
			t.Errorf("chartTicks(%d) = %v; want 3 to 5 ticks of 1, 2 or 5 × 10ⁿ, the last the first to reach %d", top, ticks, top)
		}
	}
	for _, tc := range []struct {
		v, top int64
		want   string
	}{{5000, 5000, "5000"}, {5000, 15000, "5k"}, {0, 15000, "0"}, {15_000_000, 15_000_000, "15M"}, {800, 1000, "800"}} {
		if got := tickLabel(tc.v, tc.top); got != tc.want {
			t.Errorf("tickLabel(%d, top %d) = %q; want %q", tc.v, tc.top, got, tc.want)
		}
	}
}

func TestDailyChartNothingToShow(t *testing.T) {
	days, _ := novemberSeries()
	for name, tc := range map[string]struct {
		days   []string
		series []chartSeries
	}{
		"no days":       {nil, []chartSeries{{Name: "Sent", Values: nil}}},
		"no series":     {days, nil},
		"all zero":      {days, []chartSeries{{Name: "Sent", Values: make([]int64, 30)}, {Name: "Failed"}}},
		"negative only": {days[:2], []chartSeries{{Name: "Sent", Values: []int64{-3, 0}}}},
	} {
		svg := string(dailyChart(tc.days, tc.series))
		wellFormed(t, []byte(svg))
		if !strings.Contains(svg, `aria-label="No messages in this range"`) || !strings.Contains(svg, `>No messages in this range</text>`) ||
			!strings.Contains(svg, `role="img"`) || strings.Contains(svg, "<rect") {
			t.Errorf("%s: dailyChart() = %s; want the no-messages state", name, svg)
		}
	}
}

func TestDailyChartEscapesText(t *testing.T) {
	days := []string{"2026-11-01", `<b>"2026"</b>`}
	series := []chartSeries{{Name: `Sent <script>alert("x")</script> & co`, Color: `red" onload="alert(1)`, Values: []int64{3, 4}}}
	svg := []byte(dailyChart(days, series))
	names := wellFormed(t, svg)
	for _, bad := range []string{"<script", "<b>", `onload="`} {
		if bytes.Contains(svg, []byte(bad)) {
			t.Errorf("dailyChart() = %s; holds %s unescaped", svg, bad)
		}
	}
	for _, name := range names {
		if name != "svg" && name != "rect" && name != "line" && name != "text" && name != "title" {
			t.Errorf("dailyChart() has a <%s> element; want only the chart's own", name)
		}
	}
	if !bytes.Contains(svg, []byte(`Sent &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co 7`)) {
		t.Errorf("dailyChart() = %s; want the name escaped in the summary with its total", svg)
	}
}

func TestDailyChartLabelsAndTitles(t *testing.T) {
	days, series := novemberSeries()
	svg := string(dailyChart(days, series))
	if want := `aria-label="Messages per day, 1 Nov 2026 to 30 Nov 2026: Sent `; !strings.Contains(svg, want) {
		t.Errorf("dailyChart() = %s; want a summary starting %s", svg, want)
	}
	bars := 0
	for _, s := range series {
		for _, v := range s.Values {
			if v > 0 {
				bars++
			}
		}
	}
	if got := strings.Count(svg, "<title>"); got != bars {
		t.Errorf("dailyChart() has %d titles; want one per bar drawn, %d", got, bars)
	}
	if !strings.Contains(svg, `<title>2 Nov 2026, Sent: 57</title>`) {
		t.Errorf("dailyChart() = %s; want a bar's title to name its day, series and count", svg)
	}
	// The x labels are thinned to fit: 30 days or 400, no more than 8.
	for _, n := range []int{1, 7, 8, 9, 30, 400} {
		many := make([]string, n)
		values := make([]int64, n)
		for i := range n {
			many[i] = app.DayOf(time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC))
			values[i] = 1
		}
		svg := string(dailyChart(many, []chartSeries{{Name: "Sent", Color: "#005bd3", Values: values}}))
		labels := strings.Count(svg, `text-anchor="middle"`)
		if labels < min(n, 4) || labels > 8 || !strings.Contains(svg, `>1 Jan</text>`) {
			t.Errorf("%d days: %d x labels; want between %d and 8, the first day's among them", n, labels, min(n, 4))
		}
	}
}

// Too many days for bars side by side: a day's bars overlap, in order.
func TestDailyChartOverlapsLongRanges(t *testing.T) {
	for n, wantSame := range map[int]bool{30: false, 60: true, 400: true} {
		days := make([]string, n)
		for i := range n {
			days[i] = app.DayOf(time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC))
		}
		sent, delivered := make([]int64, n), make([]int64, n)
		sent[0], delivered[0] = 10, 8
		svg := string(dailyChart(days, []chartSeries{{Name: "Sent", Values: sent}, {Name: "Delivered", Values: delivered}, {Name: "Failed"}}))
		xs := regexp.MustCompile(`<rect x="([0-9.]+)" y="[0-9.]+" width`).FindAllStringSubmatch(svg, -1)
		// Three legend squares, then the first day's two bars.
		if len(xs) != 5 {
			t.Fatalf("%d days: %d rects; want 3 in the legend and 2 bars", n, len(xs))
		}
		if same := xs[3][1] == xs[4][1]; same != wantSame {
			t.Errorf("%d days: bars at x %s and %s; want them overlapping %v", n, xs[3][1], xs[4][1], wantSame)
		}
	}
}

func TestStatsChartSumsTheEvents(t *testing.T) {
	v := app.StatsView{Days: []app.DayCounts{
		{Day: "2026-11-01", Counts: map[string]map[string]int64{
			app.EventOrderPlaced: {"sent": 4, "delivered": 3}, app.EventOrderShipped: {"sent": 2, "failed": 1, "dead": 1},
			"inputs": {"sent": 100}, // not an event: not a message
		}},
		{Day: "2026-11-02", Counts: map[string]map[string]int64{}},
	}}
	svg := string(statsChart(v))
	for _, want := range []string{"<title>1 Nov 2026, Sent: 6</title>", "<title>1 Nov 2026, Delivered: 3</title>", "<title>1 Nov 2026, Failed: 2</title>",
		"Messages per day, 1 Nov 2026 to 2 Nov 2026: Sent 6, Delivered 3, Failed 2"} {
		if !strings.Contains(svg, want) {
			t.Errorf("statsChart() = %s; want %s", svg, want)
		}
	}
	if svg := string(statsChart(app.StatsView{Days: v.Days[1:]})); !strings.Contains(svg, chartNoData) {
		t.Errorf("statsChart(a quiet day) = %s; want the no-messages state", svg)
	}
}
