package app

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Merchant returns a stored merchant.
func (s *Service) Merchant(ctx context.Context, id string) (Merchant, error) {
	return s.store.GetMerchant(ctx, id)
}

// StatusMapView is the status mapping page: the map in force (the
// platform's defaults overlaid with the merchant's own entries) and the
// statuses seen in webhooks that it does not cover.
type StatusMapView struct {
	StatusMap map[string]string
	Unmapped  []string
}

var statusSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// maxStatusMapEntries bounds a status map: stores have a few dozen
// statuses at most.
const maxStatusMapEntries = 100

// StatusMap returns the merchant's status map and unmapped statuses.
func (s *Service) StatusMap(ctx context.Context, merchantID string) (StatusMapView, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return StatusMapView{}, err
	}
	own, err := s.store.MapAll(ctx, m.ID, mapStatusMap)
	if err != nil {
		return StatusMapView{}, err
	}
	seen, err := s.store.MapAll(ctx, m.ID, mapSeenStatuses)
	if err != nil {
		return StatusMapView{}, err
	}
	view := StatusMapView{StatusMap: map[string]string{}, Unmapped: []string{}}
	for status, event := range s.defaultStatusMaps[m.Platform] {
		view.StatusMap[status] = event
	}
	for status, event := range own {
		view.StatusMap[status] = event
	}
	for status := range seen {
		if _, ok := view.StatusMap[status]; !ok {
			view.Unmapped = append(view.Unmapped, status)
		}
	}
	sort.Strings(view.Unmapped)
	return view, nil
}

// PutStatusMap replaces the merchant's own status map entries. An empty
// event silences a status.
func (s *Service) PutStatusMap(ctx context.Context, merchantID string, entries map[string]string) (StatusMapView, error) {
	if _, err := s.store.GetMerchant(ctx, merchantID); err != nil {
		return StatusMapView{}, err
	}
	if len(entries) > maxStatusMapEntries {
		return StatusMapView{}, Invalid("status_map", fmt.Sprintf("must have at most %d entries", maxStatusMapEntries))
	}
	fields := map[string]string{}
	clean := make(map[string]string, len(entries))
	for status, event := range entries {
		status = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(status)), "wc-")
		event = strings.TrimSpace(event)
		if !statusSlug.MatchString(status) {
			// Not echoed as a field name: it may be long or hold
			// control characters.
			fields["status_map"] = "every status must be a slug: lower-case letters, digits, - and _, at most 40"
			continue
		}
		if event != "" && !validEventType(event) {
			fields[status] = fmt.Sprintf("must be an event name like order.shipped, at most %d characters", maxEventTypeLen)
			continue
		}
		clean[status] = event
	}
	if len(fields) > 0 {
		return StatusMapView{}, &ValidationError{Fields: fields}
	}
	if err := s.store.MapReplace(ctx, merchantID, mapStatusMap, clean); err != nil {
		return StatusMapView{}, err
	}
	return s.StatusMap(ctx, merchantID)
}

// TestEventInput is a merchant's test send.
type TestEventInput struct {
	Event      string
	Phone      string
	Properties map[string]any
}

