package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Periodic jobs of an installed shop. Each has a job Key, so a merchant
// never has two of a kind, and runs again by asking for it (RetryAt) rather
// than by enqueueing a successor: the running job holds its key until it
// is settled, so a successor with the same key could not be enqueued.
const (
	JobShopifySubscriptions = "shopify.subscriptions"
	JobShopifyReconcile     = "shopify.reconcile"

	shopifySubscriptionsKey = "shopify:subscriptions"
	shopifyReconcileKey     = "shopify:reconcile"

	// ShopifySubscriptionsEvery: Shopify deletes a subscription made
	// through the Admin API (a custom app's shop) after 8 failed
	// deliveries in a row; this puts it back. The same turn syncs every
	// shop's details.
	ShopifySubscriptionsEvery = 6 * time.Hour
	// ShopifyReconcileEvery is how often orders are fetched to catch what
	// webhooks missed (Shopify delays some by up to a day, or drops them).
	ShopifyReconcileEvery = 15 * time.Minute
	// shopifyJobFailureWait is when a periodic job that failed for a
	// passing reason (Shopify down, throttled) runs again.
	shopifyJobFailureWait = 2 * time.Minute

	// shopifyRefreshMargin: a token expiring sooner than this is refreshed
	// before a call, so it cannot expire in the middle of one.
	shopifyRefreshMargin = 5 * time.Minute
	// shopifyRefreshLockTTL bounds how long one worker may hold the
	// refresh: refresh tokens rotate, so two refreshing at once would see
	// one of them refused and the merchant marked for reinstall.
	shopifyRefreshLockTTL = 30 * time.Second
	shopifyRefreshLockKey = "shopify:token-refresh"

	// mapSync keeps the merchant's sync cursors.
	mapSync = "sync"
	// syncShopifyOrders is the last order update time reconciled.
	syncShopifyOrders = "shopify_orders_updated_at"
	// shopifyReconcileOverlap re-reads a little before the cursor: orders
	// reach Shopify's list with a lag, and the claim keys drop repeats.
	shopifyReconcileOverlap = 2 * time.Minute
	// shopifyReconcileMax bounds one run; the cursor stops at the last
	// order queued and the next run goes on from there.
	shopifyReconcileMax = 500
)

// ErrShopifyReinstallRequired stops a shop's Admin calls until the app is
// installed again: Shopify refused to refresh its token. Returned wrapped
// in Permanent, as no retry fixes it.
var ErrShopifyReinstallRequired = errors.New("shopify access lost: the app must be reinstalled")

func errNeedsReinstall() error { return Permanent(ErrShopifyReinstallRequired) }

// StartSync starts a Shopify merchant's webhook subscriptions and
// reconciliation, for a shop set up by hand through the admin API with an
// access token (a custom app's token does not expire).
func (i *ShopifyInstaller) StartSync(ctx context.Context, merchantID string) error {
	m, err := i.svc.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return err
	}
	if m.Platform != PlatformShopify {
		return Invalid("sync", "only for a Shopify store")
	}
	if _, ok := m.Secrets["access_token"]; !ok {
		return Invalid("sync", "needs the shop's access_token")
	}
	return i.scheduleJobs(ctx, merchantID)
}

