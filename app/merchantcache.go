package app

import (
	"context"
	"errors"
	"sync"
	"time"
)

// merchantCacheTTL bounds how stale a cached merchant may be on another
// instance: a changed webhook secret or an uninstall takes effect
// everywhere within it.
const merchantCacheTTL = 30 * time.Second

// A domain no merchant has is remembered as unknown for unknownDomainTTL,
// so a flood of webhooks naming made-up shops costs one store read per
// shop, not one per webhook. At most maxUnknownDomains are kept (about
// 3 MB at the longest domains). A shop installed on this instance is known
// at once; on the others, within unknownDomainTTL.
const (
	unknownDomainTTL  = 30 * time.Second
	maxUnknownDomains = 10_000
)

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
	domains map[string]string // domainKey → id
	unknown *expiringSet      // domainKey of domains no merchant had
}

func newMerchantCache(store MerchantStore, keyring *Keyring, now func() time.Time) *merchantCache {
	return &merchantCache{
		store: store, keyring: keyring, now: now,
		ids: map[string]cachedMerchant{}, domains: map[string]string{}, unknown: newExpiringSet(maxUnknownDomains),
	}
}

func domainKey(platform Platform, domain string) string { return string(platform) + " " + domain }

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
	key := domainKey(platform, domain)
	c.mu.RLock()
	id, ok := c.domains[key]
	m, found := c.ids[id]
	c.mu.RUnlock()
	now := c.now()
	if ok && found && now.Before(m.expires) {
		return m, nil
	}
	if _, unknown := c.unknown.get(key, now); unknown {
		return cachedMerchant{}, ErrNotFound
	}
	fresh, err := c.store.MerchantByDomain(ctx, platform, domain)
	if errors.Is(err, ErrNotFound) {
		c.unknown.add(key, now.Add(unknownDomainTTL), now)
	}
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
	c.domains[domainKey(m.Platform, m.Domain)] = m.ID
	c.mu.Unlock()
	c.unknown.remove(domainKey(m.Platform, m.Domain))
	return entry, nil
}

// forgetUnknown drops a domain's "no merchant" entry: this instance just
// created or revived the domain's merchant.
func (c *merchantCache) forgetUnknown(platform Platform, domain string) {
	c.unknown.remove(domainKey(platform, domain))
}

// forget drops a merchant this instance changed, so its next read is fresh.
func (c *merchantCache) forget(id string) {
	c.mu.Lock()
	delete(c.ids, id)
	c.mu.Unlock()
}
