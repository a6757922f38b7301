package woocommerce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// Name is the platform name in errors.
const Name = "woocommerce"

// restMaxWebhookPages bounds the webhook listing: a store with more than a
// thousand webhooks is not one we can reason about anyway.
const restMaxWebhookPages = 10

// REST is the client of a store's REST API v3 (woocommerce.md §2). It
// authenticates with HTTP Basic (consumer key and secret), which
// WooCommerce accepts over HTTPS only; http:// store URLs are refused
// unless AllowInsecure. It implements app.WooREST.
type REST struct {
	client        *http.Client
	allowInsecure bool
}

var _ app.WooREST = (*REST)(nil)

// NewREST returns the REST client.
func NewREST(opts adapters.Options) *REST {
	return &REST{client: opts.HTTPClient(), allowInsecure: opts.AllowInsecure}
}

// restWebhook is the REST webhook shape; the secret is only ever sent.
type restWebhook struct {
	ID          int64  `json:"id,omitempty"`
	Name        string `json:"name,omitempty"`
	Status      string `json:"status,omitempty"`
	Topic       string `json:"topic,omitempty"`
	DeliveryURL string `json:"delivery_url,omitempty"`
	Secret      string `json:"secret,omitempty"`
}

func (w restWebhook) app() app.WooWebhook {
	return app.WooWebhook{ID: w.ID, Name: w.Name, Topic: w.Topic, DeliveryURL: w.DeliveryURL, Status: w.Status}
}

// ListWebhooks returns every webhook of the store, all pages.
func (c *REST) ListWebhooks(ctx context.Context, store app.WooCredentials) ([]app.WooWebhook, error) {
	var out []app.WooWebhook
	for page := 1; page <= restMaxWebhookPages; page++ {
		var hooks []restWebhook
		q := url.Values{"per_page": {"100"}, "page": {strconv.Itoa(page)}}
		resp, err := c.call(ctx, store, http.MethodGet, "webhooks", q, nil, &hooks)
		if err != nil {
			return nil, err
		}
		for _, h := range hooks {
			out = append(out, h.app())
		}
		if tp := totalPages(resp); len(hooks) < 100 || (tp > 0 && page >= tp) {
			break
		}
	}
	return out, nil
}

// CreateWebhook creates a webhook. WooCommerce saves it active whatever
// the body says, and pings its delivery URL.
func (c *REST) CreateWebhook(ctx context.Context, store app.WooCredentials, w app.WooWebhook) (app.WooWebhook, error) {
	var created restWebhook
	body := restWebhook{Name: w.Name, Topic: w.Topic, DeliveryURL: w.DeliveryURL, Secret: w.Secret}
	if _, err := c.call(ctx, store, http.MethodPost, "webhooks", nil, body, &created); err != nil {
		return app.WooWebhook{}, err
	}
	return created.app(), nil
}

// UpdateWebhook changes a webhook's status or secret.
func (c *REST) UpdateWebhook(ctx context.Context, store app.WooCredentials, id int64, change app.WooWebhookUpdate) (app.WooWebhook, error) {
	var updated restWebhook
	body := restWebhook{Status: change.Status, Secret: change.Secret}
	if _, err := c.call(ctx, store, http.MethodPut, "webhooks/"+strconv.FormatInt(id, 10), nil, body, &updated); err != nil {
		return app.WooWebhook{}, err
	}
	return updated.app(), nil
}

// restBatch is the body of POST webhooks/batch. CheckKey sends it empty.
type restBatch struct {
	Create []restWebhook `json:"create"`
	Update []restWebhook `json:"update"`
	Delete []int64       `json:"delete"`
}

// CheckKey proves the key pair works at the store with read and write
// permission, and changes nothing there. WooCommerce checks the key's
// permission against the request method: GET needs read or read_write,
// POST needs write or read_write, and a refusal is 401, as is an unknown
// key or a wrong secret (woocommerce.md §2.1). So the read is a GET of one
// webhook, and the write is an empty webhooks batch: the batch route takes
// POST and needs the same manage_woocommerce rights as the webhooks the
// connector creates next, and WC_REST_Controller::batch_items() with
// nothing to create, update or delete does nothing and answers [].
// A failure is the call's *app.ProviderError, its message saying which
// step failed; Retryable tells a store that did not answer from a key it
// refused.
func (c *REST) CheckKey(ctx context.Context, store app.WooCredentials) error {
	var hooks []restWebhook
	if _, err := c.call(ctx, store, http.MethodGet, "webhooks", url.Values{"per_page": {"1"}}, nil, &hooks); err != nil {
		return keyCheckError("read", err)
	}
	var answer json.RawMessage // any JSON: the API's, not a login page
	empty := restBatch{Create: []restWebhook{}, Update: []restWebhook{}, Delete: []int64{}}
	if _, err := c.call(ctx, store, http.MethodPost, "webhooks/batch", nil, empty, &answer); err != nil {
		return keyCheckError("write", err)
	}
	return nil
}

