package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ShopifyAPIVersion is the one pinned Shopify API version: every GraphQL
// Admin call names it, and shopify.app.toml subscribes the webhooks at it
// (go run . shopify-config). Webhooks at another version are counted and
// logged (shopify_version.go). Shopify supports a version about 12 months:
// move this quarterly, regenerate shopify.app.toml, and deploy both.
const ShopifyAPIVersion = "2026-01"

const (
	// ShopifyStateTTL is how long an install may take between our
	// redirect to Shopify and its callback.
	ShopifyStateTTL = 5 * time.Minute
	// shopifyTimestampWindow is how far a signed request's timestamp may
	// be from our clock (Shopify's own libraries allow 90 s).
	shopifyTimestampWindow = 90 * time.Second
	// shopifyStateAudience keeps a state cookie from being accepted as any
	// other token signed with the same key, and the other way round.
	shopifyStateAudience = "storebridge:shopify-install"
	// shopifyInstallScope is the claim scope of used state nonces.
	shopifyInstallScope = "shopify-install"
)

// Merchant settings written by the install and the token refresh.
const (
	SettingShopifyTokenExpiresAt   = "shopify_token_expires_at"
	SettingShopifyRefreshExpiresAt = "shopify_refresh_token_expires_at"
	SettingShopifyScopes           = "shopify_scopes"
	// SettingShopifyReinstall is set, with the time and reason, when
	// Shopify refused to refresh the token: only a new install helps.
	SettingShopifyReinstall = "shopify_reinstall_required"
)

