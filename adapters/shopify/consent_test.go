package shopify

import (
	"strings"
	"testing"

	"github.com/storebridge/storebridge/app"
)

// A checkout where the buyer ticked SMS marketing carries consent; the
// consent topic brings a customer's word outside any order; a customer
// who unsubscribed carries a refusal.
func TestMarketingConsent(t *testing.T) {
	res, err := Normalize("checkouts/create", readTestdata(t, "checkout_open.json"), inOpts())
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("Normalize(checkout) = %v, %v", res.Events, err)
	}
	if c := res.Events[0].Customer; c.Consent != app.ConsentGranted || !strings.Contains(c.ConsentSource, "checkout") {
		t.Errorf("checkout with buyer_accepts_sms_marketing: consent = %q from %q; want granted at checkout", c.Consent, c.ConsentSource)
	}
	unticked := strings.Replace(string(readTestdata(t, "checkout_open.json")), `"buyer_accepts_sms_marketing": true`, `"buyer_accepts_sms_marketing": false`, 1)
	if res, _ := Normalize("checkouts/create", []byte(unticked), inOpts()); res.Events[0].Customer.Consent != "" {
		t.Errorf("checkout left unticked: consent = %q; want no word (not a refusal)", res.Events[0].Customer.Consent)
	}

	for body, want := range map[string]string{
		`{"id":706405506930370000,"phone":"+919876543210","sms_marketing_consent":{"state":"subscribed","opt_in_level":"single_opt_in","consent_updated_at":"2026-11-30T10:00:00+05:30","consent_collected_from":"SHOPIFY"}}`: app.ConsentGranted,
		`{"id":706405506930370000,"phone":"098765 43210","sms_marketing_consent":{"state":"unsubscribed","opt_in_level":null,"consent_updated_at":null,"consent_collected_from":"OTHER"}}`:                                    app.ConsentDenied,
	} {
		c, err := ParseMarketingConsent([]byte(body), "IN")
		if err != nil || c == nil || c.State != want || c.Phone != "+919876543210" || c.CustomerID != "706405506930370000" {
			t.Errorf("ParseMarketingConsent(%s) = %+v, %v; want %s for +919876543210", body, c, err, want)
		}
	}
	if c, err := ParseMarketingConsent([]byte(`{"id":1,"phone":null,"sms_marketing_consent":{"state":"subscribed"}}`), "IN"); err != nil || c != nil {
		t.Errorf("ParseMarketingConsent(no phone) = %+v, %v; want nothing to keep", c, err)
	}
	if _, err := ParseMarketingConsent([]byte(`{"id":`), "IN"); err == nil {
		t.Error("ParseMarketingConsent(broken body) = nil error; want unusable")
	}
	if got := TopicOfEnum(EnumOfTopic(TopicMarketingConsent)); got != TopicMarketingConsent {
		t.Errorf("TopicOfEnum(%s) = %s; want the topic back", EnumOfTopic(TopicMarketingConsent), got)
	}
}
