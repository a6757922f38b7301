package embedded

import (
	"errors"
	"time"

	"github.com/storebridge/storebridge/app"
	bolt "go.etcd.io/bbolt"
)

// expiring is a bucket of records that expire, keyed by merchant and key,
// and the index that orders them by expiry so Purge finds the due ones
// without a scan. Idempotency claims and AdvanceState's records are both.
type expiring struct {
	records string
	index   string
}

// put writes key's record and moves its index entry to expires.
func (e expiring) put(tx *bolt.Tx, merchant, key string, rec any, expires time.Time) error {
	if err := e.delete(tx, merchant, key); err != nil {
		return err
	}
	if err := putJSON(bucket(tx, e.records), scoped(merchant, key), rec); err != nil {
		return err
	}
	return bucket(tx, e.index).Put(timeFirst(expires, merchant, key), nil)
}

// delete removes key's record and its index entry; an absent key is fine.
func (e expiring) delete(tx *bolt.Tx, merchant, key string) error {
	var old struct{ Expires time.Time }
	switch err := getJSON(bucket(tx, e.records), scoped(merchant, key), &old); {
	case errors.Is(err, app.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if err := bucket(tx, e.index).Delete(timeFirst(old.Expires, merchant, key)); err != nil {
		return err
	}
	return bucket(tx, e.records).Delete(scoped(merchant, key))
}