// shopifyShopPattern is the shop rule of Shopify's OAuth documentation.
// Checked before the value is used anywhere: an unchecked shop would
// receive our client secret.
var shopifyShopPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com$`)

// ValidShopDomain reports whether shop is a xxxx.myshopify.com domain.
func ValidShopDomain(shop string) bool {
	return len(shop) <= 255 && shopifyShopPattern.MatchString(shop)
}

// Reasons an install step is refused; ShopifyInstallError wraps one.
var (
	ErrShopifyAppOff      = errors.New("the Shopify app is not configured")
	ErrInvalidShop        = errors.New("invalid shop")
	ErrScopesNotGranted   = errors.New("scopes not granted")
	ErrShopifyUnavailable = errors.New("shopify unavailable")
	// ErrUnauthenticated (a bad signature, a stale timestamp, a state
	// that does not match) is the fourth.
)

// ShopifyInstallError is a refused install step: Err says which kind,
// Reason is safe to show the merchant.
type ShopifyInstallError struct {
	Err    error
	Reason string
}

func (e *ShopifyInstallError) Error() string { return "shopify install: " + e.Reason }
func (e *ShopifyInstallError) Unwrap() error { return e.Err }

func refuse(kind error, reason string) error { return &ShopifyInstallError{Err: kind, Reason: reason} }

// ShopifyToken is an access token as Shopify granted it. Expiring offline
// tokens last an hour and come with a refresh token, which rotates.
type ShopifyToken struct {
	AccessToken string
	Scope       string        // comma-separated, as granted
	ExpiresIn   time.Duration // 0: the token does not expire
	// RefreshToken is empty for non-expiring tokens.
	RefreshToken     string
	RefreshExpiresIn time.Duration
}

// ShopifyWebhookSubscription is one webhook subscription of a shop.
type ShopifyWebhookSubscription struct {
	Topic string // as in X-Shopify-Topic: "orders/create"
	URI   string
}

// ShopifyOrder is an order as reconciliation lists it: Body in the shape of
// an orders/* webhook body (the adapter maps the GraphQL Admin API's order
// onto it), with the fields reconciliation needs read out.
type ShopifyOrder struct {
	ID        string
	CreatedAt time.Time
	UpdatedAt time.Time
	Body      []byte
}

// ShopifyAdmin is what the installer needs of Shopify: the OAuth token
// endpoint and a few Admin API calls. Errors are *ProviderError.
type ShopifyAdmin interface {
	// ExchangeCode trades an authorization code for an expiring offline
	// token.
	ExchangeCode(ctx context.Context, shop, code string) (ShopifyToken, error)
	// ExchangeSessionToken trades an App Bridge session token (id token)
	// for an expiring offline token: the embedded app's install when
	// Shopify manages it, with no redirect and no code.
	ExchangeSessionToken(ctx context.Context, shop, idToken string) (ShopifyToken, error)
	// RefreshToken trades a refresh token for a new access token and a new
	// refresh token (the old one stops working).
	RefreshToken(ctx context.Context, shop, refreshToken string) (ShopifyToken, error)
	WebhookSubscriptions(ctx context.Context, shop, accessToken string) ([]ShopifyWebhookSubscription, error)
	CreateWebhookSubscription(ctx context.Context, shop, accessToken string, sub ShopifyWebhookSubscription) error
	// OrdersUpdatedSince lists up to limit orders updated at or after
	// since, oldest update first.
	OrdersUpdatedSince(ctx context.Context, shop, accessToken string, since time.Time, limit int) ([]ShopifyOrder, error)
	// Shop reads the shop's name, country and time zone.
	Shop(ctx context.Context, shop, accessToken string) (ShopifyShop, error)
}

// ShopifyShop is what the service keeps of a shop's own settings: its name
// for shop.name, its country to read phone numbers, its time zone for
// quiet hours and dates, its currency for sample amounts.
type ShopifyShop struct {
	Name     string
	Country  string // ISO 3166-1 alpha-2
	Timezone string // IANA
	Currency string // ISO 4217
}

// ShopifyInstaller installs the public Shopify app on a shop (OAuth),
// keeps its webhook subscriptions in place and reconciles missed orders.
type ShopifyInstaller struct {
	svc  *Service
	opts ShopifyInstallOptions
}

// ShopifyInstallOptions configure the Shopify app.
type ShopifyInstallOptions struct {
	APIKey    string   // the app's client id
	APISecret string   // the app's client secret: signs redirects and webhooks
	Scopes    []string // what the app asks for and must be granted
	// AppURL is the public base URL: the OAuth redirect and the webhook
	// address are built from it.
	AppURL string
	Admin  ShopifyAdmin
	// Orders writes COD decisions back to orders; nil leaves them alone.
	Orders ShopifyOrders
	// Discounts creates the shop's discount codes; nil: none are made.
	Discounts ShopifyDiscounts
}

// NewShopifyInstaller returns the Shopify install use cases over svc.
func NewShopifyInstaller(svc *Service, opts ShopifyInstallOptions) *ShopifyInstaller {
	opts.AppURL = strings.TrimSuffix(opts.AppURL, "/")
	return &ShopifyInstaller{svc: svc, opts: opts}
}

// Enabled reports whether the app's credentials are configured.
func (i *ShopifyInstaller) Enabled() bool {
	return i != nil && i.opts.APIKey != "" && i.opts.APISecret != "" && i.opts.Admin != nil
}

// WebhookURI is where Shopify sends every topic.
func (i *ShopifyInstaller) WebhookURI() string { return i.opts.AppURL + ShopifyWebhookPath }

// RedirectURI is the OAuth redirect URL.
func (i *ShopifyInstaller) RedirectURI() string { return i.opts.AppURL + ShopifyCallbackPath }

// ShopifyInstallStart is where to send the merchant's browser, and the
// state to keep in a cookie until the callback.
type ShopifyInstallStart struct {
	RedirectURL string
	State       string // a signed token; the cookie's value
	Expires     time.Time
}

// stateClaims bind the nonce Shopify echoes as state to the shop it was
// issued for.
type stateClaims struct {
	Nonce string `json:"nonce"`
	Shop  string `json:"shop"`
	jwt.RegisteredClaims
}

// BeginInstall checks an install request (the shop always; the signature
// and its timestamp when Shopify signed it) and returns the authorize
// redirect with a fresh state.
func (i *ShopifyInstaller) BeginInstall(ctx context.Context, query url.Values) (ShopifyInstallStart, error) {
	if !i.Enabled() {
		return ShopifyInstallStart{}, refuse(ErrShopifyAppOff, "the Shopify app is not configured on this server (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
	}
	shop, err := checkShop(query.Get("shop"))
	if err != nil {
		return ShopifyInstallStart{}, err
	}
	if query.Has("hmac") {
		if err := i.verifyQuery(query); err != nil {
			return ShopifyInstallStart{}, err
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return ShopifyInstallStart{}, fmt.Errorf("shopify install: nonce: %w", err)
	}
	nonce := hex.EncodeToString(raw)
	now := i.svc.now()
	expires := now.Add(ShopifyStateTTL)
	state, err := jwt.NewWithClaims(jwt.SigningMethodHS256, stateClaims{
		Nonce: nonce,
		Shop:  shop,
		RegisteredClaims: jwt.RegisteredClaims{
			Audience:  jwt.ClaimStrings{shopifyStateAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
	}).SignedString(i.svc.keyring.SigningKey())
	if err != nil {
		return ShopifyInstallStart{}, fmt.Errorf("shopify install: sign state: %w", err)
	}
	// An empty grant_options[] asks for an offline token, the only kind
	// background jobs can use.
	authorize := url.Values{
		"client_id":    {i.opts.APIKey},
		"scope":        {strings.Join(i.opts.Scopes, ",")},
		"redirect_uri": {i.RedirectURI()},
		"state":        {nonce},
	}
	return ShopifyInstallStart{
		RedirectURL: "https://" + shop + "/admin/oauth/authorize?" + authorize.Encode(),
		State:       state,
		Expires:     expires,
	}, nil
}

// ShopifyInstallResult is the merchant an install created or revived, or
// the one an embedded sign-in found.
type ShopifyInstallResult struct {
	MerchantID  string
	Shop        string
	Reinstalled bool
	// Installed is true when this call obtained and stored a new token;
	// false when SignInEmbedded found the shop installed already.
	Installed bool
}

// CompleteInstall checks Shopify's callback (shop, signature, timestamp,
// state against the cookie's), trades the code for a token, checks the
// scopes granted, stores the merchant and queues its webhook setup.
func (i *ShopifyInstaller) CompleteInstall(ctx context.Context, query url.Values, stateToken string) (ShopifyInstallResult, error) {
	if !i.Enabled() {
		return ShopifyInstallResult{}, refuse(ErrShopifyAppOff, "the Shopify app is not configured on this server (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
	}
	shop, err := checkShop(query.Get("shop"))
	if err != nil {
		return ShopifyInstallResult{}, err
	}
	if err := i.verifyQuery(query); err != nil {
		return ShopifyInstallResult{}, err
	}
	if err := i.checkState(stateToken, query.Get("state"), shop); err != nil {
		return ShopifyInstallResult{}, err
	}
	code := query.Get("code")
	if code == "" {
		return ShopifyInstallResult{}, refuse(ErrInvalidShop, "the callback carries no authorization code")
	}
	// A state opens one install. The browser drops the cookie, but a
	// replay with cookie and query kept (within Shopify's timestamp
	// window) must be refused too, on every instance. A failed install
	// frees the nonce, so the merchant may simply try the callback again.
	s := i.svc
	key := "state:" + query.Get("state")
	claim, err := s.store.Claim(ctx, shopifyInstallScope, key, ShopifyStateTTL)
	if err != nil {
		return ShopifyInstallResult{}, fmt.Errorf("shopify install: claim state: %w", err)
	}
	if claim != ClaimNew {
		return ShopifyInstallResult{}, refuse(ErrUnauthenticated, "this install state was already used; start the install again")
	}
	result, err := i.install(ctx, shop, code)
	if err != nil {
		if relErr := s.store.Release(context.WithoutCancel(ctx), shopifyInstallScope, key); relErr != nil {
			s.log.Warn("releasing a shopify install state failed", "shop", shop, "err", relErr)
		}
		return ShopifyInstallResult{}, err
	}
	if err := s.store.Complete(ctx, shopifyInstallScope, key, ShopifyStateTTL); err != nil {
		s.log.Warn("marking a shopify install state used failed", "merchant", result.MerchantID, "err", err)
	}
	return result, nil
}

// install trades the callback's code for a token and installs with it.
func (i *ShopifyInstaller) install(ctx context.Context, shop, code string) (ShopifyInstallResult, error) {
	token, err := i.opts.Admin.ExchangeCode(ctx, shop, code)
	if err != nil {
		return ShopifyInstallResult{}, i.exchangeRefused(shop, tokenGrant{
			name: "the authorization code", refused: ErrUnauthenticated,
			whenDown: "try the install again", whenRefused: "start the install again",
		}, err)
	}
	return i.installToken(ctx, shop, token, "oauth")
}

// SignInEmbedded signs in the embedded app from an App Bridge session
// token (its first load carries one as id_token), installing the app when
// Shopify manages the install: a shop already installed and active is
// answered without calling Shopify; any other (never installed,
// uninstalled, or marked for reinstall because its refresh was refused, or
// without a token) gets its token through token exchange, then the same
// install as the OAuth callback's. Refusals are *ShopifyInstallError; a
// token that does not verify wraps ErrUnauthenticated, and ErrSessionEnded
// when it was signed with our secret (expired, for another app, or
// refused by Shopify), so it does not count as a guess. pageShop is the
// shop the request names (Shopify's shop parameter), empty when it names
// none: a token of another shop is refused before Shopify is asked, or a
// page of one shop would install and open another.
func (i *ShopifyInstaller) SignInEmbedded(ctx context.Context, idToken, pageShop string) (ShopifyInstallResult, error) {
	if !i.Enabled() {
		return ShopifyInstallResult{}, refuse(ErrShopifyAppOff, "the Shopify app is not configured on this server (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)")
	}
	// Verified with the installer's own credentials: the exchange below
	// presents them, and Shopify takes only tokens issued to that app.
	shop, err := verifyShopifySession(idToken, i.opts.APIKey, i.opts.APISecret, i.svc.now)
	if err != nil {
		return ShopifyInstallResult{}, refuse(err, "the Shopify session token is invalid or expired; reload the app from the Shopify admin")
	}
	if pageShop != "" && !strings.EqualFold(pageShop, shop) {
		return ShopifyInstallResult{}, refuse(ErrSessionEnded, "the Shopify session token is for another shop; reload the app from this shop's admin")
	}
	// Read from the store, not the merchant cache: an uninstall on another
	// instance must lead to a new exchange at once, not in 30 s.
	m, err := i.svc.store.MerchantByDomain(ctx, PlatformShopify, shop)
	switch {
	case err == nil && installed(m):
		return ShopifyInstallResult{MerchantID: m.ID, Shop: shop}, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return ShopifyInstallResult{}, fmt.Errorf("shopify sign-in: %w", err)
	}
	token, err := i.opts.Admin.ExchangeSessionToken(ctx, shop, idToken)
	if err != nil {
		// The token verified with our secret: Shopify refusing it (used
		// already, expired by its clock) makes it no guess.
		return ShopifyInstallResult{}, i.exchangeRefused(shop, tokenGrant{
			name: "the session token", refused: ErrSessionEnded,
			whenDown: "reload the app from the Shopify admin", whenRefused: "reload the app from the Shopify admin",
		}, err)
	}
	return i.installToken(ctx, shop, token, "token exchange")
}

// installed reports whether a shop's merchant can work as it is: active,
// holding a token, and not waiting for a reinstall.
func installed(m Merchant) bool {
	_, hasToken := m.Secrets["access_token"]
	return m.Status == MerchantActive && hasToken && m.Settings[SettingShopifyReinstall] == ""
}

// tokenGrant describes what a token request traded, for its refusal.
type tokenGrant struct {
	name    string // "the authorization code"
	refused error  // the kind of a refusal by Shopify
	// What the merchant should do when Shopify did not answer, or refused.
	whenDown, whenRefused string
}

// exchangeRefused turns a failed token request into the install's refusal:
// Shopify down is worth a retry, anything else (a 400 for a bad code or
// session token) is not.
func (i *ShopifyInstaller) exchangeRefused(shop string, grant tokenGrant, err error) error {
	if IsRetryable(err) {
		i.svc.log.Warn("shopify token request failed", "shop", shop, "grant", grant.name, "err", err)
		return refuse(ErrShopifyUnavailable, "Shopify did not answer; "+grant.whenDown)
	}
	i.svc.log.Info("shopify refused a token request", "shop", shop, "grant", grant.name, "err", err)
	return refuse(grant.refused, "Shopify refused "+grant.name+"; "+grant.whenRefused)
}

// installToken is the install once Shopify granted a token, however it was
// obtained: it checks the scopes granted, stores the merchant (created, or
// revived on a reinstall) and queues its webhook setup.
func (i *ShopifyInstaller) installToken(ctx context.Context, shop string, token ShopifyToken, via string) (ShopifyInstallResult, error) {
	if missing := missingScopes(i.opts.Scopes, token.Scope); len(missing) > 0 {
		return ShopifyInstallResult{}, refuse(ErrScopesNotGranted, "the shop did not grant the scopes the app needs: "+strings.Join(missing, ", "))
	}
	m, reinstalled, err := i.storeInstall(ctx, shop, token)
	if err != nil {
		return ShopifyInstallResult{}, err
	}
	if err := i.scheduleJobs(ctx, m.ID); err != nil {
		return ShopifyInstallResult{}, err
	}
	i.svc.log.Info("shopify app installed", "merchant", m.ID, "shop", shop, "reinstall", reinstalled, "via", via)
	return ShopifyInstallResult{MerchantID: m.ID, Shop: shop, Reinstalled: reinstalled, Installed: true}, nil
}

func checkShop(raw string) (string, error) {
	if !ValidShopDomain(raw) {
		return "", refuse(ErrInvalidShop, "shop must be the store's xxxx.myshopify.com domain")
	}
	return strings.ToLower(raw), nil
}

// verifyQuery checks Shopify's signature of a redirect's query and that it
// is recent.
func (i *ShopifyInstaller) verifyQuery(query url.Values) error {
	if !VerifyShopifyQuery(i.opts.APISecret, query) {
		return refuse(ErrUnauthenticated, "the request's hmac does not verify")
	}
	ts, err := strconv.ParseInt(query.Get("timestamp"), 10, 64)
	if err != nil {
		return refuse(ErrUnauthenticated, "the request carries no valid timestamp")
	}
	if d := i.svc.now().Sub(time.Unix(ts, 0)); d > shopifyTimestampWindow || d < -shopifyTimestampWindow {
		return refuse(ErrUnauthenticated, "the request's timestamp is too old or in the future")
	}
	return nil
}

// VerifyShopifyQuery checks the hex HMAC-SHA256 Shopify puts in an OAuth
// or app redirect: every parameter but hmac and signature, sorted by key,
// joined as k=v&…, keyed with the client secret. Shopify's libraries differ
// on escaping (the JS one escapes, go-shopify does not); both forms are
// accepted, each compared in constant time, except that the unescaped form
// is not trusted when a parameter holds the separators (see
// shopifyMessages).
func VerifyShopifyQuery(secret string, query url.Values) bool {
	got, err := hex.DecodeString(query.Get("hmac"))
	if err != nil || len(got) != sha256.Size || secret == "" {
		return false
	}
	plain, escaped, ambiguous := shopifyMessages(query)
	messages := []string{escaped}
	if !ambiguous {
		messages = append(messages, plain)
	}
	ok := false
	for _, message := range messages {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(message))
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// SignShopifyQuery computes the hmac Shopify would put on query (the
// unescaped form, or the escaped one where the unescaped is ambiguous),
// for tests and tools.
func SignShopifyQuery(secret string, query url.Values) string {
	plain, escaped, ambiguous := shopifyMessages(query)
	message := plain
	if ambiguous {
		message = escaped
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(message))
	return hex.EncodeToString(mac.Sum(nil))
}

// shopifyMessages builds the two strings Shopify's hmac may cover. The
// unescaped one is ambiguous when a key holds "&" or "=", or a value "&":
// {shop: "a.myshopify.com&timestamp=1"} then reads exactly like {shop:
// "a.myshopify.com", timestamp: "1"}, so the hmac of one query would
// verify a different one. The escaped form has no such collisions.
func shopifyMessages(query url.Values) (plain, escaped string, ambiguous bool) {
	keys := make([]string, 0, len(query))
	for k, vs := range query {
		// A key without values is no parameter (url.Values.Encode writes
		// nothing for it), and has no first value to read.
		if k != "hmac" && k != "signature" && len(vs) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var p, e strings.Builder
	for n, k := range keys {
		value := query[k][0]
		if len(query[k]) > 1 {
			// Shopify writes repeated parameters (ids[]=1&ids[]=2) as one
			// array value: ids=["1", "2"].
			value = `["` + strings.Join(query[k], `", "`) + `"]`
		}
		if strings.ContainsAny(k, "&=") || strings.Contains(value, "&") {
			ambiguous = true
		}
		if n > 0 {
			p.WriteByte('&')
			e.WriteByte('&')
		}
		p.WriteString(k + "=" + value)
		e.WriteString(strings.ReplaceAll(url.QueryEscape(k), "+", "%20") + "=" + strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
	}
	return p.String(), e.String(), ambiguous
}

// checkState opens the state cookie and matches it to the callback.
func (i *ShopifyInstaller) checkState(token, state, shop string) error {
	if token == "" {
		return refuse(ErrUnauthenticated, "the install state cookie is missing or expired; start the install again")
	}
	var claims stateClaims
	_, err := jwt.ParseWithClaims(token, &claims, i.svc.keyring.jwtKeys, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithAudience(shopifyStateAudience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(i.svc.now))
	if err != nil {
		return refuse(ErrUnauthenticated, "the install state cookie is invalid or expired; start the install again")
	}
	if subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(state)) != 1 || claims.Shop != shop {
		return refuse(ErrUnauthenticated, "the state does not match the install started here; start the install again")
	}
	return nil
}

// missingScopes lists the wanted scopes the grant does not cover. A write
// scope implies its read scope, and Shopify reports only the write one.
func missingScopes(want []string, granted string) []string {
	have := map[string]bool{}
	for s := range strings.SplitSeq(granted, ",") {
		s = strings.TrimSpace(s)
		have[s] = true
		if strings.Contains(s, "write_") {
			have[strings.Replace(s, "write_", "read_", 1)] = true
		}
	}
	var missing []string
	for _, s := range want {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	return missing
}

// storeInstall creates the shop's merchant, or revives it on a reinstall,
// with the new tokens sealed.
func (i *ShopifyInstaller) storeInstall(ctx context.Context, shop string, token ShopifyToken) (Merchant, bool, error) {
	s := i.svc
	m, err := s.store.MerchantByDomain(ctx, PlatformShopify, shop)
	reinstalled := err == nil
	if errors.Is(err, ErrNotFound) {
		m, _, err = s.CreateMerchant(ctx, NewMerchant{Platform: PlatformShopify, Domain: shop})
		if errors.Is(err, ErrConflict) {
			// A second callback for the same shop won the race: update it.
			m, err = s.store.MerchantByDomain(ctx, PlatformShopify, shop)
			reinstalled = true
		}
	}
	if err != nil {
		return Merchant{}, false, fmt.Errorf("shopify install: %w", err)
	}
	m, err = s.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		m.Status = MerchantActive
		if err := i.setTokens(m, token); err != nil {
			return err
		}
		delete(m.Settings, SettingShopifyReinstall)
		m.Settings[SettingShopifyScopes] = token.Scope
		return nil
	})
	if err != nil {
		return Merchant{}, false, fmt.Errorf("shopify install: %w", err)
	}
	// Webhooks and sessions of the shop work at once on this instance,
	// whoever created the merchant.
	s.merchants.forgetUnknown(PlatformShopify, shop)
	return m, reinstalled, nil
}

// setTokens seals a token into the merchant and records when it expires.
func (i *ShopifyInstaller) setTokens(m *Merchant, token ShopifyToken) error {
	now := i.svc.now().UTC()
	if m.Secrets == nil {
		m.Secrets = map[string]Sealed{}
	}
	if m.Settings == nil {
		m.Settings = map[string]string{}
	}
	for name, value := range map[string]string{"access_token": token.AccessToken, "refresh_token": token.RefreshToken} {
		if value == "" {
			delete(m.Secrets, name)
			continue
		}
		sealed, err := i.svc.keyring.Seal(value, secretContext(m.ID, name))
		if err != nil {
			return err
		}
		m.Secrets[name] = sealed
	}
	for name, d := range map[string]time.Duration{SettingShopifyTokenExpiresAt: token.ExpiresIn, SettingShopifyRefreshExpiresAt: token.RefreshExpiresIn} {
		if d <= 0 {
			delete(m.Settings, name)
			continue
		}
		m.Settings[name] = now.Add(d).Format(time.RFC3339)
	}
	return nil
}

// ShopifySubscriptionTopics are the topics the app subscribes to: every
// topic the product handles but the compliance ones. shopify.app.toml
// subscribes them for the public app (go run . shopify-config); a shop set
// up by hand with a custom app's token gets them through the Admin API.
func ShopifySubscriptionTopics() []string {
	var topics []string
	for _, topic := range ShopifyTopics() {
		if !slices.Contains(ShopifyComplianceTopics(), topic) {
			topics = append(topics, topic)
		}
	}
	slices.Sort(topics)
	return topics
}
