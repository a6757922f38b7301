package app

import (
	"bytes"
	"encoding/json"
)

// jsonUnmarshal decodes numbers as json.Number so ids and amounts keep
// their exact digits through a round trip.
func jsonUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
