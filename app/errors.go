package app

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Sentinel errors every layer maps to and from. Stores return ErrNotFound for
// a missing record (never a nil record with a nil error) and ErrConflict when
// a write would break a uniqueness rule.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnavailable = errors.New("store unavailable")
	// ErrLeaseLost is returned by Ack, Retry and Bury when the job's lease ran
	// out and another worker may already hold the job: the caller's result is
	// dropped, the other worker's counts.
	ErrLeaseLost = errors.New("job lease lost")
)

// ValidationError carries one reason per offending field; handlers answer it
// with 422 and the fields map.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+": "+e.Fields[name])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Invalid builds a ValidationError for one field.
func Invalid(field, reason string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: reason}}
}

// RateLimitedError says a caller used up a rate limit: handlers answer it
// with 429 and Retry-After.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return "rate limited: retry after " + e.RetryAfter.String()
}

// ProviderError is what every outbound client (messaging providers, store
// platform APIs) returns when a call did not succeed. Retryable says whether
// sending the same request later may work; the retry decision itself is
// taken in one place, the delivery use case.
type ProviderError struct {
	Provider  string // "interakt", "wati", "shopify", ...
	Status    int    // HTTP status, 0 when the request never got an answer
	Code      string // the provider's own error code, when it gives one
	Message   string // the provider's own message, trimmed
	Retryable bool
	// Ambiguous: the request may have reached the provider: it was
	// written in full and no answer came (a timeout, a reset after
	// sending). A retry may send twice.
	Ambiguous bool
	// Err is the cause, if any. Error() prints it, so a transport failure
	// is a plain reason ("timed out", "could not connect") that never
	// names an address, a port or an OS error.
	Err error
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	b.WriteString(": ")
	if e.Retryable {
		b.WriteString("retryable")
	} else {
		b.WriteString("permanent")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " status %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" code ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *ProviderError) Unwrap() error { return e.Err }

// IsRetryable reports whether err is worth trying again later. Errors that
// are not ProviderErrors count as retryable unless they are known permanent
// app errors: an unknown failure should not lose a message.
func IsRetryable(err error) bool {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Retryable
	}
	var ve *ValidationError
	if errors.As(err, &ve) || errors.Is(err, ErrNotFound) {
		return false
	}
	return err != nil
}

// PermanentError marks a job failure that no retry can fix (a payload that
// cannot be decoded, a merchant that no longer exists). Job handlers return
// it to send the job straight to the dead letters.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }
