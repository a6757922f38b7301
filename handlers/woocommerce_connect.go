package handlers

import "github.com/labstack/echo/v4"

// registerWooConnect adds the WooCommerce connection routes.
func (h *Handlers) registerWooConnect(e *echo.Echo) {}
