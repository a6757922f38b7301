package convertway

import (
	"net/http"
	"testing"
)

// FuzzParseWebhook: ConvertWay reports no statuses or replies, so any body
// gives an empty report and no error.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"event":"message.delivered","id":"x"}`))
	f.Add([]byte(``))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, body []byte) {
		report, err := ParseWebhook(http.Header{}, body)
		if err != nil || len(report.Statuses) != 0 || len(report.Replies) != 0 {
			t.Fatalf("ParseWebhook() = %+v, %v; want an empty report", report, err)
		}
	})
}
