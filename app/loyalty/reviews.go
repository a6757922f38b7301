package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/storebridge/storebridge/app"
)

// JobReview sends loyalty.review_requested for a delivered order: the
// request and each reminder is its own job, keyed per order and number,
// skipped when a review came first.
const JobReview = "loyalty.review"

// ReviewRequest asks for a review After the order's delivery, then up
// to Reminders more times, Every apart, until a review.submitted for the
// order (or from the customer since the delivery) arrives.
type ReviewRequest struct {
	Enabled   bool   `json:"enabled"`
	After     string `json:"after"`
	Reminders int    `json:"reminders"`
	Every     string `json:"every"`
	// URL is where the customer writes the review: {order} is the order
	// id, {order_number} its number without "#". Empty: the order's
	// status page, else the store.
	URL string `json:"url"`
}

// maxReviewReminders follows Nector's recommendation of 2.
const maxReviewReminders = 2

func defaultReviewRequest() ReviewRequest {
	return ReviewRequest{After: "7d", Reminders: 2, Every: "10d"}
}

// validate checks review requests that are on, like Referral.validate.
func (r ReviewRequest) validate(fields map[string]string) {
	if !r.Enabled {
		return
	}
	if d, err := parseDays(r.After); err != nil {
		fields["review_request.after"] = err.Error()
	} else if d <= 0 {
		fields["review_request.after"] = "must be positive"
	}
	if r.Reminders < 0 || r.Reminders > maxReviewReminders {
		fields["review_request.reminders"] = fmt.Sprintf("must be 0 to %d", maxReviewReminders)
	}
	if d, err := parseDays(r.Every); err != nil {
		fields["review_request.every"] = err.Error()
	} else if d < 24*time.Hour {
		fields["review_request.every"] = "must be at least 1 day"
	}
	if r.URL != "" {
		u, err := url.Parse(strings.NewReplacer("{order}", "1", "{order_number}", "1").Replace(r.URL))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(r.URL) > 500 {
			fields["review_request.url"] = "must be an http(s) URL; {order} and {order_number} are replaced"
		}
	}
}

type reviewJob struct {
	Order       string       `json:"order"`
	Number      string       `json:"number,omitempty"`
	StatusURL   string       `json:"status_url,omitempty"`
	Customer    string       `json:"customer"`
	Who         app.Customer `json:"who"`
	N           int          `json:"n"` // 0: the request, then the reminders
	DeliveredAt time.Time    `json:"delivered_at"`
}

func reviewedOrderKey(order string) string       { return "loyalty:reviewed:order:" + order }
func reviewedCustomerKey(customer string) string { return "loyalty:reviewed:customer:" + customer }
func reviewAskedKey(order string) string         { return "loyalty:review-asked:" + order }

// scheduleReviews schedules the request and its reminders of a delivered
// order; a redelivered order.delivered finds their keys taken.
func (e *Engine) scheduleReviews(ctx context.Context, m app.Merchant, p Program, order string, ev app.Event) error {
	key := CustomerKey(ev.Customer)
	after, _ := parseDays(p.ReviewRequest.After)
	every, _ := parseDays(p.ReviewRequest.Every)
	delivered := e.now()
	str := func(path string) string {
		v, _ := ev.Lookup(path)
		s, _ := v.(string)
		return s
	}
	for n := 0; n <= p.ReviewRequest.Reminders; n++ {
		payload, err := json.Marshal(reviewJob{
			Order: order, Number: str("order.number"), StatusURL: str("order.status_url"),
			Customer: key, Who: ev.Customer, N: n, DeliveredAt: delivered,
		})
		if err != nil {
			return err
		}
		if err := e.schedule(ctx, app.Job{
			ID: "loyalty-review-" + order + "-" + strconv.Itoa(n), Merchant: m.ID, Kind: JobReview,
			Key: "loyalty-review:" + order + ":" + strconv.Itoa(n), Payload: payload,
			DueAt: delivered.Add(after + time.Duration(n)*every),
		}); err != nil {
			return err
		}
	}
	return nil
}

