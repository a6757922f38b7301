package app

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what merchants and their systems send us. Everything here
// ends up in stored records, in provider calls and in messages, so each
// is cut to what a real use needs; past it the input is refused with 422.
const (
	// maxEventTypeLen bounds an event type ("loyalty.points_earned").
	maxEventTypeLen = 100
	// maxPropertyDepth bounds how deep properties nest, dotted keys
	// counting a level per part ("a.b": 2).
	maxPropertyDepth = 5
	// maxPropertyEntries bounds the keys and array items of properties,
	// at every level together.
	maxPropertyEntries = 100
	// maxPropertyKeyLen and maxPropertyValueLen bound one key and one
	// string value, in characters.
	maxPropertyKeyLen   = 100
	maxPropertyValueLen = 1000
)

// validEventType reports whether s is a dotted event name of bounded
// length; the length is checked first, so a huge value costs nothing.
func validEventType(s string) bool {
	return len(s) <= maxEventTypeLen && eventTypePattern.MatchString(s)
}

// checkProperties answers why pushed properties cannot be taken, or "".
func checkProperties(props map[string]any) string {
	entries := 0
	var walk func(v any, depth int) string
	walk = func(v any, depth int) string {
		if depth > maxPropertyDepth {
			return fmt.Sprintf("must nest at most %d levels deep (a dotted key counts a level per part)", maxPropertyDepth)
		}
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				if entries++; entries > maxPropertyEntries {
					return fmt.Sprintf("must hold at most %d keys and array items in all", maxPropertyEntries)
				}
				if k == "" || !plainText(k, maxPropertyKeyLen) {
					return fmt.Sprintf("keys must be 1 to %d characters of text, without control characters", maxPropertyKeyLen)
				}
				if reason := walk(child, depth+1+strings.Count(k, ".")); reason != "" {
					return reason
				}
			}
		case []any:
			for _, child := range x {
				if entries++; entries > maxPropertyEntries {
					return fmt.Sprintf("must hold at most %d keys and array items in all", maxPropertyEntries)
				}
				if reason := walk(child, depth+1); reason != "" {
					return reason
				}
			}
		case string:
			if utf8.RuneCountInString(x) > maxPropertyValueLen {
				return fmt.Sprintf("text values must be at most %d characters", maxPropertyValueLen)
			}
		}
		return ""
	}
	return walk(props, 0)
}

// plainText reports whether s is valid UTF-8 of at most max characters
// with no control characters (no NUL, no line breaks): names end up in
// messages, headers and logs.
func plainText(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}
