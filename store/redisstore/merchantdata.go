package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

const (
	// dropJobsBatch bounds the jobs one DropJobs script removes, so an
	// uninstall with a long queue does not hold the server for long.
	dropJobsBatch = 1000
	// redactBatch bounds the deliveries one redaction script deletes.
	redactBatch = 100
)

var _ app.MerchantData = (*Store)(nil)

// checkMap refuses an empty merchant or map name.
func checkMap(merchant, name string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	if name == "" {
		return app.Invalid("name", "is required")
	}
	return nil
}

// MapGet reads one field of the merchant's map name.
func (s *Store) MapGet(ctx context.Context, merchant, name, field string) (string, error) {
	if err := checkMap(merchant, name); err != nil {
		return "", err
	}
	v, err := s.rdb.HGet(ctx, s.keys.dataMap(merchant, name), field).Result()
	if err != nil {
		return "", wrap("map get "+name, err)
	}
	return v, nil
}

// MapAll reads the whole map; an absent map is empty.
func (s *Store) MapAll(ctx context.Context, merchant, name string) (map[string]string, error) {
	if err := checkMap(merchant, name); err != nil {
		return nil, err
	}
	all, err := s.rdb.HGetAll(ctx, s.keys.dataMap(merchant, name)).Result()
	if err != nil {
		return nil, wrap("map all "+name, err)
	}
	return all, nil
}

// MapSet sets fields, leaving the map's others.
func (s *Store) MapSet(ctx context.Context, merchant, name string, fields map[string]string) error {
	if err := checkMap(merchant, name); err != nil {
		return err
	}
	if len(fields) == 0 {
		return nil
	}
	return wrap("map set "+name, s.rdb.HSet(ctx, s.keys.dataMap(merchant, name), fields).Err())
}

// MapReplace deletes the map and writes fields in one MULTI.
func (s *Store) MapReplace(ctx context.Context, merchant, name string, fields map[string]string) error {
	if err := checkMap(merchant, name); err != nil {
		return err
	}
	key := s.keys.dataMap(merchant, name)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		if len(fields) > 0 {
			p.HSet(ctx, key, fields)
		}
		return nil
	})
	return wrap("map replace "+name, err)
}

// MapDelete removes fields; absent ones are ignored.
func (s *Store) MapDelete(ctx context.Context, merchant, name string, fields ...string) error {
	if err := checkMap(merchant, name); err != nil {
		return err
	}
	if len(fields) == 0 {
		return nil
	}
	return wrap("map delete "+name, s.rdb.HDel(ctx, s.keys.dataMap(merchant, name), fields...).Err())
}

// AdvanceState stores value under key if version is newer than the stored
// one and enqueues the effects of a change, in one script on the
// merchant's slot, and answers the value stored before.
func (s *Store) AdvanceState(ctx context.Context, merchant, key string, version int64, value string, ttl time.Duration, effects ...app.Job) (string, bool, error) {
	if err := requireID("merchant", merchant); err != nil {
		return "", false, err
	}
	if key == "" {
		return "", false, app.Invalid("key", "is required")
	}
	if ttl <= 0 {
		return "", false, app.Invalid("ttl", fmt.Sprintf("must be positive, got %s", ttl))
	}
	keys := []string{s.keys.state(merchant, key)}
	args := []any{strconv.FormatInt(version, 10), value, positiveMS(ttl), s.offsetMS()}
	if len(effects) > 0 {
		q := s.keys.queue(merchant)
		keys = append(keys, q.jobs, q.due, q.keys)
		for _, job := range effects {
			if job.Merchant != merchant {
				return "", false, app.Invalid("effects", "a job of another merchant")
			}
			raw, due, dueNow, err := s.newJob(job)
			if err != nil {
				return "", false, err
			}
			args = append(args, job.ID, raw, due, job.Key, dueNow)
		}
		if err := s.noteMerchant(ctx, merchant); err != nil {
			return "", false, wrap("advance state", err)
		}
	}
	res, err := s.scripts.advanceState.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return "", false, wrap("advance state", err)
	}
	advanced, _ := res[0].(int64)
	previous, _ := res[1].(string)
	if lower, _ := res[2].(string); lower != "" {
		if at, err := strconv.ParseInt(lower, 10, 64); err == nil {
			s.lowerIndex(ctx, merchant, at)
		}
	}
	return previous, advanced == 1, nil
}

