package embedded

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

const (
	deliveriesLimit    = 50
	maxDeliveriesLimit = 500
)

// CreateDelivery stores a new record; a zero CreatedAt is set to now.
// ErrConflict if the merchant already has a delivery with the ID.
func (s *Store) CreateDelivery(ctx context.Context, d app.Delivery) error {
	if err := checkDelivery(d); err != nil {
		return fmt.Errorf("embedded: create delivery: %w", err)
	}
	return s.batch(ctx, "create delivery "+d.ID, func(tx *bolt.Tx) error {
		d := d
		if d.CreatedAt.IsZero() {
			d.CreatedAt = s.now()
		}
		if d.UpdatedAt.IsZero() {
			d.UpdatedAt = d.CreatedAt
		}
		if bucket(tx, bucketDeliveries).Get(scoped(d.Merchant, d.ID)) != nil {
			return fmt.Errorf("delivery id %s taken: %w", d.ID, app.ErrConflict)
		}
		return writeDelivery(tx, nil, d)
	})
}

// GetDelivery returns the merchant's delivery id, or ErrNotFound.
func (s *Store) GetDelivery(ctx context.Context, merchant, id string) (app.Delivery, error) {
	var d app.Delivery
	err := s.view(ctx, "get delivery "+id, func(tx *bolt.Tx) error {
		return getJSON(bucket(tx, bucketDeliveries), scoped(merchant, id), &d)
	})
	return d, err
}

// UpdateDelivery reads the record, applies change and writes it back with
// its indexes in one transaction. The transaction may be shared with other
// writes and re-run, which is why change must be a pure function of the
// record.
func (s *Store) UpdateDelivery(ctx context.Context, merchant, id string, change func(*app.Delivery) error) (app.Delivery, error) {
	var updated app.Delivery
	err := s.batch(ctx, "update delivery "+id, func(tx *bolt.Tx) error {
		updated = app.Delivery{}
		var old app.Delivery
		if err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, id), &old); err != nil {
			return err
		}
		// Decoded again rather than copied: change may edit History and
		// the maps in place, and old must keep the indexed values.
		var d app.Delivery
		if err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, id), &d); err != nil {
			return err
		}
		if err := change(&d); err != nil {
			return err
		}
		if d.ID != old.ID || d.Merchant != old.Merchant {
			return app.Invalid("id", "a delivery's id and merchant cannot change")
		}
		if err := checkDelivery(d); err != nil {
			return err
		}
		if err := writeDelivery(tx, &old, d); err != nil {
			return err
		}
		updated = d
		return nil
	})
	return updated, err
}

// ListDeliveries pages through a merchant's deliveries, newest first. It
// walks the status index when Status is set, the event index when Event
// is, both at once when both are (see indexJoin), else the time index; the
// cursor is the position of the last record returned.
func (s *Store) ListDeliveries(ctx context.Context, merchant string, f app.DeliveryFilter) ([]app.Delivery, string, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = deliveriesLimit
	case limit > maxDeliveriesLimit:
		limit = maxDeliveriesLimit
	}
	var after []byte
	if f.Cursor != "" {
		var err error
		after, err = base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(after) < 8 {
			return nil, "", fmt.Errorf("embedded: list deliveries: %w", app.Invalid("cursor", "not a cursor from a previous page"))
		}
	}
	var (
		list []app.Delivery
		next string
	)
	err := s.view(ctx, "list deliveries", func(tx *bolt.Tx) error {
		list, next = nil, ""
		prefix := merchantPrefix(merchant)
		var join indexJoin
		if f.Status != "" {
			join.add(tx, bucketDeliveryStatus, appendPart(bytes.Clone(prefix), string(f.Status)), after)
		}
		if f.Event != "" {
			join.add(tx, bucketDeliveryEvent, appendPart(bytes.Clone(prefix), f.Event), after)
		}
		if len(join.walks) == 0 {
			join.add(tx, bucketDeliveryByTime, prefix, after)
		}
		var last []byte
		for at := join.next(); at != nil; at = join.next() {
			_, id, ok := readTime(at)
			if !ok {
				return fmt.Errorf("corrupt delivery index key %q", at)
			}
			if len(list) == limit {
				// One more match exists: there is a next page.
				next = base64.RawURLEncoding.EncodeToString(last)
				return nil
			}
			var d app.Delivery
			if err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, string(id)), &d); err != nil {
				return err
			}
			list = append(list, d)
			last = bytes.Clone(at)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return list, next, nil
}

