package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// JobCartCapture turns a captured WooCommerce cart into the cart flow's
// events, once per new version of the cart.
const JobCartCapture = "cart.capture"

// Statuses a captured cart can report.
const (
	CartOpen      = "open"      // still at checkout: abandoned unless bought
	CartEmptied   = "emptied"   // the customer emptied it: its reminders end
	CartConverted = "converted" // it became an order: recovered
)

// Bounds of a captured cart.
const (
	maxCartIDLen    = 64
	maxCartItems    = 100
	maxCartQuantity = 100_000
	maxCartURLLen   = 2000
	// cartCaptureTTL is how long a cart's last version is remembered:
	// longer than any reminder sequence (CartFlows calls a cart lost after
	// 30 days).
	cartCaptureTTL = 30 * 24 * time.Hour
)

var (
	cartIDPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
)

// CartCapture is what the WordPress plugin sends to POST /api/v1/carts:
// the checkout's contact fields and the WooCommerce cart, as the customer
// types.
type CartCapture struct {
	// ID is the plugin's id for the cart, kept in the customer's
	// WooCommerce session and in the order's _storebridge_cart meta.
	ID string `json:"id"`
	// Version orders the captures of one cart (the plugin sends
	// milliseconds since 1970); UpdatedAt stands in when it is 0. An
	// older or repeated version is acknowledged and ignored.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	// Status is open (the default), emptied or converted.
	Status   string       `json:"status"`
	Customer CartCustomer `json:"customer"`
	Consent  *bool        `json:"consent,omitempty"` // the checkout's WhatsApp opt-in; absent: the checkout asks nothing
	Currency string       `json:"currency"`
	Total    json.Number  `json:"total"`
	Items    []CartItem   `json:"items"`
	Recovery string       `json:"recovery_url"`       // the plugin's signed link that restores the cart
	OrderID  string       `json:"order_id,omitempty"` // converted: the order it became
}

// CartCustomer is who is at the checkout.
type CartCustomer struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	Country   string `json:"country"` // the billing country, ISO alpha-2, to read the phone
}

// CartItem is one line of the cart.
type CartItem struct {
	Name        string      `json:"name"`
	Quantity    int         `json:"quantity"`
	Price       json.Number `json:"price"`
	ProductID   int64       `json:"product_id,omitempty"`
	VariationID int64       `json:"variation_id,omitempty"`
}

// CartOutcome is what became of a capture.
type CartOutcome string

const (
	CartAccepted  CartOutcome = "accepted"  // a new version: queued
	CartUnchanged CartOutcome = "unchanged" // newer, but nothing the flow reads changed
	CartStale     CartOutcome = "stale"     // this version or a newer one was seen: ignored
)

// CaptureCart validates a captured cart and, when it is a newer version
// with something changed, queues it in the same store step that records
// the version: a retry of the same version, or an older one arriving late,
// queues nothing.
func (s *Service) CaptureCart(ctx context.Context, m Merchant, in CartCapture) (CartOutcome, error) {
	in = trimCapture(in)
	if fields := s.validateCapture(m, in); len(fields) > 0 {
		return "", &ValidationError{Fields: fields}
	}
	version := in.Version
	if version <= 0 {
		version = in.UpdatedAt.UnixMilli()
	}
	in.Version = version
	payload, err := json.Marshal(in)
	if err != nil {
		return "", Invalid("items", "cannot be stored: "+err.Error())
	}
	now := s.now()
	key := captureKey(in.ID)
	job := Job{
		ID: "cart-" + in.ID + "-" + strconv.FormatInt(version, 36), Merchant: m.ID, Kind: JobCartCapture,
		Payload: payload, DueAt: now, CreatedAt: now,
	}
	previous, advanced, err := s.store.AdvanceState(ctx, m.ID, key, version, captureDigest(in), cartCaptureTTL, job)
	switch {
	case err != nil:
		return "", fmt.Errorf("record cart capture: %w", err)
	case !advanced:
		return CartStale, nil
	case previous == captureDigest(in):
		return CartUnchanged, nil
	}
	if s.wake != nil {
		s.wake()
	}
	return CartAccepted, nil
}

// captureKey names the state that holds a cart's last version.
func captureKey(cartID string) string { return "capture:woo:" + cartID }

// captureDigest names what the cart flow reads of a capture, after its
// status: a newer version saying the same is no change.
func captureDigest(in CartCapture) string {
	in.Version, in.UpdatedAt = 0, time.Time{}
	raw, _ := json.Marshal(in) // marshalled once already: cannot fail
	sum := sha256.Sum256(raw)
	return in.Status + " " + hex.EncodeToString(sum[:16])
}