// State reads the record AdvanceState keeps for key.
func (s *Store) State(ctx context.Context, merchant, key string) (string, int64, error) {
	if err := requireID("merchant", merchant); err != nil {
		return "", 0, err
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.state(merchant, key), "v", "value").Result()
	if err != nil {
		return "", 0, wrap("state", err)
	}
	raw, ok := vals[0].(string)
	if !ok {
		return "", 0, fmt.Errorf("redisstore: state %s: %w", key, app.ErrNotFound)
	}
	version, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("redisstore: state %s: stored version %q: %w", key, raw, err)
	}
	value, _ := vals[1].(string)
	return value, version, nil
}

// DeleteStates deletes the state records of keys in one DEL (one slot:
// one merchant).
func (s *Store) DeleteStates(ctx context.Context, merchant string, keys ...string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	var records []string
	for _, key := range keys {
		if key != "" {
			records = append(records, s.keys.state(merchant, key))
		}
	}
	if len(records) == 0 {
		return nil
	}
	return wrap("delete states", s.rdb.Del(ctx, records...).Err())
}

// Throttle takes the next free slot of limit per window on key, in one
// script on the server's clock, so every instance shares the slots and an
// instance's own clock does not shift them.
func (s *Store) Throttle(ctx context.Context, merchant, key string, limit int, window, maxWait time.Duration) (time.Duration, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	if key == "" {
		return 0, app.Invalid("key", "is required")
	}
	if limit <= 0 {
		return 0, app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit))
	}
	if window <= 0 {
		return 0, app.Invalid("window", fmt.Sprintf("must be positive, got %s", window))
	}
	// Whole µs, rounded up: never more than limit slots per window.
	windowUS := (window + time.Microsecond - 1).Microseconds()
	spacing := (windowUS + int64(limit) - 1) / int64(limit)
	now, err := s.clock.now(ctx)
	if err != nil {
		return 0, wrap("throttle", err)
	}
	waitUS, err := s.scripts.throttle.Run(ctx, s.rdb, []string{s.keys.throttle(merchant, key)},
		now.Add(s.offset()).UnixMicro(), windowUS, limit, max(maxWait, 0).Microseconds(), spacing).Int64()
	if err != nil {
		return 0, wrap("throttle", err)
	}
	return time.Duration(waitUS) * time.Microsecond, nil
}

// DropJobs removes the merchant's waiting jobs (due and scheduled) with
// their records, payloads and keys, in batches of one script each. Leased
// and dead jobs stay. The merchant's score in the queue index is left: the
// next claim that picks the merchant finds nothing due and settles the
// score.
func (s *Store) DropJobs(ctx context.Context, merchant string) (int, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	q := s.keys.queue(merchant)
	total := 0
	for {
		n, err := s.scripts.dropJobs.Run(ctx, s.rdb, []string{q.due, q.jobs, q.keys, q.payload}, dropJobsBatch).Int()
		if err != nil {
			return total, wrap("drop jobs", err)
		}
		total += n
		if n < dropJobsBatch {
			return total, nil
		}
	}
}

// purgeBatch bounds the keys one UNLINK of PurgeMerchantData deletes (the
// SCAN's page) and the jobs of each kind one purge script removes.
const purgeBatch = 500

