// Package shopify turns Shopify webhooks into the app's events: it decodes
// the payloads of the order, fulfillment, refund and checkout topics and the
// compliance topics and builds app.Events with the properties of the
// contract's template variables. It also holds the Admin API client of the
// install, subscription and reconciliation flows.
package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	goshopify "github.com/bold-commerce/go-shopify/v4"
	"github.com/storebridge/storebridge/app"
)

// isCompliance reports the topics the service carries out rather than
// turning into events.
func isCompliance(topic string) bool {
	switch topic {
	case "customers/data_request", "customers/redact", "shop/redact", "app/uninstalled":
		return true
	}
	return false
}

// Decode reads a queued Shopify webhook for the worker (app.WebhookDecoder).
// Payloads that cannot be used are permanent errors: kept in the dead
// letters for inspection, never retried.
func Decode(m app.Merchant, env app.WebhookEnvelope) (app.DecodedWebhook, error) {
	if isCompliance(env.Topic) {
		c, err := ParseCompliance(env.Topic, env.Body)
		if err != nil {
			return app.DecodedWebhook{}, app.Permanent(err)
		}
		return app.DecodedWebhook{Compliance: &app.ComplianceRequest{
			Topic: env.Topic, CustomerID: c.CustomerID, Phone: c.CustomerPhone, Email: c.CustomerEmail, OrderIDs: c.OrderIDs,
			RequestID: c.DataRequestID,
		}}, nil
	}
	if env.Topic == TopicMarketingConsent {
		c, err := ParseMarketingConsent(env.Body, m.Country)
		if err != nil {
			return app.DecodedWebhook{}, app.Permanent(err)
		}
		return app.DecodedWebhook{Consent: c}, nil
	}
	result, err := Normalize(env.Topic, env.Body, OptionsFor(m))
	if err != nil {
		if errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrUnusable) {
			return app.DecodedWebhook{}, app.Permanent(err)
		}
		return app.DecodedWebhook{}, err
	}
	return app.DecodedWebhook{Events: result.Events}, nil
}

// TopicMarketingConsent tells of a customer's SMS marketing consent
// changing (scope read_customers).
const TopicMarketingConsent = "customers_marketing_consent/update"

// ParseMarketingConsent reads a customers_marketing_consent/update body:
// {id, phone, sms_marketing_consent: {state, ...}}. A consent without a
// usable phone is nothing to keep (nil).
func ParseMarketingConsent(body []byte, country string) (*app.ConsentReport, error) {
	var c struct {
		ID                  json.Number                    `json:"id"`
		Phone               string                         `json:"phone"`
		SMSMarketingConsent *goshopify.SMSMarketingConsent `json:"sms_marketing_consent"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: marketing consent: %v", ErrUnusable, err)
	}
	state, source := customerConsent(&goshopify.Customer{SMSMarketingConsent: c.SMSMarketingConsent})
	phone, err := app.NormalizePhone(c.Phone, country)
	if state == "" || err != nil {
		return nil, nil
	}
	return &app.ConsentReport{CustomerID: c.ID.String(), Phone: phone, State: state, Source: source}, nil
}

// OptionsFor reads a merchant's settings that shape its events: the
// "cod_gateways" setting lists, comma-separated, the payment method names
// that mean cash on delivery besides Shopify's own.
func OptionsFor(m app.Merchant) Options {
	opts := Options{Country: m.Country, ShopName: m.Name}
	if raw := m.Settings["cod_gateways"]; raw != "" {
		opts.CODGateways = []string{DefaultCODGateway}
		for name := range strings.SplitSeq(raw, ",") {
			if name = strings.TrimSpace(name); name != "" {
				opts.CODGateways = append(opts.CODGateways, name)
			}
		}
	}
	return opts
}
