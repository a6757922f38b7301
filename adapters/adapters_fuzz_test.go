package adapters

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzText: Text, the providers' tolerant scalar, takes any JSON value a
// provider may put in a field: a string reads as its text, null as empty,
// anything else as its JSON text; it never fails on valid JSON, so one odd
// field cannot lose a whole status webhook.
func FuzzText(f *testing.F) {
	for _, s := range []string{`"131026"`, `131026`, `null`, `true`, `{"code":1}`, `[1, "a"]`, `"\u0000\ud800"`, ` "x" `, `1e999`, `-0.0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var wrapped struct {
			V Text `json:"v"`
		}
		doc := append(append([]byte(`{"v":`), raw...), '}')
		if !json.Valid(doc) {
			return
		}
		if err := json.Unmarshal(doc, &wrapped); err != nil {
			t.Fatalf("Text refused the JSON value %q: %v", raw, err)
		}
		v := bytes.TrimSpace(raw)
		var want string
		switch {
		case bytes.Equal(v, []byte("null")):
		case v[0] == '"':
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
		default:
			want = string(v)
		}
		if string(wrapped.V) != want {
			t.Fatalf("Text(%q) = %q; want %q", raw, wrapped.V, want)
		}
	})
}
