package meta

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// templatesPageLimit is how many templates one call asks for; Graph's
// default is 25.
const templatesPageLimit = 100

// templateFields are the template fields a listing reads.
const templateFields = "name,language,status,category,components,parameter_format"

var _ app.TemplateLister = (*Client)(nil)

// Templates lists the business account's approved templates through
// GET /{waba_id}/message_templates, status=APPROVED (and checked again
// here), following paging.cursors.after while Meta gives a paging.next.
// Paging stops there, at a cursor that does not move, or at
// app.MaxProviderTemplates. The next URL itself is never fetched: only
// graph.facebook.com (or the test base_url) is called.
//
// Variables are the BODY's placeholders only: sends fill the body, and
// only the body ("{{1}}".."{{n}}", or the names of a NAMED template).
// Without waba_id the answer is *app.TemplatesUnsupportedError.
func (c *Client) Templates(ctx context.Context) ([]app.ProviderTemplate, error) {
	if c.wabaID == "" {
		return nil, &app.TemplatesUnsupportedError{Reason: "add the WhatsApp Business Account ID (waba_id, shown in WhatsApp → API Setup) to the Meta credentials to list templates"}
	}
	var out []app.ProviderTemplate
	after := ""
	for len(out) < app.MaxProviderTemplates {
		page, err := c.templatePage(ctx, after)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Data {
			if strings.EqualFold(t.Status, "APPROVED") && t.Name != "" && len(out) < app.MaxProviderTemplates {
				out = append(out, t.template())
			}
		}
		next := page.Paging.Cursors.After
		if page.Paging.Next == "" || next == "" || next == after || len(page.Data) == 0 {
			break
		}
		after = next
	}
	return out, nil
}

type templatePage struct {
	Data   []graphTemplate `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

func (c *Client) templatePage(ctx context.Context, after string) (templatePage, error) {
	query := url.Values{"fields": {templateFields}, "limit": {strconv.Itoa(templatesPageLimit)}, "status": {"APPROVED"}}
	if after != "" {
		query.Set("after", after)
	}
	req, err := adapters.NewRequest(ctx, Name, http.MethodGet, c.base+"/"+c.wabaID+"/message_templates?"+query.Encode(), nil)
	if err != nil {
		return templatePage{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return templatePage{}, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return templatePage{}, classify(resp)
	}
	var page templatePage
	if err := json.Unmarshal(resp.Body, &page); err != nil {
		return templatePage{}, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "unreadable template list: " + adapters.Excerpt(resp.Body)}
	}
	return page, nil
}

// graphTemplate is the part of a message template we read.
type graphTemplate struct {
	Name       string `json:"name"`
	Language   string `json:"language"`
	Status     string `json:"status"`
	Category   string `json:"category"`
	Components []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"components"`
}

func (t graphTemplate) template() app.ProviderTemplate {
	vars := []string{}
	for _, c := range t.Components {
		if strings.EqualFold(c.Type, "BODY") {
			vars = app.TemplatePlaceholders(c.Text)
			break
		}
	}
	return app.ProviderTemplate{Name: t.Name, Language: t.Language, Category: t.Category, Variables: vars}
}
