package loyalty

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/storebridge/storebridge/app"
)

// CheckPost validates a post before a backend runs it, the same for every
// backend, and answers the entries with their expiries kept to the
// millisecond (Redis keeps milliseconds) and in UTC.
func CheckPost(merchant, customer string, entries []Entry) ([]Entry, error) {
	fields := map[string]string{}
	switch {
	case merchant == "":
		fields["merchant"] = "is required"
	case len(merchant) > MaxCustomer:
		fields["merchant"] = "is too long"
	}
	switch {
	case customer == "":
		fields["customer"] = "is required"
	case len(customer) > MaxCustomer:
		fields["customer"] = "is too long"
	case !utf8.ValidString(customer):
		fields["customer"] = "is not UTF-8"
	}
	if len(entries) == 0 || len(entries) > MaxBatch {
		fields["entries"] = fmt.Sprintf("must hold 1 to %d entries", MaxBatch)
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		name := func(f string) string { return fmt.Sprintf("entries[%d].%s", i, f) }
		if reason := checkEntry(e); reason != "" {
			fields[name(reasonField(reason))] = reason
		}
		out[i] = Entry{Kind: e.Kind, Source: e.Source, Ref: e.Ref, Points: e.Points, Reason: e.Reason}
		if !e.ExpiresAt.IsZero() {
			out[i].ExpiresAt = e.ExpiresAt.UTC().Truncate(time.Millisecond)
		}
	}
	if len(fields) > 0 {
		return nil, &app.ValidationError{Fields: fields}
	}
	return out, nil
}

// reasonField maps a reason from checkEntry to the field it is about.
func reasonField(reason string) string {
	switch reason {
	case "is an unknown kind":
		return "kind"
	case "source is required", "source is too long", "source is not UTF-8":
		return "source"
	case "ref is required", "ref is not allowed", "ref is too long":
		return "ref"
	case "reason is too long":
		return "reason"
	case "expires_at is not allowed", "expires_at is out of range":
		return "expires_at"
	}
	return "points"
}

func checkEntry(e Entry) string {
	switch {
	case e.Source == "":
		return "source is required"
	case len(e.Source) > MaxSource:
		return "source is too long"
	case len(e.Ref) > MaxSource:
		return "ref is too long"
	case len(e.Reason) > MaxReason:
		return "reason is too long"
	case !utf8.ValidString(e.Source) || !utf8.ValidString(e.Ref) || !utf8.ValidString(e.Reason):
		return "source is not UTF-8"
	case e.Points > MaxPoints || e.Points < -MaxPoints:
		return fmt.Sprintf("must be within ±%d", int64(MaxPoints))
	}
	if !e.ExpiresAt.IsZero() {
		if ms := e.ExpiresAt.UnixMilli(); ms <= 0 || ms > maxExpiryMS {
			return "expires_at is out of range"
		}
	}
	opensLot := e.Kind == KindEarn || e.Kind == KindPendingEarn || (e.Kind == KindAdjust && e.Points > 0)
	if !opensLot && !e.ExpiresAt.IsZero() {
		return "expires_at is not allowed"
	}
	switch e.Kind {
	case KindEarn, KindPendingEarn, KindRedeem:
		if e.Points <= 0 {
			return "must be positive"
		}
		if e.Ref != "" {
			return "ref is not allowed"
		}
	case KindAdjust:
		if e.Points == 0 {
			return "must not be zero"
		}
		if e.Ref != "" {
			return "ref is not allowed"
		}
	case KindReverse:
		if e.Points <= 0 {
			return "must be positive"
		}
		if e.Ref == "" {
			return "ref is required"
		}
	case KindApprove, KindExpire:
		if e.Points != 0 {
			return "must be zero (the lot says how many)"
		}
		if e.Ref == "" {
			return "ref is required"
		}
	default:
		return "is an unknown kind"
	}
	return ""
}

// maxExpiryMS (year 9999) keeps an expiry a valid score and time.
const maxExpiryMS = 253402300799999

// PageLimit is page.Limit within 1..MaxEntriesPage, 50 when unset.
func PageLimit(page Page) int {
	switch {
	case page.Limit <= 0:
		return 50
	case page.Limit > MaxEntriesPage:
		return MaxEntriesPage
	}
	return page.Limit
}

// Now is t as the ledger stamps entries: UTC, to the millisecond.
func Now(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