// PurgeMerchantData deletes the merchant's jobs no worker holds, script by
// script, then every other key of the merchant but its record and its
// statistics, page by page of a SCAN over the merchant's key prefix. The
// SCAN walks the whole keyspace of the server (on a cluster, of the node
// that owns the merchant's slot) to find them: a cost a shop's redaction,
// once in its life, can bear. Keys written while it runs may be missed; a
// second call finds them.
func (s *Store) PurgeMerchantData(ctx context.Context, merchant string) (int, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	total := 0
	q := s.keys.queue(merchant)
	for {
		n, err := s.scripts.purgeJobs.Run(ctx, s.rdb, []string{q.due, q.lease, q.jobs, q.payload, q.dead, q.keys},
			msOf(s.now()), purgeBatch).Int()
		if err != nil {
			return total, wrap("purge merchant data", err)
		}
		total += n
		if n == 0 {
			break
		}
	}
	var node redis.Cmdable = s.rdb
	if cluster, ok := s.rdb.(*redis.ClusterClient); ok {
		master, err := cluster.MasterForKey(ctx, s.keys.merchantRecord(merchant))
		if err != nil {
			return total, wrap("purge merchant data", err)
		}
		node = master
	}
	pattern := s.keys.merchantPattern(merchant)
	var cursor uint64
	for {
		page, next, err := node.Scan(ctx, cursor, pattern, purgeBatch).Result()
		if err != nil {
			return total, wrap("purge merchant data", err)
		}
		doomed := slices.DeleteFunc(page, func(key string) bool { return s.keys.purgeKeeps(merchant, key) })
		if len(doomed) > 0 {
			n, err := s.rdb.Unlink(ctx, doomed...).Result() // one slot: one merchant
			if err != nil {
				return total, wrap("purge merchant data", err)
			}
			total += int(n)
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

// DeleteCustomerDeliveries deletes the merchant's deliveries matching any
// non-empty criterion of match, found through the phone, customer and
// subject SETs, with every index entry. Each round reads the SETs and the
// records and deletes in a script those records still as read; a record
// updated meanwhile, or a matching delivery created meanwhile, is taken in
// the next round.
func (s *Store) DeleteCustomerDeliveries(ctx context.Context, merchant string, match app.CustomerMatch) (int, error) {
	if err := requireID("merchant", merchant); err != nil {
		return 0, err
	}
	sets := s.customerSets(merchant, match)
	if len(sets) == 0 {
		return 0, nil
	}
	removed := 0
	for range maxUpdateAttempts {
		ids, err := s.rdb.SUnion(ctx, sets...).Result()
		if err != nil {
			return removed, wrap("delete customer deliveries", err)
		}
		if len(ids) == 0 {
			return removed, nil
		}
		for chunk := range slices.Chunk(ids, redactBatch) {
			n, err := s.deleteMatching(ctx, merchant, match, sets, chunk)
			removed += n
			if err != nil {
				return removed, err
			}
		}
	}
	return removed, fmt.Errorf("redisstore: delete customer deliveries: too many concurrent updates: %w", app.ErrConflict)
}

// customerSets lists the SETs of match's non-empty criteria, once each.
func (s *Store) customerSets(merchant string, match app.CustomerMatch) []string {
	var sets []string
	add := func(key string) {
		if !slices.Contains(sets, key) {
			sets = append(sets, key)
		}
	}
	if match.Phone != "" {
		add(s.keys.deliveryPhone(merchant, match.Phone))
	}
	if match.CustomerID != "" {
		add(s.keys.deliveryCustomer(merchant, match.CustomerID))
	}
	for _, subject := range match.Subjects {
		if subject != "" {
			add(s.keys.deliverySubject(merchant, subject))
		}
	}
	return sets
}

func customerMatches(d app.Delivery, match app.CustomerMatch) bool {
	return (match.Phone != "" && d.Phone == match.Phone) ||
		(match.CustomerID != "" && d.CustomerID == match.CustomerID) ||
		(d.Subject != "" && slices.Contains(match.Subjects, d.Subject))
}

// deleteMatching deletes the deliveries ids (found in sets) whose records
// match, and drops from sets the ids whose records are gone or no longer
// match. It answers how many it deleted.
func (s *Store) deleteMatching(ctx context.Context, merchant string, match app.CustomerMatch, sets, ids []string) (int, error) {
	found, stale, err := s.readDeliveries(ctx, "delete customer deliveries", merchant, ids)
	if err != nil {
		return 0, err
	}
	var read []readDelivery
	for _, r := range found {
		if !customerMatches(r.d, match) {
			stale = append(stale, r.id)
			continue
		}
		read = append(read, r)
	}
	if len(stale) > 0 {
		// No write leaves such ids behind; clearing them keeps the rounds
		// of DeleteCustomerDeliveries finite should one ever appear.
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, set := range sets {
				p.SRem(ctx, set, stale...)
			}
			return nil
		})
		if err != nil {
			return 0, wrap("delete customer deliveries", err)
		}
	}
	return s.deleteDeliveries(ctx, "delete customer deliveries", merchant, read)
}

// readDelivery is a delivery record as read: its id, its stored value,
// which the deletion script compares, and the record decoded.
type readDelivery struct {
	id, raw string
	d       app.Delivery
}

// readDeliveries reads and decodes the records of the merchant's deliveries
// ids in one MGET. It answers the records found, in the order of ids, and
// the ids that have none (as []any, ready for ZREM or SREM). op names the
// caller's operation in errors.
func (s *Store) readDeliveries(ctx context.Context, op, merchant string, ids []string) (found []readDelivery, missing []any, err error) {
	recordKeys := make([]string, len(ids))
	for i, id := range ids {
		recordKeys[i] = s.keys.delivery(merchant, id)
	}
	raws, err := s.rdb.MGet(ctx, recordKeys...).Result() // one slot: one merchant
	if err != nil {
		return nil, nil, wrap(op, err)
	}
	for i, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			missing = append(missing, ids[i])
			continue
		}
		d, err := decodeDelivery([]byte(str))
		if err != nil {
			return nil, nil, err
		}
		found = append(found, readDelivery{id: ids[i], raw: str, d: d})
	}
	return found, missing, nil
}

