package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

const (
	defaultDeliveryLimit = 50
	// joinBatch is how many index members a two-filter listing checks per
	// round trip.
	joinBatch = 500
	// maxUpdateAttempts bounds the optimistic retries of UpdateDelivery.
	maxUpdateAttempts = 32
)

// CreateDelivery stores d with its index entries in one script.
func (s *Store) CreateDelivery(ctx context.Context, d app.Delivery) error {
	if err := requireID("merchant", d.Merchant); err != nil {
		return err
	}
	if err := requireID("id", d.ID); err != nil {
		return err
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("redisstore: create delivery: %w", err)
	}
	keys := []string{
		s.keys.delivery(d.Merchant, d.ID),
		s.keys.deliveryStatus(d.Merchant, string(d.Status)),
		s.keys.deliveryEvent(d.Merchant, d.Event),
		s.keys.deliveryMessageIDs(d.Merchant),
		s.keys.deliveryPhone(d.Merchant, d.Phone),
		s.keys.deliveryCustomer(d.Merchant, d.CustomerID),
		s.keys.deliverySubject(d.Merchant, d.Subject),
	}
	ok, err := s.scripts.createDelivery.Run(ctx, s.rdb, keys, raw, msOf(d.CreatedAt), d.ID, d.ProviderMessageID,
		d.Phone, d.CustomerID, d.Subject).Int()
	if err != nil {
		return wrap("create delivery", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: create delivery %s: id taken: %w", d.ID, app.ErrConflict)
	}
	return nil
}

// GetDelivery reads one delivery.
func (s *Store) GetDelivery(ctx context.Context, merchant, id string) (app.Delivery, error) {
	if err := requireID("merchant", merchant); err != nil {
		return app.Delivery{}, err
	}
	raw, err := s.rdb.Get(ctx, s.keys.delivery(merchant, id)).Bytes()
	if err != nil {
		return app.Delivery{}, wrap("get delivery "+id, err)
	}
	return decodeDelivery(raw)
}

func decodeDelivery(raw []byte) (app.Delivery, error) {
	var d app.Delivery
	if err := json.Unmarshal(raw, &d); err != nil {
		return app.Delivery{}, fmt.Errorf("redisstore: decode delivery: %w", err)
	}
	return d, nil
}

// errChangeAborted carries the caller's own error out of the transaction.
type errChangeAborted struct{ err error }

func (e errChangeAborted) Error() string { return e.err.Error() }

// UpdateDelivery applies change under WATCH on the record and writes the
// record and its index entries in one MULTI; a concurrent write makes it
// read and apply again.
func (s *Store) UpdateDelivery(ctx context.Context, merchant, id string, change func(*app.Delivery) error) (app.Delivery, error) {
	if err := requireID("merchant", merchant); err != nil {
		return app.Delivery{}, err
	}
	key := s.keys.delivery(merchant, id)
	var updated app.Delivery
	update := func(tx *redis.Tx) error {
		raw, err := tx.Get(ctx, key).Bytes()
		if err != nil {
			return err
		}
		old, err := decodeDelivery(raw)
		if err != nil {
			return err
		}
		// A separate copy, as change may touch slices: cloned rather than
		// decoded twice (the record carries its whole event).
		cur := old
		cur.Values = slices.Clone(old.Values)
		cur.EventData = slices.Clone(old.EventData)
		cur.History = slices.Clone(old.History)
		if err := change(&cur); err != nil {
			return errChangeAborted{err}
		}
		cur.ID, cur.Merchant = old.ID, old.Merchant
		next, err := json.Marshal(cur)
		if err != nil {
			return fmt.Errorf("redisstore: encode delivery: %w", err)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, next, 0)
			score := float64(msOf(cur.CreatedAt))
			member := redis.Z{Score: score, Member: id}
			if cur.Status != old.Status {
				p.ZRem(ctx, s.keys.deliveryStatus(merchant, string(old.Status)), id)
			}
			if cur.Event != old.Event {
				p.ZRem(ctx, s.keys.deliveryEvent(merchant, old.Event), id)
			}
			// Only the entries that changed are written: a send moves the
			// status alone, and its record is the one write per message.
			moved := !cur.CreatedAt.Equal(old.CreatedAt)
			if moved || cur.Status != old.Status {
				p.ZAdd(ctx, s.keys.deliveryStatus(merchant, string(cur.Status)), member)
			}
			if moved || cur.Event != old.Event {
				p.ZAdd(ctx, s.keys.deliveryEvent(merchant, cur.Event), member)
			}
			// An old message id is left in the hash; lookups check the
			// record still carries it.
			if cur.ProviderMessageID != "" && cur.ProviderMessageID != old.ProviderMessageID {
				p.HSet(ctx, s.keys.deliveryMessageIDs(merchant), cur.ProviderMessageID, id)
			}
			s.moveCustomerIndexes(ctx, p, merchant, id, old, cur)
			return nil
		})
		updated = cur
		return err
	}
	for range maxUpdateAttempts {
		err := s.rdb.Watch(ctx, update, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		var aborted errChangeAborted
		if errors.As(err, &aborted) {
			return app.Delivery{}, aborted.err
		}
		if err != nil {
			return app.Delivery{}, wrap("update delivery "+id, err)
		}
		return updated, nil
	}
	return app.Delivery{}, fmt.Errorf("redisstore: update delivery %s: too many concurrent updates: %w", id, app.ErrConflict)
}

