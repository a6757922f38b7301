package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// secretName reports whether name is a store credential a merchant may
// carry.
func secretName(name string) bool {
	switch name {
	case "access_token", "refresh_token", "consumer_key", "consumer_secret", "webhook_secret":
		return true
	}
	return false
}

// NewMerchant is what creating a merchant takes; secret values in plain
// text, sealed before they are stored.
type NewMerchant struct {
	Platform Platform
	Domain   string // Shopify: the myshopify.com domain
	StoreURL string // WooCommerce: the store's https base URL
	Name     string
	Country  string
	Timezone string
	Secrets  map[string]string
}

// CreateMerchant validates and stores a merchant, and returns it with its
// API key, which is shown this once and stored only as a hash.
func (s *Service) CreateMerchant(ctx context.Context, in NewMerchant) (Merchant, string, error) {
	m, err := s.validateNewMerchant(in)
	if err != nil {
		return Merchant{}, "", err
	}
	now := s.now().UTC()
	m.ID = "m_" + NewID(now)
	m.Status = MerchantActive
	m.CreatedAt, m.UpdatedAt = now, now
	apiKey, err := newAPIKey()
	if err != nil {
		return Merchant{}, "", err
	}
	m.APIKeyHash = HashAPIKey(apiKey)
	m.Secrets = make(map[string]Sealed, len(in.Secrets))
	for name, value := range in.Secrets {
		if value == "" {
			continue
		}
		sealed, err := s.keyring.Seal(value, secretContext(m.ID, name))
		if err != nil {
			return Merchant{}, "", err
		}
		m.Secrets[name] = sealed
	}
	if err := s.store.CreateMerchant(ctx, m); err != nil {
		return Merchant{}, "", fmt.Errorf("create merchant: %w", err)
	}
	return m, apiKey, nil
}

// MerchantSecret opens one of a merchant's stored credentials.
func (s *Service) MerchantSecret(m Merchant, name string) (string, error) {
	sealed, ok := m.Secrets[name]
	if !ok {
		return "", fmt.Errorf("merchant %s has no %s: %w", m.ID, name, ErrNotFound)
	}
	return s.keyring.Open(sealed, secretContext(m.ID, name))
}

// secretContext binds a sealed value to its merchant and field, so a value
// copied to another record does not open.
func secretContext(merchantID, name string) string { return merchantID + "/" + name }

func (s *Service) validateNewMerchant(in NewMerchant) (Merchant, error) {
	fields := map[string]string{}
	m := Merchant{
		Platform: in.Platform,
		Name:     strings.TrimSpace(in.Name),
		Country:  strings.ToUpper(strings.TrimSpace(in.Country)),
		Timezone: strings.TrimSpace(in.Timezone),
	}
	switch in.Platform {
	case PlatformShopify:
		m.Domain = strings.ToLower(strings.TrimSpace(in.Domain))
		if !ValidShopDomain(m.Domain) {
			fields["shop_domain"] = "must be a shop's xxxx.myshopify.com domain"
		}
		m.StoreURL = "https://" + m.Domain
	case PlatformWooCommerce:
		u, err := url.Parse(strings.TrimSpace(in.StoreURL))
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
			fields["store_url"] = "must be the store's https:// address"
		} else {
			m.Domain = strings.ToLower(u.Host)
			m.StoreURL = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
		}
	default:
		fields["platform"] = "must be shopify or woocommerce"
	}
	if m.Country == "" {
		m.Country = "IN"
	}
	if len(m.Country) != 2 || strings.Trim(m.Country, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		fields["country"] = "must be a two-letter ISO country code"
	}
	if m.Timezone == "" {
		m.Timezone = defaultTimezone(m.Country)
	}
	if _, err := time.LoadLocation(m.Timezone); err != nil {
		fields["timezone"] = "must be an IANA time zone like Asia/Kolkata"
	}
	if m.Name == "" {
		m.Name = m.Domain
	}
	for name := range in.Secrets {
		if !secretName(name) {
			fields[name] = "is not a known credential"
		}
	}
	if len(fields) > 0 {
		return Merchant{}, &ValidationError{Fields: fields}
	}
	return m, nil
}

// defaultTimezone guesses a merchant's time zone from its country where the
// country keeps one clock; quiet hours and dates then follow the shop's
// day until the merchant (or the platform) says otherwise.
func defaultTimezone(country string) string {
	switch country {
	case "IN":
		return "Asia/Kolkata"
	case "AE":
		return "Asia/Dubai"
	case "SA":
		return "Asia/Riyadh"
	case "SG":
		return "Asia/Singapore"
	case "GB":
		return "Europe/London"
	case "PK":
		return "Asia/Karachi"
	case "BD":
		return "Asia/Dhaka"
	case "LK":
		return "Asia/Colombo"
	case "NP":
		return "Asia/Kathmandu"
	case "MY":
		return "Asia/Kuala_Lumpur"
	}
	return "UTC"
}

