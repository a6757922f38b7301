package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A customers/data_request asks the merchant to hand a customer what the
// shop (and so storebridge) holds of them. The request is kept here until
// the merchant downloads the export, which is built from every record
// storebridge keeps of a customer: the deliveries, the last reply, the
// opt-out, the COD state of their orders, and what the loyalty engine
// keeps, once it exists.

const (
	// mapDataRequests keeps the data requests received, by request id.
	mapDataRequests = "data_requests"
	// mapDataRequestsAnswered keeps when each request was first exported,
	// by request id. The marks are kept apart from the requests so that
	// they hold nothing of the customer: an export racing a redaction may
	// leave a mark behind, never the request.
	mapDataRequestsAnswered = "data_requests_answered"
	// exportDeliveryLimit bounds the deliveries one export holds.
	exportDeliveryLimit = 5000
)

// DataRequest is a customer's request for their data, as the store
// platform forwarded it.
type DataRequest struct {
	ID         string    `json:"id"` // the platform's id when it gives one
	ReceivedAt time.Time `json:"received_at"`
	// AnsweredAt is when the merchant first exported it; zero while open.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	CustomerID string    `json:"customer_id,omitempty"`
	// Phone is in E.164 when it reads as a number of the shop's country,
	// else as the platform sent it.
	Phone    string   `json:"phone,omitempty"`
	Email    string   `json:"email,omitempty"`
	OrderIDs []string `json:"orders_requested"`
}

// dataRequestRecord is a data request as stored: the request as decoded,
// and when it came. Records written before requests had ids and answers
// have the same shape.
type dataRequestRecord struct {
	ComplianceRequest
	ReceivedAt time.Time `json:"received_at"`
}

// CustomerIdentity names the customer of a privacy request or export: the
// platform's customer id, the phone, the email, and the orders a request
// named. Empty fields are not looked for.
type CustomerIdentity struct {
	CustomerID string
	Phone      string // E.164 once the service has read it
	Email      string
	OrderIDs   []string
}

// match selects the customer's deliveries: by phone, customer id, and the
// orders named.
func (who CustomerIdentity) match() CustomerMatch {
	match := CustomerMatch{Phone: who.Phone, CustomerID: who.CustomerID}
	for _, id := range who.OrderIDs {
		if id != "" {
			match.Subjects = append(match.Subjects, "order:"+id)
		}
	}
	return match
}

// LoyaltyRecords is what the loyalty engine holds of a customer (points,
// tiers, the orders that earned them), for privacy requests. Its export is
// a value that encodes to JSON, or nil when it holds nothing (exports then
// carry "loyalty": null); its redaction deletes it all.
type LoyaltyRecords interface {
	ExportLoyalty(ctx context.Context, m Merchant, who CustomerIdentity) (any, error)
	RedactLoyalty(ctx context.Context, m Merchant, who CustomerIdentity) error
}

// EventObserver sees every store event before it is sent (the loyalty
// engine earning from orders). An error fails the event's job, which is
// retried, so an observer must be idempotent.
type EventObserver interface {
	ObserveEvent(ctx context.Context, m Merchant, e Event) error
}

// SetEventObserver names the observer of store events. Call it before the
// workers start.
func (s *Service) SetEventObserver(o EventObserver) { s.eventObserver = o }

// SetLoyaltyRecords names the loyalty records that privacy exports include
// and redactions delete. Call before the service serves requests.
func (s *Service) SetLoyaltyRecords(r LoyaltyRecords) { s.loyalty = r }

// CustomerExport is everything storebridge holds of one customer of a
// merchant, in full, for the merchant to hand over.
type CustomerExport struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Merchant    ExportMerchant `json:"merchant"`
	// RequestID names the data request the export answers, if one.
	RequestID string           `json:"request_id,omitempty"`
	Customer  ExportedCustomer `json:"customer"`
	// Deliveries are the messages sent, or meant, to the customer, newest
	// first; at most exportDeliveryLimit, DeliveriesTruncated says when
	// there were more.
	Deliveries          []ExportedDelivery `json:"deliveries"`
	DeliveriesTruncated bool               `json:"deliveries_truncated"`
	Replies             []ExportedReply    `json:"replies"`
	OptOuts             []ExportedOptOut   `json:"opt_outs"`
	Consents            []ExportedConsent  `json:"marketing_consents"`
	CODOrders           []ExportedCODOrder `json:"cod_orders"`
	DataRequests        []DataRequest      `json:"data_requests"`
	Loyalty             any                `json:"loyalty"`
}

// ExportMerchant names the shop an export comes from.
type ExportMerchant struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Platform Platform `json:"platform"`
	Domain   string   `json:"domain"`
}