// keyCheckError names the step of the key check that failed in the
// ProviderError's message.
func keyCheckError(step string, err error) error {
	var pe *app.ProviderError
	if !errors.As(err, &pe) {
		return err
	}
	named := *pe
	named.Message = strings.TrimSuffix("key check, "+step+": "+pe.Message, ": ")
	return &named
}

// restGMTLayout is the REST API's date format; dates_are_gmt makes the
// filter read it as UTC.
const restGMTLayout = "2006-01-02T15:04:05"

// ListOrders returns one page of orders modified after q.ModifiedAfter,
// oldest modification first, each with its raw JSON.
func (c *REST) ListOrders(ctx context.Context, store app.WooCredentials, q app.WooOrderQuery) (app.WooOrderPage, error) {
	page, perPage := max(q.Page, 1), q.PerPage
	if perPage <= 0 || perPage > 100 {
		perPage = 100
	}
	query := url.Values{
		"modified_after": {q.ModifiedAfter.UTC().Format(restGMTLayout)},
		"dates_are_gmt":  {"true"},
		"orderby":        {"modified"},
		"order":          {"asc"},
		"per_page":       {strconv.Itoa(perPage)},
		"page":           {strconv.Itoa(page)},
	}
	var raw []json.RawMessage
	resp, err := c.call(ctx, store, http.MethodGet, "orders", query, nil, &raw)
	if err != nil {
		return app.WooOrderPage{}, err
	}
	out := app.WooOrderPage{Orders: make([]app.WooOrder, 0, len(raw)), TotalPages: totalPages(resp)}
	for _, body := range raw {
		var head struct {
			ID              int64  `json:"id"`
			Status          string `json:"status"`
			DateModifiedGMT string `json:"date_modified_gmt"`
		}
		if err := json.Unmarshal(body, &head); err != nil || head.ID == 0 {
			return app.WooOrderPage{}, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "an order in the list has no id", Err: err}
		}
		out.Orders = append(out.Orders, app.WooOrder{ID: head.ID, Status: head.Status, DateModifiedGMT: head.DateModifiedGMT, Body: body})
	}
	return out, nil
}

// call sends one authenticated request under /wp-json/wc/v3/ and decodes
// a 2xx answer into out. Other answers become ProviderErrors carrying
// WooCommerce's own code and message.
func (c *REST) call(ctx context.Context, store app.WooCredentials, method, path string, q url.Values, in, out any) (adapters.Response, error) {
	if store.ConsumerKey == "" || store.ConsumerSecret == "" {
		return adapters.Response{}, &app.ProviderError{Provider: Name, Message: "the store has no API keys"}
	}
	base, err := adapters.CheckURL(store.StoreURL, c.allowInsecure)
	if err != nil {
		return adapters.Response{}, &app.ProviderError{Provider: Name, Message: "store URL refused", Err: err}
	}
	target := *base
	target.Path = strings.TrimSuffix(base.Path, "/") + "/wp-json/wc/v3/" + path
	target.RawPath = ""
	target.RawQuery = q.Encode()
	target.Fragment = ""

	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return adapters.Response{}, &app.ProviderError{Provider: Name, Message: "encode request", Err: err}
		}
		body = bytes.NewReader(raw)
	}
	req, err := adapters.NewRequest(ctx, Name, method, target.String(), body)
	if err != nil {
		return adapters.Response{}, err
	}
	req.SetBasicAuth(store.ConsumerKey, store.ConsumerSecret)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := adapters.Do(c.client, Name, req)
	if err != nil {
		return adapters.Response{}, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		var wcErr struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(resp.Body, &wcErr) // not JSON: the body excerpt is the message
		return resp, adapters.StatusError(Name, resp, wcErr.Code, wcErr.Message)
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			// A 200 that is not the API's JSON: a security plugin's page, or
			// pretty permalinks turned off.
			return resp, &app.ProviderError{Provider: Name, Status: resp.Status, Message: fmt.Sprintf("%s %s: the answer is not the REST API's JSON: %s", method, path, adapters.Excerpt(resp.Body))}
		}
	}
	return resp, nil
}

// totalPages reads X-WP-TotalPages; 0 when absent.
func totalPages(resp adapters.Response) int {
	n, err := strconv.Atoi(resp.Header.Get("X-WP-TotalPages"))
	if err != nil {
		return 0
	}
	return n
}
