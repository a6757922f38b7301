package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// ProviderSandbox records messages in the delivery log instead of sending
// them: for the demo, and for a merchant who chooses it to try rules. It is
// never chosen for a merchant: with no provider nothing is sent.
const ProviderSandbox = "sandbox"

// ProviderKit is what the service needs of one messaging provider: a
// client from a merchant's credentials, and its status webhooks read.
type ProviderKit struct {
	// New builds a client from the merchant's credentials as pasted;
	// invalid ones give a *ValidationError.
	New func(credentials map[string]string) (Provider, error)
	// ParseWebhook reads the provider's status and reply webhooks; nil
	// when the provider sends none.
	ParseWebhook func(header http.Header, body []byte) (ProviderReport, error)
	// VerifyWebhook checks a signed webhook with the merchant's
	// credentials; nil when the provider signs nothing, and then the
	// secret token in the webhook URL is what authenticates it.
	VerifyWebhook func(credentials map[string]string, header http.Header, body []byte) error
	// Handshake answers a provider's webhook subscription check (Meta's
	// hub.challenge); nil when the provider has none.
	Handshake func(credentials map[string]string, query url.Values) (challenge string, ok bool)
	// Rate is the provider's send limit per merchant account; zero: none.
	Rate Rate
	// NeedsPhone: the provider addresses customers by phone in every mode.
	NeedsPhone bool
	// Dedupes: the provider (or the receiver it posts to) drops a second
	// message with the same delivery id, so an unanswered call can be
	// retried without sending twice.
	Dedupes bool
	// EchoesDeliveryID: the provider's statuses carry the delivery id sent
	// with the message (Interakt's callbackData, Meta's
	// biz_opaque_callback_data). A status that outruns the record of its
	// send is then applied by a job of its own (JobEarlyStatus), and no
	// send looks for one.
	EchoesDeliveryID bool
}

// Rate is a limit of Limit sends (or requests) per Per, as the store's
// throttle applies it: never more than Limit in any window of Per.
type Rate struct {
	Limit int
	Per   time.Duration
}

// ProviderInput is the "Initialize" request: a provider and credentials as
// the merchant copied them from the provider's dashboard.
type ProviderInput struct {
	Provider       string
	Credentials    map[string]string
	CommonProperty string
}

// SetProvider checks the credentials against the provider with a harmless
// call and saves them sealed. A provider that refuses them answers a
// *ValidationError carrying the provider's reason.
func (s *Service) SetProvider(ctx context.Context, merchantID string, in ProviderInput) (Merchant, error) {
	current, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return Merchant{}, err
	}
	kit, ok := s.providers[in.Provider]
	if !ok {
		return Merchant{}, Invalid("provider", "must be one of "+strings.Join(s.ProviderNames(), ", "))
	}
	common := in.CommonProperty
	if common == "" {
		common = "phone"
	}
	if common != "phone" && common != "email" && common != "customer_id" {
		return Merchant{}, Invalid("common_property", "must be phone, email or customer_id")
	}
	if current.Provider.Name == in.Provider {
		// Stored secrets are never shown again: a credential left out
		// keeps the one stored, so a merchant can change one field.
		stored, err := s.providerCredentials(current)
		if err != nil {
			return Merchant{}, err
		}
		given := in.Credentials
		in.Credentials = stored
		for name, value := range given {
			if strings.TrimSpace(value) != "" {
				in.Credentials[name] = value
			}
		}
	}
	client, err := kit.New(in.Credentials)
	if err != nil {
		return Merchant{}, err
	}
	verifyCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := client.Verify(verifyCtx); err != nil {
		var pe *ProviderError
		if errors.As(err, &pe) {
			return Merchant{}, &ValidationError{Fields: map[string]string{"credentials": pe.Error()}}
		}
		return Merchant{}, err
	}
	sealed := make(map[string]Sealed, len(in.Credentials))
	for name, value := range in.Credentials {
		if sealed[name], err = s.keyring.Seal(value, providerSecretContext(merchantID, in.Provider, name)); err != nil {
			return Merchant{}, err
		}
	}
	verified := s.now().UTC()
	m, err := s.updateMerchant(ctx, merchantID, func(m *Merchant) error {
		if _, stored := m.Secrets[statusTokenName]; !stored || m.Provider.Name != in.Provider {
			// A new provider has a new status URL; the token is kept with
			// the merchant from now on, so a key rotation never changes it.
			token, err := s.keyring.Seal(s.legacyStatusToken(m.ID, in.Provider), secretContext(m.ID, statusTokenName))
			if err != nil {
				return err
			}
			m.Secrets = maps.Clone(m.Secrets)
			if m.Secrets == nil {
				m.Secrets = map[string]Sealed{}
			}
			m.Secrets[statusTokenName] = token
		}
		m.Provider = ProviderConfig{Name: in.Provider, CommonProperty: common, Credentials: sealed, VerifiedAt: verified}
		return nil
	})
	if err != nil {
		return Merchant{}, fmt.Errorf("save provider: %w", err)
	}
	s.clients.forget(m.ID)
	return m, nil
}