// indexJoin walks one or more delivery indexes of a merchant together,
// newest first, and yields the positions (time, id) that are in every one.
// Each index is ordered by the same position, so two filters cost seeks
// in proportion to the matches and to how the two interleave, never a
// read of a record that matches one filter only: "failed" and a rare event
// would otherwise read every failed delivery.
type indexJoin struct {
	walks []indexWalk
}

type indexWalk struct {
	c      *bolt.Cursor
	prefix []byte
	key    []byte // the current key; nil when the walk has ended
}

// add starts a walk of the keys of index under prefix, strictly below
// the position after (nil: from the newest).
func (j *indexJoin) add(tx *bolt.Tx, index string, prefix, after []byte) {
	w := indexWalk{c: bucket(tx, index).Cursor(), prefix: prefix}
	if after == nil {
		w.key = lastWithPrefix(w.c, prefix)
	} else if k, _ := w.c.Seek(append(bytes.Clone(prefix), after...)); k == nil {
		w.key, _ = w.c.Last()
	} else {
		w.key, _ = w.c.Prev()
	}
	j.walks = append(j.walks, w)
}

// next answers the next position every walk holds, nil at the end.
func (j *indexJoin) next() []byte {
	for {
		var low []byte
		agree := true
		for _, w := range j.walks {
			if w.key == nil || !bytes.HasPrefix(w.key, w.prefix) {
				return nil
			}
			at := w.key[len(w.prefix):]
			if low != nil && !bytes.Equal(at, low) {
				agree = false
			}
			if low == nil || bytes.Compare(at, low) < 0 {
				low = at
			}
		}
		if agree {
			for i := range j.walks {
				j.walks[i].key, _ = j.walks[i].c.Prev()
			}
			return low
		}
		// Every walk ahead of the lowest position jumps to it, or just
		// below it.
		for i := range j.walks {
			w := &j.walks[i]
			if bytes.Equal(w.key[len(w.prefix):], low) {
				continue
			}
			target := append(bytes.Clone(w.prefix), low...)
			k, _ := w.c.Seek(target)
			if k == nil {
				k, _ = w.c.Last()
			} else if !bytes.Equal(k, target) {
				k, _ = w.c.Prev()
			}
			w.key = k
		}
	}
}

// DeliveryByProviderMessageID finds the delivery a provider status is
// about.
func (s *Store) DeliveryByProviderMessageID(ctx context.Context, merchant, messageID string) (app.Delivery, error) {
	var d app.Delivery
	err := s.view(ctx, "delivery by provider message id", func(tx *bolt.Tx) error {
		if messageID == "" {
			return app.ErrNotFound
		}
		id := bucket(tx, bucketDeliveryMessage).Get(scoped(merchant, messageID))
		if id == nil {
			return app.ErrNotFound
		}
		return getJSON(bucket(tx, bucketDeliveries), scoped(merchant, string(id)), &d)
	})
	return d, err
}

func checkDelivery(d app.Delivery) error {
	if err := required("merchant", d.Merchant, "id", d.ID); err != nil {
		return err
	}
	return bounded("status", string(d.Status), "event", d.Event, "provider_message_id", d.ProviderMessageID,
		"phone", d.Phone, "customer_id", d.CustomerID, "subject", d.Subject)
}

// writeDelivery stores d and moves its index entries from old's (nil for a
// new record).
func writeDelivery(tx *bolt.Tx, old *app.Delivery, d app.Delivery) error {
	if old != nil {
		if err := unindexDelivery(tx, *old); err != nil {
			return err
		}
	}
	if err := putJSON(bucket(tx, bucketDeliveries), scoped(d.Merchant, d.ID), d); err != nil {
		return err
	}
	for index, k := range deliveryIndexKeys(d) {
		if err := bucket(tx, index).Put(k, nil); err != nil {
			return err
		}
	}
	if d.ProviderMessageID != "" {
		return bucket(tx, bucketDeliveryMessage).Put(scoped(d.Merchant, d.ProviderMessageID), []byte(d.ID))
	}
	return nil
}

