package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/storebridge/storebridge/app"
)

// IndexAdd adds member to the index's ZSET at at's millisecond and trims
// what fell out of keep, in one MULTI on the merchant's slot. The key
// expires keep after the last add: by then every member has fallen out.
func (s *Store) IndexAdd(ctx context.Context, merchant, name, member string, at time.Time, keep time.Duration) error {
	if err := checkIndex(merchant, name); err != nil {
		return err
	}
	if member == "" {
		return app.Invalid("member", "is required")
	}
	if keep <= 0 {
		return app.Invalid("keep", fmt.Sprintf("must be positive, got %s", keep))
	}
	key := s.keys.index(merchant, name)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(at.UnixMilli()), Member: member})
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(at.Add(-keep).UnixMilli(), 10))
		p.PExpire(ctx, key, keep)
		return nil
	})
	return wrap("index add "+name, err)
}

// IndexRemove removes members from the index's ZSET.
func (s *Store) IndexRemove(ctx context.Context, merchant, name string, members ...string) error {
	if err := checkIndex(merchant, name); err != nil {
		return err
	}
	if len(members) == 0 {
		return nil
	}
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = m
	}
	return wrap("index remove "+name, s.rdb.ZRem(ctx, s.keys.index(merchant, name), list...).Err())
}

// IndexNewest reads the index's ZSET from its highest score down, ties in
// reverse byte order as ZREVRANGE gives them.
func (s *Store) IndexNewest(ctx context.Context, merchant, name string, offset, limit int) ([]string, error) {
	if err := checkIndex(merchant, name); err != nil {
		return nil, err
	}
	if limit <= 0 || offset < 0 {
		return nil, app.Invalid("limit", fmt.Sprintf("want offset ≥ 0 and limit > 0, got %d and %d", offset, limit))
	}
	members, err := s.rdb.ZRevRange(ctx, s.keys.index(merchant, name), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, wrap("index newest "+name, err)
	}
	return members, nil
}

func checkIndex(merchant, name string) error {
	if err := requireID("merchant", merchant); err != nil {
		return err
	}
	if name == "" {
		return app.Invalid("name", "is required")
	}
	return nil
}
