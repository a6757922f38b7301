package main

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/storebridge/storebridge/adapters/shopify"
	"github.com/storebridge/storebridge/app"
)

// The example values the committed shopify.app.toml is generated with.
var exampleShopifyConfigEnv = map[string]string{
	"APP_URL":         "https://storebridge.example.com",
	"SHOPIFY_API_KEY": "replace-with-your-client-id",
}

// tomlTables reads the small TOML subset shopify.app.toml is written in:
// tables, arrays of tables, and keys whose values are strings, booleans or
// lists of strings (one item a line). Each table is keyed by its header
// ("" for the top), an array of tables by header and index ("webhooks.subscriptions#1").
func tomlTables(t *testing.T, raw string) map[string]map[string][]string {
	t.Helper()
	tables := map[string]map[string][]string{"": {}}
	current, arrays := "", map[string]int{}
	lines := strings.Split(raw, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[["):
			name := strings.Trim(line, "[]")
			arrays[name]++
			current = name + "#" + strconv.Itoa(arrays[name])
			tables[current] = map[string][]string{}
			continue
		case strings.HasPrefix(line, "["):
			current = strings.Trim(line, "[]")
			tables[current] = map[string][]string{}
			continue
		}
		key, value, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("line %d %q: not key = value", i+1, line)
		}
		var items []string
		switch {
		case value == "[":
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "]"; i++ {
				items = append(items, unquote(t, strings.TrimSuffix(strings.TrimSpace(lines[i]), ",")))
			}
		case strings.HasPrefix(value, "["):
			for _, it := range strings.Split(strings.Trim(value, "[]"), ",") {
				items = append(items, unquote(t, strings.TrimSpace(it)))
			}
		case value == "true" || value == "false":
			items = []string{value}
		default:
			items = []string{unquote(t, value)}
		}
		tables[current][key] = items
	}
	return tables
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	v, err := strconv.Unquote(s)
	if err != nil || strings.ContainsAny(v, "\"\\") {
		t.Fatalf("%s is not a plain TOML string", s)
	}
	return v
}

// TestShopifyAppTomlIsGenerated: the committed shopify.app.toml is exactly
// what `go run . shopify-config` makes of the example values, so it can
// never say other than the code.
func TestShopifyAppTomlIsGenerated(t *testing.T) {
	committed, err := os.ReadFile(shopifyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"storebridge", "shopify-config"}, env(exampleShopifyConfigEnv), &out); err != nil {
		t.Fatalf("shopify-config: %v", err)
	}
	if !bytes.Equal(out.Bytes(), committed) {
		t.Fatalf("shopify.app.toml is not what the code generates; run\n  APP_URL=%s SHOPIFY_API_KEY=%s go run . shopify-config shopify.app.toml\ngenerated:\n%s",
			exampleShopifyConfigEnv["APP_URL"], exampleShopifyConfigEnv["SHOPIFY_API_KEY"], out.String())
	}
}

