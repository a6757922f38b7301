package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// maxSwapAttempts bounds the optimistic retries of one update; a lost swap
// waits a little, more each time, so racing writers spread out.
const maxSwapAttempts = 64

// uniqueKeys are the global unique index keys m owns.
func (s *Store) uniqueKeys(m app.Merchant) []string {
	var out []string
	if m.Domain != "" {
		out = append(out, s.keys.domainIndex(string(m.Platform), m.Domain))
	}
	if m.APIKeyHash != "" {
		out = append(out, s.keys.apiKeyIndex(m.APIKeyHash))
	}
	return out
}

// CreateMerchant takes the merchant's unique indexes first, then writes the
// record; a failure gives back the indexes it took.
func (s *Store) CreateMerchant(ctx context.Context, m app.Merchant) error {
	if err := requireID("id", m.ID); err != nil {
		return err
	}
	m.Version = 1
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("redisstore: create merchant: %w", err)
	}
	taken, err := s.takeIndexes(ctx, m.ID, s.uniqueKeys(m))
	if err != nil {
		return fmt.Errorf("redisstore: create merchant %s: %w", m.ID, err)
	}
	// Listed before the record exists: listing skips ids without one, while
	// a record missing from the list would be invisible.
	if err := s.rdb.SAdd(ctx, s.keys.merchantIDs(), m.ID).Err(); err != nil {
		s.dropIndexes(ctx, m.ID, taken)
		return wrap("create merchant", err)
	}
	created, err := s.rdb.SetNX(ctx, s.keys.merchantRecord(m.ID), raw, 0).Result()
	if err != nil || !created {
		s.dropIndexes(ctx, m.ID, taken)
	}
	if err != nil {
		return wrap("create merchant", err)
	}
	if !created {
		return fmt.Errorf("redisstore: create merchant %s: id taken: %w", m.ID, app.ErrConflict)
	}
	return nil
}

// takeIndexes sets each index key to id unless another merchant owns it. It
// answers the keys it set, so a failure later can give back exactly those;
// a key already pointing at id (a retried write) is used but not returned.
func (s *Store) takeIndexes(ctx context.Context, id string, indexKeys []string) ([]string, error) {
	var taken []string
	for _, key := range indexKeys {
		owner, err := s.scripts.takeIndex.Run(ctx, s.rdb, []string{key}, id).Text()
		if err != nil {
			s.dropIndexes(ctx, id, taken)
			return nil, wrap("take index", err)
		}
		switch owner {
		case "":
			taken = append(taken, key)
		case id:
		default:
			s.dropIndexes(ctx, id, taken)
			return nil, fmt.Errorf("platform and domain, or API key, taken: %w", app.ErrConflict)
		}
	}
	return taken, nil
}

// dropIndexes deletes the index keys that still point at id. It runs on a
// path that is already failing, so its own errors are not reported: a
// leftover index only blocks its domain until the owner is deleted by hand,
// and reads ignore an index whose record disagrees.
func (s *Store) dropIndexes(ctx context.Context, id string, indexKeys []string) {
	for _, key := range indexKeys {
		s.scripts.dropIfOwner.Run(ctx, s.rdb, []string{key}, id)
	}
}

// UpdateMerchant reads the record, applies change, takes any new index,
// swaps the record if nobody else changed it meanwhile (else reads again),
// then drops the indexes the merchant no longer owns.
func (s *Store) UpdateMerchant(ctx context.Context, id string, change func(*app.Merchant) error) (app.Merchant, error) {
	if err := requireID("id", id); err != nil {
		return app.Merchant{}, err
	}
	recordKey := s.keys.merchantRecord(id)
	for attempt := range maxSwapAttempts {
		oldRaw, err := s.rdb.Get(ctx, recordKey).Result()
		if err != nil {
			return app.Merchant{}, wrap("update merchant "+id, err)
		}
		var old, m app.Merchant
		if err := json.Unmarshal([]byte(oldRaw), &old); err != nil {
			return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: decode: %w", id, err)
		}
		if err := json.Unmarshal([]byte(oldRaw), &m); err != nil { // a deep copy for change to own
			return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: decode: %w", id, err)
		}
		if err := change(&m); err != nil {
			return app.Merchant{}, err
		}
		m.ID = id
		m.Version = old.Version + 1
		if err := checkMerchant(m); err != nil {
			return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: %w", id, err)
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: %w", id, err)
		}
		oldKeys, newKeys := s.uniqueKeys(old), s.uniqueKeys(m)
		var added []string
		for _, key := range newKeys {
			if !slices.Contains(oldKeys, key) {
				added = append(added, key)
			}
		}
		taken, err := s.takeIndexes(ctx, id, added)
		if err != nil {
			return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: %w", id, err)
		}
		swapped, err := s.scripts.swap.Run(ctx, s.rdb, []string{recordKey}, oldRaw, raw).Int()
		if err != nil || swapped == 0 {
			s.dropIndexes(ctx, id, taken)
		}
		if err != nil {
			return app.Merchant{}, wrap("update merchant "+id, err)
		}
		if swapped == 0 {
			// Changed or deleted since the read: read again, apply again.
			select {
			case <-ctx.Done():
				return app.Merchant{}, wrap("update merchant "+id, ctx.Err())
			case <-time.After(time.Duration(rand.Int64N(int64(attempt+1))) * time.Millisecond):
			}
			continue
		}
		for _, key := range oldKeys {
			if slices.Contains(newKeys, key) {
				continue
			}
			if err := s.scripts.dropIfOwner.Run(ctx, s.rdb, []string{key}, id).Err(); err != nil {
				return app.Merchant{}, wrap("update merchant "+id+": release index", err)
			}
		}
		return m, nil
	}
	return app.Merchant{}, fmt.Errorf("redisstore: update merchant %s: too many concurrent updates: %w", id, app.ErrConflict)
}

