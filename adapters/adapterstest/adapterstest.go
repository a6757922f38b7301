// Package adapterstest holds what the adapters' tests share:
// golden request bodies, a provider that never answers, the transport
// failure checks every adapter must pass, and the invariants their fuzz
// tests hold decoded events and provider reports to. It is imported by
// tests only.
package adapterstest

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// update rewrites the golden files: go test ./adapters/... -update.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// Golden compares a request body, indented, with testdata/file, or writes
// it there under -update.
func Golden(t testing.TB, file string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("request body differs from %s:\ngot:\n%s\nwant:\n%s", path, pretty.Bytes(), want)
	}
}

// HangingServer is a provider that reads the request and never answers,
// until the client gives up (or 3 s pass), for timeout tests. Each request
// it read in full is reported on the channel: the client wrote it all.
func HangingServer(t testing.TB) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	read := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			select {
			case read <- struct{}{}:
			default:
			}
		}
		select {
		case <-r.Context().Done(): // lets the server see the client hang up
		case <-time.After(3 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv, read
}