// deleteDeliveries deletes the deliveries read, with every index entry that
// points at them, in one script: each only if its record is still the one
// read. It answers how many it deleted; a record changed meanwhile is left
// for the caller to read again.
func (s *Store) deleteDeliveries(ctx context.Context, op, merchant string, read []readDelivery) (int, error) {
	if len(read) == 0 {
		return 0, nil
	}
	keys := make([]string, 0, 2+6*len(read))
	keys = append(keys, s.keys.deliveryIndex(merchant), s.keys.deliveryMessageIDs(merchant))
	args := make([]any, 0, 3*len(read))
	for _, r := range read {
		keys = append(keys,
			s.keys.delivery(merchant, r.id),
			s.keys.deliveryStatus(merchant, string(r.d.Status)),
			s.keys.deliveryEvent(merchant, r.d.Event),
			s.keys.deliveryPhone(merchant, r.d.Phone),
			s.keys.deliveryCustomer(merchant, r.d.CustomerID),
			s.keys.deliverySubject(merchant, r.d.Subject),
		)
		args = append(args, r.id, r.raw, r.d.ProviderMessageID)
	}
	n, err := s.scripts.deleteDeliveries.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}

// CustomerDeliveries lists the merchant's deliveries matching any non-empty
// criterion of match, newest first, at most limit. The phone, customer and
// subject SETs give the candidates and the created-time index their order,
// so only the records of the newest candidates are read; a candidate whose
// record is gone or no longer matches (updated since) is passed over for
// the next.
func (s *Store) CustomerDeliveries(ctx context.Context, merchant string, match app.CustomerMatch, limit int) ([]app.Delivery, error) {
	if err := requireID("merchant", merchant); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, app.Invalid("limit", fmt.Sprintf("must be positive, got %d", limit))
	}
	sets := s.customerSets(merchant, match)
	if len(sets) == 0 {
		return nil, nil
	}
	ids, err := s.rdb.SUnion(ctx, sets...).Result()
	if err != nil {
		return nil, wrap("customer deliveries", err)
	}
	type candidate struct {
		id    string
		score float64
	}
	var candidates []candidate
	indexes := s.statusIndexes(merchant)
	for chunk := range slices.Chunk(ids, maxListLimit) {
		// A delivery is in one status set, scored by its creation.
		scores := make([]*redis.FloatSliceCmd, len(indexes))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, index := range indexes {
				scores[i] = p.ZMScore(ctx, index, chunk...)
			}
			return nil
		})
		if err != nil {
			return nil, wrap("customer deliveries", err)
		}
		for i, id := range chunk {
			for _, cmd := range scores {
				// ZMSCORE answers nil, read as 0, for a member it lacks; no
				// delivery is created at the epoch.
				if score := cmd.Val()[i]; score != 0 {
					candidates = append(candidates, candidate{id, score})
					break
				}
			}
		}
	}
	slices.SortFunc(candidates, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), strings.Compare(b.id, a.id))
	})
	var out []app.Delivery
	for len(candidates) > 0 && len(out) < limit {
		n := min(len(candidates), maxListLimit)
		chunk := make([]string, n)
		for i, c := range candidates[:n] {
			chunk[i] = c.id
		}
		candidates = candidates[n:]
		found, _, err := s.readDeliveries(ctx, "customer deliveries", merchant, chunk)
		if err != nil {
			return nil, err
		}
		for _, r := range found {
			if customerMatches(r.d, match) {
				out = append(out, r.d)
			}
		}
	}
	slices.SortFunc(out, newestFirst)
	return out[:min(len(out), limit)], nil
}

// newestFirst orders deliveries as the log lists them: by creation time,
// then id, both descending.
func newestFirst(a, b app.Delivery) int {
	return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
}