// deleteDelivery deletes d's record with every index entry that points at
// it.
func deleteDelivery(tx *bolt.Tx, d app.Delivery) error {
	if err := unindexDelivery(tx, d); err != nil {
		return err
	}
	return bucket(tx, bucketDeliveries).Delete(scoped(d.Merchant, d.ID))
}

func unindexDelivery(tx *bolt.Tx, d app.Delivery) error {
	for index, k := range deliveryIndexKeys(d) {
		if err := bucket(tx, index).Delete(k); err != nil {
			return err
		}
	}
	if d.ProviderMessageID == "" {
		return nil
	}
	messages := bucket(tx, bucketDeliveryMessage)
	k := scoped(d.Merchant, d.ProviderMessageID)
	if string(messages.Get(k)) != d.ID {
		return nil // another delivery claimed the message id since
	}
	return messages.Delete(k)
}

// deliveryIndexKeys are d's entries in the listing indexes and, for the
// fields it has, in the customer indexes, by bucket.
func deliveryIndexKeys(d app.Delivery) map[string][]byte {
	at := func(prefix []byte) []byte { return append(appendTime(prefix, d.CreatedAt), d.ID...) }
	prefix := merchantPrefix(d.Merchant)
	keys := map[string][]byte{
		bucketDeliveryByTime: at(bytes.Clone(prefix)),
		bucketDeliveryStatus: at(appendPart(bytes.Clone(prefix), string(d.Status))),
		bucketDeliveryEvent:  at(appendPart(bytes.Clone(prefix), d.Event)),
	}
	for index, value := range map[string]string{
		bucketDeliveryPhone:    d.Phone,
		bucketDeliveryCustomer: d.CustomerID,
		bucketDeliverySubject:  d.Subject,
	} {
		if value != "" {
			keys[index] = append(customerPrefix(d.Merchant, value), d.ID...)
		}
	}
	return keys
}

// customerPrefix starts the keys of a customer index for one value: the
// merchant, the value, then the delivery id.
func customerPrefix(merchant, value string) []byte {
	return appendPart(merchantPrefix(merchant), value)
}

// customerLookup is one criterion of a CustomerMatch: a customer index
// and the value to find in it.
type customerLookup struct{ index, value string }

// customerLookups lists match's non-empty criteria that can be in an
// index (longer values never are).
func customerLookups(match app.CustomerMatch) []customerLookup {
	var lookups []customerLookup
	add := func(index, value string) {
		if value != "" && len(value) <= maxPart {
			lookups = append(lookups, customerLookup{index, value})
		}
	}
	add(bucketDeliveryPhone, match.Phone)
	add(bucketDeliveryCustomer, match.CustomerID)
	for _, subject := range match.Subjects {
		add(bucketDeliverySubject, subject)
	}
	return lookups
}

// customerMatches reports whether d has one of the values looked up.
func customerMatches(d app.Delivery, lookups []customerLookup) bool {
	for _, l := range lookups {
		switch {
		case l.index == bucketDeliveryPhone && d.Phone == l.value,
			l.index == bucketDeliveryCustomer && d.CustomerID == l.value,
			l.index == bucketDeliverySubject && d.Subject == l.value:
			return true
		}
	}
	return false
}

// customerEntry is an entry of a customer index: where it is and the
// delivery it names.
type customerEntry struct {
	index string
	key   []byte
	id    string
}

// customerEntries lists the index entries of the merchant's lookups.
func customerEntries(tx *bolt.Tx, merchant string, lookups []customerLookup) []customerEntry {
	var entries []customerEntry
	for _, l := range lookups {
		prefix := customerPrefix(merchant, l.value)
		c := bucket(tx, l.index).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			entries = append(entries, customerEntry{l.index, bytes.Clone(k), string(k[len(prefix):])})
		}
	}
	return entries
}

