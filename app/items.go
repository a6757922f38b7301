package app

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// A WhatsApp template parameter has to stay short: a few items are named
// and the rest are counted ("… and 57 more").
const (
	maxItemsShown   = 3
	maxItemNameLen  = 60
	maxItemsTextLen = 200
)

// LineItem is one line of an order or cart, for the summary templates show.
type LineItem struct {
	Name     string
	Quantity int
}

// SummarizeItems renders "2 × Kurta (Blue / M), 1 × Dupatta … and 57 more"
// and counts the pieces (the sum of the quantities).
func SummarizeItems(items []LineItem) (string, int) {
	count := 0
	parts := make([]string, 0, min(len(items), maxItemsShown))
	for _, it := range items {
		count += max(it.Quantity, 0)
		if len(parts) < maxItemsShown {
			parts = append(parts, strconv.Itoa(it.Quantity)+" × "+clip(it.Name, maxItemNameLen))
		}
	}
	for shown := len(parts); shown > 0; shown-- {
		s := strings.Join(parts[:shown], ", ")
		if rest := len(items) - shown; rest > 0 {
			s += " … and " + strconv.Itoa(rest) + " more"
		}
		if utf8.RuneCountInString(s) <= maxItemsTextLen || shown == 1 {
			return s, count
		}
	}
	return "", count
}

// clip shortens s to at most n runes, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
