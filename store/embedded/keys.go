package embedded

import (
	"encoding/binary"
	"time"

	"github.com/storebridge/storebridge/app"
)

// Keys are built from parts so that a cursor seek on a prefix finds exactly
// one merchant's records in order. A string that is not the last part is
// length-prefixed (two bytes, big-endian), so no value can run into the next
// part; times are big-endian Unix microseconds, so byte order is time order.

// maxPart bounds one string inside a key (bbolt keys are at most 32 KiB).
const maxPart = 4096

func appendPart(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.BigEndian.AppendUint64(b, micros(t))
}

// micros is t as unsigned Unix microseconds; times before 1970 (the zero
// time) sort first.
func micros(t time.Time) uint64 {
	if us := t.UnixMicro(); us > 0 {
		return uint64(us)
	}
	return 0
}

// readPart splits a length-prefixed string off the front of b.
func readPart(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}

// readPartBytes is readPart without the copy: the part is b's own bytes.
func readPartBytes(b []byte) ([]byte, []byte, bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return nil, nil, false
	}
	return b[2 : 2+n], b[2+n:], true
}

// readTime splits a time off the front of b.
func readTime(b []byte) (uint64, []byte, bool) {
	if len(b) < 8 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b), b[8:], true
}

// merchantPrefix starts every per-merchant key.
func merchantPrefix(merchant string) []byte {
	return appendPart(make([]byte, 0, 2+len(merchant)+40), merchant)
}

// scoped is a per-merchant key ending with name: a job, a job key, an
// idempotency key, a delivery, a provider message id.
func scoped(merchant, name string) []byte {
	return append(merchantPrefix(merchant), name...)
}

// scopedAt is a per-merchant key ordered by time: due jobs, dead jobs,
// deliveries newest first.
func scopedAt(merchant string, at time.Time, id string) []byte {
	return append(appendTime(merchantPrefix(merchant), at), id...)
}

// timeFirst is a key ordered by time across merchants: lease expiry, claim
// expiry, the oldest due job of each merchant.
func timeFirst(at time.Time, merchant, name string) []byte {
	b := appendTime(make([]byte, 0, 12+len(merchant)+len(name)), at)
	return append(appendPart(b, merchant), name...)
}

// splitTimeFirst undoes timeFirst.
func splitTimeFirst(k []byte) (at uint64, merchant, name string, ok bool) {
	at, rest, ok := readTime(k)
	if !ok {
		return 0, "", "", false
	}
	merchant, rest, ok = readPart(rest)
	return at, merchant, string(rest), ok
}

func domainKey(platform app.Platform, domain string) []byte {
	return append(appendPart(nil, string(platform)), domain...)
}

// required answers a ValidationError when a named value is empty or too
// long to be part of a key; arguments are name, value pairs.
func required(pairs ...string) error {
	return checkParts(true, pairs)
}

// bounded is required for optional values: only the length is checked.
func bounded(pairs ...string) error {
	return checkParts(false, pairs)
}

func checkParts(nonEmpty bool, pairs []string) error {
	var fields map[string]string
	for i := 0; i+1 < len(pairs); i += 2 {
		reason := ""
		switch value := pairs[i+1]; {
		case nonEmpty && value == "":
			reason = "required"
		case len(value) > maxPart:
			reason = "too long"
		default:
			continue
		}
		if fields == nil {
			fields = map[string]string{}
		}
		fields[pairs[i]] = reason
	}
	if fields == nil {
		return nil
	}
	return &app.ValidationError{Fields: fields}
}
