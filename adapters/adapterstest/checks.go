package adapterstest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/storebridge/storebridge/app"
)

// SendFunc sends one message through a provider client whose base URL is
// serverURL (the adapter appends its own path) and whose timeout is timeout.
type SendFunc func(ctx context.Context, serverURL string, timeout time.Duration) error

// TransportFailures checks what every provider adapter owes the worker when
// the network fails: a provider that never answers yields a retryable
// error without status once the client's timeout passes, ambiguous if it
// had read the request; a cancelled context sends nothing and yields a
// retryable, unambiguous error wrapping context.Canceled; a port nobody
// listens on yields a retryable, unambiguous error; and no error shows any
// of secrets, nor the provider's address, port or the transport's own
// words, since errors end up in logs and in the merchant's delivery log.
func TransportFailures(t *testing.T, send SendFunc, secrets ...string) {
	t.Helper()
	t.Run("provider never answers", func(t *testing.T) {
		srv, read := HangingServer(t)
		start := time.Now()
		err := send(context.Background(), srv.URL, 50*time.Millisecond)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 0 {
			t.Fatalf("Send() = %v; want a retryable error without status", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Send took %v with a 50ms client timeout", took)
		}
		// Ambiguous once the request went out in full, as the server tells;
		// on a loaded machine the 50ms may end before that.
		select {
		case <-read:
			if !pe.Ambiguous {
				t.Errorf("Send() = %+v; want Ambiguous: the provider read the request", pe)
			}
		case <-time.After(time.Second):
			t.Log("the timeout passed before the request was written; Ambiguous not checked")
		}
		assertNoSecret(t, err, secrets)
		NoAddress(t, err, srv.URL)
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
		if !errors.As(err, &pe) || !pe.Retryable || pe.Ambiguous || !errors.Is(err, context.Canceled) {
			t.Fatalf("Send() = %v (%+v); want a retryable, unambiguous error wrapping context.Canceled", err, pe)
		}
		assertNoSecret(t, err, secrets)
		NoAddress(t, err, srv.URL)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // its port now refuses connections
		err := send(context.Background(), srv.URL, time.Second)
		var pe *app.ProviderError
		if !errors.As(err, &pe) || !pe.Retryable || pe.Ambiguous || pe.Status != 0 {
			t.Fatalf("Send() = %v (%+v); want a retryable, unambiguous error without status", err, pe)
		}
		assertNoSecret(t, err, secrets)
		NoAddress(t, err, srv.URL)
	})
}

// NoAddress fails t when err's text shows serverURL's host or port,
// or words of a raw dial or socket error ("dial tcp 10.0.0.5:443: connect:
// no route to host"): such text lets a merchant map the network behind
// the service.
func NoAddress(t testing.TB, err error, serverURL string) {
	t.Helper()
	u, perr := url.Parse(serverURL)
	if perr != nil {
		t.Fatal(perr)
	}
	text := err.Error()
	for _, leak := range []string{u.Host, u.Hostname(), ":" + u.Port(), "dial ", "tcp", "connect:", "read ", "write ", "refused by peer", "reset by peer", "no route"} {
		if strings.Contains(text, leak) {
			t.Errorf("error %q shows %q", text, leak)
		}
	}
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
