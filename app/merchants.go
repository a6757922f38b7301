package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"
)

// secretName reports whether name is a store credential a merchant may
// carry.
func secretName(name string) bool {
	switch name {
	case "access_token", "refresh_token", "consumer_key", "consumer_secret", "webhook_secret", statusTokenName:
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
	err = s.store.CreateMerchant(ctx, m)
	// Created here or (a conflict) already elsewhere: the domain is known.
	s.merchants.forgetUnknown(m.Platform, m.Domain)
	if err != nil {
		return Merchant{}, "", fmt.Errorf("create merchant: %w", err)
	}
	m.Version = 1
	return m, apiKey, nil
}

// updateMerchant changes a stored merchant through the store's atomic
// read-modify-write and drops this instance's cached copy.
func (s *Service) updateMerchant(ctx context.Context, id string, change func(*Merchant) error) (Merchant, error) {
	m, err := s.store.UpdateMerchant(ctx, id, func(m *Merchant) error {
		if err := change(m); err != nil {
			return err
		}
		m.applyProfile()
		m.UpdatedAt = s.now().UTC()
		return nil
	})
	s.merchants.forget(id)
	return m, err
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
	m := Merchant{Platform: in.Platform}
	switch in.Platform {
	case PlatformShopify:
		m.Domain = strings.ToLower(strings.TrimSpace(in.Domain))
		if !ValidShopDomain(m.Domain) {
			fields["shop_domain"] = "must be a shop's xxxx.myshopify.com domain"
		}
		m.StoreURL = "https://" + m.Domain
	case PlatformWooCommerce:
		storeURL, err := s.checkStoreURL(in.StoreURL)
		if err != nil {
			fields["store_url"] = "must be the store's public https:// address"
		} else {
			m.StoreURL = storeURL
			u, _ := url.Parse(storeURL) // checked just above
			m.Domain = strings.ToLower(u.Host)
		}
	default:
		fields["platform"] = "must be shopify or woocommerce"
	}
	own, profileFields := validateProfile(Profile{Name: in.Name, Country: in.Country, Timezone: in.Timezone})
	maps.Copy(fields, profileFields)
	m.Own = own
	for name := range in.Secrets {
		if !secretName(name) {
			fields[name] = "is not a known credential"
		}
	}
	if len(fields) > 0 {
		return Merchant{}, &ValidationError{Fields: fields}
	}
	m.applyProfile()
	return m, nil
}

// checkStoreURL normalises a store's base URL (https:// added when no
// scheme is given, as WooCommerce does) and refuses what production must
// not call, with the outbound clients' own rule.
func (s *Service) checkStoreURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("store url is required")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	if s.checkURL == nil {
		return "", errors.New("no outbound URL check configured")
	}
	u, err := s.checkURL(raw)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("a store url has no query, fragment or credentials")
	}
	return u.Scheme + "://" + strings.ToLower(u.Host) + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// maxNameLen bounds a shop name: it goes into messages, and WhatsApp
// template parameters are short.
const maxNameLen = 100

// validateProfile checks a merchant's own name, country and time zone; an
// empty field means "as the store says".
func validateProfile(p Profile) (Profile, map[string]string) {
	fields := map[string]string{}
	p.Name = strings.TrimSpace(p.Name)
	if p.Name != "" && !plainText(p.Name, maxNameLen) {
		fields["name"] = fmt.Sprintf("must be up to %d characters of text, without control characters", maxNameLen)
	}
	p.Country = strings.ToUpper(strings.TrimSpace(p.Country))
	if p.Country != "" && !validCountry(p.Country) {
		fields["country"] = "must be a two-letter ISO 3166 country code, like IN"
	}
	p.Timezone = strings.TrimSpace(p.Timezone)
	if p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil || p.Timezone == "Local" || len(p.Timezone) > 64 {
			fields["timezone"] = "must be an IANA time zone like Asia/Kolkata"
		}
	}
	return p, fields
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
	// MarketingConsent is "required" (marketing only to customers who
	// opted in) or "assumed" with MarketingBasis saying on what basis the
	// merchant collects consent itself.
	MarketingConsent *string
	MarketingBasis   *string
}

