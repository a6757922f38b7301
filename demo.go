package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/storebridge/storebridge/web"
)

// demoRules are the rules the demo merchants start with: templates named
// as a merchant would name them, variables in template order.
func demoRules() map[string]map[string]any {
	return map[string]map[string]any{
		"order.placed":               {"template": "order_placed", "variables": []string{"customer.first_name", "order.number", "order.total"}},
		"cod.confirmation_requested": {"template": "cod_confirm", "variables": []string{"customer.first_name", "order.number", "order.total"}},
		"order.shipped":              {"template": "order_shipped", "variables": []string{"customer.first_name", "order.number", "order.tracking_url"}},
		"order.out_for_delivery":     {"template": "out_for_delivery", "variables": []string{"customer.first_name", "order.number"}},
		"cart.abandoned":             {"template": "cart_reminder", "variables": []string{"customer.first_name", "cart.total", "cart.recovery_url"}},
	}
}

type replay struct{ file, topic string }

// demoReplay is what the demo sends, in order: sample file and topic.
func demoReplay() []replay {
	return []replay{
		{"shopify_orders_create.json", "orders/create"},
		{"shopify_fulfillments_create.json", "fulfillments/create"},
		{"shopify_fulfillments_update.json", "fulfillments/update"},
		{"shopify_checkouts_create.json", "checkouts/create"},
		{"woocommerce_order_processing.json", "order.created"},
		{"woocommerce_order_completed.json", "order.updated"},
	}
}

// runDemo starts the service on a fresh embedded store with two sandbox
// merchants, replays the sample webhooks through the real HTTP path, and
// prints the messages that came of them. With once it then stops;
// otherwise it keeps serving until ctx ends.
func runDemo(ctx context.Context, once bool, getenv func(string) string, stdout io.Writer) error {
	dataDir := getenv("DATA_DIR")
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "storebridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	}
	adminToken := getenv("ADMIN_TOKEN")
	if adminToken == "" {
		adminToken = randomToken()
	}
	shopifySecret := randomToken()
	wooSecret := strings.ReplaceAll(randomToken(), "-", "")
	overrides := map[string]string{
		"DATA_DIR": dataDir, "ADMIN_TOKEN": adminToken, "SHOPIFY_API_KEY": "demo",
		"SHOPIFY_API_SECRET": shopifySecret, "REDIS_URL": "",
	}
	if getenv("SECRET_KEY") == "" {
		overrides["SECRET_KEY"] = randomToken() // the demo's store is thrown away anyway
	}
	for name, def := range map[string]string{"HOST": "127.0.0.1", "LOG_LEVEL": "warn"} {
		if getenv(name) == "" {
			overrides[name] = def
		}
	}
	env := func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return getenv(name)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	base := fmt.Sprintf("http://%s", net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)))

	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(serveCtx, "all", env, stdout) }()
	if err := waitReady(ctx, base, served); err != nil {
		return err
	}

	api := demoAPI{base: base, token: adminToken}
	shop, err := api.call(ctx, "POST", "/api/admin/merchants", map[string]any{
		"platform": "shopify", "shop_domain": "kesar-kitchen.myshopify.com", "name": "Kesar Kitchen", "country": "IN", "timezone": "Asia/Kolkata",
	})
	if err != nil {
		return err
	}
	woo, err := api.call(ctx, "POST", "/api/admin/merchants", map[string]any{
		"platform": "woocommerce", "store_url": "https://diya-and-co.example.in", "name": "Diya & Co", "country": "IN", "timezone": "Asia/Kolkata",
		"consumer_key": "ck_demo", "consumer_secret": "cs_demo", "webhook_secret": wooSecret,
	})
	if err != nil {
		return err
	}
	for _, m := range []map[string]any{shop, woo} {
		// The sandbox is chosen, as a merchant would to try rules: with no
		// provider nothing is sent at all.
		if _, err := api.call(ctx, "PUT", "/api/admin/merchants/"+m["id"].(string)+"/provider", map[string]any{"provider": "sandbox"}); err != nil {
			return err
		}
		// The demo's stores are not real: the COD flow asks the customer,
		// but holds nothing on a store that cannot be reached.
		if _, err := api.call(ctx, "PUT", "/api/admin/merchants/"+m["id"].(string)+"/settings", map[string]any{"cod_hold": "off"}); err != nil {
			return err
		}
		for event, rule := range demoRules() {
			if _, err := api.call(ctx, "PUT", "/api/admin/merchants/"+m["id"].(string)+"/rules/"+event, rule); err != nil {
				return err
			}
		}
	}

	fmt.Fprintf(stdout, "storebridge demo: two sandbox merchants at %s; replaying %d sample webhooks\n\n", base, len(demoReplay()))
	for i, r := range demoReplay() {
		body, err := web.Samples.ReadFile("samples/" + r.file)
		if err != nil {
			return err
		}
		headers := map[string]string{"Content-Type": "application/json"}
		url := base + "/webhooks/shopify"
		merchantID := shop["id"].(string)
		if strings.HasPrefix(r.file, "woocommerce") {
			merchantID = woo["id"].(string)
			url = base + "/webhooks/woocommerce/" + woo["id"].(string)
			headers["X-WC-Webhook-Topic"] = r.topic
			headers["X-WC-Webhook-ID"] = "12"
			headers["X-WC-Webhook-Signature"] = signBase64(wooSecret, body)
		} else {
			headers["X-Shopify-Topic"] = r.topic
			headers["X-Shopify-Shop-Domain"] = "kesar-kitchen.myshopify.com"
			headers["X-Shopify-Event-Id"] = fmt.Sprintf("demo-%d", i)
			headers["X-Shopify-Hmac-Sha256"] = signBase64(shopifySecret, body)
		}
		before, err := api.count(ctx, merchantID)
		if err != nil {
			return err
		}
		answer, err := api.post(ctx, url, headers, body)
		if err != nil {
			return fmt.Errorf("replay %s: %w", r.file, err)
		}
		// One webhook at a time, as a store sends them minutes apart: a
		// later state overtaking an earlier one would make it stale.
		if err := api.waitForMore(ctx, merchantID, before); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  → %-34s %-20s %s\n", r.file, r.topic, answer["outcome"])
	}

	for _, m := range []map[string]any{shop, woo} {
		deliveries, err := api.settled(ctx, m["id"].(string))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n%s (%s), provider sandbox: %d messages\n", m["name"], m["platform"], len(deliveries))
		for _, d := range deliveries {
			values := []byte("(built when sent)")
			if v, ok := d["values"]; ok && v != nil {
				values, _ = json.Marshal(v)
			}
			note := ""
			if e, _ := d["error"].(string); e != "" && d["status"] != "sent" {
				note = "  (" + e + ")"
			} else if history, _ := d["history"].([]any); d["status"] == "queued" && len(history) > 0 {
				if n, _ := history[len(history)-1].(map[string]any)["note"].(string); n != "" {
					note = "  (" + n + ")"
				}
			}
			fmt.Fprintf(stdout, "  %-27s to %-15s template %-17s %s  %s%s\n", d["event"], d["phone"], d["template"], values, d["status"], note)
		}
	}
	if once {
		fmt.Fprintln(stdout, "\ndemo done")
		stop()
		return <-served
	}
	fmt.Fprintf(stdout, "\nThe service keeps running at %s (admin API token: %s). Ctrl-C stops it.\n", base, adminToken)
	fmt.Fprintf(stdout, "Admin pages: %s/admin/login: sign in with that token and pick a store to see its deliveries and statistics.\n", base)
	return <-served
}

