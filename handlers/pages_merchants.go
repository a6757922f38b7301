package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// storesData is the operator's stores page: the list, the form that adds
// a store by hand, and a store just added, whose API key shows this once.
type storesData struct {
	Merchants []app.Merchant
	Form      createMerchantRequest
	Added     *addedStore
}

type addedStore struct {
	ID, Name, APIKey string
}

// renderStores answers the stores page with the form as it was sent.
func (h *Handlers) renderStores(c echo.Context, status int, data storesData, fields map[string]string) error {
	merchants, err := h.svc.Merchants(c.Request().Context())
	if err != nil {
		return err
	}
	data.Merchants = merchants
	if data.Form.Platform == "" {
		data.Form.Platform = string(app.PlatformWooCommerce)
	}
	p := h.newPage(c, "Stores", "")
	p.Subtitle = "Pick the store to look after, or add one by hand."
	if fields != nil {
		p.Fields = fields
	}
	p.Data = data
	return h.render(c, status, "merchants", p)
}

// addStore is the operator's "Add a store": the same creation as
// POST /api/admin/merchants, for a store set up by hand (keys made in the
// store's own admin) rather than through Shopify's install or /wc-auth.
func (h *Handlers) addStore(c echo.Context) error {
	if !sessionOf(c).operator {
		return echo.NewHTTPError(http.StatusForbidden, "only the operator adds a store")
	}
	form := func(name string) string { return strings.TrimSpace(c.FormValue(name)) }
	req := createMerchantRequest{
		Platform: form("platform"), Name: form("name"), Country: strings.ToUpper(form("country")),
		ShopDomain: form("shop_domain"), AccessToken: form("access_token"),
		StoreURL: form("store_url"), ConsumerKey: form("consumer_key"),
		ConsumerSecret: form("consumer_secret"), WebhookSecret: form("webhook_secret"),
		Sync: c.FormValue("sync") == "on",
	}
	m, apiKey, err := h.addMerchant(c, req)
	if errors.Is(err, app.ErrConflict) {
		field := "store_url"
		if req.Platform == string(app.PlatformShopify) {
			field = "shop_domain"
		}
		err = app.Invalid(field, "is already connected: open it from the list above")
	}
	if fields, ok := validationFields(err); ok {
		// Secrets are never written back into a page.
		req.AccessToken, req.ConsumerKey, req.ConsumerSecret, req.WebhookSecret = "", "", "", ""
		return h.renderStores(c, http.StatusUnprocessableEntity, storesData{Form: req}, fields)
	}
	if err != nil {
		return err
	}
	return h.renderStores(c, http.StatusCreated, storesData{Added: &addedStore{ID: m.ID, Name: m.Name, APIKey: apiKey}}, nil)
}