// TestShopifyAppTomlMatchesCode reads the committed file as Shopify would
// and holds it to the code: the topics the product handles, each decoded
// by the decoder, the compliance topics, the scopes every topic and Admin
// call needs (also the SHOPIFY_SCOPES default), the pinned API version and
// the routes.
func TestShopifyAppTomlMatchesCode(t *testing.T) {
	raw, err := os.ReadFile(shopifyConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	tables := tomlTables(t, string(raw))
	base := exampleShopifyConfigEnv["APP_URL"]
	top, subs, compliance := tables[""], tables["webhooks.subscriptions#1"], tables["webhooks.subscriptions#2"]
	if len(tables) != 7 {
		t.Errorf("tables %v; want the top, access_scopes, auth, webhooks, two subscriptions and app_proxy", slices.Sorted(maps.Keys(tables)))
	}
	for key, want := range map[string]string{
		"client_id": exampleShopifyConfigEnv["SHOPIFY_API_KEY"], "name": "storebridge",
		"application_url": base + app.ShopifyAppPath, "embedded": "true",
	} {
		if got := top[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v; want %q", key, got, want)
		}
	}
	if got := tables["auth"]["redirect_urls"]; len(got) != 1 || got[0] != base+app.ShopifyCallbackPath {
		t.Errorf("redirect_urls = %v; want [%s%s]", got, base, app.ShopifyCallbackPath)
	}
	// The App Proxy forwards to the route that verifies its signature.
	for key, want := range map[string]string{
		"url": base + app.ShopifyAppProxyPath, "prefix": app.ShopifyAppProxyPrefix, "subpath": app.ShopifyAppProxySubpath,
	} {
		if got := tables["app_proxy"][key]; len(got) != 1 || got[0] != want {
			t.Errorf("app_proxy.%s = %v; want %q", key, got, want)
		}
	}
	if got := tables["webhooks"]["api_version"]; len(got) != 1 || got[0] != app.ShopifyAPIVersion {
		t.Errorf("webhooks.api_version = %v; want the pinned %s", got, app.ShopifyAPIVersion)
	}
	for i, sub := range []map[string][]string{subs, compliance} {
		if got := sub["uri"]; len(got) != 1 || got[0] != base+app.ShopifyWebhookPath {
			t.Errorf("subscription %d uri = %v; want %s%s", i+1, got, base, app.ShopifyWebhookPath)
		}
	}

	// Topics: subscribed and compliance together are every topic the
	// webhook route accepts, and the decoder knows each one.
	topics, complianceTopics := subs["topics"], compliance["compliance_topics"]
	if !slices.Equal(topics, app.ShopifySubscriptionTopics()) {
		t.Errorf("topics = %v; want %v", topics, app.ShopifySubscriptionTopics())
	}
	if want := []string{"customers/data_request", "customers/redact", "shop/redact"}; !slices.Equal(complianceTopics, want) {
		t.Errorf("compliance_topics = %v; want %v", complianceTopics, want)
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(topics), complianceTopics...)))
	if accepted := slices.Sorted(slices.Values(app.ShopifyTopics())); !slices.Equal(all, accepted) {
		t.Errorf("the file names %v; the webhook route accepts %v", all, accepted)
	}
	m := app.Merchant{Platform: app.PlatformShopify, Country: "IN"}
	for _, topic := range all {
		_, err := shopify.Decode(m, app.WebhookEnvelope{Platform: app.PlatformShopify, Topic: topic, Body: []byte(`{}`)})
		if errors.Is(err, shopify.ErrUnknownTopic) {
			t.Errorf("topic %s is subscribed but the decoder does not handle it", topic)
		}
	}

	// Scopes: what each topic needs and what the Admin calls need.
	scopes := strings.Split(tables["access_scopes"]["scopes"][0], ",")
	has := func(scope string) bool {
		read, isRead := strings.CutPrefix(scope, "read_")
		return slices.Contains(scopes, scope) || (isRead && slices.Contains(scopes, "write_"+read))
	}
	for _, topic := range topics {
		scope, known := app.ShopifyTopicScope(topic)
		if !known {
			t.Errorf("topic %s has no scope on record (app.shopifyTopicScopes)", topic)
		} else if scope != "" && !has(scope) {
			t.Errorf("topic %s needs %s; scopes = %v", topic, scope, scopes)
		}
	}
	for _, scope := range []string{
		"read_orders",  // the orders query of reconciliation
		"write_orders", // COD tags, orderCancel
		"write_merchant_managed_fulfillment_orders", // COD holds
		"write_discounts", // loyalty redemptions' discount codes
	} {
		if !has(scope) {
			t.Errorf("the Admin calls need %s; scopes = %v", scope, scopes)
		}
	}
	cfg, err := loadConfig(env(map[string]string{"SHOPIFY_API_KEY": "k", "SHOPIFY_API_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.ShopifyScopes, scopes) {
		t.Errorf("SHOPIFY_SCOPES default = %v; the file asks for %v", cfg.ShopifyScopes, scopes)
	}
}

// TestShopifyConfigCommand: the command writes to a file or stdout, and
// refuses what Shopify would refuse.
func TestShopifyConfigCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shopify.app.toml")
	vars := map[string]string{"APP_URL": "https://sb.kesar.in/", "SHOPIFY_API_KEY": "0123456789abcdef0123456789abcdef", "SHOPIFY_SCOPES": "write_orders, read_customers"}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"storebridge", "shopify-config", path}, env(vars), &out); err != nil {
		t.Fatalf("shopify-config %s: %v", path, err)
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tables := tomlTables(t, string(written))
	if tables[""]["client_id"][0] != vars["SHOPIFY_API_KEY"] || tables["auth"]["redirect_urls"][0] != "https://sb.kesar.in/shopify/callback" ||
		tables["access_scopes"]["scopes"][0] != "write_orders,read_customers" || !strings.Contains(out.String(), "shopify app deploy") {
		t.Errorf("written file:\n%s\noutput %q; want the key, the URL without a double slash, SHOPIFY_SCOPES, and the deploy hint", written, out.String())
	}
	for _, tc := range []struct {
		name, variable string
		env            map[string]string
		args           []string
	}{
		{"no key", "SHOPIFY_API_KEY", map[string]string{"APP_URL": "https://sb.kesar.in"}, nil},
		{"key with a quote", "SHOPIFY_API_KEY", map[string]string{"APP_URL": "https://sb.kesar.in", "SHOPIFY_API_KEY": `a"b`}, nil},
		{"no APP_URL", "APP_URL", map[string]string{"SHOPIFY_API_KEY": "k"}, nil},
		{"http APP_URL", "APP_URL", map[string]string{"APP_URL": "http://sb.kesar.in", "SHOPIFY_API_KEY": "k"}, nil},
		{"APP_URL with a query", "APP_URL", map[string]string{"APP_URL": "https://sb.kesar.in/?a=1", "SHOPIFY_API_KEY": "k"}, nil},
		{"bad scope", "SHOPIFY_SCOPES", map[string]string{"APP_URL": "https://sb.kesar.in", "SHOPIFY_API_KEY": "k", "SHOPIFY_SCOPES": `read_orders,"x"`}, nil},
		{"two files", "", exampleShopifyConfigEnv, []string{"a.toml", "b.toml"}},
	} {
		args := append([]string{"storebridge", "shopify-config"}, tc.args...)
		err := run(context.Background(), args, env(tc.env), &bytes.Buffer{})
		var ce *ConfigError
		switch {
		case err == nil:
			t.Errorf("%s: shopify-config succeeded; want refused", tc.name)
		case tc.variable != "" && (!errors.As(err, &ce) || ce.Variable != tc.variable):
			t.Errorf("%s: error %v; want one naming %s", tc.name, err, tc.variable)
		}
	}
}
