package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/web"
)

// Pages are the admin pages' templates and assets, loaded once at start.
type Pages struct {
	templates *web.Pages
	// version names the assets' current content, so their URLs can be
	// cached for good and still change with a deploy.
	version string
}

// LoadPages parses the admin pages: a template that does not parse fails
// the start.
func LoadPages() (*Pages, error) {
	t, err := web.LoadPages(pageFuncs)
	if err != nil {
		return nil, err
	}
	sum := sha256.New()
	err = fs.WalkDir(web.StaticFiles(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.StaticFiles(), path)
		sum.Write([]byte(path))
		sum.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	return &Pages{templates: t, version: hex.EncodeToString(sum.Sum(nil))[:12]}, nil
}

var pageFuncs = template.FuncMap{
	"maskPhone": app.MaskPhone,
	"firstOf":   firstOf,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"day": func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"add": func(a, b int) int { return a + b },
	// args hands a partial template several values.
	"args": func(values ...any) []any { return values },
	"eventKnown": func(events []app.EventInfo, event string) bool {
		for _, e := range events {
			if e.Type == event {
				return true
			}
		}
		return false
	},
	"choiceKnown": func(choices []app.VariableInfo, path string) bool {
		for _, c := range choices {
			if c.Path == path {
				return true
			}
		}
		return false
	},
	"contains": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}

// Page cookies. The merchant's session is sessionCookie (admin.go); the
// operator's is its own, so neither can stand in for the other.
const operatorCookie = "sb_operator"

// navItem is one entry of the pages' menu.
type navItem struct{ Path, Label string }

var adminNav = []navItem{
	{"/admin", "Home"},
	{"/admin/provider", "Provider"},
	{"/admin/messages", "Messages"},
	{"/admin/statuses", "Order statuses"},
	{"/admin/cod", "COD"},
	{"/admin/loyalty", "Loyalty"},
	{"/admin/deliveries", "Deliveries"},
	{"/admin/stats", "Statistics"},
}

// page is what every template receives: the frame's parts and the page's
// own Data.
type page struct {
	Title, Subtitle, Active string
	Flash, Problem          string
	Warnings                []string
	Merchant                *app.Merchant
	Operator, Embedded      bool
	ShopifyAPIKey           string
	AssetVersion            string
	CSRF                    string
	Nav                     []navItem
	// Fields are the API's 422 reasons by field, shown next to each.
	Fields map[string]string
	Data   any
	query  string
}

// Link is path with the Shopify admin's parameters when embedded: App
// Bridge reads shop and host from every page's address.
func (p page) Link(path string) string {
	if p.query == "" {
		return path
	}
	if strings.Contains(path, "?") {
		return path + "&" + p.query
	}
	return path + "?" + p.query
}

// Field is the reason a field was refused, "" when it was not.
func (p page) Field(name string) string { return p.Fields[name] }

// pageSession is who a page request is for.
type pageSession struct {
	merchant *app.Merchant // nil: an operator who has not picked a store
	operator bool
	// embedded: inside Shopify admin, with its shop and host.
	embedded   bool
	shop, host string
	// cookie is the session cookie's value when the cookie signed the
	// request in: only then does a change need the CSRF token, as only a
	// cookie rides along on another site's request.
	cookie string
	// newCookie is the session cookie this request set (signed in by
	// Shopify's id_token): the page's forms carry its CSRF token, for a
	// browser that posts them with the cookie alone (no App Bridge).
	newCookie string
}

const pageSessionKey = "storebridge.page"

func sessionOf(c echo.Context) *pageSession {
	s, _ := c.Get(pageSessionKey).(*pageSession)
	return s
}

// newPage starts a page's data for the signed-in session.
func (h *Handlers) newPage(c echo.Context, title, active string) page {
	s := sessionOf(c)
	p := page{
		Title: title, Active: active, AssetVersion: h.pages.version, ShopifyAPIKey: h.shopifyKey,
		Nav: adminNav, Fields: map[string]string{},
	}
	if h.loyalty == nil { // a server without the engine has no loyalty page
		p.Nav = slices.DeleteFunc(slices.Clone(adminNav), func(n navItem) bool { return n.Path == "/admin/loyalty" })
	}
	if s == nil {
		return p
	}
	p.Merchant, p.Operator, p.Embedded = s.merchant, s.operator, s.embedded
	if s.merchant != nil {
		p.Warnings = s.merchant.Warnings()
	}
	if s.cookie != "" {
		p.CSRF = h.svc.CSRFToken(s.cookie)
	} else if s.newCookie != "" {
		p.CSRF = h.svc.CSRFToken(s.newCookie)
	}
	if s.embedded {
		q := url.Values{"embedded": {"1"}}
		if s.shop != "" {
			q.Set("shop", s.shop)
		}
		if s.host != "" {
			q.Set("host", s.host)
		}
		p.query = q.Encode()
	}
	switch c.QueryParam("done") {
	case "saved":
		p.Flash = "Saved."
	case "retried":
		p.Flash = "Queued again."
		if n, err := strconv.Atoi(c.QueryParam("queued")); err == nil && n >= 0 {
			p.Flash = fmt.Sprintf("Queued %d again.", n)
		}
	case "cod-confirmed":
		p.Flash = "Order confirmed. Your store and the customer will hear of it."
	case "cod-cancelled":
		p.Flash = "Order cancelled. Your store and the customer will hear of it."
	}
	return p
}

// render answers a page with the headers every admin page carries.
func (h *Handlers) render(c echo.Context, status int, name string, p page) error {
	h.pageHeaders(c)
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return h.pages.templates.Render(c.Response(), name, p)
}

// pageHeaders: Shopify admin may frame a Shopify store's pages (Shopify
// requires exactly these frame-ancestors); nobody frames anyone else's.
// Pages hold a merchant's data: never cached, never sniffed.
func (h *Handlers) pageHeaders(c echo.Context) {
	hdr := c.Response().Header()
	ancestors := "'none'"
	if s := sessionOf(c); s != nil {
		switch {
		case s.merchant != nil && s.merchant.Platform == app.PlatformShopify:
			ancestors = "https://" + s.merchant.Domain + " https://admin.shopify.com"
		case s.embedded && app.ValidShopDomain(s.shop):
			ancestors = "https://" + strings.ToLower(s.shop) + " https://admin.shopify.com"
		}
	}
	hdr.Set("Content-Security-Policy", "frame-ancestors "+ancestors)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "strict-origin-when-cross-origin")
}

// seeOther answers a form post with a redirect to a page, keeping the
// Shopify admin's parameters.
func (h *Handlers) seeOther(c echo.Context, path string) error {
	p := h.newPage(c, "", "")
	return c.Redirect(http.StatusSeeOther, p.Link(path))
}

// pageError renders an error the one error handler classified, as a page.
func (h *Handlers) pageError(c echo.Context, status int, body errorBody) error {
	p := h.newPage(c, http.StatusText(status), "")
	p.Problem = body.Error
	p.Fields = body.Fields
	p.Data = struct {
		Status    int
		RequestID string
	}{status, body.RequestID}
	return h.render(c, status, "error", p)
}

// isFormPost reports whether the request changes something.
func isFormPost(c echo.Context) bool {
	m := c.Request().Method
	return m != http.MethodGet && m != http.MethodHead
}

// validationFields are a refused input's fields, when it is one.
func validationFields(err error) (map[string]string, bool) {
	var ve *app.ValidationError
	if errors.As(err, &ve) {
		return ve.Fields, true
	}
	return nil, false
}