// ProviderNames lists the providers a merchant can connect.
func (s *Service) ProviderNames() []string {
	names := make([]string, 0, len(s.providers))
	for name := range s.providers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func providerSecretContext(merchantID, provider, field string) string {
	return merchantID + "/provider/" + provider + "/" + field
}

// providerCredentials opens a merchant's provider credentials.
func (s *Service) providerCredentials(m Merchant) (map[string]string, error) {
	creds := make(map[string]string, len(m.Provider.Credentials))
	for name, sealed := range m.Provider.Credentials {
		value, err := s.keyring.Open(sealed, providerSecretContext(m.ID, m.Provider.Name, name))
		if err != nil {
			return nil, err
		}
		creds[name] = value
	}
	return creds, nil
}

// providerName is the provider a merchant's messages go through; empty
// when the merchant has connected none.
func providerName(m Merchant) string { return m.Provider.Name }

// skipNoProvider is why nothing is sent for a merchant with no provider:
// not the sandbox, silently. The event's once-only key stays free, so a
// later copy of it is sent once a provider is connected.
var skipNoProvider = skip{"no_provider", "no messaging provider is connected: nothing was sent"}

// clientCache keeps one provider client per merchant, rebuilt when the
// merchant's provider settings change.
type clientCache struct {
	mu      sync.Mutex
	clients map[string]cachedClient
}

type cachedClient struct {
	client  Provider
	version time.Time
}

func (c *clientCache) forget(merchantID string) {
	c.mu.Lock()
	delete(c.clients, merchantID)
	c.mu.Unlock()
}

// providerClient returns the client that sends a merchant's messages.
func (s *Service) providerClient(m Merchant) (Provider, ProviderKit, error) {
	name := providerName(m)
	kit, ok := s.providers[name]
	if !ok {
		return nil, ProviderKit{}, Permanent(fmt.Errorf("provider %q is not available in this build", name))
	}
	s.clients.mu.Lock()
	defer s.clients.mu.Unlock()
	if cached, ok := s.clients.clients[m.ID]; ok && cached.version.Equal(m.Provider.VerifiedAt) {
		return cached.client, kit, nil
	}
	creds, err := s.providerCredentials(m)
	if err != nil {
		return nil, ProviderKit{}, Permanent(err)
	}
	client, err := kit.New(creds)
	if err != nil {
		return nil, ProviderKit{}, Permanent(err)
	}
	if s.clients.clients == nil {
		s.clients.clients = map[string]cachedClient{}
	}
	s.clients.clients[m.ID] = cachedClient{client: client, version: m.Provider.VerifiedAt}
	return client, kit, nil
}

// statusTokenName is the merchant secret that authenticates its provider's
// status and reply webhooks, for providers that sign nothing.
const statusTokenName = "status_token"

// derivedStatusToken is the status URL token of merchant and provider
// under one signing key.
func derivedStatusToken(key []byte, merchantID, provider string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("provider-webhook\x00" + merchantID + "\x00" + provider))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// legacyStatusToken is the token of a merchant whose status token is not
// stored yet: derived from the oldest listed key, the one the URLs shown
// before a key rotation were made with, so a rotation does not change it.
func (s *Service) legacyStatusToken(merchantID, provider string) string {
	keys := s.keyring.VerificationKeys()
	return derivedStatusToken(keys[len(keys)-1], merchantID, provider)
}

// ProviderStatusToken is the secret in a merchant's provider status URL:
// the one stored with the merchant, which no key rotation changes.
func (s *Service) ProviderStatusToken(m Merchant) string {
	if token, err := s.MerchantSecret(m, statusTokenName); err == nil {
		return token
	}
	return s.legacyStatusToken(m.ID, m.Provider.Name)
}

// statusTokenOK checks a status URL's token in constant time: the stored
// one, or for a merchant without one the token under any listed key.
func (s *Service) statusTokenOK(m Merchant, provider, token string) bool {
	if token == "" {
		return false
	}
	if stored, err := s.MerchantSecret(m, statusTokenName); err == nil {
		return subtle.ConstantTimeCompare([]byte(token), []byte(stored)) == 1
	}
	ok := false
	for _, key := range s.keyring.VerificationKeys() {
		if subtle.ConstantTimeCompare([]byte(token), []byte(derivedStatusToken(key, m.ID, provider))) == 1 {
			ok = true
		}
	}
	return ok
}