// ListDeliveries pages through the merchant's deliveries, newest first. The
// cursor is "<created ms>:<id>" of the last delivery returned.
func (s *Store) ListDeliveries(ctx context.Context, merchant string, f app.DeliveryFilter) ([]app.Delivery, string, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultDeliveryLimit
	}
	limit = min(limit, maxListLimit)
	top, afterID := "+inf", ""
	var afterScore int64
	if f.Cursor != "" {
		score, id, ok := strings.Cut(f.Cursor, ":")
		n, err := strconv.ParseInt(score, 10, 64)
		if !ok || err != nil || id == "" {
			return nil, "", app.Invalid("cursor", "is not a cursor this store returned")
		}
		top, afterScore, afterID = score, n, id
	}
	// One filter's index drives the scan. With both, the smaller one
	// does, and its members are checked in the other's index before any
	// record is read: "failed" and a rare event would otherwise read every
	// failed delivery.
	var index, also string
	switch {
	case f.Status != "" && f.Event != "":
		index, also = s.keys.deliveryStatus(merchant, string(f.Status)), s.keys.deliveryEvent(merchant, f.Event)
		var byStatus, byEvent *redis.IntCmd
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			byStatus, byEvent = p.ZCard(ctx, index), p.ZCard(ctx, also)
			return nil
		}); err != nil {
			return nil, "", wrap("list deliveries", err)
		}
		if byEvent.Val() < byStatus.Val() {
			index, also = also, index
		}
	case f.Status != "":
		index = s.keys.deliveryStatus(merchant, string(f.Status))
	case f.Event != "":
		index = s.keys.deliveryEvent(merchant, f.Event)
	default:
		return s.listAll(ctx, merchant, limit, top, afterScore, afterID)
	}

	type found struct {
		d     app.Delivery
		score int64
	}
	var out []found
	batch := int64(limit + 1)
	if also != "" {
		batch = max(batch, joinBatch) // members are cheap to check
	}
	for offset := int64(0); len(out) <= limit; {
		members, err := s.rdb.ZRevRangeByScoreWithScores(ctx, index, &redis.ZRangeBy{
			Max: top, Min: "-inf", Offset: offset, Count: batch,
		}).Result()
		if err != nil {
			return nil, "", wrap("list deliveries", err)
		}
		var ids []string
		var scores []int64
		var at []int // each id's place in members
		for i, z := range members {
			id, score := z.Member.(string), int64(z.Score)
			// Same millisecond as the cursor: members come in descending
			// order, so only those below the cursor's id are new.
			if afterID != "" && score == afterScore && id >= afterID {
				continue
			}
			ids, scores, at = append(ids, id), append(scores, score), append(at, i)
		}
		if also != "" && len(ids) > 0 {
			held, err := s.rdb.ZMScore(ctx, also, ids...).Result()
			if err != nil {
				return nil, "", wrap("list deliveries", err)
			}
			// A delivery's indexes all score its creation time.
			kept := 0
			for i, score := range held {
				if int64(score) == scores[i] {
					ids[kept], scores[kept], at[kept] = ids[i], scores[i], at[i]
					kept++
				}
			}
			ids, scores, at = ids[:kept], scores[:kept], at[:kept]
		}
		// Records are read only as far as the page needs; the next round,
		// if one is needed, starts at the first member not read.
		next, more := offset+int64(len(members)), int64(len(members)) == batch
		if need := limit + 1 - len(out); len(ids) > need {
			next, more = offset+int64(at[need]), true
			ids, scores = ids[:need], scores[:need]
		}
		if len(ids) > 0 {
			records, _, err := s.readDeliveries(ctx, "list deliveries", merchant, ids)
			if err != nil {
				return nil, "", err
			}
			// The records found keep the order of ids.
			at := 0
			for _, r := range records {
				for ids[at] != r.id {
					at++
				}
				if d := r.d; (f.Status == "" || d.Status == f.Status) && (f.Event == "" || d.Event == f.Event) {
					out = append(out, found{d, scores[at]})
				}
				at++
			}
		}
		if !more {
			break
		}
		offset = next
	}
	cursor := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		cursor = strconv.FormatInt(last.score, 10) + ":" + last.d.ID
	}
	deliveries := make([]app.Delivery, len(out))
	for i, item := range out {
		deliveries[i] = item.d
	}
	return deliveries, cursor, nil
}

