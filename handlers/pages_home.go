package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

type homeData struct {
	Steps []homeStep
	Done  bool
	Week  map[string]int64
}

type homeStep struct {
	Title, Detail, Link, Action string
	Done                        bool
}

// home is the merchant's start: the checklist and the last seven days.
func (h *Handlers) home(c echo.Context) error {
	s := sessionOf(c)
	o, err := h.svc.Onboarding(c.Request().Context(), s.merchant.ID)
	if err != nil {
		return err
	}
	p := h.newPage(c, "Home", "/admin")
	p.Subtitle = "WhatsApp messages for " + s.merchant.Name
	provider := "Pick Interakt, Wati, CleverTap, ConvertWay, Meta's Cloud API, a webhook or the sandbox, and check its keys."
	if s.merchant.Provider.Name != "" {
		provider = "Connected to " + providerLabel(s.merchant.Provider.Name) + "."
		if !o.ProviderConnected {
			provider = providerLabel(s.merchant.Provider.Name) + " is chosen but its keys were not checked: initialize it again."
		}
	}
	p.Data = homeData{
		Done: o.Done(), Week: o.Week,
		Steps: []homeStep{
			{Title: "Connect your messaging provider", Detail: provider, Link: "/admin/provider", Action: "Connect a provider", Done: o.ProviderConnected},
			{Title: "Turn on the messages you want", Detail: "Pick an event, its approved template and the variables in the template's order.", Link: "/admin/messages", Action: "Set up messages", Done: o.EventsConfigured},
			{Title: "Send yourself a test", Detail: "Send a test to your own phone from a message's page and check it arrives.", Link: "/admin/messages", Action: "Send a test", Done: o.TestSent},
			{Title: "First real message delivered", Detail: "Happens on its own with your next order; the deliveries page shows each message.", Link: "/admin/deliveries", Action: "See deliveries", Done: o.FirstDelivered},
		},
	}
	return h.render(c, http.StatusOK, "home", p)
}

// providerLabel is a provider's name as merchants know it.
func providerLabel(name string) string {
	switch name {
	case app.ProviderSandbox:
		return "the sandbox"
	case "interakt":
		return "Interakt"
	case "wati":
		return "Wati"
	case "clevertap":
		return "CleverTap"
	case "convertway":
		return "ConvertWay"
	case "meta":
		return "Meta's WhatsApp Cloud API"
	case "webhook":
		return "a signed webhook"
	}
	return name
}
