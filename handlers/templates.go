package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// templateView is one approved provider template, for the Messages page to
// offer.
type templateView struct {
	Name      string   `json:"name"`
	Language  string   `json:"language"`
	Category  string   `json:"category"`
	Variables []string `json:"variables"`
}

// templatesView answers GET /api/admin/merchants/:id/templates. Supported
// is false, with the reason, when the provider (or its credentials as
// saved) cannot list templates: the page then lets the merchant type the
// name. Warnings are TemplateMismatch's, by event type, for the rules
// whose template is listed.
type templatesView struct {
	Templates []templateView    `json:"templates"`
	Supported bool              `json:"supported"`
	Reason    string            `json:"reason,omitempty"`
	Warnings  map[string]string `json:"warnings"`
}

func (h *Handlers) listTemplates(c echo.Context) error {
	ctx := c.Request().Context()
	templates, err := h.svc.ProviderTemplates(ctx, c.Param("id"))
	var unsupported *app.TemplatesUnsupportedError
	if errors.As(err, &unsupported) {
		return c.JSON(http.StatusOK, templatesView{Templates: []templateView{}, Reason: unsupported.Reason, Warnings: map[string]string{}})
	}
	if err != nil {
		return err
	}
	rules, err := h.svc.Rules(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	out := templatesView{Templates: make([]templateView, 0, len(templates)), Supported: true, Warnings: app.RuleTemplateWarnings(templates, rules)}
	for _, t := range templates {
		out.Templates = append(out.Templates, templateView{Name: t.Name, Language: t.Language, Category: t.Category, Variables: t.Variables})
	}
	return c.JSON(http.StatusOK, out)
}
