package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the platform name in errors.
const Name = "shopify"

// AdminOptions configure the client of Shopify's OAuth token endpoint and
// Admin API.
type AdminOptions struct {
	APIKey    string // the app's client id
	APISecret string // the app's client secret
	// BaseURL, when set, receives every call instead of https://{shop}
	// (SHOPIFY_ADMIN_BASE_URL, dev and tests only). The Host header still
	// names the shop, so a fake Shopify can tell shops apart.
	BaseURL *url.URL
	HTTP    adapters.Options
}

// Admin is the outbound client of one Shopify app, for every shop that
// installed it. It implements app.ShopifyAdmin.
type Admin struct {
	opts   AdminOptions
	client *http.Client
	// sleep waits out GraphQL cost limits; tests count the waits instead.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ app.ShopifyAdmin = (*Admin)(nil)

// NewAdmin returns the client.
func NewAdmin(opts AdminOptions) *Admin {
	return &Admin{opts: opts, client: opts.HTTP.HTTPClient(), sleep: sleep}
}

// url builds the address of path on shop, refusing a shop that is not a
// myshopify.com domain: the request would carry our secret or a token.
func (a *Admin) url(shop, path string) (string, error) {
	if !app.ValidShopDomain(shop) {
		return "", &app.ProviderError{Provider: Name, Message: "refused: " + strings.ToValidUTF8(shop, "") + " is not a myshopify.com domain"}
	}
	if a.opts.BaseURL != nil {
		return a.opts.BaseURL.JoinPath(path).String(), nil
	}
	return "https://" + shop + path, nil
}

// newRequest builds a request to shop; with a BaseURL the Host header
// still names the shop.
func (a *Admin) newRequest(ctx context.Context, method, shop, path string, body []byte, contentType string) (*http.Request, error) {
	target, err := a.url(shop, path)
	if err != nil {
		return nil, err
	}
	req, err := adapters.NewRequest(ctx, Name, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if a.opts.BaseURL != nil {
		req.Host = shop
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	return req, nil
}

type tokenAnswer struct {
	AccessToken           string `json:"access_token"`
	Scope                 string `json:"scope"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	Error                 string `json:"error"`
	ErrorDescription      string `json:"error_description"`
}

// ExchangeCode trades an authorization code for an expiring offline token
// (expiring "1"). go-shopify's GetAccessToken cannot: it neither asks for
// expiry nor reads the refresh token.
func (a *Admin) ExchangeCode(ctx context.Context, shop, code string) (app.ShopifyToken, error) {
	body, err := json.Marshal(map[string]string{
		"client_id": a.opts.APIKey, "client_secret": a.opts.APISecret, "code": code, "expiring": "1",
	})
	if err != nil {
		return app.ShopifyToken{}, err
	}
	req, err := a.newRequest(ctx, http.MethodPost, shop, "/admin/oauth/access_token", body, "application/json")
	if err != nil {
		return app.ShopifyToken{}, err
	}
	return a.token(req)
}

// Token exchange (RFC 8693 as Shopify speaks it): an App Bridge session
// token for an offline access token.
const (
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeOfflineAccess = "urn:shopify:params:oauth:token-type:offline-access-token"
)

// ExchangeSessionToken trades an App Bridge session token for an expiring
// offline token and its refresh token (expiring "1"), as Shopify-managed
// installs of embedded apps do. Shopify answers 400 to a session token it
// does not accept.
func (a *Admin) ExchangeSessionToken(ctx context.Context, shop, idToken string) (app.ShopifyToken, error) {
	// JSON, as ExchangeCode and Shopify's own library send it.
	body, err := json.Marshal(map[string]string{
		"client_id": a.opts.APIKey, "client_secret": a.opts.APISecret,
		"grant_type":           grantTokenExchange,
		"subject_token":        idToken,
		"subject_token_type":   tokenTypeIDToken,
		"requested_token_type": tokenTypeOfflineAccess,
		"expiring":             "1",
	})
	if err != nil {
		return app.ShopifyToken{}, err
	}
	req, err := a.newRequest(ctx, http.MethodPost, shop, "/admin/oauth/access_token", body, "application/json")
	if err != nil {
		return app.ShopifyToken{}, err
	}
	return a.token(req)
}

// RefreshToken trades a refresh token for a new access token and refresh
// token; the old refresh token stops working.
func (a *Admin) RefreshToken(ctx context.Context, shop, refreshToken string) (app.ShopifyToken, error) {
	form := url.Values{
		"client_id": {a.opts.APIKey}, "client_secret": {a.opts.APISecret},
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
	}
	req, err := a.newRequest(ctx, http.MethodPost, shop, "/admin/oauth/access_token", []byte(form.Encode()), "application/x-www-form-urlencoded")
	if err != nil {
		return app.ShopifyToken{}, err
	}
	return a.token(req)
}

func (a *Admin) token(req *http.Request) (app.ShopifyToken, error) {
	resp, err := adapters.Do(a.client, Name, req)
	if err != nil {
		return app.ShopifyToken{}, err
	}
	var answer tokenAnswer
	decodeErr := json.Unmarshal(resp.Body, &answer)
	if resp.Status != http.StatusOK {
		// A bad or used code, a refused session token, a revoked refresh
		// token: 400 or 401, which no retry fixes.
		return app.ShopifyToken{}, adapters.StatusError(Name, resp, answer.Error, answer.ErrorDescription)
	}
	if decodeErr != nil || answer.AccessToken == "" {
		return app.ShopifyToken{}, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the token answer holds no access_token"}
	}
	return app.ShopifyToken{
		AccessToken:      answer.AccessToken,
		Scope:            answer.Scope,
		ExpiresIn:        time.Duration(answer.ExpiresIn) * time.Second,
		RefreshToken:     answer.RefreshToken,
		RefreshExpiresIn: time.Duration(answer.RefreshTokenExpiresIn) * time.Second,
	}, nil
}
