package handlers

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// errorBody is the one JSON error shape of every route.
type errorBody struct {
	Error     string            `json:"error"`
	Fields    map[string]string `json:"fields,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
}

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
		if status >= 500 {
			if errors.Is(err, app.ErrUnavailable) {
				metrics.StoreError("request")
			}
			log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "status", status, "request_id", body.RequestID, "err", err)
		}
		var writeErr error
		if c.Request().Method == http.MethodHead {
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
	switch {
	case errors.As(err, &he):
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			msg = m
		}
		return he.Code, errorBody{Error: msg}
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, errorBody{Error: "invalid input", Fields: ve.Fields}
	case errors.Is(err, app.ErrUnauthenticated):
		return http.StatusUnauthorized, errorBody{Error: "unauthorized"}
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
