package app

import "context"

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
		for _, name := range []string{mapReplies, mapOptOuts} {
			if err := s.store.MapDelete(ctx, m.ID, name, found.phones...); err != nil {
				return err
			}
		}
	}
	var states []string
	for _, phone := range found.phones {
		states = append(states, codPhoneKey(phone))
	}
	for _, id := range found.orders {
		states = append(states, codOrderKey(id))
	}
	if err := s.store.DeleteStates(ctx, m.ID, states...); err != nil {
		return err
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
	n, err := s.store.DeleteCustomerDeliveries(ctx, m.ID, who.match())
	if err != nil {
		return err
	}
	s.log.Info("customer redacted", "merchant", m.ID, "deliveries_deleted", n,
		"phones", len(found.phones), "orders", len(found.orders), "data_requests", len(ids))
	return nil
}

// redactShop deletes every customer record of a shop that uninstalled 48
// hours ago, and its settings; the merchant record stays, without
// credentials, so a late webhook is still recognised and ignored.
func (s *Service) redactShop(ctx context.Context, m Merchant) error {
	if m.Status == MerchantActive {
		return nil // reinstalled since: Shopify says the request is void
	}
	deleted := 0
	for {
		page, _, err := s.store.ListDeliveries(ctx, m.ID, DeliveryFilter{Limit: 500})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		match := CustomerMatch{}
		for _, d := range page {
			match.Subjects = append(match.Subjects, d.Subject)
		}
		n, err := s.store.DeleteCustomerDeliveries(ctx, m.ID, match)
		if err != nil {
			return err
		}
		if n == 0 {
			break // records without a subject cannot be matched; stop rather than loop
		}
		deleted += n
	}
	for _, name := range []string{mapReplies, mapDataRequests, mapOptOuts} {
		if err := s.store.MapReplace(ctx, m.ID, name, nil); err != nil {
			return err
		}
	}
	if _, err := s.updateMerchant(ctx, m.ID, func(m *Merchant) error {
		m.Provider.Credentials = nil
		return nil
	}); err != nil {
		return err
	}
	s.clients.forget(m.ID)
	s.log.Info("shop redacted", "merchant", m.ID, "deliveries_deleted", deleted)
	return nil
}
