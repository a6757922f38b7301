package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// errorBody is the one JSON error shape of every route.
type errorBody struct {
	Error     string            `json:"error"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

// pageErrorKey holds, for an admin page's request, how to render an error
// as a page instead of JSON.
const pageErrorKey = "storebridge.page-error"

// ErrorHandler maps errors to statuses and the JSON error shape. It is the
// one place that logs a failed request: 5xx at error level with the cause,
// which the client never sees.
func ErrorHandler(log *slog.Logger, metrics *Metrics) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, body := classify(err)
		body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		var limited *app.RateLimitedError
		if errors.As(err, &limited) {
			c.Response().Header().Set("Retry-After", retryAfter(limited.RetryAfter))
		}
		if status >= 500 {
			if errors.Is(err, app.ErrUnavailable) {
				metrics.StoreError("request")
			}
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "request_id", body.RequestID, "err", err)
		}
		var writeErr error
		if render, ok := c.Get(pageErrorKey).(func(echo.Context, int, errorBody) error); ok && c.Request().Method != http.MethodHead {
			writeErr = render(c, status, body) // an admin page: the error as a page
		} else if c.Request().Method == http.MethodHead {
			writeErr = c.NoContent(status)
		} else {
			writeErr = c.JSON(status, body)
		}
		if writeErr != nil {
			log.Debug("writing the error answer failed", "err", writeErr)
		}
	}
}

func classify(err error) (int, errorBody) {
	var he *echo.HTTPError
	var ve *app.ValidationError
	var codConflict *app.CODConflictError
	var upstream *upstreamError
	var cartToken *app.CartTokenError
	switch {
	case errors.As(err, &upstream):
		return upstream.status, errorBody{Error: upstream.message}
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return he.Code, errorBody{Error: msg}
	case errors.As(err, new(*app.RateLimitedError)):
		return http.StatusTooManyRequests, errorBody{Error: "too many requests; retry after the time in Retry-After"}
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, errorBody{Error: "invalid input", Fields: ve.Fields}
	case errors.As(err, &cartToken):
		// The plugin shows this to the merchant, with the fix.
		return http.StatusUnauthorized, errorBody{Error: cartToken.Error(), Fields: map[string]string{"token": cartToken.Reason}}
	case errors.Is(err, app.ErrUnauthenticated):
		return http.StatusUnauthorized, errorBody{Error: "unauthorized"}
	case errors.As(err, &codConflict):
		return http.StatusConflict, errorBody{Error: "this order was already " + codConflict.State + codDecidedBy(codConflict.DecidedBy)}
	case errors.Is(err, app.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: "not found"}
	case errors.Is(err, app.ErrConflict):
		return http.StatusConflict, errorBody{Error: "conflict"}
	case errors.Is(err, app.ErrUnavailable):
		// 503 tells store platforms to retry the webhook later.
		return http.StatusServiceUnavailable, errorBody{Error: "temporarily unavailable, retry later"}
	}
	return http.StatusInternalServerError, errorBody{Error: "internal error"}
}

// retryAfter is a wait in whole seconds, rounded up: a client that waits
// that long finds a free slot.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(int64(max((d+time.Second-1)/time.Second, 1)), 10)
}

// codDecidedBy says who decided an order, for the answer to a second
// decision.
func codDecidedBy(by string) string {
	switch by {
	case app.CODByCustomer:
		return " by the customer"
	case app.CODByMerchant:
		return " in the admin"
	case app.CODByTimeout:
		return " when nobody answered in time"
	}
	return ""
}
