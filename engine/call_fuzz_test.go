package engine

import (
	"testing"

	"github.com/olbot/olbot/scenarios"
)

// FuzzSaveAnswer checks that no answer and no save path makes the decoding
// of an endpoint's answer panic, and that an answer taken fills every field
// of save:.
//
//	go test -run='^$' -fuzz='^FuzzSaveAnswer$' -fuzztime=60s ./engine/
func FuzzSaveAnswer(f *testing.F) {
	f.Add(`{"status":"shipped","delivery":{"eta":"2 days"}}`, "delivery.eta", 200)
	f.Add(`{"items":[{"name":"a"},{"name":"b"}]}`, "items.1.name", 200)
	f.Add(`[1,2,3]`, "2", 201)
	f.Add(`{"a":null}`, "a", 200)
	f.Add(`{"a":{"b":[true]}}`, "a", 299)
	f.Add(`<html>`, "a", 200)
	f.Add(`{"a":1}`, "a", 404)
	f.Add(`{"a":1e400}`, "a", 200)
	f.Fuzz(func(t *testing.T, body, path string, status int) {
		p, err := scenarios.ParseSavePath(path)
		if err != nil {
			return
		}
		c := &scenarios.Call{Save: []scenarios.CallSave{{Field: "f", Path: p}}}
		got, err := SaveAnswer(c, Answer{Status: status, Body: []byte(body)})
		if err == nil {
			if status < 200 || status > 299 {
				t.Fatalf("status %d taken", status)
			}
			if _, ok := got["f"]; !ok || len(got) != 1 {
				t.Fatalf("fields %v, want f", got)
			}
		}
	})
}
