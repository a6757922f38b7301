package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Jobs of a connected WooCommerce store. Both carry a job Key, so a
// merchant never has two of a kind.
const (
	// JobWooWebhooks creates the store's missing webhooks once, after a
	// connect, then pulls the reconciliation forward.
	JobWooWebhooks = "woocommerce.webhooks"
	// JobWooReconcile runs every WooReconcileEvery: it re-checks the
	// webhooks and queues the orders they missed. It runs again by asking
	// for it (RetryAt): the running job holds its key until it is settled.
	JobWooReconcile = "woocommerce.reconcile"

	wooWebhooksKey  = "woocommerce:webhooks"
	wooReconcileKey = "woocommerce:reconcile"
)

const (
	// WooReconcileEvery is how often a store's orders are polled. WooCommerce
	// never retries a failed delivery (woocommerce.md §1.6): this is the
	// only way a lost one arrives.
	WooReconcileEvery = 15 * time.Minute
	// wooFailureWait is when a reconciliation that failed for a passing
	// reason (the store down, throttled) runs again.
	wooFailureWait = 2 * time.Minute
	// WooConnectTokenTTL bounds the wc-auth round trip: the merchant may
	// have to log in to WordPress before approving.
	WooConnectTokenTTL = 30 * time.Minute
	// wooKeyCheckTimeout bounds the key check inside the callback: the
	// answer must be written within the server's 30 s write timeout, and
	// WooCommerce waits 60 s for it.
	wooKeyCheckTimeout = 20 * time.Second
	// wooConnectAudience keeps the connect token from being accepted as any
	// other token signed with the same key, and the other way round.
	wooConnectAudience = "storebridge:woocommerce-connect"
	// wooConnectScope is the claim scope of used connect tokens.
	wooConnectScope = "woocommerce-connect"
	// WooReturnTTL is how long after the callback the browser that started
	// the connect may land signed in: WooCommerce redirects it at once.
	WooReturnTTL = 10 * time.Minute

	// wooOrdersPerPage is the REST API's largest page.
	wooOrdersPerPage = 100
	// wooMaxPagesPerRun bounds one reconciliation; the cursor keeps what
	// was done and the next run goes on.
	wooMaxPagesPerRun = 20
	// wooReconcileOverlap re-reads the cursor's second: modified_after is
	// exclusive and dates have whole seconds, so orders sharing the last
	// second come again, and their claim keys drop the repeats.
	wooReconcileOverlap = time.Second
	// wooMaxLookback: after a long outage, a status change older than this
	// is news no customer wants any more.
	wooMaxLookback = 48 * time.Hour

	wooWebhooksLockKey = "woocommerce:webhooks-lock"
	wooWebhooksLockTTL = 2 * time.Minute

	// wooMapSync keeps the sync cursor and flags; wooMapNotes keeps notes
	// for the merchant (field: time, value: text).
	wooMapSync  = "sync"
	wooMapNotes = "notes"
	// wooSyncOrders is the date_modified_gmt of the newest order reconciled.
	wooSyncOrders = "woocommerce_orders_modified_after"
	// wooSyncSecretPending is set when the webhook secret changed and the
	// store's existing webhooks still sign with the old one.
	wooSyncSecretPending = "woocommerce_webhook_secret_pending"
	// wooSyncLastError is the last reconciliation failure noted, so a
	// lasting failure is noted once, not every run.
	wooSyncLastError = "woocommerce_last_error"

	wooGMTLayout = "2006-01-02T15:04:05"
)

// Reasons a WooCommerce connect is refused; a WooConnectError wraps one.
var (
	// ErrWooStoreUnavailable: the store did not answer the key check
	// (timeout, 5xx, throttled), so the key was not kept.
	ErrWooStoreUnavailable = errors.New("the store did not answer the key check")
	// ErrWooSessionRequired: the store is a merchant's, and its keys are
	// replaced only from that merchant's signed-in admin.
	ErrWooSessionRequired = errors.New("the store is connected: a reconnect needs its merchant's session")
	// ErrWooNotStoreOwner: the connect was not started for the merchant
	// whose store it is.
	ErrWooNotStoreOwner = errors.New("the store is not this connect's merchant's")
)

// WooConnectError is a refused connect step: Err says which kind, Reason
// is safe to show, and the cause, if any, is kept for the log.
type WooConnectError struct {
	Err    error
	Reason string
	cause  error
}

func (e *WooConnectError) Error() string {
	if e.cause != nil {
		return "woocommerce connect: " + e.Reason + ": " + e.cause.Error()
	}
	return "woocommerce connect: " + e.Reason
}

func (e *WooConnectError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.cause}
}

// WooTopics are the webhooks every connected store gets.
func WooTopics() []string {
	return []string{"order.created", "order.updated", "order.deleted", "coupon.created", "customer.created"}
}

// WooCredentials address a store's REST API: its base URL and the key pair
// wc-auth issued.
type WooCredentials struct {
	StoreURL       string
	ConsumerKey    string
	ConsumerSecret string
}

// WooWebhook is a webhook as the REST API shows it. Secret is only sent,
// never read back.
type WooWebhook struct {
	ID          int64
	Name        string
	Topic       string
	DeliveryURL string
	Status      string // active, paused, disabled
	Secret      string
}

// WooWebhookUpdate changes a webhook; empty fields are left alone.
type WooWebhookUpdate struct {
	Status string
	Secret string
}