// statusIndexes are the merchant's status sets, which together index every
// delivery by creation time.
func (s *Store) statusIndexes(merchant string) []string {
	var out []string
	for _, st := range app.DeliveryStatuses() {
		out = append(out, s.keys.deliveryStatus(merchant, string(st)))
	}
	return out
}

// scored is an index member and its score (the creation ms).
type scored struct {
	id    string
	score int64
}

// newestOf answers up to n members of indexes, newest first (equal scores
// by id, descending, as one index orders them), below the cursor as
// ListDeliveries reads it (top, and afterScore and afterID when a cursor
// was given): each index's newest, in one pipeline per round, merged.
func (s *Store) newestOf(ctx context.Context, indexes []string, top string, afterScore int64, afterID string, n int) ([]scored, error) {
	type source struct {
		key    string
		offset int64
		kept   int
	}
	active := make([]*source, len(indexes))
	for i, key := range indexes {
		active[i] = &source{key: key}
	}
	var out []scored
	seen := map[string]bool{}
	for len(active) > 0 {
		cmds := make([]*redis.ZSliceCmd, len(active))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, src := range active {
				cmds[i] = p.ZRevRangeByScoreWithScores(ctx, src.key, &redis.ZRangeBy{Max: top, Min: "-inf", Offset: src.offset, Count: int64(n)})
			}
			return nil
		}); err != nil {
			return nil, err
		}
		var again []*source
		for i, src := range active {
			members := cmds[i].Val()
			for _, z := range members {
				id, score := z.Member.(string), int64(z.Score)
				// Same millisecond as the cursor: only ids below it are new.
				if (afterID != "" && score == afterScore && id >= afterID) || seen[id] {
					continue
				}
				seen[id] = true
				out = append(out, scored{id, score})
				src.kept++
			}
			src.offset += int64(len(members))
			if len(members) == n && src.kept < n {
				again = append(again, src) // ties at the cursor took some
			}
		}
		active = again
	}
	slices.SortFunc(out, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.score, a.score), strings.Compare(b.id, a.id))
	})
	return out[:min(len(out), n)], nil
}

// listAll is ListDeliveries without a filter: the newest of every status
// set, merged, so only the page's records are read.
func (s *Store) listAll(ctx context.Context, merchant string, limit int, top string, afterScore int64, afterID string) ([]app.Delivery, string, error) {
	indexes := s.statusIndexes(merchant)
	var out []app.Delivery
	var scores []int64
	for len(out) <= limit {
		need := limit + 1 - len(out)
		members, err := s.newestOf(ctx, indexes, top, afterScore, afterID, need)
		if err != nil {
			return nil, "", wrap("list deliveries", err)
		}
		if len(members) == 0 {
			break
		}
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = m.id
		}
		records, _, err := s.readDeliveries(ctx, "list deliveries", merchant, ids)
		if err != nil {
			return nil, "", err
		}
		// The records found keep the order of ids.
		at := 0
		for _, r := range records {
			for ids[at] != r.id {
				at++
			}
			out, scores = append(out, r.d), append(scores, members[at].score)
			at++
		}
		last := members[len(members)-1]
		top, afterScore, afterID = strconv.FormatInt(last.score, 10), last.score, last.id
		if len(members) < need {
			break
		}
	}
	cursor := ""
	if len(out) > limit {
		out = out[:limit]
		cursor = strconv.FormatInt(scores[limit-1], 10) + ":" + out[limit-1].ID
	}
	return out, cursor, nil
}

// DeliveryByProviderMessageID finds a delivery by the provider's message id.
func (s *Store) DeliveryByProviderMessageID(ctx context.Context, merchant, messageID string) (app.Delivery, error) {
	if err := requireID("merchant", merchant); err != nil {
		return app.Delivery{}, err
	}
	if messageID == "" {
		return app.Delivery{}, fmt.Errorf("redisstore: delivery by message id: %w", app.ErrNotFound)
	}
	id, err := s.rdb.HGet(ctx, s.keys.deliveryMessageIDs(merchant), messageID).Result()
	if err != nil {
		return app.Delivery{}, wrap("delivery by message id", err)
	}
	d, err := s.GetDelivery(ctx, merchant, id)
	if err != nil {
		return app.Delivery{}, err
	}
	if d.ProviderMessageID != messageID {
		return app.Delivery{}, fmt.Errorf("redisstore: delivery by message id: %w", app.ErrNotFound)
	}
	return d, nil
}

