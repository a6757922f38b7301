package wati

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/storebridge/storebridge/adapters"
	"github.com/storebridge/storebridge/app"
)

// templatesPageSize is how many templates one getMessageTemplates call
// asks for. Wati's documentation gives no maximum; public clients ask for
// 100 to 500 at once.
const templatesPageSize = 100

// maxTemplatePages bounds the calls of one listing, whatever the mix of
// approved and other templates.
const maxTemplatePages = 10

var _ app.TemplateLister = (*Client)(nil)

// Templates lists the tenant's approved templates through
// GET {server}/api/v1/getMessageTemplates?pageSize=&pageNumber=, pages
// counted from 1 (as Verify asks, and as public clients page). Paging
// stops at a short page, at a page that brings no template not seen
// (a server that ignores pageNumber would otherwise be asked forever), at
// app.MaxProviderTemplates approved ones, or after maxTemplatePages.
//
// A template's variables are its customParams' paramName, in order: the
// names Wati's send takes (parameters[].name), "1", "2" for a template
// written with {{1}} {{2}}. A template without customParams has them read
// from its text.
func (c *Client) Templates(ctx context.Context) ([]app.ProviderTemplate, error) {
	var out []app.ProviderTemplate
	seen := map[string]bool{}
	for page := 1; page <= maxTemplatePages && len(out) < app.MaxProviderTemplates; page++ {
		items, err := c.templatePage(ctx, page)
		if err != nil {
			return nil, err
		}
		fresh := 0
		for _, t := range items {
			key := t.ElementName + "\x00" + t.Language.code
			if t.ElementName == "" || seen[key] {
				continue
			}
			seen[key] = true
			fresh++
			if strings.EqualFold(strings.TrimSpace(t.Status), "APPROVED") && len(out) < app.MaxProviderTemplates {
				out = append(out, t.template())
			}
		}
		if len(items) < templatesPageSize || fresh == 0 {
			break
		}
	}
	return out, nil
}

// templatePage asks for one page of templates.
func (c *Client) templatePage(ctx context.Context, page int) ([]watiTemplate, error) {
	query := url.Values{"pageSize": {strconv.Itoa(templatesPageSize)}, "pageNumber": {strconv.Itoa(page)}}
	req, err := adapters.NewRequest(ctx, Name, http.MethodGet, c.baseURL+templatesPath+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	c.authorise(req)
	resp, err := adapters.Do(c.http, Name, req)
	if err != nil {
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		reason := reasonOf(resp.Body)
		if resp.Status == http.StatusUnauthorized && reason == "" {
			reason = "the access token was refused (expired or rotated?)"
		}
		return nil, adapters.StatusError(Name, resp, "", reason)
	}
	var ans struct {
		Result           text           `json:"result"`
		Info             text           `json:"info"`
		MessageTemplates []watiTemplate `json:"messageTemplates"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return nil, &app.ProviderError{Provider: Name, Status: resp.Status, Message: "the server URL did not answer like Wati: " + adapters.Excerpt(resp.Body)}
	}
	if ans.Result == "false" {
		return nil, &app.ProviderError{Provider: Name, Status: resp.Status, Message: cmp.Or(string(ans.Info), "result false")}
	}
	return ans.MessageTemplates, nil
}

// watiTemplate is the part of a getMessageTemplates entry we read.
type watiTemplate struct {
	ElementName  string       `json:"elementName"`
	Status       string       `json:"status"`
	Category     string       `json:"category"`
	Language     watiLanguage `json:"language"`
	Body         string       `json:"body"`
	BodyOriginal string       `json:"bodyOriginal"`
	CustomParams []struct {
		ParamName string `json:"paramName"`
	} `json:"customParams"`
}

func (t watiTemplate) template() app.ProviderTemplate {
	vars := make([]string, 0, len(t.CustomParams))
	seen := map[string]bool{}
	for _, p := range t.CustomParams {
		name := strings.TrimSpace(p.ParamName)
		if name != "" && !seen[name] {
			seen[name] = true
			vars = append(vars, name)
		}
	}
	if len(vars) == 0 {
		vars = app.TemplatePlaceholders(cmp.Or(t.Body, t.BodyOriginal))
	}
	return app.ProviderTemplate{Name: t.ElementName, Language: t.Language.code, Category: t.Category, Variables: vars}
}

// watiLanguage is a template's language: an object
// {"key":"English","value":"en","text":"English"} in Wati's answers, a
// plain code in some.
type watiLanguage struct{ code string }

func (l *watiLanguage) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			Value string `json:"value"`
			Key   string `json:"key"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		l.code = cmp.Or(obj.Value, obj.Key)
		return nil
	}
	var s text
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	l.code = string(s)
	return nil
}
