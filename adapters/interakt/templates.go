package interakt

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

// templatesPath lists the organisation's templates. It is missing from
// the parts of Interakt's official documentation we could read (the Track
// API pages and Postman collection in providers.md §1); path, parameters
// and answer are those of several independent public clients that call it
// with the same Basic Secret Key: GET with offset and approval_status,
// answered with
// {"results":{"templates":[{"name","language","category","approval_status","body",…}]}},
// about 20 to 100 a page. Check it against a live account before relying
// on it, the language spelling above all ("en" is assumed, as sends take).
const templatesPath = "/v1/public/track/organization/templates"

// maxTemplatePages bounds the calls of one listing.
const maxTemplatePages = 25

var _ app.TemplateLister = (*Client)(nil)

// Templates lists the organisation's approved templates. Interakt pages by
// offset alone and its page size is not documented, so paging moves the
// offset by what each page held and stops at an empty page, at a page
// that brings no template not seen (a server ignoring the offset), at
// app.MaxProviderTemplates, or after maxTemplatePages.
//
// Variables are the body's placeholders, {{1}}..{{n}}: what a send's
// bodyValues fill, in order.
func (c *Client) Templates(ctx context.Context) ([]app.ProviderTemplate, error) {
	var out []app.ProviderTemplate
	seen := map[string]bool{}
	offset := 0
	for page := 0; page < maxTemplatePages && len(out) < app.MaxProviderTemplates; page++ {
		rows, err := c.templatePage(ctx, offset)
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, t := range rows {
			key := t.Name + "\x00" + t.Language
			if t.Name == "" || seen[key] {
				continue
			}
			seen[key] = true
			fresh++
			if strings.EqualFold(strings.TrimSpace(t.ApprovalStatus), "APPROVED") && len(out) < app.MaxProviderTemplates {
				out = append(out, app.ProviderTemplate{
					Name: t.Name, Language: t.Language, Category: t.Category,
					Variables: app.TemplatePlaceholders(t.Body),
				})
			}
		}
		if len(rows) == 0 || fresh == 0 {
			break
		}
		offset += len(rows)
	}
	return out, nil
}

type interaktTemplate struct {
	Name           string `json:"name"`
	Language       string `json:"language"`
	Category       string `json:"category"`
	ApprovalStatus string `json:"approval_status"`
	Body           string `json:"body"`
}

func (c *Client) templatePage(ctx context.Context, offset int) ([]interaktTemplate, error) {
	query := url.Values{"offset": {strconv.Itoa(offset)}, "approval_status": {"APPROVED"}}
	req, err := adapters.NewRequest(ctx, Name, http.MethodGet, c.baseURL+templatesPath+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return nil, err
	}
	if _, err := judge(resp, false); err != nil {
		return nil, err
	}
	var ans struct {
		Results *struct {
			Templates []interaktTemplate `json:"templates"`
		} `json:"results"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil || ans.Results == nil {
		return nil, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "unreadable template list: " + adapters.Excerpt(resp.Body)}
	}
	return ans.Results.Templates, nil
}
