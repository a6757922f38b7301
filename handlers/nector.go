package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// Nector's delivery headers (peers.md). x-nector-webhook-hmac is not
// checked: how Nector computes it is not public; the inbox token is.
const (
	headerNectorTopic      = "X-Nector-Topic"
	headerNectorDeliveryID = "X-Nector-Delivery-Id"
)

// nectorInbox takes the events of a merchant's Nector outbound integration.
// Nector waits 10 s and retries 5 times, so anything authenticated is
// answered 200 at once, usable or not: the worker decodes it.
func (h *Handlers) nectorInbox(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	header := c.Request().Header
	outcome, err := h.svc.ReceiveNectorWebhook(c.Request().Context(), app.NectorWebhook{
		MerchantID: c.Param("merchant_id"),
		Token:      c.QueryParam("token"),
		Topic:      header.Get(headerNectorTopic),
		DeliveryID: header.Get(headerNectorDeliveryID),
		Body:       body,
	})
	h.metrics.webhook("nector", outcome, err)
	if err != nil {
		return err
	}
	return answerWebhook(c, outcome)
}