// ExportedCustomer is who the export is about, as asked.
type ExportedCustomer struct {
	ID    string `json:"id,omitempty"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

// ExportedDelivery is a delivery record, whole.
type ExportedDelivery struct {
	ID                string           `json:"id"`
	Event             string           `json:"event"`
	Subject           string           `json:"subject,omitempty"`
	CustomerID        string           `json:"customer_id,omitempty"`
	Phone             string           `json:"phone"`
	Provider          string           `json:"provider"`
	Template          string           `json:"template,omitempty"`
	Values            []string         `json:"values"`
	Status            DeliveryStatus   `json:"status"`
	Attempts          int              `json:"attempts"`
	Error             string           `json:"error,omitempty"`
	ProviderMessageID string           `json:"provider_message_id,omitempty"`
	Test              bool             `json:"test"`
	History           []ExportedStatus `json:"history"`
	// EventData is the event the message was made from, as it came.
	EventData json.RawMessage `json:"event_data,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// ExportedStatus is one step of a delivery's history.
type ExportedStatus struct {
	Status DeliveryStatus `json:"status"`
	At     time.Time      `json:"at"`
	Note   string         `json:"note,omitempty"`
}

// ExportedReply is the customer's last message or button tap.
type ExportedReply struct {
	Phone    string    `json:"phone"`
	Text     string    `json:"text,omitempty"`
	ButtonID string    `json:"button_id,omitempty"`
	At       time.Time `json:"at"`
}

// ExportedOptOut is the customer's refusal of marketing messages.
type ExportedOptOut struct {
	Phone string    `json:"phone"`
	At    time.Time `json:"opted_out_at"`
}

// ExportedConsent is the customer's consent to marketing messages, as last
// given or refused.
type ExportedConsent struct {
	Phone  string    `json:"phone"`
	State  string    `json:"state"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// ExportedCODOrder is the Cash-on-Delivery confirmation of an order.
type ExportedCODOrder struct {
	OrderID     string    `json:"order_id"`
	State       string    `json:"state"`
	Phone       string    `json:"phone"`
	FirstName   string    `json:"first_name,omitempty"`
	Number      string    `json:"number,omitempty"`
	Total       string    `json:"total,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	// Answer is the customer's reply that decided the order, if theirs.
	Answer string `json:"answer,omitempty"`
}

// recordDataRequest keeps a customers/data_request for the merchant to
// answer. A request the platform sends again is kept once.
func (s *Service) recordDataRequest(ctx context.Context, m Merchant, req ComplianceRequest) error {
	id := req.RequestID
	if id == "" {
		id = NewID(s.now())
	}
	switch _, err := s.store.MapGet(ctx, m.ID, mapDataRequests, id); {
	case err == nil:
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}
	raw, err := json.Marshal(dataRequestRecord{ComplianceRequest: req, ReceivedAt: s.now().UTC()})
	if err != nil {
		return Permanent(err)
	}
	if err := s.store.MapSet(ctx, m.ID, mapDataRequests, map[string]string{id: string(raw)}); err != nil {
		return err
	}
	s.log.Info("customer data request received", "merchant", m.ID, "request", id)
	return nil
}

// DataRequests lists the data requests a merchant received, newest first.
func (s *Service) DataRequests(ctx context.Context, merchantID string) ([]DataRequest, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	return s.dataRequests(ctx, m)
}

func (s *Service) dataRequests(ctx context.Context, m Merchant) ([]DataRequest, error) {
	raw, err := s.store.MapAll(ctx, m.ID, mapDataRequests)
	if err != nil {
		return nil, err
	}
	answered, err := s.store.MapAll(ctx, m.ID, mapDataRequestsAnswered)
	if err != nil {
		return nil, err
	}
	out := make([]DataRequest, 0, len(raw))
	for id, value := range raw {
		var rec dataRequestRecord
		if err := json.Unmarshal([]byte(value), &rec); err != nil {
			s.log.Warn("unreadable data request left out", "merchant", m.ID, "request", id, "err", err)
			continue
		}
		r := DataRequest{
			ID: id, ReceivedAt: rec.ReceivedAt, CustomerID: rec.CustomerID, Email: rec.Email,
			Phone: cmp.Or(phoneOf(rec.Phone, m.Country), rec.Phone), OrderIDs: rec.OrderIDs,
		}
		if r.OrderIDs == nil {
			r.OrderIDs = []string{}
		}
		if at, err := time.Parse(time.RFC3339Nano, answered[id]); err == nil {
			r.AnsweredAt = at
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b DataRequest) int {
		return cmp.Or(b.ReceivedAt.Compare(a.ReceivedAt), strings.Compare(b.ID, a.ID))
	})
	return out, nil
}

// phoneOf is raw in E.164, or "" when it does not read as a phone number.
func phoneOf(raw, country string) string {
	if raw == "" {
		return ""
	}
	phone, err := NormalizePhone(raw, country)
	if err != nil {
		return ""
	}
	return phone
}

// about reports whether a data request is about the customer.
func (r DataRequest) about(who CustomerIdentity) bool {
	return (who.CustomerID != "" && r.CustomerID == who.CustomerID) ||
		(who.Phone != "" && r.Phone == who.Phone) ||
		(who.Email != "" && strings.EqualFold(r.Email, who.Email))
}

// ExportDataRequest builds the export that answers a data request and
// marks the request answered.
func (s *Service) ExportDataRequest(ctx context.Context, merchantID, requestID string) (CustomerExport, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return CustomerExport{}, err
	}
	requests, err := s.dataRequests(ctx, m)
	if err != nil {
		return CustomerExport{}, err
	}
	i := slices.IndexFunc(requests, func(r DataRequest) bool { return r.ID == requestID })
	if i < 0 {
		return CustomerExport{}, fmt.Errorf("data request %q: %w", requestID, ErrNotFound)
	}
	r := requests[i]
	who := CustomerIdentity{CustomerID: r.CustomerID, Phone: phoneOf(r.Phone, m.Country), Email: r.Email, OrderIDs: r.OrderIDs}
	x, err := s.exportCustomer(ctx, m, who, requests)
	if err != nil {
		return CustomerExport{}, err
	}
	x.RequestID = r.ID
	if r.AnsweredAt.IsZero() {
		now := s.now().UTC()
		if err := s.store.MapSet(ctx, m.ID, mapDataRequestsAnswered, map[string]string{r.ID: now.Format(time.RFC3339Nano)}); err != nil {
			return CustomerExport{}, err
		}
		for i := range x.DataRequests {
			if x.DataRequests[i].ID == r.ID {
				x.DataRequests[i].AnsweredAt = now
			}
		}
		s.log.Info("customer data request answered", "merchant", m.ID, "request", r.ID)
	}
	return x, nil
}

