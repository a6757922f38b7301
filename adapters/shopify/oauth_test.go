package shopify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

const (
	testKey    = "3d9a0c1b2e4f56789abc"
	testSecret = "shpss_adapter_test_secret_0001"
	testShop   = "asha-naturals.myshopify.com"
)

// newTestAdmin points an Admin at srv the way SHOPIFY_ADMIN_BASE_URL does.
func newTestAdmin(t *testing.T, srv *httptest.Server) *Admin {
	t.Helper()
	base, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return NewAdmin(AdminOptions{
		APIKey: testKey, APISecret: testSecret, BaseURL: base,
		HTTP: adapters.Options{AllowInsecure: true, Timeout: 2 * time.Second},
	})
}

// tokenEndpoint answers as Shopify's /admin/oauth/access_token: JSON with
// client id, secret and code for a code grant, or with the token-exchange
// fields for a session token; a form with grant_type refresh_token for a
// refresh. It checks the shop in the Host header.
func tokenEndpoint(t *testing.T, status int, answer string) (*httptest.Server, *[]map[string]string) {
	t.Helper()
	var seen []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/admin/oauth/access_token" || r.Host != testShop {
			t.Errorf("token request %s %s (Host %s); want POST /admin/oauth/access_token on %s", r.Method, r.URL.Path, r.Host, testShop)
		}
		fields := map[string]string{}
		switch r.Header.Get("Content-Type") {
		case "application/json":
			if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
				t.Errorf("token request body: %v", err)
			}
		case "application/x-www-form-urlencoded":
			if err := r.ParseForm(); err != nil {
				t.Errorf("token request form: %v", err)
			}
			for k := range r.PostForm {
				fields[k] = r.PostForm.Get(k)
			}
		default:
			t.Errorf("token request content type %q", r.Header.Get("Content-Type"))
		}
		seen = append(seen, fields)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestExchangeCode(t *testing.T) {
	const granted = `{"access_token":"shpat_new","scope":"write_orders,read_customers","expires_in":3600,"refresh_token":"shprt_new","refresh_token_expires_in":7776000}`
	tests := []struct {
		name          string
		status        int
		answer        string
		want          app.ShopifyToken
		wantRetryable bool
		wantErr       bool
	}{
		{"expiring token", 200, granted, app.ShopifyToken{AccessToken: "shpat_new", Scope: "write_orders,read_customers", ExpiresIn: time.Hour, RefreshToken: "shprt_new", RefreshExpiresIn: 90 * 24 * time.Hour}, false, false},
		{"bad code", 400, `{"error":"invalid_request","error_description":"The authorization code was not found or was already used"}`, app.ShopifyToken{}, false, true},
		{"shopify down", 503, `<html>unavailable</html>`, app.ShopifyToken{}, true, true},
		{"no token in answer", 200, `{"scope":"read_orders"}`, app.ShopifyToken{}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := tokenEndpoint(t, tc.status, tc.answer)
			got, err := newTestAdmin(t, srv).ExchangeCode(context.Background(), testShop, "code-0907a61c")
			if len(*seen) != 1 {
				t.Fatalf("token requests = %d; want 1", len(*seen))
			}
			want := map[string]string{"client_id": testKey, "client_secret": testSecret, "code": "code-0907a61c", "expiring": "1"}
			if body := (*seen)[0]; len(body) != len(want) {
				t.Errorf("token request body = %v; want %v", body, want)
			} else {
				for k, v := range want {
					if body[k] != v {
						t.Errorf("token request %s = %q; want %q", k, body[k], v)
					}
				}
			}
			if tc.wantErr {
				var pe *app.ProviderError
				if !errors.As(err, &pe) || pe.Provider != "shopify" || pe.Retryable != tc.wantRetryable {
					t.Fatalf("ExchangeCode() error = %v; want a shopify ProviderError, retryable %v", err, tc.wantRetryable)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ExchangeCode() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestExchangeSessionToken: the embedded app's token exchange sends every
// field Shopify's token endpoint needs for an expiring offline token, and
// reads the answer as ExchangeCode does.
func TestExchangeSessionToken(t *testing.T) {
	const (
		idToken = "eyJhbGciOiJIUzI1NiJ9.eyJkZXN0IjoiaHR0cHM6Ly9hc2hhLW5hdHVyYWxzLm15c2hvcGlmeS5jb20ifQ.sig"
		granted = `{"access_token":"shpat_exchanged","scope":"write_orders,read_customers","expires_in":3599,"refresh_token":"shprt_exchanged","refresh_token_expires_in":7775999}`
	)
	tests := []struct {
		name          string
		status        int
		answer        string
		want          app.ShopifyToken
		wantRetryable bool
		wantCode      string
		wantErr       bool
	}{
		{"expiring offline token", 200, granted, app.ShopifyToken{AccessToken: "shpat_exchanged", Scope: "write_orders,read_customers", ExpiresIn: 3599 * time.Second, RefreshToken: "shprt_exchanged", RefreshExpiresIn: 7775999 * time.Second}, false, "", false},
		{"session token refused", 400, `{"error":"invalid_subject_token","error_description":"Could not validate the subject token"}`, app.ShopifyToken{}, false, "invalid_subject_token", true},
		{"shopify down", 502, `<html>bad gateway</html>`, app.ShopifyToken{}, true, "", true},
		{"throttled", 429, `{"errors":"Exceeded rate limit"}`, app.ShopifyToken{}, true, "", true},
		{"no token in answer", 200, `{"scope":"write_orders"}`, app.ShopifyToken{}, false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, seen := tokenEndpoint(t, tc.status, tc.answer)
			got, err := newTestAdmin(t, srv).ExchangeSessionToken(context.Background(), testShop, idToken)
			if len(*seen) != 1 {
				t.Fatalf("token requests = %d; want 1", len(*seen))
			}
			want := map[string]string{
				"client_id": testKey, "client_secret": testSecret,
				"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
				"subject_token":        idToken,
				"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
				"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
				"expiring":             "1",
			}
			body := (*seen)[0]
			if len(body) != len(want) {
				t.Errorf("token request body = %v; want exactly %v", body, want)
			}
			for k, v := range want {
				if body[k] != v {
					t.Errorf("token request %s = %q; want %q", k, body[k], v)
				}
			}
			if tc.wantErr {
				var pe *app.ProviderError
				if !errors.As(err, &pe) || pe.Provider != "shopify" || pe.Retryable != tc.wantRetryable || pe.Code != tc.wantCode {
					t.Fatalf("ExchangeSessionToken() error = %v; want a shopify ProviderError, retryable %v, code %q", err, tc.wantRetryable, tc.wantCode)
				}
				if app.IsRetryable(err) != tc.wantRetryable {
					t.Fatalf("IsRetryable(%v) = %v; want %v", err, !tc.wantRetryable, tc.wantRetryable)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ExchangeSessionToken() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}

	// No answer at all (the connection refused) is worth a retry.
	srv, _ := tokenEndpoint(t, 200, granted)
	admin := newTestAdmin(t, srv)
	srv.Close()
	if _, err := admin.ExchangeSessionToken(context.Background(), testShop, idToken); !app.IsRetryable(err) {
		t.Fatalf("ExchangeSessionToken(no server) = %v; want a retryable error", err)
	}
}

func TestRefreshTokenRotates(t *testing.T) {
	srv, seen := tokenEndpoint(t, 200, `{"access_token":"shpat_2","scope":"write_orders","expires_in":3600,"refresh_token":"shprt_2","refresh_token_expires_in":7776000}`)
	got, err := newTestAdmin(t, srv).RefreshToken(context.Background(), testShop, "shprt_1")
	if err != nil || got.AccessToken != "shpat_2" || got.RefreshToken != "shprt_2" || got.ExpiresIn != time.Hour {
		t.Fatalf("RefreshToken() = %+v, %v; want the rotated pair", got, err)
	}
	body := (*seen)[0]
	if body["grant_type"] != "refresh_token" || body["refresh_token"] != "shprt_1" || body["client_id"] != testKey || body["client_secret"] != testSecret {
		t.Errorf("refresh request = %v; want grant_type refresh_token with the old refresh token and the app's credentials", body)
	}

	srv, _ = tokenEndpoint(t, 400, `{"error":"invalid_grant","error_description":"refresh token revoked"}`)
	_, err = newTestAdmin(t, srv).RefreshToken(context.Background(), testShop, "shprt_old")
	var pe *app.ProviderError
	if !errors.As(err, &pe) || pe.Retryable || pe.Code != "invalid_grant" {
		t.Fatalf("RefreshToken(revoked) = %v; want a permanent ProviderError with code invalid_grant", err)
	}
}

// TestAdminRefusesForeignShops: a shop that is not a myshopify.com domain
// never gets a request, with or without a base URL.
func TestAdminRefusesForeignShops(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	clients := map[string]*Admin{
		"base url": newTestAdmin(t, srv),
		"direct":   NewAdmin(AdminOptions{APIKey: testKey, APISecret: testSecret}),
	}
	for name, a := range clients {
		for _, shop := range []string{"attacker.com/?", "attacker.com/myshopify.com", "x.myshopify.com.evil.com", "x.myshopify.com@evil.com", ""} {
			ctx := context.Background()
			_, err1 := a.ExchangeCode(ctx, shop, "code")
			_, err2 := a.RefreshToken(ctx, shop, "rt")
			_, err6 := a.ExchangeSessionToken(ctx, shop, "id-token")
			_, err3 := a.WebhookSubscriptions(ctx, shop, "tok")
			err4 := a.CreateWebhookSubscription(ctx, shop, "tok", app.ShopifyWebhookSubscription{Topic: "orders/create", URI: "https://x"})
			_, err5 := a.OrdersUpdatedSince(ctx, shop, "tok", time.Now(), 10)
			for i, err := range []error{err1, err2, err3, err4, err5, err6} {
				var pe *app.ProviderError
				if !errors.As(err, &pe) || pe.Retryable {
					t.Errorf("%s: call %d for shop %q = %v; want a permanent refusal", name, i+1, shop, err)
				}
			}
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("the server got %d requests for foreign shops; want none", calls.Load())
	}
	if got, err := clients["direct"].url(testShop, "/admin/oauth/access_token"); err != nil || got != "https://"+testShop+"/admin/oauth/access_token" {
		t.Errorf("url() = %q, %v; want the shop's own https address", got, err)
	}
}