// WooOrderQuery selects orders modified after a time, oldest first.
type WooOrderQuery struct {
	ModifiedAfter time.Time
	Page          int // from 1
	PerPage       int
}

// WooOrder is one listed order: the fields the reconciliation needs and
// the raw JSON, which has the shape of a webhook body.
type WooOrder struct {
	ID              int64
	Status          string
	DateModifiedGMT string
	Body            []byte
}

// WooOrderPage is one page of orders; TotalPages is 0 when the store did
// not say.
type WooOrderPage struct {
	Orders     []WooOrder
	TotalPages int
}

// WooREST is the WooCommerce REST API client the connector needs. Errors
// are *ProviderError saying whether a retry may help.
type WooREST interface {
	// CheckKey proves the key pair reads and writes the store's REST API,
	// changing nothing there.
	CheckKey(ctx context.Context, store WooCredentials) error
	ListWebhooks(ctx context.Context, store WooCredentials) ([]WooWebhook, error)
	CreateWebhook(ctx context.Context, store WooCredentials, w WooWebhook) (WooWebhook, error)
	UpdateWebhook(ctx context.Context, store WooCredentials, id int64, change WooWebhookUpdate) (WooWebhook, error)
	ListOrders(ctx context.Context, store WooCredentials, q WooOrderQuery) (WooOrderPage, error)
}

// WooConnectOptions configure WooCommerce connections.
type WooConnectOptions struct {
	// AppURL is the public base URL: the callback, the return and the
	// webhooks' delivery URLs are built from it.
	AppURL string
	// AllowInsecure permits a plain-http APP_URL for the callback
	// (ALLOW_INSECURE_OUTBOUND, development only).
	AllowInsecure bool
	REST          WooREST
	// Orders writes COD decisions back to orders; nil leaves them alone.
	Orders WooOrders
	// Coupons creates the store's discount codes; nil: none are made.
	Coupons WooCoupons
}

// WooConnector connects a WooCommerce store (wc-auth), keeps its webhooks
// in place and reconciles missed orders.
type WooConnector struct {
	svc  *Service
	opts WooConnectOptions
}

// NewWooConnector returns the WooCommerce connection use cases over svc.
func NewWooConnector(svc *Service, opts WooConnectOptions) *WooConnector {
	opts.AppURL = strings.TrimSuffix(opts.AppURL, "/")
	return &WooConnector{svc: svc, opts: opts}
}

// WebhookURL is where a merchant's store delivers its webhooks.
func (c *WooConnector) WebhookURL(merchantID string) string {
	return c.opts.AppURL + "/webhooks/woocommerce/" + merchantID
}

// Who started a connect, as the token's "by" claim says. Keys of a store
// that is already a merchant's are replaced only on a connect its
// merchant or the operator started.
//
// A WordPress plugin asking for a reconnect from the store's own admin
// would be one more kind ("plugin"): it would have to prove it runs on
// that store (say, with a request signed by the key we hold) and would
// then name the merchant as a session does. It is not built yet.
const (
	wooByVisitor  = "visitor"  // no session: a first connect only
	wooByMerchant = "merchant" // the merchant's signed-in admin session
	wooByOperator = "operator" // the operator's ADMIN_TOKEN
)

// WooConnectStarter is who asks for a connect, as the caller verified it.
// The zero value is a visitor without a session, who may connect a store
// that is nobody's yet.
type WooConnectStarter struct {
	// Merchant is the merchant whose admin session asked.
	Merchant string
	// Operator is the operator (ADMIN_TOKEN), who may act for any merchant.
	Operator bool
}

func (w WooConnectStarter) kind() string {
	switch {
	case w.Operator:
		return wooByOperator
	case w.Merchant != "":
		return wooByMerchant
	}
	return wooByVisitor
}

// wooConnectClaims bind the connect token (wc-auth's user_id) to the store
// it was issued for and, on a reconnect, to the store's merchant.
type wooConnectClaims struct {
	StoreURL string `json:"store_url"`
	// Merchant is the merchant the store was when the connect started;
	// empty on a first connect.
	Merchant string `json:"mid,omitempty"`
	// StartedBy is wooByVisitor, wooByMerchant or wooByOperator.
	StartedBy string `json:"by"`
	// Browser is the hash of the secret the starting browser keeps in a
	// cookie: the return signs in only the browser that holds it. Empty
	// in tokens made before it existed, whose return signs nobody in.
	Browser string `json:"bh,omitempty"`
	jwt.RegisteredClaims
}

// mayReconnect says whether a callback with this token may put new keys
// on m, the merchant the store already is: only on a connect started for
// m, by the operator or from m's own session; and a session's reconnect
// keeps the store's address, so a signed-in merchant lured to the connect
// of another WordPress on the same host does not move there.
func (cl wooConnectClaims) mayReconnect(m Merchant) error {
	if cl.Merchant == m.ID && (cl.StartedBy == wooByOperator || cl.StartedBy == wooByMerchant && cl.StoreURL == m.StoreURL) {
		return nil
	}
	return &WooConnectError{Err: ErrWooNotStoreOwner, Reason: "this store is already connected, and this connect was not started from its storebridge admin: sign in there and connect it again"}
}

// WooConnectStart is a connect's first step: where the merchant's
// browser goes, and the secret that browser keeps (in a cookie, until
// Expires) so that its return, and no other browser's, lands signed in.
type WooConnectStart struct {
	URL     string
	Browser string
	Expires time.Time
}

