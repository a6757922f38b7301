package adapterstest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// SendFunc sends one message through a provider client whose base URL is
// serverURL (the adapter appends its own path) and whose timeout is timeout.
type SendFunc func(ctx context.Context, serverURL string, timeout time.Duration) error

// TransportFailures checks what every provider adapter owes the worker when
// the network fails: a provider that never answers yields a retryable error
// without status once the client's timeout passes; a cancelled context
// sends nothing and yields a retryable error wrapping context.Canceled; and
// neither error shows any of secrets, since errors end up in logs and in
// the delivery log.
func TransportFailures(t *testing.T, send SendFunc, secrets ...string) {
	t.Helper()
	t.Run("provider never answers", func(t *testing.T) {
		srv := HangingServer(t)
		start := time.Now()
		err := send(context.Background(), srv.URL, 50*time.Millisecond)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 0 {
			t.Fatalf("Send() = %v; want a retryable error without status", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Send took %v with a 50ms client timeout", took)
		}
		assertNoSecret(t, err, secrets)
	})
	t.Run("cancelled context", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			t.Error("a cancelled send reached the provider")
		}))
		t.Cleanup(srv.Close)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := send(ctx, srv.URL, time.Second)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send() = %v; want a retryable error wrapping context.Canceled", err)
		}
		assertNoSecret(t, err, secrets)
	})
}

func assertNoSecret(t *testing.T, err error, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q shows the secret %q", err, s)
		}
	}
}

// RefusedCredentials checks that err is the validation error a merchant sees
// when saving credentials: it names exactly fields, gives each a reason,
// and repeats none of secrets back.
func RefusedCredentials(t *testing.T, err error, fields []string, secrets ...string) {
	t.Helper()
	var ve *app.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("New() = %v; want *app.ValidationError on %v", err, fields)
	}
	for _, f := range fields {
		if ve.Fields[f] == "" {
			t.Errorf("no reason for %s in %v", f, ve.Fields)
		}
	}
	if len(ve.Fields) != len(fields) {
		t.Errorf("fields = %v; want only %v", ve.Fields, fields)
	}
	assertNoSecret(t, err, secrets)
}