// SendTestEvent sends a made-up event through the same path as real ones,
// now (no delay, no quiet hours), and answers with the delivery.
func (s *Service) SendTestEvent(ctx context.Context, merchantID string, in TestEventInput) (Delivery, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return Delivery{}, err
	}
	fields := map[string]string{}
	if !validEventType(in.Event) {
		fields["event"] = fmt.Sprintf("must be an event name like loyalty.points_earned, at most %d characters", maxEventTypeLen)
	}
	phone, err := "", errors.New("too long")
	if len(in.Phone) <= maxPhoneLen {
		phone, err = NormalizePhone(in.Phone, m.Country)
	}
	if err != nil {
		fields["phone"] = "must be a phone number with its country code, like +919876543210"
	}
	if reason := checkProperties(in.Properties); reason != "" {
		fields["properties"] = reason
	}
	if len(fields) > 0 {
		return Delivery{}, &ValidationError{Fields: fields}
	}
	if providerName(m) == "" {
		return Delivery{}, Invalid("provider", "no messaging provider is connected: connect one (or choose sandbox to try rules) first")
	}
	r, err := s.rule(ctx, m.ID, in.Event)
	if errors.Is(err, ErrNotFound) {
		return Delivery{}, Invalid("event", "has no rule yet: create the event's rule first")
	}
	if err != nil {
		return Delivery{}, err
	}
	if len(in.Properties) == 0 {
		// A test from the admin fills the template as a real event would.
		in.Properties = SampleProperties(m, in.Event, s.now())
	}
	props := nestProperties(in.Properties)
	customer := Customer{Phone: phone, FirstName: "Test", LastName: "Customer"}
	if c, ok := props["customer"].(map[string]any); ok {
		if v, ok := c["first_name"].(string); ok {
			customer.FirstName = v
		}
		if v, ok := c["last_name"].(string); ok {
			customer.LastName = v
		}
	}
	now := s.now()
	e := Event{ID: "ev_test_" + NewID(now), Merchant: m.ID, Type: in.Event, Customer: customer, Properties: props, OccurredAt: now.UTC(), Test: true}
	enrichProperties(&e, m)
	data, err := jsonMarshal(e)
	if err != nil {
		return Delivery{}, err
	}
	d := Delivery{
		ID: deliveryID(m.ID, e), Merchant: m.ID, EventID: e.ID, Event: e.Type, Phone: phone,
		Provider: providerName(m), Template: r.Template, Status: DeliveryQueued, Test: true,
		EventData: data, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
		History: []StatusChange{{Status: DeliveryQueued, At: now.UTC(), Note: "test event"}},
	}
	if err := s.store.CreateDelivery(ctx, d); err != nil {
		return Delivery{}, err
	}
	s.counters.add(Counter{Merchant: m.ID, Day: DayOf(now), Subject: e.Type, Outcome: "received"}, 1)
	sent, err := s.sendDelivery(ctx, m.ID, d.ID)
	var later *RetryAtError
	if errors.As(err, &later) {
		return sent, s.queueSend(ctx, m.ID, d.ID, later.At)
	}
	return sent, err
}

// nestProperties turns flat and dotted keys into nested properties, with
// Nector's aliases ("amount") at their canonical paths. Nested maps merge,
// so {"amount": 100, "points": {"balance": 1250}} keeps both.
//
// Keys are taken in sorted order: two keys may name the same path
// ({"order": {"number": "#1"}, "order.number": "#2"}), and in map order
// the customer's message would show either value, at random. Sorted, a
// key comes after its prefixes, so the more specific path wins, always.
func nestProperties(in map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		if nested, ok := v.(map[string]any); ok && !strings.Contains(k, ".") {
			v = nestProperties(nested)
		}
		parts := strings.Split(CanonicalVariable(k), ".")
		cur := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
		setMerged(cur, parts[len(parts)-1], v)
	}
	return out
}

// setMerged sets m[key] to v, merging when both are maps.
func setMerged(m map[string]any, key string, v any) {
	existing, ok := m[key].(map[string]any)
	incoming, isMap := v.(map[string]any)
	if !ok || !isMap {
		m[key] = v
		return
	}
	for k, iv := range incoming {
		setMerged(existing, k, iv)
	}
}

// Deliveries pages through a merchant's delivery log.
func (s *Service) Deliveries(ctx context.Context, merchantID string, f DeliveryFilter) ([]Delivery, string, error) {
	if _, err := s.store.GetMerchant(ctx, merchantID); err != nil {
		return nil, "", err
	}
	if f.Status != "" && !knownStatus(f.Status) {
		return nil, "", Invalid("status", "is not a delivery status")
	}
	if f.Event != "" && !validEventType(f.Event) {
		return nil, "", Invalid("event", fmt.Sprintf("must be an event name like order.placed, at most %d characters", maxEventTypeLen))
	}
	if f.Limit < 0 || f.Limit > 500 {
		return nil, "", Invalid("limit", "must be between 1 and 500")
	}
	return s.store.ListDeliveries(ctx, merchantID, f)
}

