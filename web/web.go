// Package web holds what the binary carries besides code: the admin pages'
// templates and assets, and the sample webhooks the demo replays.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Samples are realistic Shopify and WooCommerce webhook bodies, named
// <platform>_<topic with _ for / and .>.json, for the demo.
//
//go:embed samples/*.json
var Samples embed.FS

//go:embed templates/*.html
var templates embed.FS

// Static holds the pages' stylesheet and script, served under
// /admin/static/.
//
//go:embed static
var static embed.FS

// StaticFiles is Static rooted at its folder.
func StaticFiles() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the folder is embedded above: it exists
	}
	return sub
}

// Pages are the admin pages' templates, each parsed with the layout.
type Pages struct {
	byName map[string]*template.Template
}

// layoutFiles are shared by every page: the frame and its partials.
var layoutFiles = []string{"templates/layout.html", "templates/partials.html"}

// LoadPages parses every page with the layout once, at start: a template
// that does not parse fails the start, not a merchant's request.
func LoadPages(funcs template.FuncMap) (*Pages, error) {
	names, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{byName: map[string]*template.Template{}}
	for _, file := range names {
		if isLayout(file) {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templates, append(append([]string{}, layoutFiles...), file)...)
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", file, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("web: page %s defines no content block", file)
		}
		p.byName[strings.TrimSuffix(path.Base(file), ".html")] = t
	}
	return p, nil
}

func isLayout(file string) bool {
	for _, l := range layoutFiles {
		if l == file {
			return true
		}
	}
	return false
}

// Render writes the page, whole or not at all: it executes into a buffer
// first, so a failing template gives an error page, not half a page.
func (p *Pages) Render(w io.Writer, page string, data any) error {
	t, ok := p.byName[page]
	if !ok {
		return fmt.Errorf("web: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		return fmt.Errorf("web: render %s: %w", page, err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// Has reports whether a page exists.
func (p *Pages) Has(page string) bool { _, ok := p.byName[page]; return ok }