// UpdateSettings validates and saves a merchant's settings. An empty name,
// country or time zone goes back to what the store says of itself.
func (s *Service) UpdateSettings(ctx context.Context, merchantID string, in SettingsInput) (Merchant, error) {
	fields := map[string]string{}
	var own Profile
	if in.Name != nil || in.Country != nil || in.Timezone != nil {
		var profileFields map[string]string
		own, profileFields = validateProfile(Profile{Name: deref(in.Name), Country: deref(in.Country), Timezone: deref(in.Timezone)})
		maps.Copy(fields, profileFields)
	}
	settings := map[string]string{}
	if in.QuietHours != nil {
		q := strings.TrimSpace(*in.QuietHours)
		a, b, ok := strings.Cut(q, "-")
		_, okA := minuteOfDay(a)
		_, okB := minuteOfDay(b)
		if q != "off" && (!ok || !okA || !okB || strings.TrimSpace(a) == strings.TrimSpace(b)) {
			fields["quiet_hours"] = `must be like "21:00-09:00" (in the merchant's time zone) or "off"`
		} else {
			settings["quiet_hours"] = q
		}
	}
	if in.CODGateways != nil {
		if v, ok := validCODGateways(*in.CODGateways); ok {
			settings["cod_gateways"] = v
		} else {
			fields["cod_gateways"] = fmt.Sprintf("must be up to %d payment method names separated by commas, each up to %d characters of text", maxCODGateways, maxNameLen)
		}
	}
	if in.CODHold != nil {
		if v := strings.TrimSpace(*in.CODHold); v == "on" || v == "off" {
			settings["cod_hold"] = v
		} else {
			fields["cod_hold"] = `must be "on" or "off"`
		}
	}
	if in.CODReminders != nil {
		if v, ok := validCODReminders(*in.CODReminders); ok {
			settings["cod_reminders"] = v
		} else {
			fields["cod_reminders"] = fmt.Sprintf(`must be up to %d waits like "2h,12h", each at least %s after the one before and under 7 days, or "off"`, codMaxReminders, codMinReminderGap)
		}
	}
	if in.CODTimeout != nil {
		if d, err := time.ParseDuration(strings.TrimSpace(*in.CODTimeout)); err == nil && d >= time.Hour && d <= 14*24*time.Hour {
			settings["cod_timeout"] = strings.TrimSpace(*in.CODTimeout)
		} else {
			fields["cod_timeout"] = `must be a wait from 1h to 336h, like "24h"`
		}
	}
	if in.CODTimeoutAction != nil {
		if v := strings.TrimSpace(*in.CODTimeoutAction); v == "tag" || v == "cancel" {
			settings["cod_timeout_action"] = v
		} else {
			fields["cod_timeout_action"] = `must be "tag" (mark the order unconfirmed) or "cancel"`
		}
	}
	if in.MarketingConsent != nil {
		if v := strings.TrimSpace(*in.MarketingConsent); v == consentRequired || v == consentAssumed {
			settings[SettingMarketingConsent] = v
		} else {
			fields["marketing_consent"] = `must be "required" (marketing only to customers who opted in) or "assumed" (with marketing_basis)`
		}
	}
	if in.MarketingBasis != nil {
		if v := strings.TrimSpace(*in.MarketingBasis); plainText(v, maxBasisLen) {
			settings[SettingMarketingBasis] = v
		} else {
			fields["marketing_basis"] = fmt.Sprintf("must be up to %d characters of text", maxBasisLen)
		}
	}
	if len(fields) > 0 {
		return Merchant{}, &ValidationError{Fields: fields}
	}
	return s.updateMerchant(ctx, merchantID, func(m *Merchant) error {
		if cmp.Or(settings[SettingMarketingConsent], m.Settings[SettingMarketingConsent]) == consentAssumed &&
			cmp.Or(settings[SettingMarketingBasis], m.Settings[SettingMarketingBasis]) == "" {
			return Invalid("marketing_basis", "say how customers consent to marketing messages when consent is assumed (your checkout's WhatsApp opt-in, a signed form...)")
		}
		if in.Name != nil {
			m.Own.Name = own.Name
		}
		if in.Country != nil {
			m.Own.Country = own.Country
		}
		if in.Timezone != nil {
			m.Own.Timezone = own.Timezone
		}
		if m.Settings == nil {
			m.Settings = map[string]string{}
		}
		maps.Copy(m.Settings, settings)
		return nil
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxBasisLen bounds the merchant's statement of its consent basis.
const maxBasisLen = 500

// maxCODGateways bounds the extra names that mean cash on delivery.
const maxCODGateways = 10

func validCODGateways(raw string) (string, bool) {
	var names []string
	for name := range strings.SplitSeq(raw, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !plainText(name, maxNameLen) {
			return "", false
		}
		names = append(names, name)
	}
	return strings.Join(names, ","), len(names) <= maxCODGateways
}

// codMinReminderGap keeps reminders a customer can act on apart: a
// reminder minutes after the request only nags.
const codMinReminderGap = 10 * time.Minute

func validCODReminders(raw string) (string, bool) {
	v := strings.TrimSpace(raw)
	if v == "off" {
		return v, true
	}
	parts := strings.Split(v, ",")
	if len(parts) > codMaxReminders {
		return "", false
	}
	var previous time.Duration
	for i, part := range parts {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d-previous < codMinReminderGap || d >= 7*24*time.Hour {
			return "", false
		}
		previous = d
		parts[i] = strings.TrimSpace(part)
	}
	return strings.Join(parts, ","), true
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