func knownStatus(st DeliveryStatus) bool { return slices.Contains(DeliveryStatuses(), st) }

// RetryDeliveries queues again every failed or dead delivery that matches
// the filter (status failed or dead; optionally an event type), up to
// limit, and says how many.
func (s *Service) RetryDeliveries(ctx context.Context, merchantID string, f DeliveryFilter) (int, error) {
	if f.Status != DeliveryFailed && f.Status != DeliveryDead {
		return 0, Invalid("status", "must be failed or dead")
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	want := f.Limit
	retried := 0
	f.Limit = min(want, 200)
	// Each matching delivery is retried once per call: pages follow the
	// cursor, and one the workers already failed again while this ran
	// (it is back in the filter) is not retried a second time.
	seen := map[string]bool{}
	for retried < want {
		page, next, err := s.Deliveries(ctx, merchantID, f)
		if err != nil {
			return retried, err
		}
		for _, d := range page {
			if seen[d.ID] || retried == want {
				continue
			}
			seen[d.ID] = true
			if _, err := s.RetryDelivery(ctx, merchantID, d.ID); err != nil {
				if ve := (*ValidationError)(nil); errors.As(err, &ve) {
					continue // its status moved on since the page was read
				}
				return retried, err
			}
			retried++
		}
		if next == "" || len(page) == 0 {
			break
		}
		f.Cursor = next
	}
	return retried, nil
}

// StatsView is a merchant's counters over a range of days.
type StatsView struct {
	From, To string
	Counts   map[string]map[string]int64 // subject → outcome → count, over the range
	// Days holds every day from..to in order; a day with no counters has
	// an empty Counts.
	Days     []DayCounts
	Outcomes StatsOutcomes
}

// DayCounts are one day's counters, subject → outcome → count.
type DayCounts struct {
	Day    string
	Counts map[string]map[string]int64
}

// Stats reads a merchant's counters over days from..to (YYYY-MM-DD; both
// default to the last 30 days): day by day, summed, and the outcomes.
func (s *Service) Stats(ctx context.Context, merchantID, from, to string) (StatsView, error) {
	if _, err := s.store.GetMerchant(ctx, merchantID); err != nil {
		return StatsView{}, err
	}
	today := s.now().UTC()
	if to == "" {
		to = DayOf(today)
	}
	if from == "" {
		from = DayOf(today.AddDate(0, 0, -29))
	}
	days, err := StatsDays(from, to)
	if err != nil {
		return StatsView{}, err
	}
	if len(days) == 0 {
		return StatsView{}, Invalid("to", "must be on or after from")
	}
	if err := s.FlushCounters(ctx); err != nil {
		s.log.Warn("writing statistics before a read failed", "err", err)
	}
	daily, err := s.store.DailyCounts(ctx, merchantID, from, to)
	if err != nil {
		return StatsView{}, err
	}
	v := StatsView{From: from, To: to, Counts: map[string]map[string]int64{}, Days: make([]DayCounts, 0, len(days))}
	for _, day := range days {
		counts := daily[day]
		if counts == nil {
			counts = map[string]map[string]int64{}
		}
		v.Days = append(v.Days, DayCounts{Day: day, Counts: counts})
		for subject, outcomes := range counts {
			if v.Counts[subject] == nil {
				v.Counts[subject] = map[string]int64{}
			}
			for outcome, n := range outcomes {
				v.Counts[subject][outcome] += n
			}
		}
	}
	v.Outcomes = OutcomesOf(v.Counts)
	return v, nil
}