func trimCapture(in CartCapture) CartCapture {
	in.ID = strings.TrimSpace(in.ID)
	in.Status = strings.ToLower(strings.TrimSpace(in.Status))
	if in.Status == "" {
		in.Status = CartOpen
	}
	c := &in.Customer
	c.FirstName, c.LastName = strings.TrimSpace(c.FirstName), strings.TrimSpace(c.LastName)
	c.Email, c.Phone = strings.TrimSpace(c.Email), strings.TrimSpace(c.Phone)
	c.Country = strings.ToUpper(strings.TrimSpace(c.Country))
	in.Currency = strings.ToUpper(strings.TrimSpace(in.Currency))
	in.Recovery = strings.TrimSpace(in.Recovery)
	for i := range in.Items {
		in.Items[i].Name = strings.TrimSpace(in.Items[i].Name)
	}
	return in
}

// validateCapture answers, by field, why a capture cannot be taken.
func (s *Service) validateCapture(m Merchant, in CartCapture) map[string]string {
	fields := map[string]string{}
	if in.ID == "" || len(in.ID) > maxCartIDLen || !cartIDPattern.MatchString(in.ID) {
		fields["id"] = fmt.Sprintf("is required: the cart's id, 1 to %d letters, digits, - or _", maxCartIDLen)
	}
	if in.Version < 0 || (in.Version == 0 && in.UpdatedAt.IsZero()) {
		fields["version"] = "is required: a number that grows with each change of the cart (or updated_at, an RFC 3339 time)"
	}
	switch in.Status {
	case CartOpen, CartEmptied, CartConverted:
	default:
		fields["status"] = `must be "open", "emptied" or "converted"`
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{
		{"customer.first_name", in.Customer.FirstName, maxNameLen},
		{"customer.last_name", in.Customer.LastName, maxNameLen},
		{"customer.email", in.Customer.Email, maxEmailLen},
		{"customer.phone", in.Customer.Phone, maxPhoneLen},
	} {
		if !plainText(f.value, f.max) {
			fields[f.name] = fmt.Sprintf("must be at most %d characters, without control characters", f.max)
		}
	}
	if e := in.Customer.Email; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " <>,;")) {
		fields["customer.email"] = "must be an email address"
	}
	if !plainText(in.OrderID, maxCartIDLen) {
		fields["order_id"] = fmt.Sprintf("must be at most %d characters", maxCartIDLen)
	}
	if c := in.Customer.Country; c != "" && !countryPattern.MatchString(c) {
		fields["customer.country"] = "must be an ISO 3166 alpha-2 country code like IN"
	}
	if in.Status != CartOpen {
		return fields // an ending needs only the cart's id and version
	}
	if in.Customer.Phone == "" && in.Customer.Email == "" {
		fields["customer"] = "needs a phone or an email"
	}
	if !currencyPattern.MatchString(in.Currency) {
		fields["currency"] = "must be an ISO 4217 code like INR"
	}
	if !validAmount(string(in.Total)) {
		fields["total"] = `must be a non-negative decimal amount like "1499.00"`
	}
	if len(in.Items) == 0 || len(in.Items) > maxCartItems {
		fields["items"] = fmt.Sprintf("must list 1 to %d lines (send status emptied for an empty cart)", maxCartItems)
	}
	for i, it := range in.Items {
		if len(fields) > 10 {
			break
		}
		p := "items." + strconv.Itoa(i) + "."
		if it.Name == "" || !plainText(it.Name, maxPropertyValueLen) {
			fields[p+"name"] = fmt.Sprintf("is required: 1 to %d characters, without control characters", maxPropertyValueLen)
		}
		if it.Quantity < 1 || it.Quantity > maxCartQuantity {
			fields[p+"quantity"] = fmt.Sprintf("must be from 1 to %d", maxCartQuantity)
		}
		if !validAmount(string(it.Price)) {
			fields[p+"price"] = "must be a non-negative decimal amount"
		}
	}
	if reason := s.checkRecoveryURL(m, in.Recovery); reason != "" {
		fields["recovery_url"] = reason
	}
	return fields
}

// countryPattern is an ISO 3166 alpha-2 code's shape.
var countryPattern = regexp.MustCompile(`^[A-Z]{2}$`)

func validAmount(s string) bool {
	neg, _, _, ok := moneyParse(strings.TrimSpace(s))
	return ok && !neg
}

// checkRecoveryURL answers why a cart's restore link cannot go into a
// customer's message, or "": it must be an https link on the store itself
// (www. or not), so a leaked token cannot send customers elsewhere. An
// http link is accepted only for a store connected over http (a
// development store, with ALLOW_INSECURE_OUTBOUND).
func (s *Service) checkRecoveryURL(m Merchant, raw string) string {
	const want = "is required: the plugin's link that restores the cart, on the store's own address"
	if raw == "" || len(raw) > maxCartURLLen || !plainText(raw, maxCartURLLen) {
		return want
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return want
	}
	store, err := url.Parse(m.StoreURL)
	if err != nil {
		return want
	}
	if u.Scheme != "https" && (u.Scheme != "http" || store.Scheme != "http") {
		return "must be an https link on the store's own address"
	}
	bare := func(h string) string { return strings.TrimPrefix(strings.ToLower(h), "www.") }
	if bare(u.Host) != bare(store.Host) {
		return "must be on the store's own address (" + store.Host + ")"
	}
	return ""
}

