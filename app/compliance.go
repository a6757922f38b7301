package app

import (
	"context"
	"slices"
	"strings"
)

// mapReplies keeps each customer's last reply, by phone.
const mapReplies = "replies"

// handleCompliance carries out a privacy request or an uninstall.
func (s *Service) handleCompliance(ctx context.Context, m Merchant, req ComplianceRequest) error {
	switch req.Topic {
	case "app/uninstalled":
		return s.uninstall(ctx, m)
	case "customers/redact":
		return s.redactCustomer(ctx, m, req)
	case "shop/redact":
		return s.redactShop(ctx, m)
	case "customers/data_request":
		return s.recordDataRequest(ctx, m, req)
	}
	return Permanent(errUnknownCompliance(req.Topic))
}

type errUnknownCompliance string

func (e errUnknownCompliance) Error() string { return "unknown compliance topic " + string(e) }

// uninstall stops the merchant: its store token is dead, so the
// credentials go, queued work is dropped and nothing more is processed.
func (s *Service) uninstall(ctx context.Context, m Merchant) error {
	if _, err := s.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		m.Status = MerchantUninstalled
		m.Secrets = nil
		return nil
	}); err != nil {
		return err
	}
	s.clients.forget(m.ID)
	dropped, err := s.store.DropJobs(ctx, m.ID)
	if err != nil {
		return err
	}
	s.log.Info("merchant uninstalled", "merchant", m.ID, "jobs_dropped", dropped)
	return nil
}

// redactLimit bounds the deliveries a customer redaction reads for the
// phones and orders they name; every matching delivery is deleted however
// many there are.
const redactLimit = 5000

// redactCustomer deletes what we keep of one customer: their deliveries
// (found by phone, customer id and orders), and the last reply, opt-out
// and COD state of every phone and order that is theirs (the request's
// and those on their deliveries, as the export finds them), and their data
// requests. The deliveries go last: a run that fails before finds them
// again on its retry, with the phones and orders they name. The event
// claims of their orders ("event:<type>:order:<id>") stay: they name an
// order and an event type, nothing of the person, and they keep a late
// platform retry from messaging the customer again.
func (s *Service) redactCustomer(ctx context.Context, m Merchant, req ComplianceRequest) error {
	who := CustomerIdentity{CustomerID: req.CustomerID, Phone: phoneOf(req.Phone, m.Country), Email: req.Email, OrderIDs: req.OrderIDs}
	found, err := s.customerRecords(ctx, m, who, redactLimit)
	if err != nil {
		return err
	}
	if len(found.phones) > 0 {
		for _, name := range []string{mapReplies, mapOptOuts, mapConsents} {
			if err := s.store.MapDelete(ctx, m.ID, name, found.phones...); err != nil {
				return err
			}
		}
	}
	var states []string
	for _, phone := range found.phones {
		states = append(states, codPhoneKey(phone), cartCustomerKey(phone))
	}
	// The cart sequences' records hold the checkout's event.
	for _, d := range found.deliveries {
		if token, ok := strings.CutPrefix(d.Subject, "cart:"); ok && !slices.Contains(states, cartKey(token)) {
			states = append(states, cartKey(token))
		}
	}
	for _, id := range found.orders {
		states = append(states, codOrderKey(id), codRemindersKey(id))
	}
	if err := s.store.DeleteStates(ctx, m.ID, states...); err != nil {
		return err
	}
	for _, index := range []string{indexCODOrders, indexCODAwaiting} {
		if err := s.store.IndexRemove(ctx, m.ID, index, found.orders...); err != nil {
			return err
		}
	}
	requests, err := s.dataRequests(ctx, m)
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range requests {
		if r.about(who) {
			ids = append(ids, r.ID)
		}
	}
	for _, name := range []string{mapDataRequests, mapDataRequestsAnswered} {
		if err := s.store.MapDelete(ctx, m.ID, name, ids...); err != nil {
			return err
		}
	}
	if s.loyalty != nil {
		if err := s.loyalty.RedactLoyalty(ctx, m, who); err != nil {
			return err
		}
	}
	n, err := s.store.DeleteCustomerDeliveries(ctx, m.ID, who.match())
	if err != nil {
		return err
	}
	s.log.Info("customer redacted", "merchant", m.ID, "deliveries_deleted", n,
		"phones", len(found.phones), "orders", len(found.orders), "data_requests", len(ids))
	return nil
}

// redactShop erases a shop that uninstalled 48 hours ago: every record the
// store keeps of the merchant but the merchant record and the statistics,
// which count messages and name no one. That is every delivery (test
// messages and those with no subject included) with its indexes, the
// replies, opt-outs, data requests and other maps, the COD, cart and
// status states, the throttles, and the jobs no worker holds, dead ones
// included, whose payloads are the shop's webhooks. The event and webhook
// claims go too: they name only orders, carts and event ids, but their one
// use, keeping a platform's retry from messaging a customer twice, ends
// with the shop, and a shop that installs again starts afresh. The
// merchant record stays, without credentials, so a late webhook is still
// recognised and ignored.
func (s *Service) redactShop(ctx context.Context, m Merchant) error {
	if m.Status == MerchantActive {
		return nil // reinstalled since: Shopify says the request is void
	}
	if _, err := s.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		m.Provider.Credentials = nil
		m.Secrets = nil
		return nil
	}); err != nil {
		return err
	}
	s.clients.forget(m.ID)
	n, err := s.store.PurgeMerchantData(ctx, m.ID)
	if err != nil {
		return err
	}
	s.log.Info("shop redacted", "merchant", m.ID, "records_deleted", n)
	return nil
}
