package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
	"github.com/storebridge/storebridge/store/embedded"
	"github.com/storebridge/storebridge/store/redisstore"
	"github.com/storebridge/storebridge/store/redistest"
)

// BenchmarkCartCapture measures POST /api/v1/carts as the plugin calls it:
// real HTTP on loopback from STOREBRIDGE_BENCH_CONCURRENCY keep-alive
// senders (default 32), each request a new cart (token check through the
// merchant cache, the address and merchant limits, validation, the
// version record and its job in one store step). The captures are spread
// over 200 stores, each calling from its own address, so that no store
// passes its limits' bursts. Run it
// with e.g.
//
//	go test -run '^$' -bench CartCapture -benchtime 20000x ./handlers/
//
// It fails when a request is not answered 202.
func BenchmarkCartCapture(b *testing.B) {
	for _, backend := range []string{"redis", "embedded"} {
		b.Run(backend, func(b *testing.B) {
			var st app.Store
			if backend == "redis" {
				srv := redistest.Start(b, redistest.Options{})
				rs := redisstore.New(benchRedisClient(srv.URL()), redisstore.Options{Prefix: "bench:carts:"})
				b.Cleanup(func() { rs.Close() })
				st = rs
			} else {
				es, err := embedded.Open(filepath.Join(b.TempDir(), "bench.db"), embedded.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { es.Close() })
				st = es
			}
			benchCartCapture(b, st)
		})
	}
}

func benchCartCapture(b *testing.B, st app.Store) {
	const stores = 200
	if b.N > stores*cartsMerchantLimit {
		b.Fatalf("-benchtime %dx passes the stores' bursts; at most %d", b.N, stores*cartsMerchantLimit)
	}
	conc := benchEnvInt(b, "STOREBRIDGE_BENCH_CONCURRENCY", 32)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	keyring, _ := app.NewKeyring(testSecretKey)
	svc := app.NewService(app.ServiceOptions{Store: st, Keyring: keyring, Logger: log, CheckURL: strictURLs})
	tokens := make([]string, stores)
	hosts := make([]string, stores)
	for i := range stores {
		hosts[i] = fmt.Sprintf("shop%d.example.in", i)
		m, _, err := svc.CreateMerchant(ctx, app.NewMerchant{Platform: app.PlatformWooCommerce, StoreURL: "https://" + hosts[i], Country: "IN"})
		if err != nil {
			b.Fatal(err)
		}
		tok, err := svc.NewCartToken(ctx, m.ID)
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok.Token
	}
	metrics := NewMetrics(st, log)
	e := NewEcho(log, metrics)
	// Stores call from their own hosts: each store its own address, as
	// the proxy in front (Fly-Client-IP) reports it.
	New(Options{Service: svc, Store: st, Metrics: metrics, Logger: log, ClientIPHeader: "Fly-Client-IP"}).Register(e)
	url := strings.Replace(benchServe(b, e), "/webhooks/shopify", "/api/v1/carts", 1)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: 10 * time.Second}

	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				s := int(i % stores)
				body := strings.Replace(cartBody(fmt.Sprintf("bench%d", i), 1700000000000+i), "asha.example.in", hosts[s], 1)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+tokens[s])
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Fly-Client-IP", fmt.Sprintf("203.0.%d.%d", s/250, s%250+1))
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failed.Store(fmt.Sprintf("%d %s", resp.StatusCode, raw))
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f != nil {
		b.Fatalf("a capture failed: %v", f)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "captures/s")
}
