package handlers

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// answerWebhook writes {"outcome": …}: outcomes are fixed words, so the
// answer is built without reflection on the hot path.
func answerWebhook(c echo.Context, outcome app.WebhookOutcome) error {
	return c.JSONBlob(http.StatusOK, []byte(`{"outcome":"`+string(outcome)+`"}`))
}

// shopifyWebhook takes every Shopify topic. It reads the raw body, lets the
// service verify it and queue it atomically, and answers 200 within
// milliseconds; Shopify gives up after 5 s and retries for 4 h.
func (h *Handlers) shopifyWebhook(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	header := c.Request().Header
	outcome, err := h.svc.ReceiveShopifyWebhook(c.Request().Context(), app.ShopifyWebhook{
		Domain:      header.Get("X-Shopify-Shop-Domain"),
		Topic:       header.Get("X-Shopify-Topic"),
		HMAC:        header.Get("X-Shopify-Hmac-Sha256"),
		EventID:     header.Get("X-Shopify-Event-Id"),
		WebhookID:   header.Get("X-Shopify-Webhook-Id"),
		TriggeredAt: header.Get("X-Shopify-Triggered-At"),
		APIVersion:  header.Get("X-Shopify-API-Version"),
		Body:        body,
	})
	h.metrics.webhook("shopify", outcome, err)
	if err != nil {
		return err
	}
	h.metrics.shopifyVersion(header.Get("X-Shopify-API-Version"))
	return answerWebhook(c, outcome)
}

// wooCommerceWebhook takes a WooCommerce store's webhooks and their ping.
// WooCommerce never retries and disables a webhook after 7 failures, so
// anything verified gets exactly 200.
func (h *Handlers) wooCommerceWebhook(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	header := c.Request().Header
	outcome, err := h.svc.ReceiveWooCommerceWebhook(c.Request().Context(), app.WooCommerceWebhook{
		MerchantID: c.Param("merchant_id"),
		Topic:      header.Get("X-WC-Webhook-Topic"),
		Signature:  header.Get("X-WC-Webhook-Signature"),
		WebhookID:  header.Get("X-WC-Webhook-ID"),
		Body:       body,
	})
	h.metrics.webhook("woocommerce", outcome, err)
	if err != nil {
		return err
	}
	return answerWebhook(c, outcome)
}

// readBody reads the raw request body, which the body limit middleware has
// already capped: past the limit the read fails with 413.
func readBody(c echo.Context) ([]byte, error) {
	req := c.Request()
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	if _, err := buf.ReadFrom(req.Body); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "request body ended early")
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "request body could not be read")
	}
	return buf.Bytes(), nil
}

// providerHandshake answers a provider's subscription check (Meta's GET
// with hub.challenge) with the challenge as plain text.
func (h *Handlers) providerHandshake(c echo.Context) error {
	challenge, err := h.svc.ProviderHandshake(c.Request().Context(), app.ProviderWebhook{
		Provider: c.Param("provider"), MerchantID: c.Param("merchant_id"), Query: c.QueryParams(),
	})
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, challenge)
}

// providerWebhook takes delivery statuses and customer replies.
func (h *Handlers) providerWebhook(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	err = h.svc.ReceiveProviderWebhook(c.Request().Context(), app.ProviderWebhook{
		Provider: c.Param("provider"), MerchantID: c.Param("merchant_id"), Token: c.QueryParam("token"),
		Header: c.Request().Header, Query: c.QueryParams(), Body: body,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
