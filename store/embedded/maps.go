package embedded

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// A merchant's named maps live in the maps bucket, one key per field:
// merchant, map name, field → the value as given. A map is its fields; an
// empty one is not stored at all.

func mapPrefix(merchant, name string) []byte {
	return appendPart(merchantPrefix(merchant), name)
}

func mapKey(merchant, name, field string) []byte {
	return append(mapPrefix(merchant, name), field...)
}

// MapGet returns one field of a merchant's named map; ErrNotFound when the
// field or the map is absent.
func (s *Store) MapGet(ctx context.Context, merchant, name, field string) (string, error) {
	if err := required("merchant", merchant, "name", name, "field", field); err != nil {
		return "", fmt.Errorf("embedded: map get: %w", err)
	}
	var value string
	err := s.view(ctx, "map get "+name, func(tx *bolt.Tx) error {
		// A cursor rather than Get: it tells an empty value from an
		// absent field by the key it lands on.
		key := mapKey(merchant, name, field)
		k, v := bucket(tx, bucketMaps).Cursor().Seek(key)
		if !bytes.Equal(k, key) {
			return app.ErrNotFound
		}
		value = string(v)
		return nil
	})
	return value, err
}

// MapAll returns the whole map, empty when absent.
func (s *Store) MapAll(ctx context.Context, merchant, name string) (map[string]string, error) {
	if err := required("merchant", merchant, "name", name); err != nil {
		return nil, fmt.Errorf("embedded: map all: %w", err)
	}
	var all map[string]string
	err := s.view(ctx, "map all "+name, func(tx *bolt.Tx) error {
		all = map[string]string{}
		prefix := mapPrefix(merchant, name)
		c := bucket(tx, bucketMaps).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			all[string(k[len(prefix):])] = string(v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// MapSet sets the given fields and leaves the others.
func (s *Store) MapSet(ctx context.Context, merchant, name string, fields map[string]string) error {
	if err := checkMap(merchant, name, fields); err != nil {
		return fmt.Errorf("embedded: map set: %w", err)
	}
	if len(fields) == 0 {
		return nil
	}
	return s.batch(ctx, "map set "+name, func(tx *bolt.Tx) error {
		return putFields(tx, merchant, name, fields)
	})
}

// MapReplace replaces the whole map with fields in one transaction.
func (s *Store) MapReplace(ctx context.Context, merchant, name string, fields map[string]string) error {
	if err := checkMap(merchant, name, fields); err != nil {
		return fmt.Errorf("embedded: map replace: %w", err)
	}
	return s.batch(ctx, "map replace "+name, func(tx *bolt.Tx) error {
		maps := bucket(tx, bucketMaps)
		prefix := mapPrefix(merchant, name)
		var stale [][]byte
		c := maps.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if _, kept := fields[string(k[len(prefix):])]; !kept {
				stale = append(stale, bytes.Clone(k))
			}
		}
		// Deleted after the walk: a cursor is not safe across deletes.
		for _, k := range stale {
			if err := maps.Delete(k); err != nil {
				return err
			}
		}
		return putFields(tx, merchant, name, fields)
	})
}

// MapDelete removes fields; absent ones are ignored.
func (s *Store) MapDelete(ctx context.Context, merchant, name string, fields ...string) error {
	if err := required("merchant", merchant, "name", name); err != nil {
		return fmt.Errorf("embedded: map delete: %w", err)
	}
	if len(fields) == 0 {
		return nil
	}
	return s.batch(ctx, "map delete "+name, func(tx *bolt.Tx) error {
		maps := bucket(tx, bucketMaps)
		for _, field := range fields {
			if field == "" || len(field) > maxPart {
				continue // never stored
			}
			if err := maps.Delete(mapKey(merchant, name, field)); err != nil {
				return err
			}
		}
		return nil
	})
}

func checkMap(merchant, name string, fields map[string]string) error {
	if err := required("merchant", merchant, "name", name); err != nil {
		return err
	}
	for field := range fields {
		if err := required("field", field); err != nil {
			return err
		}
	}
	return nil
}

func putFields(tx *bolt.Tx, merchant, name string, fields map[string]string) error {
	maps := bucket(tx, bucketMaps)
	for field, value := range fields {
		if err := maps.Put(mapKey(merchant, name, field), []byte(value)); err != nil {
			return err
		}
	}
	return nil
}
