package app

import (
	"context"
	"time"
)

// MerchantData keeps the small per-merchant records the use cases need
// besides merchants, jobs and deliveries: rules, the status map, statuses
// seen, the opt-out list, sync cursors. Each is a named map of strings
// under the merchant; typed accessors in app encode the values.
type MerchantData interface {
	// MapGet returns one field of a merchant's named map; ErrNotFound when
	// the field (or the map) is absent.
	MapGet(ctx context.Context, merchant, name, field string) (string, error)
	// MapAll returns the whole map; empty (not an error) when absent.
	MapAll(ctx context.Context, merchant, name string) (map[string]string, error)
	// MapSet sets the given fields, leaving the others.
	MapSet(ctx context.Context, merchant, name string, fields map[string]string) error
	// MapReplace replaces the whole map with fields in one atomic step.
	MapReplace(ctx context.Context, merchant, name string, fields map[string]string) error
	// MapDelete removes fields; absent ones are ignored.
	MapDelete(ctx context.Context, merchant, name string, fields ...string) error

	// AdvanceState records value for key if version is newer than the
	// version stored (or nothing is stored), atomically, and returns the
	// value stored before. advanced is false, and nothing changes, when the
	// stored version is the same or newer: a stale or repeated update. The
	// record expires ttl after its last advance. Used for the last status
	// seen per order, where version is the platform's modification time,
	// and for the stages of the COD flow.
	//
	// effects are the work the transition causes. When the record advances
	// to a value other than the one stored, they are enqueued in the same
	// atomic step (each as Enqueue would; one whose ID or Key is taken was
	// queued before and is skipped), so a failure after the transition is
	// recorded cannot lose its work, and a retry, which finds the
	// transition recorded, cannot queue it twice. Effects must belong to
	// merchant.
	AdvanceState(ctx context.Context, merchant, key string, version int64, value string, ttl time.Duration, effects ...Job) (previous string, advanced bool, err error)
	// State reads what AdvanceState recorded for key, without changing it;
	// ErrNotFound when nothing live is recorded.
	State(ctx context.Context, merchant, key string) (value string, version int64, err error)

	// DeleteStates removes what AdvanceState recorded for keys, so the next
	// AdvanceState starts afresh; absent keys are ignored. For a privacy
	// redaction.
	DeleteStates(ctx context.Context, merchant string, keys ...string) error

	// IndexAdd records member in the merchant's named index at time at (a
	// member added again moves to its new time) and drops the members
	// recorded before at minus keep, so an index lasts as long as the
	// records it points at. Times count to the millisecond.
	IndexAdd(ctx context.Context, merchant, name, member string, at time.Time, keep time.Duration) error
	// IndexRemove drops members from the index; absent ones are ignored.
	IndexRemove(ctx context.Context, merchant, name string, members ...string) error
	// IndexNewest lists the index's members newest first (those of the
	// same millisecond in reverse byte order), skipping the first offset:
	// at most limit, which must be positive. Empty when the index is.
	IndexNewest(ctx context.Context, merchant, name string, offset, limit int) ([]string, error)

	// Throttle takes the next free slot of a rate limit shared by every
	// instance: never more than limit slots in any window, as a provider
	// counts (a sliding window, not a burst on top of a rate). A slot is
	// free now while fewer than limit were taken in the last window;
	// otherwise the next frees a window after the limit-th latest, and
	// slots waited for are at least window/limit apart, so a backlog goes
	// at an even pace. The slot is taken when it is at most maxWait away,
	// and the wait until it is answered (0: now). Otherwise nothing is
	// taken and the answer, always more than maxWait, is the wait until
	// the caller's turn: when a slot frees, and at least window/limit after
	// the turn given to the refused caller before, so refused callers come
	// back one at a time, at the pace slots free, not all at once.
	Throttle(ctx context.Context, merchant, key string, limit int, window, maxWait time.Duration) (wait time.Duration, err error)

	// DropJobs removes every job of the merchant that is due or scheduled
	// (not those a worker holds, nor dead ones), for an uninstall. It
	// returns how many it removed.
	DropJobs(ctx context.Context, merchant string) (int, error)

	// PurgeMerchantData deletes every record the store keeps under the
	// merchant except the merchant record (with its domain and API key
	// indexes) and the statistics: deliveries with every index, named
	// maps, states, idempotency claims, throttles, and every job no worker
	// holds (due, scheduled, dead, or whose lease ran out) with its
	// payload. A job a worker holds at that moment is left for the worker
	// to settle. It works in bounded batches and answers how many records
	// it deleted: 0 when nothing was left. For shop/redact.
	PurgeMerchantData(ctx context.Context, merchant string) (int, error)

	// DeleteCustomerDeliveries removes the delivery records of a customer,
	// matched by phone, by customer id or by subject (e.g. "order:123"),
	// for a privacy redaction. Empty criteria match nothing. Returns how
	// many were removed.
	DeleteCustomerDeliveries(ctx context.Context, merchant string, match CustomerMatch) (int, error)

	// CustomerDeliveries lists the delivery records of a customer, matched
	// as DeleteCustomerDeliveries matches them, whole (values, statuses,
	// history), newest first: at most limit, which must be positive. For
	// a privacy export. Empty criteria match nothing.
	CustomerDeliveries(ctx context.Context, merchant string, match CustomerMatch, limit int) ([]Delivery, error)
}

// CustomerMatch selects a customer's records: any record matching any
// non-empty field.
type CustomerMatch struct {
	Phone      string
	CustomerID string
	Subjects   []string
}