// scheduleJobs starts the shop's periodic jobs: the subscriptions now (a
// reinstall pulls a scheduled run forward), reconciliation from now on,
// starting at the install time so orders from before are not replayed.
func (i *ShopifyInstaller) scheduleJobs(ctx context.Context, merchantID string) error {
	s := i.svc
	now := s.now()
	if err := s.store.MapSet(ctx, merchantID, mapSync, map[string]string{syncShopifyOrders: now.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("shopify install: %w", err)
	}
	if err := i.svc.schedule(ctx, merchantID, JobShopifySubscriptions, shopifySubscriptionsKey, now, true); err != nil {
		return err
	}
	if err := i.svc.schedule(ctx, merchantID, JobShopifyReconcile, shopifyReconcileKey, now.Add(ShopifyReconcileEvery), false); err != nil {
		return err
	}
	if s.wake != nil {
		s.wake()
	}
	return nil
}

// HandleSubscriptionsJob keeps a custom app shop's webhook subscriptions
// in place and syncs the shop's details, then runs again in
// ShopifySubscriptionsEvery. The chain stops for a shop
// that uninstalled or must reinstall.
func (i *ShopifyInstaller) HandleSubscriptionsJob(ctx context.Context, job Job) error {
	return i.periodic(ctx, job, ShopifySubscriptionsEvery, shopifyJobFailureWait, func(m Merchant) error {
		_, err := i.EnsureWebhooks(ctx, m)
		return err
	})
}

// HandleReconcileJob queues the orders updated since the last run, then
// runs again in ShopifyReconcileEvery.
func (i *ShopifyInstaller) HandleReconcileJob(ctx context.Context, job Job) error {
	return i.periodic(ctx, job, ShopifyReconcileEvery, ShopifyReconcileEvery, func(m Merchant) error {
		_, err := i.Reconcile(ctx, m)
		return err
	})
}

// periodic runs one turn of a periodic job. It never returns a plain error:
// the job's attempt count grows with every turn, so the worker's attempt
// limit would bury a long-lived job at its first failure.
func (i *ShopifyInstaller) periodic(ctx context.Context, job Job, every, failureWait time.Duration, work func(Merchant) error) error {
	s := i.svc
	m, err := s.store.GetMerchant(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return RetryAt(s.now().Add(failureWait), err.Error())
	}
	if !i.Enabled() || m.Platform != PlatformShopify || m.Status != MerchantActive || m.Settings[SettingShopifyReinstall] != "" {
		s.log.Info("shopify periodic job stopped", "merchant", m.ID, "kind", job.Kind, "status", m.Status)
		return nil
	}
	if err := work(m); err != nil {
		if errors.Is(err, ErrShopifyReinstallRequired) {
			return nil
		}
		if !IsRetryable(err) {
			s.log.Warn("shopify periodic job failed; trying again at its next turn", "merchant", m.ID, "kind", job.Kind, "err", err)
			return RetryAt(s.now().Add(every), err.Error())
		}
		return RetryAt(s.now().Add(failureWait), err.Error())
	}
	return RetryAt(s.now().Add(every), "next turn")
}

// EnsureWebhooks creates the missing webhook subscriptions of a shop set
// up by hand with a custom app's token, and reports how many it created.
// A shop of the public app has its subscriptions from shopify.app.toml
// (app-specific: Shopify keeps them on every shop, at the file's
// api_version), so none are made through the Admin API: two subscriptions
// to a topic would send each webhook twice. Either way the shop's details
// are synced.
func (i *ShopifyInstaller) EnsureWebhooks(ctx context.Context, m Merchant) (int, error) {
	token, err := i.accessToken(ctx, m)
	if err != nil {
		return 0, err
	}
	if publicAppShop(m) {
		return 0, i.syncShop(ctx, m, token)
	}
	existing, err := i.opts.Admin.WebhookSubscriptions(ctx, m.Domain, token)
	if err != nil {
		return 0, err
	}
	uri := i.WebhookURI()
	have := map[string]bool{}
	for _, sub := range existing {
		if sub.URI == uri {
			have[sub.Topic] = true
		}
	}
	created := 0
	for _, topic := range ShopifySubscriptionTopics() {
		if have[topic] {
			continue
		}
		if err := i.opts.Admin.CreateWebhookSubscription(ctx, m.Domain, token, ShopifyWebhookSubscription{Topic: topic, URI: uri}); err != nil {
			return created, fmt.Errorf("subscribe to %s: %w", topic, err)
		}
		created++
	}
	if created > 0 {
		i.svc.log.Info("shopify webhook subscriptions created", "merchant", m.ID, "created", created)
	}
	return created, i.syncShop(ctx, m, token)
}

// publicAppShop reports a shop installed through the public app (OAuth or
// token exchange): only that install records the scopes granted.
func publicAppShop(m Merchant) bool { return m.Settings[SettingShopifyScopes] != "" }

// shopifyCurrencyPattern is an ISO 4217 code, as the shop query answers it.
var shopifyCurrencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// syncShop keeps the merchant's name, country, time zone and currency as
// the shop has them: an install starts with guesses, and quiet hours in the wrong time
// zone would hold marketing messages through the customer's day.
func (i *ShopifyInstaller) syncShop(ctx context.Context, m Merchant, token string) error {
	shop, err := i.opts.Admin.Shop(ctx, m.Domain, token)
	if err != nil {
		return err
	}
	synced := m.Synced
	if shop.Name != "" && plainText(shop.Name, maxNameLen) {
		synced.Name = shop.Name
	}
	if c := strings.ToUpper(shop.Country); validCountry(c) {
		synced.Country = c
	}
	if _, err := time.LoadLocation(shop.Timezone); err == nil && shop.Timezone != "" && shop.Timezone != "Local" {
		synced.Timezone = shop.Timezone
	}
	if c := strings.ToUpper(shop.Currency); shopifyCurrencyPattern.MatchString(c) {
		synced.Currency = c
	}
	if synced == m.Synced {
		return nil
	}
	// Only what the shop reports is written: the token, refreshed
	// meanwhile, and the merchant's own choices stay as stored.
	_, err = i.svc.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		m.Synced = synced
		return nil
	})
	return err
}