// handleCartCaptureJob is the worker's handler of captured carts: an open
// cart is the cart flow's cart.abandoned, a converted one its
// cart.recovered (as a completed Shopify checkout), and an emptied one
// ends the cart's reminders without an event.
func (s *Service) handleCartCaptureJob(ctx context.Context, job Job) error {
	var in CartCapture
	if err := jsonUnmarshal(job.Payload, &in); err != nil {
		return Permanent(fmt.Errorf("stored cart capture: %w", err))
	}
	cached, err := s.merchants.byID(ctx, job.Merchant)
	if errors.Is(err, ErrNotFound) {
		return Permanent(err)
	}
	if err != nil {
		return err
	}
	m := cached.Merchant
	if m.Status != MerchantActive {
		return nil
	}
	token := WooCartToken(in.ID)
	if in.Status == CartEmptied {
		return s.endCapturedCart(ctx, m, token, CartEmptied)
	}
	if in.Status == CartConverted {
		return s.ProcessEvents(ctx, m, []Event{cartCaptureEvent(m, in, job.CreatedAt)})
	}
	// The jobs of one cart's versions may run in any order, or at once: an
	// open cart that is no longer the newest version leaves the cart to
	// the newer job, and one whose cart ended while it ran ends it again,
	// so an order or an empty cart is never outrun by an older capture.
	// (A newer version that changed nothing queued no job: this one
	// still stands for it.)
	digest := captureDigest(in)
	if value, _, err := s.store.State(ctx, m.ID, captureKey(in.ID)); err == nil && value != digest {
		return nil
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := s.ProcessEvents(ctx, m, []Event{cartCaptureEvent(m, in, job.CreatedAt)}); err != nil {
		return err
	}
	value, _, err := s.store.State(ctx, m.ID, captureKey(in.ID))
	if errors.Is(err, ErrNotFound) || (err == nil && value == digest) {
		return nil
	}
	if err != nil {
		return err
	}
	if status, _, _ := strings.Cut(value, " "); status == CartEmptied || status == CartConverted {
		return s.endCapturedCart(ctx, m, token, status)
	}
	return nil
}

// endCapturedCart ends the sequence of a captured cart that was emptied
// (its steps withdrawn as empty) or converted (as a bought cart).
func (s *Service) endCapturedCart(ctx context.Context, m Merchant, token, status string) error {
	if status == CartConverted {
		return s.cartOrdered(ctx, m, Event{Type: EventCartRecovered, Subject: "cart:" + token, OccurredAt: s.now()})
	}
	r, err := s.rule(ctx, m.ID, EventCartAbandoned)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return s.stopCart(ctx, m, token, skipEmpty, len(r.CartSteps()))
}

// WooCartToken is the cart flow's token of a captured WooCommerce cart:
// its events' subject is "cart:" + the token, and an order whose
// order.checkout_token is the token recovers it.
func WooCartToken(cartID string) string { return "woo:" + cartID }

// cartCaptureEvent is a capture as the cart flow's event, with the
// properties a Shopify checkout's has.
// queued is when the capture arrived, for a cart that sent no updated_at.
func cartCaptureEvent(m Merchant, in CartCapture, queued time.Time) Event {
	token := WooCartToken(in.ID)
	cust := Customer{FirstName: in.Customer.FirstName, LastName: in.Customer.LastName, Email: in.Customer.Email}
	if in.Customer.Phone == "" {
		cust.PhoneProblem = "the checkout has no phone yet"
	} else if phone, err := NormalizePhone(in.Customer.Phone, in.Customer.Country, m.Country); err == nil {
		cust.Phone = phone
	} else {
		cust.PhoneProblem = "customer.phone: " + strings.TrimPrefix(err.Error(), "app: ")
	}
	if in.Consent != nil {
		cust.Consent, cust.ConsentSource = ConsentDenied, "woocommerce checkout (cart capture)"
		if *in.Consent {
			cust.Consent = ConsentGranted
		}
	}
	items := make([]LineItem, 0, len(in.Items))
	for _, it := range in.Items {
		items = append(items, LineItem{Name: it.Name, Quantity: it.Quantity})
	}
	summary, count := SummarizeItems(items)
	cp := map[string]any{
		"token":        token,
		"total":        FormatMoney(string(in.Total), in.Currency),
		"total_amount": string(in.Total),
		"currency":     in.Currency,
		"items":        summary,
		"item_count":   count,
	}
	if in.Recovery != "" {
		cp["recovery_url"] = in.Recovery
	}
	at := in.UpdatedAt
	if at.IsZero() {
		at = queued
	}
	e := Event{
		Type: EventCartAbandoned, Subject: "cart:" + token, Customer: cust,
		Properties: map[string]any{"cart": cp}, OccurredAt: at.UTC(),
	}
	if in.Status == CartConverted {
		e.Type = EventCartRecovered
		if in.OrderID != "" {
			cp["order_id"] = in.OrderID
		}
	}
	return e
}