// checkMerchant refuses a record the indexes could not hold.
func checkMerchant(m app.Merchant) error {
	if m.Platform == "" || m.Domain == "" {
		return fmt.Errorf("platform and domain are required: %w", app.ErrConflict)
	}
	return nil
}

// GetMerchant reads one merchant.
func (s *Store) GetMerchant(ctx context.Context, id string) (app.Merchant, error) {
	if err := requireID("id", id); err != nil {
		return app.Merchant{}, err
	}
	raw, err := s.rdb.Get(ctx, s.keys.merchantRecord(id)).Bytes()
	if err != nil {
		return app.Merchant{}, wrap("get merchant "+id, err)
	}
	var m app.Merchant
	if err := json.Unmarshal(raw, &m); err != nil {
		return app.Merchant{}, fmt.Errorf("redisstore: get merchant %s: decode: %w", id, err)
	}
	return m, nil
}

// MerchantByDomain finds a merchant through the platform and domain index.
func (s *Store) MerchantByDomain(ctx context.Context, platform app.Platform, domain string) (app.Merchant, error) {
	if domain == "" {
		return app.Merchant{}, fmt.Errorf("redisstore: merchant by domain: %w", app.ErrNotFound)
	}
	return s.merchantByIndex(ctx, s.keys.domainIndex(string(platform), domain), func(m app.Merchant) bool {
		return m.Platform == platform && m.Domain == domain
	})
}

// MerchantByAPIKeyHash finds a merchant through the API key index.
func (s *Store) MerchantByAPIKeyHash(ctx context.Context, hash string) (app.Merchant, error) {
	if hash == "" {
		return app.Merchant{}, fmt.Errorf("redisstore: merchant by api key: %w", app.ErrNotFound)
	}
	return s.merchantByIndex(ctx, s.keys.apiKeyIndex(hash), func(m app.Merchant) bool {
		return m.APIKeyHash == hash
	})
}

// merchantByIndex follows an index key and checks the record still agrees:
// an index left behind by an interrupted write reads as not found.
func (s *Store) merchantByIndex(ctx context.Context, indexKey string, matches func(app.Merchant) bool) (app.Merchant, error) {
	id, err := s.rdb.Get(ctx, indexKey).Result()
	if err != nil {
		return app.Merchant{}, wrap("find merchant", err)
	}
	m, err := s.GetMerchant(ctx, id)
	if err != nil {
		return app.Merchant{}, err
	}
	if !matches(m) {
		return app.Merchant{}, fmt.Errorf("redisstore: find merchant: stale index: %w", app.ErrNotFound)
	}
	return m, nil
}

// ListMerchants reads every listed merchant, ordered by ID.
func (s *Store) ListMerchants(ctx context.Context) ([]app.Merchant, error) {
	ids, err := s.rdb.SMembers(ctx, s.keys.merchantIDs()).Result()
	if err != nil {
		return nil, wrap("list merchants", err)
	}
	slices.Sort(ids)
	// One GET per merchant: the records live in different cluster slots.
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.keys.merchantRecord(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap("list merchants", err)
	}
	out := make([]app.Merchant, 0, len(ids))
	for i, cmd := range cmds {
		raw, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			continue // listed by a create that did not finish
		}
		if err != nil {
			return nil, wrap("list merchants", err)
		}
		var m app.Merchant
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("redisstore: list merchants: decode %s: %w", ids[i], err)
		}
		out = append(out, m)
	}
	return out, nil
}