// ExportCustomer builds the export of a customer named by phone (E.164 or
// a number of the shop's country) or platform customer id, with no data
// request: for a customer who asked the merchant directly.
func (s *Service) ExportCustomer(ctx context.Context, merchantID string, who CustomerIdentity) (CustomerExport, error) {
	m, err := s.store.GetMerchant(ctx, merchantID)
	if err != nil {
		return CustomerExport{}, err
	}
	who.CustomerID, who.Email = strings.TrimSpace(who.CustomerID), strings.TrimSpace(who.Email)
	if raw := strings.TrimSpace(who.Phone); raw != "" {
		if who.Phone = phoneOf(raw, m.Country); who.Phone == "" {
			return CustomerExport{}, Invalid("phone", "must be a phone number, like +919876543210")
		}
	}
	if who.Phone == "" && who.CustomerID == "" {
		return CustomerExport{}, Invalid("customer_id", "give the customer's phone or platform customer id: storebridge finds a customer's records by those")
	}
	requests, err := s.dataRequests(ctx, m)
	if err != nil {
		return CustomerExport{}, err
	}
	return s.exportCustomer(ctx, m, who, requests)
}

// exportCustomer gathers what storebridge keeps of who, whose phone is in
// E.164: their deliveries, found as a redaction finds them, and the
// replies, opt-outs and COD states of every phone and order those and
// the request name.
func (s *Service) exportCustomer(ctx context.Context, m Merchant, who CustomerIdentity, requests []DataRequest) (CustomerExport, error) {
	x := CustomerExport{
		GeneratedAt: s.now().UTC(),
		Merchant:    ExportMerchant{ID: m.ID, Name: m.Name, Platform: m.Platform, Domain: m.Domain},
		Customer:    ExportedCustomer{ID: who.CustomerID, Phone: who.Phone, Email: who.Email},
		Deliveries:  []ExportedDelivery{}, Replies: []ExportedReply{}, OptOuts: []ExportedOptOut{}, Consents: []ExportedConsent{},
		CODOrders: []ExportedCODOrder{}, DataRequests: []DataRequest{},
	}
	found, err := s.customerRecords(ctx, m, who, exportDeliveryLimit+1)
	if err != nil {
		return CustomerExport{}, err
	}
	if len(found.deliveries) > exportDeliveryLimit {
		found.deliveries, x.DeliveriesTruncated = found.deliveries[:exportDeliveryLimit], true
	}
	for _, d := range found.deliveries {
		x.Deliveries = append(x.Deliveries, exportDelivery(d))
	}
	for _, phone := range found.phones {
		if raw, err := s.store.MapGet(ctx, m.ID, mapReplies, phone); err == nil {
			var r Reply
			if err := json.Unmarshal([]byte(raw), &r); err == nil {
				x.Replies = append(x.Replies, ExportedReply{Phone: phone, Text: r.Text, ButtonID: r.ButtonID, At: r.At})
			}
		} else if !errors.Is(err, ErrNotFound) {
			return CustomerExport{}, err
		}
		if raw, err := s.store.MapGet(ctx, m.ID, mapOptOuts, phone); err == nil {
			at, _ := time.Parse(time.RFC3339, raw) // zero if unreadable: the opt-out still counts
			x.OptOuts = append(x.OptOuts, ExportedOptOut{Phone: phone, At: at})
		} else if !errors.Is(err, ErrNotFound) {
			return CustomerExport{}, err
		}
		if c, err := s.consentOf(ctx, m.ID, phone); err != nil {
			return CustomerExport{}, err
		} else if c.State != "" {
			x.Consents = append(x.Consents, ExportedConsent{Phone: phone, State: c.State, Source: c.Source, At: c.At})
		}
	}
	for _, id := range found.orders {
		raw, _, err := s.store.State(ctx, m.ID, codOrderKey(id))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return CustomerExport{}, err
		}
		var o codOrder
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			continue
		}
		x.CODOrders = append(x.CODOrders, ExportedCODOrder{
			OrderID: id, State: o.State, Phone: o.Phone, FirstName: o.FirstName,
			Number: o.Number, Total: o.Total, RequestedAt: o.RequestedAt, Answer: o.Answer,
		})
	}
	for _, r := range requests {
		if r.about(who) {
			x.DataRequests = append(x.DataRequests, r)
		}
	}
	if s.loyalty != nil {
		if x.Loyalty, err = s.loyalty.ExportLoyalty(ctx, m, who); err != nil {
			return CustomerExport{}, fmt.Errorf("loyalty records: %w", err)
		}
	}
	return x, nil
}