// BeginConnect checks a store URL a merchant typed and returns the store's
// wc-auth authorize address, carrying a signed token as user_id so the
// callback knows which store posted its keys, and a return address naming
// the connect. A store that is nobody's yet may be connected by anyone;
// one that is a merchant's only by that merchant's session (for the store
// at its address) or by the operator, and the token then names the
// merchant.
func (c *WooConnector) BeginConnect(ctx context.Context, rawStoreURL string, who WooConnectStarter) (WooConnectStart, error) {
	var none WooConnectStart
	storeURL, err := c.checkStoreURL(rawStoreURL)
	if err != nil {
		return none, err
	}
	owner, connected, err := c.storeMerchant(ctx, storeURL)
	if err != nil {
		return none, err
	}
	browser := rand.Text()
	claims := wooConnectClaims{StoreURL: storeURL, StartedBy: who.kind(), Browser: hashBrowser(browser)}
	if connected {
		switch {
		case who.Operator:
		case who.Merchant == "":
			return none, &WooConnectError{Err: ErrWooSessionRequired, Reason: "this store is already connected: sign in to its storebridge admin and connect it again from there"}
		case who.Merchant != owner.ID:
			return none, &WooConnectError{Err: ErrWooNotStoreOwner, Reason: "this store is connected to another storebridge account"}
		case storeURL != owner.StoreURL:
			return none, &WooConnectError{Err: ErrWooNotStoreOwner, Reason: "a reconnect keeps the store's address, " + owner.StoreURL + "; ask the operator to move it"}
		}
		claims.Merchant = owner.ID
	}
	base, err := url.Parse(c.opts.AppURL)
	if err != nil || base.Host == "" {
		return none, fmt.Errorf("woocommerce connect: APP_URL %q is not an absolute URL", c.opts.AppURL)
	}
	if base.Scheme != "https" && !c.opts.AllowInsecure {
		// WooCommerce refuses a callback_url that is not https (§2.2).
		return none, Invalid("app_url", "must be https: WooCommerce posts the keys only to an https callback")
	}
	token, err := c.connectToken(&claims)
	if err != nil {
		return none, err
	}
	// WooCommerce adds success and user_id to the return address and
	// sends the browser there once the callback answered (§2.2).
	q := url.Values{
		"app_name":     {"storebridge"},
		"scope":        {"read_write"},
		"user_id":      {token},
		"return_url":   {c.opts.AppURL + "/woocommerce/return?" + url.Values{"connect": {claims.ID}}.Encode()},
		"callback_url": {c.opts.AppURL + "/woocommerce/callback"},
	}
	return WooConnectStart{
		URL:     storeURL + "/wc-auth/v1/authorize?" + q.Encode(),
		Browser: browser, Expires: claims.ExpiresAt.Time,
	}, nil
}

// checkStoreURL normalises a store URL a merchant typed and refuses what
// production must not call.
func (c *WooConnector) checkStoreURL(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", Invalid("store_url", "is required")
	}
	storeURL, err := c.svc.checkStoreURL(raw)
	if err != nil {
		return "", Invalid("store_url", "must be the store's public https:// address")
	}
	return storeURL, nil
}

// storeMerchant finds the merchant a store already is, by its host;
// connected is false when the store is nobody's.
func (c *WooConnector) storeMerchant(ctx context.Context, storeURL string) (m Merchant, connected bool, err error) {
	u, err := url.Parse(storeURL)
	if err != nil {
		return Merchant{}, false, fmt.Errorf("woocommerce connect: store url %q: %w", storeURL, err)
	}
	m, err = c.svc.store.MerchantByDomain(ctx, PlatformWooCommerce, strings.ToLower(u.Host))
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, false, nil
	}
	if err != nil {
		return Merchant{}, false, err
	}
	return m, true, nil
}

// connectToken signs claims, giving them their id and expiry.
func (c *WooConnector) connectToken(claims *wooConnectClaims) (string, error) {
	now := c.svc.now()
	claims.RegisteredClaims = jwt.RegisteredClaims{
		Audience:  jwt.ClaimStrings{wooConnectAudience},
		ID:        rand.Text(),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(WooConnectTokenTTL)),
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(c.svc.keyring.SigningKey())
	if err != nil {
		return "", fmt.Errorf("woocommerce connect: sign token: %w", err)
	}
	return token, nil
}

