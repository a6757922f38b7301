package app

// Bounds on what merchants and their systems send us. Everything here
// ends up in stored records, in provider calls and in messages, so each
// is cut to what a real use needs; past it the input is refused with 422.
const (
	// maxEventTypeLen bounds an event type ("loyalty.points_earned").
	maxEventTypeLen = 100
)

// validEventType reports whether s is a dotted event name of bounded
// length; the length is checked first, so a huge value costs nothing.
func validEventType(s string) bool {
	return len(s) <= maxEventTypeLen && eventTypePattern.MatchString(s)
}
