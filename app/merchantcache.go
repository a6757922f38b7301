package app

import (
	"context"
	"sync"
	"time"
)

// merchantCacheTTL bounds how stale a cached merchant may be on another
// instance: a changed webhook secret or an uninstall takes effect
// everywhere within it.
const merchantCacheTTL = 30 * time.Second

// cachedMerchant is a merchant with its webhook secret already opened, so
// the webhook path pays neither a store read nor a decryption per request.
type cachedMerchant struct {
	Merchant
	webhookSecret string
	expires       time.Time
}

// merchantCache holds merchants by id and by platform domain.
type merchantCache struct {
	store   MerchantStore
	keyring *Keyring
	now     func() time.Time

	mu      sync.RWMutex
	ids     map[string]cachedMerchant
	domains map[string]string // platform + " " + domain → id
}

func newMerchantCache(store MerchantStore, keyring *Keyring, now func() time.Time) *merchantCache {
	return &merchantCache{store: store, keyring: keyring, now: now, ids: map[string]cachedMerchant{}, domains: map[string]string{}}
}

func (c *merchantCache) byID(ctx context.Context, id string) (cachedMerchant, error) {
	c.mu.RLock()
	m, ok := c.ids[id]
	c.mu.RUnlock()
	if ok && c.now().Before(m.expires) {
		return m, nil
	}
	fresh, err := c.store.GetMerchant(ctx, id)
	if err != nil {
		return cachedMerchant{}, err
	}
	return c.put(fresh)
}

func (c *merchantCache) byDomain(ctx context.Context, platform Platform, domain string) (cachedMerchant, error) {
	c.mu.RLock()
	id, ok := c.domains[string(platform)+" "+domain]
	m, found := c.ids[id]
	c.mu.RUnlock()
	if ok && found && c.now().Before(m.expires) {
		return m, nil
	}
	fresh, err := c.store.MerchantByDomain(ctx, platform, domain)
	if err != nil {
		return cachedMerchant{}, err
	}
	return c.put(fresh)
}

func (c *merchantCache) put(m Merchant) (cachedMerchant, error) {
	entry := cachedMerchant{Merchant: m, expires: c.now().Add(merchantCacheTTL)}
	if sealed, ok := m.Secrets["webhook_secret"]; ok {
		secret, err := c.keyring.Open(sealed, secretContext(m.ID, "webhook_secret"))
		if err != nil {
			return cachedMerchant{}, err
		}
		entry.webhookSecret = secret
	}
	c.mu.Lock()
	c.ids[m.ID] = entry
	c.domains[string(m.Platform)+" "+m.Domain] = m.ID
	c.mu.Unlock()
	return entry, nil
}

// forget drops a merchant this instance changed, so its next read is fresh.
func (c *merchantCache) forget(id string) {
	c.mu.Lock()
	delete(c.ids, id)
	c.mu.Unlock()
}