// DeleteCustomerDeliveries deletes the merchant's deliveries whose phone,
// customer id or subject is one of match's non-empty criteria, with their
// index entries, and answers how many. It walks the customer indexes, so
// deliveries stored before those indexes existed are not found.
func (s *Store) DeleteCustomerDeliveries(ctx context.Context, merchant string, match app.CustomerMatch) (int, error) {
	if err := required("merchant", merchant); err != nil {
		return 0, fmt.Errorf("embedded: delete customer deliveries: %w", err)
	}
	lookups := customerLookups(match)
	if len(lookups) == 0 {
		return 0, nil
	}
	deleted := 0
	err := s.update(ctx, "delete customer deliveries", func(tx *bolt.Tx) error {
		deleted = 0
		for _, e := range customerEntries(tx, merchant, lookups) {
			// Every entry found goes: either its record goes too, or it is
			// stale (the record is gone or no longer has the value, as when
			// a build without these indexes changed it).
			if err := bucket(tx, e.index).Delete(e.key); err != nil {
				return err
			}
			var d app.Delivery
			switch err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, e.id), &d); {
			case errors.Is(err, app.ErrNotFound):
				continue // deleted already, or a stale entry
			case err != nil:
				return err
			case !customerMatches(d, lookups):
				continue
			}
			if err := deleteDelivery(tx, d); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// CustomerDeliveries lists the merchant's deliveries whose phone, customer
// id or subject is one of match's non-empty criteria, newest first, at
// most limit, in one read transaction over the customer indexes.
func (s *Store) CustomerDeliveries(ctx context.Context, merchant string, match app.CustomerMatch, limit int) ([]app.Delivery, error) {
	if err := required("merchant", merchant); err != nil {
		return nil, fmt.Errorf("embedded: customer deliveries: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("embedded: customer deliveries: %w", app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit)))
	}
	lookups := customerLookups(match)
	if len(lookups) == 0 {
		return nil, nil
	}
	var list []app.Delivery
	err := s.view(ctx, "customer deliveries", func(tx *bolt.Tx) error {
		list = nil
		seen := map[string]bool{}
		for _, e := range customerEntries(tx, merchant, lookups) {
			if seen[e.id] {
				continue
			}
			seen[e.id] = true
			var d app.Delivery
			switch err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, e.id), &d); {
			case errors.Is(err, app.ErrNotFound):
				continue // a stale entry
			case err != nil:
				return err
			}
			if customerMatches(d, lookups) {
				list = append(list, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b app.Delivery) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	return list[:min(len(list), limit)], nil
}

// PurgeDeliveries deletes up to limit of the merchant's deliveries created
// before before, oldest first, with every index entry, in one write
// transaction. It walks the time index from the merchant's oldest entry;
// entries in before's microsecond are checked on their records, and an
// entry without a record is dropped.
func (s *Store) PurgeDeliveries(ctx context.Context, merchant string, before time.Time, limit int) (int, error) {
	if err := required("merchant", merchant); err != nil {
		return 0, fmt.Errorf("embedded: purge deliveries: %w", err)
	}
	if limit <= 0 {
		return 0, fmt.Errorf("embedded: purge deliveries: %w", app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit)))
	}
	purged := 0
	err := s.update(ctx, "purge deliveries", func(tx *bolt.Tx) error {
		purged = 0
		prefix, end := merchantPrefix(merchant), micros(before)
		var old []app.Delivery
		var stale [][]byte
		c := bucket(tx, bucketDeliveryByTime).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(old) < limit; k, _ = c.Next() {
			at, id, ok := readTime(k[len(prefix):])
			if !ok {
				return fmt.Errorf("corrupt delivery index key %q", k)
			}
			if at > end {
				break
			}
			var d app.Delivery
			switch err := getJSON(bucket(tx, bucketDeliveries), scoped(merchant, string(id)), &d); {
			case errors.Is(err, app.ErrNotFound):
				stale = append(stale, bytes.Clone(k))
				continue
			case err != nil:
				return err
			}
			if d.CreatedAt.Before(before) {
				old = append(old, d)
			}
		}
		// Deleted after the walk: a cursor is not safe across deletes.
		for _, k := range stale {
			if err := bucket(tx, bucketDeliveryByTime).Delete(k); err != nil {
				return err
			}
		}
		for _, d := range old {
			if err := deleteDelivery(tx, d); err != nil {
				return err
			}
		}
		purged = len(old)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return purged, nil
}
