package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
)

// providerForm is one provider's credential fields as the page asks for
// them, with the hints that get merchants past the usual mistakes.
type providerForm struct {
	Name, Label, About string
	Fields             []credentialField
	// StatusWebhook: the provider reports statuses and replies to our URL.
	StatusWebhook bool
}

type credentialField struct {
	Name, Label, Hint string
	Secret            bool
	Options           []string // a choice instead of free text
}

var providerForms = []providerForm{
	{Name: "interakt", Label: "Interakt", StatusWebhook: true,
		About: "Sends your approved WhatsApp templates from your Interakt account.",
		Fields: []credentialField{{Name: "api_key", Label: "Secret key", Secret: true,
			Hint: "Interakt → Settings → Developer Setting → Secret Key. Paste it as shown; storebridge adds the Basic prefix."}}},
	{Name: "wati", Label: "Wati", StatusWebhook: true,
		About: "Sends your approved templates through Wati's API.",
		Fields: []credentialField{
			{Name: "api_token", Label: "Access token", Secret: true, Hint: "Wati → API Docs → Access Token. With or without \"Bearer \" in front: both work."},
			{Name: "server_url", Label: "API endpoint", Hint: "Wati → API Docs → API Endpoint, e.g. live-mt-server.wati.io/123456. With or without https://."},
		}},
	{Name: "clevertap", Label: "CleverTap",
		About: "Sends each event to CleverTap, where your journeys and campaigns send the WhatsApp message.",
		Fields: []credentialField{
			{Name: "account_id", Label: "Project ID", Hint: "CleverTap → Settings → Project, e.g. W9R-486-4W5Z."},
			{Name: "passcode", Label: "Passcode", Secret: true, Hint: "Same page as the Project ID."},
			{Name: "region", Label: "Region", Hint: "The Server Prefix of your project.", Options: []string{"IN1", "SG1", "US1", "APS3", "MEC1", "EU1"}},
		}},
	{Name: "convertway", Label: "ConvertWay",
		About: "Sends each event to ConvertWay's automations. ConvertWay publishes no API: storebridge sends its own documented format to the endpoint ConvertWay gives you, and Initialize can only check the fields. Send a test to be sure.",
		Fields: []credentialField{
			{Name: "shop", Label: "Shop", Hint: "Your store's xxxx.myshopify.com domain."},
			{Name: "license_key", Label: "Licence key", Secret: true, Hint: "ConvertWay → Settings → Profile → License Key."},
			{Name: "endpoint", Label: "Endpoint", Hint: "The https address ConvertWay gives for storebridge."},
		}},
	{Name: "meta", Label: "Meta WhatsApp Cloud API", StatusWebhook: true,
		About: "Sends templates straight from your WhatsApp Business account.",
		Fields: []credentialField{
			{Name: "access_token", Label: "Access token", Secret: true, Hint: "A System User token with whatsapp_business_messaging. \"Bearer \" in front is fine."},
			{Name: "phone_number_id", Label: "Phone number ID", Hint: "WhatsApp → API Setup: the numeric ID, not the phone number."},
			{Name: "waba_id", Label: "WhatsApp Business Account ID", Hint: "Optional: lets this page list your approved templates."},
			{Name: "app_secret", Label: "App secret", Secret: true, Hint: "App settings → Basic: 32 characters. Checks that status callbacks come from Meta."},
			{Name: "verify_token", Label: "Verify token", Secret: true, Hint: "Any phrase; type the same one in Meta's webhook settings."},
		}},
	{Name: "webhook", Label: "Signed webhook",
		About: "Posts each event as JSON to your own URL, signed with your secret.",
		Fields: []credentialField{
			{Name: "url", Label: "URL", Hint: "An https address that answers 2xx."},
			{Name: "secret", Label: "Signing secret", Secret: true, Hint: "At least 24 characters, or a whsec_ secret."},
		}},
	{Name: app.ProviderSandbox, Label: "Sandbox",
		About: "Sends nothing: every message is recorded as sent, to try rules without a provider."},
}

type providerData struct {
	Forms     []providerForm
	Selected  string
	Connected string // the provider saved now
	// Stored names the credentials kept for the connected provider:
	// shown masked, and kept when left blank.
	Stored     map[string]bool
	Values     map[string]string
	Common     string
	VerifiedAt string
	StatusURL  string
	BaseURL    bool // dev and tests: a field to point the provider elsewhere
}

func (h *Handlers) providerPage(c echo.Context) error {
	s := sessionOf(c)
	selected := s.merchant.Provider.Name
	if _, ok := findProviderForm(c.QueryParam("provider")); ok {
		selected = c.QueryParam("provider")
	}
	return h.renderProvider(c, http.StatusOK, *s.merchant, selected, nil, nil)
}

func (h *Handlers) renderProvider(c echo.Context, status int, m app.Merchant, selected string, values, fields map[string]string) error {
	p := h.newPage(c, "Provider", "/admin/provider")
	p.Subtitle = "Where your WhatsApp messages go out from."
	if fields != nil {
		p.Fields = fields
	}
	if selected == "" {
		selected = "interakt"
	}
	d := providerData{Forms: providerForms, Selected: selected, Connected: m.Provider.Name, Stored: map[string]bool{}, Values: values,
		Common: m.Provider.CommonProperty, BaseURL: h.allowInsecureOutbound}
	if d.Common == "" {
		d.Common = "phone"
	}
	for name := range m.Provider.Credentials {
		d.Stored[m.Provider.Name+"."+name] = true
	}
	if !m.Provider.VerifiedAt.IsZero() {
		d.VerifiedAt = m.Provider.VerifiedAt.UTC().Format("2 Jan 2006 15:04 UTC")
	}
	d.StatusURL = h.merchantView(m).Provider.StatusURL
	p.Data = d
	return h.render(c, status, "provider", p)
}

// saveProvider is Initialize: the same check and save as the API's.
func (h *Handlers) saveProvider(c echo.Context) error {
	s := sessionOf(c)
	name := c.FormValue("provider")
	creds := map[string]string{}
	values := map[string]string{}
	form, known := findProviderForm(name)
	if known {
		for _, f := range form.Fields {
			v := strings.TrimSpace(c.FormValue(name + "." + f.Name))
			if v != "" {
				creds[f.Name] = v
				if !f.Secret {
					values[name+"."+f.Name] = v
				}
			}
		}
		if h.allowInsecureOutbound {
			if v := strings.TrimSpace(c.FormValue(name + ".base_url")); v != "" {
				creds["base_url"] = v
				values[name+".base_url"] = v
			}
		}
	}
	m, err := h.svc.SetProvider(c.Request().Context(), s.merchant.ID, app.ProviderInput{
		Provider: name, Credentials: creds, CommonProperty: c.FormValue("common_property"),
	})
	if fields, ok := validationFields(err); ok {
		shown := map[string]string{}
		for k, v := range fields {
			// The API names credentials "credentials.x"; the form, "provider.x".
			if rest, ok := strings.CutPrefix(k, "credentials."); ok {
				k = name + "." + rest
			}
			shown[k] = v
		}
		return h.renderProvider(c, http.StatusUnprocessableEntity, *s.merchant, name, values, shown)
	}
	if err != nil {
		return err
	}
	s.merchant = &m
	return h.seeOther(c, "/admin/provider?done=saved")
}

func findProviderForm(name string) (providerForm, bool) {
	for _, f := range providerForms {
		if f.Name == name {
			return f, true
		}
	}
	return providerForm{}, false
}