// reviewSubmitted records a review: of the order its properties name
// (review.order_id or order.id), and from the customer at this time.
func (e *Engine) reviewSubmitted(ctx context.Context, m app.Merchant, ev app.Event) error {
	now := e.now()
	for _, path := range []string{"review.order_id", "order.id"} {
		if order := idAt(ev, path); order != "" {
			_, first, err := e.data.AdvanceState(ctx, m.ID, reviewedOrderKey(order), 1, now.UTC().Format(time.RFC3339Nano), orderTTL)
			if err != nil {
				return err
			}
			if first {
				if err := e.countAnswered(ctx, m.ID, order); err != nil {
					return err
				}
			}
		}
	}
	if key := CustomerKey(ev.Customer); key != "" {
		_, _, err := e.data.AdvanceState(ctx, m.ID, reviewedCustomerKey(key), now.UnixNano(), now.UTC().Format(time.RFC3339Nano), orderTTL)
		return err
	}
	return nil
}

// reviewed reports whether a review answered the job's order: one of the
// order, or one from the customer after the delivery.
func (e *Engine) reviewed(ctx context.Context, merchant string, r reviewJob) (bool, error) {
	if _, _, err := e.data.State(ctx, merchant, reviewedOrderKey(r.Order)); err == nil {
		return true, nil
	} else if !errors.Is(err, app.ErrNotFound) {
		return false, err
	}
	if r.Customer == "" {
		return false, nil
	}
	raw, _, err := e.data.State(ctx, merchant, reviewedCustomerKey(r.Customer))
	if errors.Is(err, app.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	at, err := time.Parse(time.RFC3339Nano, raw)
	return err == nil && !at.Before(r.DeliveredAt), nil
}

func (e *Engine) handleReview(ctx context.Context, job app.Job) error {
	var r reviewJob
	if err := json.Unmarshal(job.Payload, &r); err != nil {
		return app.Permanent(err)
	}
	m, err := e.merchants.Merchant(ctx, job.Merchant)
	if errors.Is(err, app.ErrNotFound) {
		return app.Permanent(err)
	}
	if err != nil {
		return err
	}
	p, err := e.program(ctx, m.ID)
	if err != nil {
		return err
	}
	if !p.Enabled || !p.ReviewRequest.Enabled || r.N > p.ReviewRequest.Reminders {
		return nil // switched off, or fewer reminders since
	}
	done, err := e.reviewed(ctx, m.ID, r)
	if err != nil || done {
		return err
	}
	if r.N == 0 {
		if err := e.countAsked(ctx, m.ID, r.Order); err != nil {
			return err
		}
	}
	return e.sender.ProcessEvents(ctx, m, []app.Event{{
		Type: app.EventReviewRequested, Subject: "loyalty:review:" + r.Order + ":" + strconv.Itoa(r.N), Customer: r.Who,
		Properties: map[string]any{
			"review": map[string]any{"url": reviewURL(p, m, r), "reminder": r.N},
			"order":  map[string]any{"id": r.Order, "number": r.Number},
		},
	}})
}

// reviewURL is the program's URL for the order, else the order's status
// page, else the store's front page.
func reviewURL(p Program, m app.Merchant, r reviewJob) string {
	if t := p.ReviewRequest.URL; t != "" {
		return strings.NewReplacer(
			"{order}", url.PathEscape(r.Order),
			"{order_number}", url.PathEscape(strings.TrimPrefix(r.Number, "#")),
		).Replace(t)
	}
	if r.StatusURL != "" {
		return r.StatusURL
	}
	if m.StoreURL != "" {
		return m.StoreURL
	}
	if m.Domain != "" {
		return "https://" + m.Domain
	}
	return ""
}

// idAt reads an id that a pushed event may carry as a string or a number.
func idAt(ev app.Event, path string) string {
	switch v, _ := ev.Lookup(path); x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case json.Number:
		return x.String()
	}
	return ""
}

// countAsked counts the order's review request once, however often its
// job runs, and marks the order asked for countAnswered.
func (e *Engine) countAsked(ctx context.Context, merchant, order string) error {
	_, first, err := e.data.AdvanceState(ctx, merchant, reviewAskedKey(order), 1, "asked", orderTTL)
	if err == nil && first && e.counts != nil {
		e.counts.Count(merchant, app.LoyaltySubject, app.LoyaltyCountReviewsAsked, 1)
	}
	return err
}

// countAnswered counts the first review of an order that was asked for
// one.
func (e *Engine) countAnswered(ctx context.Context, merchant, order string) error {
	if e.counts == nil {
		return nil
	}
	if _, _, err := e.data.State(ctx, merchant, reviewAskedKey(order)); errors.Is(err, app.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	e.counts.Count(merchant, app.LoyaltySubject, app.LoyaltyCountReviewsAnswered, 1)
	return nil
}