func (c *WooConnector) verifyConnectToken(token string) (wooConnectClaims, error) {
	var claims wooConnectClaims
	_, err := jwt.ParseWithClaims(token, &claims, c.svc.keyring.jwtKeys, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(wooConnectAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(c.svc.now))
	known := claims.StartedBy == wooByVisitor || claims.StartedBy == wooByMerchant || claims.StartedBy == wooByOperator
	if err != nil || claims.StoreURL == "" || claims.ID == "" || !known {
		return wooConnectClaims{}, fmt.Errorf("woocommerce connect token refused: %w", ErrUnauthenticated)
	}
	return claims, nil
}

// WooCallback is what WooCommerce posts to the callback once the merchant
// approved (§2.2).
type WooCallback struct {
	KeyID          int64
	UserID         string // our connect token, echoed
	ConsumerKey    string
	ConsumerSecret string
	KeyPermissions string
}

// Callback verifies the connect token, checks that a store that is
// already a merchant's is reconnected only as that merchant's connect
// (mayReconnect), checks that the key reads and writes the REST API of
// the token's store, stores the keys sealed (a new merchant, or the
// existing one of that store on a reconnect) with a webhook secret, and
// queues the webhooks' creation. Any error makes WooCommerce delete the
// key it just issued: ErrUnauthenticated for a bad or used token; a
// *WooConnectError for a connect not fit for the store's merchant
// (ErrWooNotStoreOwner) or a key the store did not answer about
// (ErrWooStoreUnavailable); a *ValidationError for a key we could not use
// or the store refused; anything else when the key could not be kept, so
// the merchant connects again.
func (c *WooConnector) Callback(ctx context.Context, in WooCallback) (Merchant, error) {
	claims, err := c.verifyConnectToken(in.UserID)
	if err != nil {
		return Merchant{}, err
	}
	fields := map[string]string{}
	if in.KeyPermissions != "read_write" {
		fields["key_permissions"] = "must be read_write: webhooks are created with this key"
	}
	if !strings.HasPrefix(in.ConsumerKey, "ck_") {
		fields["consumer_key"] = "must start with ck_"
	}
	if !strings.HasPrefix(in.ConsumerSecret, "cs_") {
		fields["consumer_secret"] = "must start with cs_"
	}
	if len(fields) > 0 {
		return Merchant{}, &ValidationError{Fields: fields}
	}
	s := c.svc
	// A token opens one connection: a copy replayed later cannot swap the
	// store's keys.
	state, err := s.store.Claim(ctx, wooConnectScope, "token:"+claims.ID, WooConnectTokenTTL)
	if err != nil {
		return Merchant{}, err
	}
	if state != ClaimNew {
		return Merchant{}, fmt.Errorf("woocommerce connect token already used: %w", ErrUnauthenticated)
	}
	m, err := c.connect(ctx, claims, in)
	if err != nil {
		s.log.Info("woocommerce connect refused", "store", claims.StoreURL, "by", claims.StartedBy, "key_id", in.KeyID, "err", err)
		if relErr := s.store.Release(context.WithoutCancel(ctx), wooConnectScope, "token:"+claims.ID); relErr != nil {
			s.log.Warn("releasing a woocommerce connect token failed", "err", relErr)
		}
		return Merchant{}, err
	}
	if err := s.store.Complete(ctx, wooConnectScope, "token:"+claims.ID, WooConnectTokenTTL); err != nil {
		s.log.Warn("marking a woocommerce connect token used failed", "merchant", m.ID, "err", err)
	}
	c.rememberReturn(ctx, claims, m.ID)
	s.log.Info("woocommerce store connected", "merchant", m.ID, "store", m.Domain, "by", claims.StartedBy, "key_id", in.KeyID)
	return m, nil
}

// rememberReturn lets the browser that started the connect land signed in
// to m's admin on its return, once, within WooReturnTTL. A failure costs
// only that: the keys are kept, and the return page says how to sign in.
func (c *WooConnector) rememberReturn(ctx context.Context, claims wooConnectClaims, merchantID string) {
	if claims.Browser == "" {
		return
	}
	if err := c.svc.store.PutOnce(ctx, wooReturnKey(claims.ID, claims.Browser), merchantID, WooReturnTTL); err != nil {
		c.svc.log.Warn("keeping a woocommerce connect's return failed", "merchant", merchantID, "err", err)
	}
}

// SignInOnReturn signs in the browser WooCommerce sends back after the
// approval (connectID from the return address, browser from its cookie):
// only the browser that started the connect, only once the callback
// stored the keys, and only once. It answers the merchant's id;
// ErrUnauthenticated for another browser, a connect whose callback has
// not arrived or was refused, a second return, or one after WooReturnTTL.
func (c *WooConnector) SignInOnReturn(ctx context.Context, connectID, browser string) (string, error) {
	if connectID == "" || browser == "" {
		return "", fmt.Errorf("woocommerce return without its connect or browser: %w", ErrUnauthenticated)
	}
	id, err := c.svc.store.TakeOnce(ctx, wooReturnKey(connectID, hashBrowser(browser)))
	if errors.Is(err, ErrNotFound) {
		return "", fmt.Errorf("woocommerce return: no connect of this browser to sign in: %w", ErrUnauthenticated)
	}
	if err != nil {
		return "", err
	}
	return signedInMerchant(c.svc.merchants.byID(ctx, id))
}

// wooReturnKey is where a connect's return waits for its browser: a hash
// of the connect and the browser's hash, so a return from any other
// browser finds nothing, and uses nothing up.
func wooReturnKey(connectID, browserHash string) string {
	sum := sha256.Sum256([]byte(connectID + "\x00" + browserHash))
	return "woo-return:" + hex.EncodeToString(sum[:])
}

// hashBrowser is how a browser's connect secret is kept in the connect
// token, which passes through the store and the browser's address bar.
func hashBrowser(secret string) string {
	sum := sha256.Sum256([]byte("storebridge woocommerce browser\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// checkKey proves the posted key reads and writes the store's REST API at
// the token's store URL, which is what the connector does with it. The
// callback's key_permissions is only what the poster says.
func (c *WooConnector) checkKey(ctx context.Context, storeURL string, in WooCallback) error {
	if c.opts.REST == nil {
		return errors.New("woocommerce connect: no REST client configured")
	}
	ctx, cancel := context.WithTimeout(ctx, wooKeyCheckTimeout)
	defer cancel()
	err := c.opts.REST.CheckKey(ctx, WooCredentials{StoreURL: storeURL, ConsumerKey: in.ConsumerKey, ConsumerSecret: in.ConsumerSecret})
	if err == nil {
		return nil
	}
	if IsRetryable(err) {
		// The store timed out or failed (5xx, 429). Refused all the same:
		// keeping a key nobody checked is the hole this check closes, and
		// an answer of 200 is the only thing that makes WooCommerce keep
		// it. Refused, WooCommerce deletes the key and shows the merchant
		// an error; approving again, once the store answers, posts a new
		// key with the same connect token (released by Callback).
		return &WooConnectError{Err: ErrWooStoreUnavailable, Reason: "the store did not answer the key check; approve the connection again in a minute", cause: err}
	}
	msg := err.Error()
	var pe *ProviderError
	if errors.As(err, &pe) {
		msg = pe.Message
		if pe.Status == 401 || pe.Status == 403 {
			return Invalid("consumer_key", "the store refused this key for reading and writing its REST API: "+msg)
		}
	}
	return Invalid("store_url", "the store's REST API did not take the key check: "+msg)
}

// connect stores the keys of a connect fit for the store's merchant, once
// they work at the store, and schedules the store's jobs.
func (c *WooConnector) connect(ctx context.Context, claims wooConnectClaims, in WooCallback) (Merchant, error) {
	s := c.svc
	m, connected, err := c.storeMerchant(ctx, claims.StoreURL)
	if err != nil {
		return Merchant{}, err
	}
	// Refused before the key is tried: a token that may not use it sends
	// nothing to any store. reconnect checks again, atomically.
	if connected {
		if err := claims.mayReconnect(m); err != nil {
			return Merchant{}, err
		}
	}
	if err := c.checkKey(ctx, claims.StoreURL, in); err != nil {
		return Merchant{}, err
	}
	secretChanged := false
	if connected {
		m, secretChanged, err = c.reconnect(ctx, m.ID, claims, in)
	} else {
		m, _, err = s.CreateMerchant(ctx, NewMerchant{
			Platform: PlatformWooCommerce, StoreURL: claims.StoreURL,
			Secrets: map[string]string{"consumer_key": in.ConsumerKey, "consumer_secret": in.ConsumerSecret, "webhook_secret": wooRandomSecret()},
		})
		if errors.Is(err, ErrConflict) {
			// Another callback connected the same store meanwhile: this one
			// is a reconnect now, and must be fit for it (a first connect's
			// token is not).
			var winner Merchant
			switch winner, connected, err = c.storeMerchant(ctx, claims.StoreURL); {
			case err != nil:
			case !connected:
				err = fmt.Errorf("store %s was connected and is gone: %w", claims.StoreURL, ErrConflict)
			default:
				m, secretChanged, err = c.reconnect(ctx, winner.ID, claims, in)
			}
		}
	}
	if err != nil {
		return Merchant{}, fmt.Errorf("woocommerce connect: %w", err)
	}

	if err := c.startSync(ctx, m, secretChanged); err != nil {
		return Merchant{}, err
	}
	return m, nil
}

// StartSync starts a WooCommerce merchant's webhook upkeep and
// reconciliation, for a store set up by hand through the admin API with
// its REST keys and webhook secret.
func (c *WooConnector) StartSync(ctx context.Context, merchantID string) error {
	m, err := c.svc.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return err
	}
	if m.Platform != PlatformWooCommerce {
		return Invalid("sync", "only for a WooCommerce store")
	}
	for _, name := range []string{"consumer_key", "consumer_secret", "webhook_secret"} {
		if _, ok := m.Secrets[name]; !ok {
			return Invalid("sync", "needs the store's "+name)
		}
	}
	return c.startSync(ctx, m, false)
}

// startSync sets the order cursor (now, for a new store) and schedules the
// webhooks job now and the reconciliation after it.
func (c *WooConnector) startSync(ctx context.Context, m Merchant, secretChanged bool) error {
	s := c.svc
	cursors, err := s.store.MapAll(ctx, m.ID, wooMapSync)
	if err != nil {
		return err
	}
	set := map[string]string{}
	if _, ok := cursors[wooSyncOrders]; !ok {
		// Start now rather than replay the store's history; a reconnect
		// keeps its cursor, so orders of the gap are still picked up.
		set[wooSyncOrders] = s.now().UTC().Format(wooGMTLayout)
	}
	if secretChanged {
		set[wooSyncSecretPending] = s.now().UTC().Format(time.RFC3339)
	}
	if err := s.store.MapSet(ctx, m.ID, wooMapSync, set); err != nil {
		return err
	}
	now := s.now()
	if err := c.svc.schedule(ctx, m.ID, JobWooWebhooks, wooWebhooksKey, now, true); err != nil {
		return err
	}
	// The webhooks job pulls this forward; scheduled here too so the chain
	// exists even if that job dies.
	if err := c.svc.schedule(ctx, m.ID, JobWooReconcile, wooReconcileKey, now.Add(WooReconcileEvery), false); err != nil {
		return err
	}
	if s.wake != nil {
		s.wake()
	}
	return nil
}

// reconnect puts new keys on an existing merchant. Its webhook secret is
// kept when it is one we generated, so the store's webhooks keep verifying;
// otherwise a new one is made and the webhooks are told (secretChanged).
func (c *WooConnector) reconnect(ctx context.Context, merchantID string, claims wooConnectClaims, in WooCallback) (Merchant, bool, error) {
	s := c.svc
	secretChanged := false
	m, err := s.updateMerchant(ctx, merchantID, func(m *Merchant) error {
		if err := claims.mayReconnect(*m); err != nil {
			return err
		}
		secret, err := s.MerchantSecret(*m, "webhook_secret")
		secretChanged = err != nil || !validWooWebhookSecret(secret)
		if secretChanged {
			secret = wooRandomSecret()
		}
		sealed := maps.Clone(m.Secrets)
		if sealed == nil {
			sealed = map[string]Sealed{}
		}
		for name, value := range map[string]string{"consumer_key": in.ConsumerKey, "consumer_secret": in.ConsumerSecret, "webhook_secret": secret} {
			if sealed[name], err = s.keyring.Seal(value, secretContext(m.ID, name)); err != nil {
				return err
			}
		}
		m.Secrets = sealed
		m.StoreURL = claims.StoreURL
		m.Status = MerchantActive
		return nil
	})
	if err != nil {
		return Merchant{}, false, err
	}
	return m, secretChanged, nil
}

// activeWooMerchant loads the job's merchant; ok is false when its jobs
// must stop (gone, uninstalled, not a WooCommerce store).
func (c *WooConnector) activeWooMerchant(ctx context.Context, job Job) (Merchant, bool, error) {
	m, err := c.svc.store.GetMerchant(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return Merchant{}, false, nil
	}
	if err != nil {
		return Merchant{}, false, err
	}
	if m.Platform != PlatformWooCommerce || m.Status != MerchantActive {
		c.svc.log.Info("woocommerce job stopped", "merchant", m.ID, "kind", job.Kind, "status", m.Status)
		return m, false, nil
	}
	return m, true, nil
}

// errWooWebhooksBusy: another worker is checking the same store's webhooks.
var errWooWebhooksBusy = errors.New("woocommerce webhooks are being checked by another worker")

// HandleWebhooksJob creates the store's missing webhooks after a connect,
// then runs the reconciliation at once. Failures retry on the worker's
// schedule; a refusal no retry fixes is noted for the merchant.
func (c *WooConnector) HandleWebhooksJob(ctx context.Context, job Job) error {
	s := c.svc
	m, ok, err := c.activeWooMerchant(ctx, job)
	if err != nil || !ok {
		return err
	}
	if _, err := c.EnsureWebhooks(ctx, m); err != nil {
		if errors.Is(err, errWooWebhooksBusy) {
			return RetryAt(s.now().Add(10*time.Second), err.Error())
		}
		if !IsRetryable(err) {
			c.noteOnce(ctx, m.ID, "The store's webhooks could not be created: "+err.Error()+". Connect the store again.")
		}
		return err
	}
	return c.svc.schedule(ctx, m.ID, JobWooReconcile, wooReconcileKey, s.now(), true)
}

// HandleReconcileJob re-checks the webhooks, queues the orders they missed,
// and runs again in WooReconcileEvery. It never returns a plain error: the
// job's attempt count grows every turn, so the worker's attempt limit
// would bury it at its first failure.
func (c *WooConnector) HandleReconcileJob(ctx context.Context, job Job) error {
	s := c.svc
	m, ok, err := c.activeWooMerchant(ctx, job)
	if err != nil {
		return RetryAt(s.now().Add(wooFailureWait), err.Error())
	}
	if !ok {
		return nil
	}
	_, hookErr := c.EnsureWebhooks(ctx, m)
	if errors.Is(hookErr, errWooWebhooksBusy) {
		hookErr = nil // the other worker is on it
	}
	_, orderErr := c.Reconcile(ctx, m)
	if err := errors.Join(hookErr, orderErr); err != nil {
		s.log.Warn("woocommerce reconciliation failed", "merchant", m.ID, "err", err)
		if IsRetryable(err) {
			return RetryAt(s.now().Add(wooFailureWait), err.Error())
		}
		c.noteOnce(ctx, m.ID, "Checking the store failed: "+err.Error()+". If the API key was revoked, connect the store again.")
		return RetryAt(s.now().Add(WooReconcileEvery), err.Error())
	}
	if err := s.store.MapDelete(ctx, m.ID, wooMapSync, wooSyncLastError); err != nil {
		s.log.Warn("clearing the woocommerce error failed", "merchant", m.ID, "err", err)
	}
	return RetryAt(s.now().Add(WooReconcileEvery), "next reconciliation")
}

func (c *WooConnector) credentials(m Merchant) (WooCredentials, string, error) {
	s := c.svc
	ck, err := s.MerchantSecret(m, "consumer_key")
	if err != nil {
		return WooCredentials{}, "", Permanent(err)
	}
	cs, err := s.MerchantSecret(m, "consumer_secret")
	if err != nil {
		return WooCredentials{}, "", Permanent(err)
	}
	secret, err := s.MerchantSecret(m, "webhook_secret")
	if err != nil {
		return WooCredentials{}, "", Permanent(err)
	}
	return WooCredentials{StoreURL: m.StoreURL, ConsumerKey: ck, ConsumerSecret: cs}, secret, nil
}

// EnsureWebhooks makes every topic of WooTopics deliver to us: it creates
// the missing webhooks (listing first, so a second run creates none) and
// re-enables those WooCommerce disabled after repeated failures, with a
// note for the merchant. Webhooks the merchant paused are left paused. It
// reports how many webhooks it created or re-enabled.
func (c *WooConnector) EnsureWebhooks(ctx context.Context, m Merchant) (int, error) {
	s := c.svc
	if c.opts.REST == nil {
		return 0, Permanent(errors.New("woocommerce: no REST client configured"))
	}
	state, err := s.store.Claim(ctx, m.ID, wooWebhooksLockKey, wooWebhooksLockTTL)
	if err != nil {
		return 0, err
	}
	if state != ClaimNew {
		return 0, errWooWebhooksBusy
	}
	defer func() {
		if err := s.store.Release(context.WithoutCancel(ctx), m.ID, wooWebhooksLockKey); err != nil {
			s.log.Warn("releasing the woocommerce webhooks lock failed", "merchant", m.ID, "err", err)
		}
	}()

	creds, secret, err := c.credentials(m)
	if err != nil {
		return 0, err
	}
	pending := false
	if _, err := s.store.MapGet(ctx, m.ID, wooMapSync, wooSyncSecretPending); err == nil {
		pending = true
	} else if !errors.Is(err, ErrNotFound) {
		return 0, err
	}
	hooks, err := c.opts.REST.ListWebhooks(ctx, creds)
	if err != nil {
		return 0, fmt.Errorf("list webhooks: %w", err)
	}
	deliveryURL := c.WebhookURL(m.ID)
	ours := map[string][]WooWebhook{}
	for _, h := range hooks {
		if strings.TrimSuffix(h.DeliveryURL, "/") == deliveryURL {
			ours[h.Topic] = append(ours[h.Topic], h)
		}
	}
	changed := 0
	var reenabled, recreated []string
	for _, topic := range WooTopics() {
		existing := ours[topic]
		if pending {
			// The store's webhooks sign with the old secret: give them the
			// new one.
			for _, h := range existing {
				if _, err := c.opts.REST.UpdateWebhook(ctx, creds, h.ID, WooWebhookUpdate{Secret: secret}); err != nil {
					return changed, fmt.Errorf("update the secret of webhook %d: %w", h.ID, err)
				}
			}
		}
		if slices.ContainsFunc(existing, func(h WooWebhook) bool { return h.Status == "active" || h.Status == "paused" }) {
			continue
		}
		if i := slices.IndexFunc(existing, func(h WooWebhook) bool { return h.Status == "disabled" }); i >= 0 {
			// Re-enabling does not reset WooCommerce's failure count; one more
			// failure disables it again, and the next run re-enables it.
			_, err := c.opts.REST.UpdateWebhook(ctx, creds, existing[i].ID, WooWebhookUpdate{Status: "active", Secret: secret})
			var pe *ProviderError
			if errors.As(err, &pe) && pe.Status == 404 {
				err = c.createWebhook(ctx, creds, topic, deliveryURL, secret) // deleted meanwhile
			}
			if err != nil {
				return changed, fmt.Errorf("re-enable the %s webhook: %w", topic, err)
			}
			reenabled = append(reenabled, topic)
			changed++
			continue
		}
		if err := c.createWebhook(ctx, creds, topic, deliveryURL, secret); err != nil {
			return changed, fmt.Errorf("create the %s webhook: %w", topic, err)
		}
		if len(ours) > 0 {
			recreated = append(recreated, topic) // the others exist: this one was deleted
		}
		changed++
	}
	if pending {
		if err := s.store.MapDelete(ctx, m.ID, wooMapSync, wooSyncSecretPending); err != nil {
			return changed, err
		}
	}
	var note []string
	if len(reenabled) > 0 {
		note = append(note, "WooCommerce had disabled the "+strings.Join(reenabled, ", ")+
			" webhook(s) after repeated failed deliveries; storebridge re-enabled them.")
	}
	if len(recreated) > 0 {
		note = append(note, "The "+strings.Join(recreated, ", ")+" webhook(s) had been deleted from the store; storebridge created them again.")
	}
	if len(note) > 0 {
		c.note(ctx, m.ID, strings.Join(note, " ")+" Orders changed meanwhile are picked up by the reconciliation.")
	}
	if changed > 0 {
		s.log.Info("woocommerce webhooks put in place", "merchant", m.ID, "changed", changed, "reenabled", len(reenabled))
	}
	return changed, nil
}

func (c *WooConnector) createWebhook(ctx context.Context, creds WooCredentials, topic, deliveryURL, secret string) error {
	_, err := c.opts.REST.CreateWebhook(ctx, creds, WooWebhook{
		Name: "storebridge " + topic, Topic: topic, DeliveryURL: deliveryURL, Secret: secret,
	})
	return err
}

// Reconcile queues the orders modified since the merchant's cursor as
// order.updated webhook jobs, under claim keys of the ingest's shape with
// "reconcile" as the webhook id, so the state and exactly-once layers drop
// what webhooks delivered already. It returns how many jobs it queued.
func (c *WooConnector) Reconcile(ctx context.Context, m Merchant) (int, error) {
	s := c.svc
	if c.opts.REST == nil {
		return 0, Permanent(errors.New("woocommerce: no REST client configured"))
	}
	now := s.now().UTC()
	raw, err := s.store.MapGet(ctx, m.ID, wooMapSync, wooSyncOrders)
	if errors.Is(err, ErrNotFound) {
		// No cursor: start now rather than replay the store's history.
		return 0, s.store.MapSet(ctx, m.ID, wooMapSync, map[string]string{wooSyncOrders: now.Format(wooGMTLayout)})
	}
	if err != nil {
		return 0, err
	}
	cursor, err := time.Parse(wooGMTLayout, raw)
	if err != nil {
		return 0, Permanent(fmt.Errorf("woocommerce sync cursor %q: %w", raw, err))
	}
	if floor := now.Add(-wooMaxLookback).Truncate(time.Second); cursor.Before(floor) {
		cursor = floor
	}
	creds, _, err := c.credentials(m)
	if err != nil {
		return 0, err
	}

	queued, newest := 0, cursor
	after, page := cursor, 1
	var runErr error
	for range wooMaxPagesPerRun {
		res, err := c.opts.REST.ListOrders(ctx, creds, WooOrderQuery{ModifiedAfter: after.Add(-wooReconcileOverlap), Page: page, PerPage: wooOrdersPerPage})
		if err != nil {
			runErr = fmt.Errorf("list orders: %w", err)
			break
		}
		var last time.Time
		for _, o := range res.Orders {
			ok, err := c.queueOrder(ctx, m, o)
			if err != nil {
				runErr = err
				break
			}
			if ok {
				queued++
			}
			if t, err := time.Parse(wooGMTLayout, o.DateModifiedGMT); err == nil {
				last = t
				if t.After(newest) {
					newest = t
				}
			}
		}
		if runErr != nil || len(res.Orders) < wooOrdersPerPage || (res.TotalPages > 0 && page >= res.TotalPages) {
			break
		}
		// Keyset paging: pages numbered from a moving "after" skip nothing
		// when an order is modified while we read. Only a page that did
		// not get past its own start needs the next page number.
		if last.After(after) {
			after, page = last, 1
		} else {
			page++
		}
	}
	if newest.After(now) {
		newest = now // a store clock ahead of ours must not skip our future
	}
	if newest.After(cursor) || raw != cursor.Format(wooGMTLayout) {
		if err := s.store.MapSet(ctx, m.ID, wooMapSync, map[string]string{wooSyncOrders: newest.Format(wooGMTLayout)}); err != nil {
			return queued, errors.Join(runErr, err)
		}
	}
	if queued > 0 {
		s.log.Info("woocommerce orders reconciled", "merchant", m.ID, "queued", queued)
		if s.wake != nil {
			s.wake()
		}
	}
	return queued, runErr
}

// queueOrder queues one listed order as an order.updated webhook; false
// when the same order state was queued before.
func (c *WooConnector) queueOrder(ctx context.Context, m Merchant, o WooOrder) (bool, error) {
	s := c.svc
	now := s.now()
	in := WooCommerceWebhook{MerchantID: m.ID, Topic: "order.updated", WebhookID: "reconcile", Body: o.Body}
	payload, err := WebhookEnvelope{
		Platform: PlatformWooCommerce, Topic: in.Topic, WebhookID: in.WebhookID, ReceivedAt: now.UTC(), Body: o.Body,
	}.encode()
	if err != nil {
		return false, err
	}
	job := Job{ID: NewID(now), Merchant: m.ID, Kind: JobWooCommerceWebhook, Payload: payload, CreatedAt: now}
	state, err := s.store.ClaimAndEnqueue(ctx, wooDedupeKey(in), webhookDoneTTL, job)
	if err != nil {
		return false, fmt.Errorf("queue reconciled order %d: %w", o.ID, err)
	}
	return state == ClaimNew, nil
}

// note leaves a note for the merchant, under the time it was written.
func (c *WooConnector) note(ctx context.Context, merchantID, text string) {
	s := c.svc
	at := s.now().UTC().Format(time.RFC3339Nano)
	field := at
	for i := 2; i <= 9; i++ {
		if _, err := s.store.MapGet(ctx, merchantID, wooMapNotes, field); err != nil {
			break // free (or unreadable: write anyway)
		}
		field = fmt.Sprintf("%s #%d", at, i) // two notes in one instant
	}
	if err := s.store.MapSet(ctx, merchantID, wooMapNotes, map[string]string{field: text}); err != nil {
		s.log.Warn("writing a merchant note failed", "merchant", merchantID, "err", err)
	}
}

// noteOnce notes a failure unless the same one was the last noted.
func (c *WooConnector) noteOnce(ctx context.Context, merchantID, text string) {
	s := c.svc
	if last, err := s.store.MapGet(ctx, merchantID, wooMapSync, wooSyncLastError); err == nil && last == text {
		return
	}
	c.note(ctx, merchantID, text)
	if err := s.store.MapSet(ctx, merchantID, wooMapSync, map[string]string{wooSyncLastError: text}); err != nil {
		s.log.Warn("recording the woocommerce error failed", "merchant", merchantID, "err", err)
	}
}

// validWooWebhookSecret tells a secret we generated from one set by hand.
// WooCommerce signs with the secret after entity-decoding it, and its admin
// screen mangles symbols (§1.4): ours are letters and digits only.
func validWooWebhookSecret(s string) bool {
	if len(s) < 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// wooRandomSecret returns 52 letters and digits (256 bits) from
// crypto/rand.
func wooRandomSecret() string { return rand.Text() + rand.Text() }