// Reconcile queues the orders updated since the merchant's cursor as
// webhook jobs, under claim keys of their own, so the exactly-once layer
// drops what webhooks delivered already. An order created since the cursor
// is also queued as orders/create, for a missed order.placed or COD
// confirmation. It returns how many jobs it queued.
func (i *ShopifyInstaller) Reconcile(ctx context.Context, m Merchant) (int, error) {
	s := i.svc
	raw, err := s.store.MapGet(ctx, m.ID, mapSync, syncShopifyOrders)
	if errors.Is(err, ErrNotFound) {
		// No cursor: start now rather than replay the shop's history.
		return 0, s.store.MapSet(ctx, m.ID, mapSync, map[string]string{syncShopifyOrders: s.now().UTC().Format(time.RFC3339Nano)})
	}
	if err != nil {
		return 0, err
	}
	cursor, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return 0, Permanent(fmt.Errorf("sync cursor %q: %w", raw, err))
	}
	token, err := i.accessToken(ctx, m)
	if err != nil {
		return 0, err
	}
	since := cursor.Add(-shopifyReconcileOverlap)
	orders, err := i.opts.Admin.OrdersUpdatedSince(ctx, m.Domain, token, since, shopifyReconcileMax)
	if err != nil {
		return 0, err
	}
	queued := 0
	newest := cursor
	for _, o := range orders {
		topics := []struct{ topic, version string }{{"orders/updated", o.UpdatedAt.UTC().Format(time.RFC3339)}}
		if o.CreatedAt.After(since) {
			topics = append(topics, struct{ topic, version string }{"orders/create", o.CreatedAt.UTC().Format(time.RFC3339)})
		}
		for _, t := range topics {
			ok, err := i.queueOrder(ctx, m, o, t.topic, "shopify:reconcile:"+o.ID+":"+t.version+":"+t.topic)
			if err != nil {
				return queued, err
			}
			if ok {
				queued++
			}
		}
		if o.UpdatedAt.After(newest) {
			newest = o.UpdatedAt
		}
	}
	if now := s.now(); newest.After(now) {
		newest = now // a shop clock ahead of ours must not skip our future
	}
	if err := s.store.MapSet(ctx, m.ID, mapSync, map[string]string{syncShopifyOrders: newest.UTC().Format(time.RFC3339Nano)}); err != nil {
		return queued, err
	}
	if queued > 0 {
		s.log.Info("shopify orders reconciled", "merchant", m.ID, "listed", len(orders), "queued", queued)
		if s.wake != nil {
			s.wake()
		}
	}
	return queued, nil
}

// queueOrder queues one listed order as a webhook of topic; false when the
// key was seen before.
func (i *ShopifyInstaller) queueOrder(ctx context.Context, m Merchant, o ShopifyOrder, topic, key string) (bool, error) {
	s := i.svc
	now := s.now()
	payload, err := WebhookEnvelope{
		Platform: PlatformShopify, Topic: topic, WebhookID: "reconcile", APIVersion: ShopifyAPIVersion,
		ReceivedAt: now.UTC(), Body: o.Body,
	}.encode()
	if err != nil {
		return false, err
	}
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobShopifyWebhook, Payload: payload, CreatedAt: now}
	state, err := s.store.ClaimAndEnqueue(ctx, key, webhookDoneTTL, job)
	if err != nil {
		return false, fmt.Errorf("queue reconciled order: %w", err)
	}
	return state == ClaimNew, nil
}

// AdminToken returns a usable Admin API token of a Shopify merchant,
// refreshed first when it expires within five minutes.
func (i *ShopifyInstaller) AdminToken(ctx context.Context, merchantID string) (string, error) {
	m, err := i.svc.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return "", err
	}
	return i.accessToken(ctx, m)
}