func randomToken() string {
	buf := make([]byte, 24)
	_, _ = rand.Read(buf) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(buf)
}

func signBase64(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func waitReady(ctx context.Context, base string, served <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-served:
			return fmt.Errorf("the service stopped at start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the service did not become ready within 15s")
		}
	}
}

// demoAPI calls the operator API of the running demo.
type demoAPI struct{ base, token string }

func (a demoAPI) call(ctx context.Context, method, path string, body any) (map[string]any, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return a.do(ctx, method, a.base+path, map[string]string{"Authorization": "Bearer " + a.token, "Content-Type": "application/json"}, raw)
}

func (a demoAPI) post(ctx context.Context, url string, headers map[string]string, body []byte) (map[string]any, error) {
	return a.do(ctx, http.MethodPost, url, headers, body)
}

func (a demoAPI) do(ctx context.Context, method, url string, headers map[string]string, body []byte) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	return out, nil
}

func (a demoAPI) count(ctx context.Context, merchantID string) (int, error) {
	answer, err := a.call(ctx, "GET", "/api/admin/merchants/"+merchantID+"/deliveries?limit=100", nil)
	if err != nil {
		return 0, err
	}
	return len(answer["deliveries"].([]any)), nil
}

// waitForMore waits (up to 5 s) until the merchant has more deliveries than
// before.
func (a demoAPI) waitForMore(ctx context.Context, merchantID string, before int) error {
	for range 100 {
		n, err := a.count(ctx, merchantID)
		if err != nil || n > before {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// settled waits until no delivery of the merchant is still being worked on
// (queued ones held for quiet hours stay queued), then lists them oldest
// first.
func (a demoAPI) settled(ctx context.Context, merchantID string) ([]map[string]any, error) {
	var list []map[string]any
	previous := -1
	for range 40 {
		answer, err := a.call(ctx, "GET", "/api/admin/merchants/"+merchantID+"/deliveries?limit=100", nil)
		if err != nil {
			return nil, err
		}
		list = list[:0]
		busy := false
		for _, d := range answer["deliveries"].([]any) {
			m := d.(map[string]any)
			list = append(list, m)
			busy = busy || m["status"] == "retrying"
		}
		if !busy && len(list) == previous {
			break
		}
		previous = len(list)
		time.Sleep(100 * time.Millisecond)
	}
	sort.SliceStable(list, func(i, j int) bool { return fmt.Sprint(list[i]["created_at"]) < fmt.Sprint(list[j]["created_at"]) })
	return list, nil
}