// SettingsInput changes a merchant's own settings; nil fields stay.
type SettingsInput struct {
	Name        *string
	Country     *string
	Timezone    *string
	QuietHours  *string // "21:00-09:00" or "off"
	CODGateways *string // extra payment method names that mean cash on delivery
	// The COD flow: hold orders while they wait ("on"/"off"), reminders
	// after the request ("2h,12h" or "off"), the wait before the timeout
	// ("24h") and what it does ("tag" or "cancel").
	CODHold          *string
	CODReminders     *string
	CODTimeout       *string
	CODTimeoutAction *string
}

// UpdateSettings validates and saves a merchant's settings.
func (s *Service) UpdateSettings(ctx context.Context, merchantID string, in SettingsInput) (Merchant, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return Merchant{}, err
	}
	fields := map[string]string{}
	if in.Name != nil {
		if name := strings.TrimSpace(*in.Name); name == "" || len(name) > 200 {
			fields["name"] = "must be 1 to 200 characters"
		} else {
			m.Name = name
		}
	}
	if in.Country != nil {
		c := strings.ToUpper(strings.TrimSpace(*in.Country))
		if len(c) != 2 || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			fields["country"] = "must be a two-letter ISO country code"
		} else {
			m.Country = c
		}
	}
	if in.Timezone != nil {
		if _, err := time.LoadLocation(*in.Timezone); err != nil || *in.Timezone == "" {
			fields["timezone"] = "must be an IANA time zone like Asia/Kolkata"
		} else {
			m.Timezone = *in.Timezone
		}
	}
	if m.Settings == nil {
		m.Settings = map[string]string{}
	}
	if in.QuietHours != nil {
		q := strings.TrimSpace(*in.QuietHours)
		a, b, ok := strings.Cut(q, "-")
		_, okA := minuteOfDay(a)
		_, okB := minuteOfDay(b)
		if q != "off" && (!ok || !okA || !okB || strings.TrimSpace(a) == strings.TrimSpace(b)) {
			fields["quiet_hours"] = `must be like "21:00-09:00" (in the merchant's time zone) or "off"`
		} else {
			m.Settings["quiet_hours"] = q
		}
	}
	if in.CODGateways != nil {
		m.Settings["cod_gateways"] = strings.TrimSpace(*in.CODGateways)
	}
	if in.CODHold != nil {
		if v := strings.TrimSpace(*in.CODHold); v == "on" || v == "off" {
			m.Settings["cod_hold"] = v
		} else {
			fields["cod_hold"] = `must be "on" or "off"`
		}
	}
	if in.CODReminders != nil {
		v := strings.TrimSpace(*in.CODReminders)
		ok := v == "off"
		if !ok {
			parts := strings.Split(v, ",")
			ok = len(parts) <= codMaxReminders
			for _, part := range parts {
				if d, err := time.ParseDuration(strings.TrimSpace(part)); err != nil || d <= 0 || d > 7*24*time.Hour {
					ok = false
				}
			}
		}
		if ok {
			m.Settings["cod_reminders"] = v
		} else {
			fields["cod_reminders"] = `must be up to 3 waits like "2h,12h" (each under 7 days), or "off"`
		}
	}
	if in.CODTimeout != nil {
		if d, err := time.ParseDuration(strings.TrimSpace(*in.CODTimeout)); err == nil && d >= time.Hour && d <= 14*24*time.Hour {
			m.Settings["cod_timeout"] = strings.TrimSpace(*in.CODTimeout)
		} else {
			fields["cod_timeout"] = `must be a wait from 1h to 336h, like "24h"`
		}
	}
	if in.CODTimeoutAction != nil {
		if v := strings.TrimSpace(*in.CODTimeoutAction); v == "tag" || v == "cancel" {
			m.Settings["cod_timeout_action"] = v
		} else {
			fields["cod_timeout_action"] = `must be "tag" (mark the order unconfirmed) or "cancel"`
		}
	}
	if len(fields) > 0 {
		return Merchant{}, &ValidationError{Fields: fields}
	}
	m.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateMerchant(ctx, m); err != nil {
		return Merchant{}, err
	}
	s.merchants.forget(m.ID)
	return m, nil
}

// apiKeyPrefix makes a leaked key recognisable to secret scanners.
const apiKeyPrefix = "sbk_"

func newAPIKey() (string, error) {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString(buf), nil
}

// HashAPIKey is how API keys are stored and looked up.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
