package embedded

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storebridge/storebridge/app"
)

// CreateMerchant stores a new merchant. ErrConflict when the ID, the
// platform and domain, or a non-empty API key hash are taken. Sealed
// secrets are stored as given.
func (s *Store) CreateMerchant(ctx context.Context, m app.Merchant) error {
	if err := checkMerchant(m); err != nil {
		return fmt.Errorf("embedded: create merchant: %w", err)
	}
	m.Version = 1
	return s.update(ctx, "create merchant "+m.ID, func(tx *bolt.Tx) error {
		if bucket(tx, bucketMerchants).Get([]byte(m.ID)) != nil {
			return fmt.Errorf("id taken: %w", app.ErrConflict)
		}
		if err := claimMerchantIndexes(tx, m, app.Merchant{}); err != nil {
			return err
		}
		return putJSON(bucket(tx, bucketMerchants), []byte(m.ID), m)
	})
}

// UpdateMerchant applies change to the stored merchant in one write
// transaction and moves its domain and API key indexes when they change.
// ErrNotFound if absent, ErrConflict when the new domain or key hash
// belongs to another merchant.
func (s *Store) UpdateMerchant(ctx context.Context, id string, change func(*app.Merchant) error) (app.Merchant, error) {
	var m app.Merchant
	err := s.update(ctx, "update merchant "+id, func(tx *bolt.Tx) error {
		var old app.Merchant
		if err := getJSON(bucket(tx, bucketMerchants), []byte(id), &old); err != nil {
			return err
		}
		// A second decode for change to own, so old stays as stored.
		m = app.Merchant{}
		if err := getJSON(bucket(tx, bucketMerchants), []byte(id), &m); err != nil {
			return err
		}
		if err := change(&m); err != nil {
			return err
		}
		m.ID = id
		m.Version = old.Version + 1
		if err := checkMerchant(m); err != nil {
			return err
		}
		if err := claimMerchantIndexes(tx, m, old); err != nil {
			return err
		}
		return putJSON(bucket(tx, bucketMerchants), []byte(m.ID), m)
	})
	if err != nil {
		return app.Merchant{}, err
	}
	return m, nil
}

func checkMerchant(m app.Merchant) error {
	if err := required("id", m.ID, "platform", string(m.Platform), "domain", m.Domain); err != nil {
		return err
	}
	return bounded("api_key_hash", m.APIKeyHash)
}

// claimMerchantIndexes points the domain and API key indexes at m, freeing
// the entries of old (the zero Merchant for a new one).
func claimMerchantIndexes(tx *bolt.Tx, m, old app.Merchant) error {
	domains := bucket(tx, bucketMerchantDomains)
	newDomain := domainKey(m.Platform, m.Domain)
	if owner := domains.Get(newDomain); owner != nil && string(owner) != m.ID {
		return fmt.Errorf("domain %s taken: %w", m.Domain, app.ErrConflict)
	}
	keys := bucket(tx, bucketMerchantKeys)
	if m.APIKeyHash != "" {
		if owner := keys.Get([]byte(m.APIKeyHash)); owner != nil && string(owner) != m.ID {
			return fmt.Errorf("api key hash taken: %w", app.ErrConflict)
		}
	}
	if old.ID != "" {
		if err := domains.Delete(domainKey(old.Platform, old.Domain)); err != nil {
			return err
		}
		if old.APIKeyHash != "" {
			if err := keys.Delete([]byte(old.APIKeyHash)); err != nil {
				return err
			}
		}
	}
	if err := domains.Put(newDomain, []byte(m.ID)); err != nil {
		return err
	}
	if m.APIKeyHash != "" {
		return keys.Put([]byte(m.APIKeyHash), []byte(m.ID))
	}
	return nil
}

// GetMerchant returns the merchant with id, or ErrNotFound.
func (s *Store) GetMerchant(ctx context.Context, id string) (app.Merchant, error) {
	var m app.Merchant
	err := s.view(ctx, "get merchant "+id, func(tx *bolt.Tx) error {
		return getJSON(bucket(tx, bucketMerchants), []byte(id), &m)
	})
	return m, err
}

// MerchantByDomain finds a merchant by its store's platform and domain.
func (s *Store) MerchantByDomain(ctx context.Context, platform app.Platform, domain string) (app.Merchant, error) {
	var m app.Merchant
	err := s.view(ctx, "merchant by domain "+domain, func(tx *bolt.Tx) error {
		return merchantByIndex(tx, bucketMerchantDomains, domainKey(platform, domain), &m)
	})
	return m, err
}

// MerchantByAPIKeyHash finds the merchant an API key belongs to.
func (s *Store) MerchantByAPIKeyHash(ctx context.Context, hash string) (app.Merchant, error) {
	var m app.Merchant
	err := s.view(ctx, "merchant by api key", func(tx *bolt.Tx) error {
		if hash == "" {
			return app.ErrNotFound
		}
		return merchantByIndex(tx, bucketMerchantKeys, []byte(hash), &m)
	})
	return m, err
}

func merchantByIndex(tx *bolt.Tx, index string, key []byte, m *app.Merchant) error {
	id := bucket(tx, index).Get(key)
	if id == nil {
		return app.ErrNotFound
	}
	return getJSON(bucket(tx, bucketMerchants), id, m)
}

// ListMerchants returns every merchant, ordered by ID.
func (s *Store) ListMerchants(ctx context.Context) ([]app.Merchant, error) {
	var list []app.Merchant
	err := s.view(ctx, "list merchants", func(tx *bolt.Tx) error {
		list = list[:0]
		return bucket(tx, bucketMerchants).ForEach(func(k, v []byte) error {
			var m app.Merchant
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("corrupt merchant %q: %w", k, err)
			}
			list = append(list, m)
			return nil
		})
	})
	return list, err
}
