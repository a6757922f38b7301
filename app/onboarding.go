package app

import (
	"context"
	"strings"
)

// Onboarding is the seeds' checklist as it stands for one merchant, and
// the last seven days in a few numbers: the admin's home.
type Onboarding struct {
	ProviderConnected bool // a provider chosen and its credentials checked
	EventsConfigured  bool // at least one rule on
	TestSent          bool // a test message the provider accepted
	FirstDelivered    bool // a real message the provider reports delivered
	// Week sums the last seven days' counters over every event type by
	// outcome (received, sent, delivered, read, failed, skipped).
	Week map[string]int64
}

// Done reports whether every step is done.
func (o Onboarding) Done() bool {
	return o.ProviderConnected && o.EventsConfigured && o.TestSent && o.FirstDelivered
}

// onboardingScan bounds how many recent deliveries the checklist reads.
const onboardingScan = 100

// Onboarding reads where the merchant stands.
func (s *Service) Onboarding(ctx context.Context, merchantID string) (Onboarding, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return Onboarding{}, err
	}
	o := Onboarding{Week: map[string]int64{}}
	o.ProviderConnected = m.Provider.Name == ProviderSandbox || (m.Provider.Name != "" && !m.Provider.VerifiedAt.IsZero())
	rules, err := s.Rules(ctx, m.ID)
	if err != nil {
		return Onboarding{}, err
	}
	for _, r := range rules {
		o.EventsConfigured = o.EventsConfigured || r.Enabled
	}
	recent, _, err := s.store.ListDeliveries(ctx, m.ID, DeliveryFilter{Limit: onboardingScan})
	if err != nil {
		return Onboarding{}, err
	}
	// The sandbox reports no deliveries: its messages stop at sent, which
	// is as far as a real one goes while the store tries the sandbox (a
	// real provider then has to deliver one of its own).
	sandbox := m.Provider.Name == ProviderSandbox
	arrived := func(d Delivery) bool {
		return !d.Test && (d.Status == DeliveryDelivered || d.Status == DeliveryRead ||
			(sandbox && d.Provider == ProviderSandbox && d.Status == DeliverySent))
	}
	for _, d := range recent {
		reached := d.Status == DeliverySent || d.Status == DeliveryDelivered || d.Status == DeliveryRead
		o.TestSent = o.TestSent || (d.Test && reached)
		o.FirstDelivered = o.FirstDelivered || arrived(d)
	}
	statuses := []DeliveryStatus{DeliveryDelivered, DeliveryRead}
	if sandbox {
		statuses = append(statuses, DeliverySent)
	}
	for _, st := range statuses {
		if o.FirstDelivered {
			break
		}
		// An older delivery may be the first one: look for it by status.
		found, _, err := s.store.ListDeliveries(ctx, m.ID, DeliveryFilter{Status: st, Limit: onboardingScan})
		if err != nil {
			return Onboarding{}, err
		}
		for _, d := range found {
			o.FirstDelivered = o.FirstDelivered || arrived(d)
		}
	}
	// A real message delivered proves what a test would: the step is done
	// even once the test has scrolled out of the recent deliveries.
	o.TestSent = o.TestSent || o.FirstDelivered
	today := s.now().UTC()
	week, err := s.Stats(ctx, m.ID, DayOf(today.AddDate(0, 0, -6)), DayOf(today))
	if err != nil {
		return Onboarding{}, err
	}
	for _, outcomes := range week.Counts {
		for outcome, n := range outcomes {
			if base, _, _ := strings.Cut(outcome, "."); base == "skipped" || !strings.Contains(outcome, ".") {
				o.Week[base] += n
			}
		}
	}
	return o, nil
}
