package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// A merchant's named time indexes live in two buckets: indexes holds
// merchant, name, time, member (nothing as value), so a reverse walk
// lists newest first; index_members holds merchant, name, member → the
// time key's time, so a member is moved or removed without a walk. Times
// are cut to the millisecond, as the Redis store keeps them.

func indexPrefix(merchant, name string) []byte {
	return appendPart(merchantPrefix(merchant), name)
}

// IndexAdd records member at at and drops what fell out of keep, in one
// transaction.
func (s *Store) IndexAdd(ctx context.Context, merchant, name, member string, at time.Time, keep time.Duration) error {
	if err := required("merchant", merchant, "name", name, "member", member); err != nil {
		return fmt.Errorf("embedded: index add: %w", err)
	}
	if keep <= 0 {
		return fmt.Errorf("embedded: index add: %w", app.Invalid("keep", fmt.Sprintf("must be positive, got %s", keep)))
	}
	at = at.Truncate(time.Millisecond)
	return s.batch(ctx, "index add "+name, func(tx *bolt.Tx) error {
		byTime, members := bucket(tx, bucketIndex), bucket(tx, bucketIndexMembers)
		prefix := indexPrefix(merchant, name)
		if err := removeMember(byTime, members, prefix, member); err != nil {
			return err
		}
		if err := byTime.Put(append(appendTime(bytes.Clone(prefix), at), member...), nil); err != nil {
			return err
		}
		if err := members.Put(append(bytes.Clone(prefix), member...), appendTime(nil, at)); err != nil {
			return err
		}
		// Trim: every member recorded before the cut, oldest first.
		cut := micros(at.Add(-keep))
		var stale [][]byte
		c := byTime.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			t, _, ok := readTime(k[len(prefix):])
			if !ok || t >= cut {
				break
			}
			stale = append(stale, bytes.Clone(k))
		}
		// Deleted after the walk: a cursor is not safe across deletes.
		for _, k := range stale {
			if err := byTime.Delete(k); err != nil {
				return err
			}
			if err := members.Delete(append(bytes.Clone(prefix), k[len(prefix)+8:]...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// removeMember deletes member's two keys, if it is recorded.
func removeMember(byTime, members *bolt.Bucket, prefix []byte, member string) error {
	mk := append(bytes.Clone(prefix), member...)
	at := members.Get(mk)
	if at == nil {
		return nil
	}
	if err := byTime.Delete(append(append(bytes.Clone(prefix), at...), member...)); err != nil {
		return err
	}
	return members.Delete(mk)
}

// IndexRemove drops members; absent ones are ignored.
func (s *Store) IndexRemove(ctx context.Context, merchant, name string, members ...string) error {
	if err := required("merchant", merchant, "name", name); err != nil {
		return fmt.Errorf("embedded: index remove: %w", err)
	}
	if len(members) == 0 {
		return nil
	}
	return s.batch(ctx, "index remove "+name, func(tx *bolt.Tx) error {
		prefix := indexPrefix(merchant, name)
		for _, member := range members {
			if member == "" || len(member) > maxPart {
				continue // never stored
			}
			if err := removeMember(bucket(tx, bucketIndex), bucket(tx, bucketIndexMembers), prefix, member); err != nil {
				return err
			}
		}
		return nil
	})
}

// IndexNewest walks the index from its newest key back.
func (s *Store) IndexNewest(ctx context.Context, merchant, name string, offset, limit int) ([]string, error) {
	if err := required("merchant", merchant, "name", name); err != nil {
		return nil, fmt.Errorf("embedded: index newest: %w", err)
	}
	if limit <= 0 || offset < 0 {
		return nil, fmt.Errorf("embedded: index newest: %w", app.Invalid("limit", fmt.Sprintf("want offset ≥ 0 and limit > 0, got %d and %d", offset, limit)))
	}
	list := []string{}
	err := s.view(ctx, "index newest "+name, func(tx *bolt.Tx) error {
		prefix := indexPrefix(merchant, name)
		c := bucket(tx, bucketIndex).Cursor()
		skipped := 0
		for k := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && len(list) < limit; k, _ = c.Prev() {
			if skipped < offset {
				skipped++
				continue
			}
			list = append(list, string(k[len(prefix)+8:]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}