// customerRecordsFound are a customer's deliveries and the phones and
// orders they and the customer's identity name.
type customerRecordsFound struct {
	deliveries []Delivery
	phones     []string // E.164
	orders     []string // platform order ids
}

// customerRecords finds up to limit of who's deliveries, and every phone
// and order that is the customer's: those of the identity, those on the
// deliveries, and the orders a phone's COD state points at. An export
// shows, and a redaction deletes, the records of those.
func (s *Service) customerRecords(ctx context.Context, m Merchant, who CustomerIdentity, limit int) (customerRecordsFound, error) {
	var found customerRecordsFound
	addPhone := func(p string) {
		if p != "" && !slices.Contains(found.phones, p) {
			found.phones = append(found.phones, p)
		}
	}
	addOrder := func(id string) {
		if id != "" && !slices.Contains(found.orders, id) {
			found.orders = append(found.orders, id)
		}
	}
	addPhone(who.Phone)
	for _, id := range who.OrderIDs {
		addOrder(id)
	}
	if match := who.match(); match.Phone != "" || match.CustomerID != "" || len(match.Subjects) > 0 {
		var err error
		if found.deliveries, err = s.store.CustomerDeliveries(ctx, m.ID, match, limit); err != nil {
			return customerRecordsFound{}, err
		}
	}
	for _, d := range found.deliveries {
		addPhone(d.Phone)
		if rest, ok := strings.CutPrefix(d.Subject, "order:"); ok {
			id, _, _ := strings.Cut(rest, "#") // a COD reminder's subject
			addOrder(id)
		}
	}
	for _, phone := range found.phones {
		id, _, err := s.store.State(ctx, m.ID, codPhoneKey(phone))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return customerRecordsFound{}, err
		}
		addOrder(id)
	}
	slices.Sort(found.orders)
	return found, nil
}

func exportDelivery(d Delivery) ExportedDelivery {
	x := ExportedDelivery{
		ID: d.ID, Event: d.Event, Subject: d.Subject, CustomerID: d.CustomerID, Phone: d.Phone,
		Provider: d.Provider, Template: d.Template, Values: d.Values, Status: d.Status,
		Attempts: d.Attempts, Error: d.Error, ProviderMessageID: d.ProviderMessageID, Test: d.Test,
		History: make([]ExportedStatus, 0, len(d.History)), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if x.Values == nil {
		x.Values = []string{}
	}
	for _, h := range d.History {
		x.History = append(x.History, ExportedStatus(h))
	}
	if json.Valid(d.EventData) {
		x.EventData = json.RawMessage(d.EventData)
	}
	return x
}

// MaskEmail hides an email address but for its first letter and its
// domain: "riya.sharma@example.in" → "r***@example.in".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return strings.Repeat("*", min(len(email), 3))
	}
	first := []rune(local)[0]
	return string(first) + "***@" + domain
}