func (i *ShopifyInstaller) accessToken(ctx context.Context, m Merchant) (string, error) {
	if m.Settings[SettingShopifyReinstall] != "" {
		return "", errNeedsReinstall()
	}
	if !i.tokenNeedsRefresh(m) {
		return i.svc.MerchantSecret(m, "access_token")
	}
	return i.refresh(ctx, m)
}

func (i *ShopifyInstaller) tokenNeedsRefresh(m Merchant) bool {
	raw := m.Settings[SettingShopifyTokenExpiresAt]
	if raw == "" {
		return false // a non-expiring token
	}
	expires, err := time.Parse(time.RFC3339, raw)
	return err != nil || !expires.After(i.svc.now().Add(shopifyRefreshMargin))
}

// refresh trades the refresh token for new tokens, one worker at a time.
// A refusal marks the merchant for reinstall instead of failing each turn.
func (i *ShopifyInstaller) refresh(ctx context.Context, m Merchant) (string, error) {
	s := i.svc
	state, err := s.store.Claim(ctx, m.ID, shopifyRefreshLockKey, shopifyRefreshLockTTL)
	if err != nil {
		return "", err
	}
	if state != ClaimNew {
		// Another worker is refreshing: use its token once it is stored.
		for range 20 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			fresh, err := s.store.GetMerchant(ctx, m.ID)
			if err != nil {
				return "", err
			}
			if fresh.Settings[SettingShopifyReinstall] != "" {
				return "", errNeedsReinstall()
			}
			if !i.tokenNeedsRefresh(fresh) {
				return s.MerchantSecret(fresh, "access_token")
			}
		}
		return "", errors.New("shopify token refresh is in progress elsewhere")
	}
	defer func() {
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.Release(releaseCtx, m.ID, shopifyRefreshLockKey); err != nil {
			s.log.Warn("releasing the shopify refresh lock failed", "merchant", m.ID, "err", err)
		}
	}()
	// Read again under the lock: the refresh may have just happened.
	m, err = s.store.GetMerchant(ctx, m.ID)
	if err != nil {
		return "", err
	}
	if m.Settings[SettingShopifyReinstall] != "" {
		return "", errNeedsReinstall()
	}
	if !i.tokenNeedsRefresh(m) {
		return s.MerchantSecret(m, "access_token")
	}
	refreshToken, err := s.MerchantSecret(m, "refresh_token")
	if errors.Is(err, ErrNotFound) {
		return "", i.markReinstall(ctx, m, "the access token expired and there is no refresh token")
	}
	if err != nil {
		return "", err
	}
	if raw := m.Settings[SettingShopifyRefreshExpiresAt]; raw != "" {
		if expires, err := time.Parse(time.RFC3339, raw); err == nil && !expires.After(s.now()) {
			return "", i.markReinstall(ctx, m, "the refresh token expired")
		}
	}
	token, err := i.opts.Admin.RefreshToken(ctx, m.Domain, refreshToken)
	if err != nil {
		if IsRetryable(err) {
			return "", err
		}
		return "", i.markReinstall(ctx, m, err.Error())
	}
	if token.RefreshToken == "" {
		// Shopify always rotates; keep the old one rather than lose it.
		token.RefreshToken = refreshToken
	}
	if _, err := s.updateMerchant(ctx, m.ID, func(m *Merchant) error { return i.setTokens(m, token) }); err != nil {
		return "", fmt.Errorf("store refreshed shopify token: %w", err)
	}
	return token.AccessToken, nil
}

// markReinstall records on the merchant that only a new install restores
// its Admin API access, and stops its Admin calls until then.
func (i *ShopifyInstaller) markReinstall(ctx context.Context, m Merchant, reason string) error {
	s := i.svc
	if _, err := s.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		if m.Settings == nil {
			m.Settings = map[string]string{}
		}
		m.Settings[SettingShopifyReinstall] = s.now().UTC().Format(time.RFC3339) + " " + reason
		return nil
	}); err != nil {
		return fmt.Errorf("mark shopify reinstall: %w", err)
	}
	s.log.Warn("shopify token refresh refused; the merchant must reinstall the app", "merchant", m.ID, "shop", m.Domain, "reason", reason)
	return errNeedsReinstall()
}
