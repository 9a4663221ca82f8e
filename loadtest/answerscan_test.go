package loadtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The answers of POST /v1/events the tool reads most: the server's own
// (testdata/answer_*.json, written by olbot serve for the support script).
func answerFixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob("testdata/answer_*.json")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no answer fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func TestDecodeJSONAnswer(t *testing.T) {
	fixtures := answerFixtures(t)
	tests := []struct {
		name     string
		body     string
		want     jsonAnswer
		fastPath bool // scanAnswer reads it (else encoding/json does)
		wantErr  bool
	}{
		{name: "start", body: string(fixtures["answer_start.json"]), fastPath: true,
			want: wantAnswer("applied", "", "api:x1", "welcome", "active")},
		{name: "last step", body: string(fixtures["answer_end.json"]), fastPath: true,
			want: wantAnswer("applied", "", "api:x1", "thanks", "finished")},
		{name: "conflict with reason", body: `{"outcome":"conflict","reason":"the dialog changed meanwhile"}`, fastPath: true,
			want: wantAnswer("conflict", "the dialog changed meanwhile", "", "", "")},
		{name: "spaces", body: " {\n \"outcome\" : \"applied\" , \"dialog\" : { \"state\" : \"s\" } }\n", fastPath: true,
			want: wantAnswer("applied", "", "", "s", "")},
		{name: "skipped values of every kind", body: `{"a":[1,-2.5e+3,0,true,false,null,{"b":"\"\u00e9\\"}],"c":{},"d":[],"outcome":"x"}`, fastPath: true,
			want: wantAnswer("x", "", "", "", "")},
		{name: "duplicate dialog merges", body: `{"dialog":{"key":"k","state":"a"},"dialog":{"state":"b"}}`, fastPath: true,
			want: wantAnswer("", "", "k", "b", "")},
		{name: "escaped reason", body: `{"outcome":"invalid","reason":"a \"quoted\" word"}`,
			want: wantAnswer("invalid", `a "quoted" word`, "", "", "")},
		{name: "key in other case", body: `{"Outcome":"applied"}`, want: wantAnswer("applied", "", "", "", "")},
		{name: "kelvin sign", body: `{"dialog":{"` + "\u212aey" + `":"k"}}`, want: wantAnswer("", "", "k", "", "")},
		{name: "invalid UTF-8", body: "{\"outcome\":\"a\xffb\"}", want: wantAnswer("a\ufffdb", "", "", "", "")},
		{name: "dialog null", body: `{"dialog":null,"outcome":"applied"}`, want: wantAnswer("applied", "", "", "", "")},
		{name: "not JSON", body: `<html>`, wantErr: true},
		{name: "trailing bytes", body: `{"outcome":"applied"} x`, wantErr: true},
		{name: "outcome a number", body: `{"outcome":1}`, wantErr: true},
		{name: "bad number skipped", body: `{"a":01,"outcome":"applied"}`, wantErr: true},
		{name: "unterminated", body: `{"outcome":"applied"`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := scanAnswer([]byte(tc.body)); ok != tc.fastPath {
				t.Errorf("scanAnswer ok=%v, want %v", ok, tc.fastPath)
			}
			got, err := decodeJSONAnswer([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err=%v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func wantAnswer(outcome, reason, key, state, status string) jsonAnswer {
	var a jsonAnswer
	a.Outcome, a.Reason = outcome, reason
	a.Dialog.Key, a.Dialog.State, a.Dialog.Status = key, state, status
	return a
}

// FuzzScanAnswer: whatever the one pass reads, encoding/json reads the same.
func FuzzScanAnswer(f *testing.F) {
	for _, b := range answerFixtures(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"outcome":"conflict","reason":"r","dialog":{"key":"k","state":"s","status":"t","x":[1,{"y":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := scanAnswer(body)
		if !ok {
			return
		}
		var want jsonAnswer
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("scanAnswer took %q, encoding/json refuses it: %v", body, err)
		}
		if got != want {
			t.Fatalf("%q: scanAnswer %+v, encoding/json %+v", body, got, want)
		}
	})
}

func BenchmarkDecodeJSONAnswer(b *testing.B) {
	body := answerFixtures(b)["answer_start.json"]
	for _, bc := range []struct {
		name   string
		decode func([]byte) (jsonAnswer, error)
	}{
		{"scan", decodeJSONAnswer},
		{"encoding-json", func(b []byte) (jsonAnswer, error) { var a jsonAnswer; return a, json.Unmarshal(b, &a) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