// moveCustomerIndexes queues the changes to the phone, customer and subject
// SETs that an update from old to cur needs. A non-empty value is added
// even when unchanged (SADD is idempotent), which also indexes a record
// written before these SETs existed the next time it is updated.
func (s *Store) moveCustomerIndexes(ctx context.Context, p redis.Pipeliner, merchant, id string, old, cur app.Delivery) {
	move := func(key func(merchant, value string) string, before, after string) {
		if before != "" && before != after {
			p.SRem(ctx, key(merchant, before), id)
		}
		if after != "" && after != before {
			p.SAdd(ctx, key(merchant, after), id)
		}
	}
	move(s.keys.deliveryPhone, old.Phone, cur.Phone)
	move(s.keys.deliveryCustomer, old.CustomerID, cur.CustomerID)
	move(s.keys.deliverySubject, old.Subject, cur.Subject)
}

// PurgeDeliveries deletes up to limit of the merchant's deliveries created
// before before, oldest first, with every index entry, in one script. The
// created-time index gives the candidates: those scored below before's
// millisecond are older, and those in that millisecond are checked on their
// records. A candidate whose record changed between the read and the script
// is read again in another round; an index entry without a record is
// dropped.
func (s *Store) PurgeDeliveries(ctx context.Context, merchant string, before time.Time, limit int) (int, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit))
	}
	indexes := s.statusIndexes(merchant)
	purged := 0
	for range maxUpdateAttempts {
		ids, err := s.deliveriesBefore(ctx, indexes, before, limit-purged)
		if err != nil {
			return purged, wrap("purge deliveries", err)
		}
		if len(ids) == 0 {
			return purged, nil
		}
		found, stale, err := s.readDeliveries(ctx, "purge deliveries", merchant, ids)
		if err != nil {
			return purged, err
		}
		var old []readDelivery
		for _, r := range found {
			// Created in before's millisecond but not before it; or its
			// creation time changed since the index was read.
			if r.d.CreatedAt.Before(before) {
				old = append(old, r)
			}
		}
		old = old[:min(len(old), limit-purged)]
		if len(stale) > 0 {
			// No write leaves such entries behind; dropping them keeps the
			// purge from finding them again should one ever appear.
			if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, index := range append(indexes, s.keys.deliveryIndex(merchant)) {
					p.ZRem(ctx, index, stale...)
				}
				return nil
			}); err != nil {
				return purged, wrap("purge deliveries", err)
			}
		}
		n, err := s.deleteDeliveries(ctx, "purge deliveries", merchant, old)
		purged += n
		if err != nil {
			return purged, err
		}
		if purged == limit || (n == len(old) && len(stale) == 0) {
			return purged, nil
		}
	}
	if purged > 0 {
		return purged, nil
	}
	return 0, fmt.Errorf("redisstore: purge deliveries: too many concurrent updates: %w", app.ErrConflict)
}

// deliveriesBefore lists, oldest first, up to limit ids of the status sets
// scored below before's millisecond, then, when there is room and before
// is not a whole millisecond, every id scored in that millisecond: those
// may have been created before or after before, and the caller tells them
// apart on the records, so none is passed over for a later one.
func (s *Store) deliveriesBefore(ctx context.Context, indexes []string, before time.Time, limit int) ([]string, error) {
	ms := msOf(before)
	top := strconv.FormatInt(ms, 10)
	ranges := func(by *redis.ZRangeBy) ([]redis.Z, error) {
		cmds := make([]*redis.ZSliceCmd, len(indexes))
		if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, index := range indexes {
				cmds[i] = p.ZRangeByScoreWithScores(ctx, index, by)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		var all []redis.Z
		for _, cmd := range cmds {
			all = append(all, cmd.Val()...)
		}
		slices.SortFunc(all, func(a, b redis.Z) int {
			return cmp.Or(cmp.Compare(a.Score, b.Score), strings.Compare(a.Member.(string), b.Member.(string)))
		})
		return all, nil
	}
	older, err := ranges(&redis.ZRangeBy{Min: "-inf", Max: "(" + top, Count: int64(limit)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, z := range older[:min(len(older), limit)] {
		ids = append(ids, z.Member.(string))
	}
	if len(ids) >= limit || time.UnixMilli(ms).Equal(before) {
		return ids, nil
	}
	edge, err := ranges(&redis.ZRangeBy{Min: top, Max: top})
	for _, z := range edge {
		ids = append(ids, z.Member.(string))
	}
	return ids, err
}
