package bitrix24

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// documentedBatchAnswers are the batch answers of
// settings/how-to-call-rest-api/batch.md (b24restdocs), transcribed whole:
// a success, the errors of halt=0 and the error of halt=1.
var documentedBatchAnswers = []string{"batch_answer_ok.json", "batch_answer_halt0_errors.json", "batch_answer_halt1_error.json"}

// batchResult is the "result" of a documented answer file: what
// splitBatchAnswer gets from the envelope.
func batchResult(tb testing.TB, name string) json.RawMessage {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return env.Result
}

// sameParts reports how a and b differ, or "".
func sameParts(a, b batchParts) string {
	names := []string{"result", "result_error", "result_total", "result_next", "result_time"}
	as := []map[string]json.RawMessage{a.results, a.errs, a.totals, a.nexts, a.times}
	bs := []map[string]json.RawMessage{b.results, b.errs, b.totals, b.nexts, b.times}
	for i := range names {
		if !maps.EqualFunc(as[i], bs[i], func(x, y json.RawMessage) bool { return bytes.Equal(x, y) }) {
			return fmt.Sprintf("%s: %q, want %q", names[i], as[i], bs[i])
		}
	}
	return ""
}

func TestSplitBatchAnswer(t *testing.T) {
	type want struct {
		fast    bool   // splitBatchFast takes it
		results string // the results' keys, sorted, comma-separated
		errs    string
	}
	tests := []struct {
		name string
		raw  string
		want want
		err  bool
	}{
		{name: "documented success", raw: string(batchResult(t, documentedBatchAnswers[0])), want: want{true, "get_department,get_user", ""}},
		{name: "documented errors, halt=0", raw: string(batchResult(t, documentedBatchAnswers[1])), want: want{true, "", "get_department,get_user"}},
		{name: "documented error, halt=1", raw: string(batchResult(t, documentedBatchAnswers[2])), want: want{true, "", "get_user"}},
		{name: "results as a PHP list", raw: `{"result":[5,6],"result_error":[],"result_time":[]}`, want: want{true, "0,1", ""}},
		{name: "keys in other case, white space", raw: " {\n \"RESULT\" : {\"c0\" : 7 } , \"Result_Error\":{\"c1\":{\"error\":\"X\"}}}\t", want: want{true, "c0", "c1"}},
		{name: "a repeated key: the last wins", raw: `{"result":{"c0":1},"result":{"c1":2,"c1":3}}`, want: want{true, "c1", ""}},
		{name: "parts that are not objects", raw: `{"result":null,"result_error":"x","result_total":5,"result_next":true}`, want: want{true, "", ""}},
		{name: "unknown keys skipped", raw: `{"other":{"c0":[1,{"a":"}"}]},"result":{"c0":"a\"b\\"}}`, want: want{true, "c0", ""}},
		{name: "an escaped key goes the slow way", raw: `{"result":{"c\u0030":1}}`, want: want{false, "c0", ""}},
		{name: "a key past ASCII goes the slow way", raw: `{"result":{"c0":1},"réponse":2}`, want: want{false, "c0", ""}},
		{name: "a Unicode fold of result goes the slow way", raw: `{"re\u017fult":{"c0":1}}`, want: want{false, "c0", ""}},
		{name: "empty", raw: `{}`, want: want{true, "", ""}},
		{name: "null result", raw: `null`, want: want{false, "", ""}},
		{name: "a list is not an answer", raw: `[1,2]`, err: true},
		{name: "a string is not an answer", raw: `"ok"`, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := json.RawMessage(tt.raw)
			if !json.Valid(raw) {
				t.Fatalf("test input is not JSON: %s", raw)
			}
			got, err := splitBatchAnswer(raw)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want error %v", err, tt.err)
			}
			if tt.err {
				return
			}
			slow, err := splitBatchSlow(raw)
			if err != nil {
				t.Fatalf("slow path: %v", err)
			}
			if d := sameParts(got, slow); d != "" {
				t.Errorf("differs from encoding/json: %s", d)
			}
			if _, fast := splitBatchFast(raw); fast != tt.want.fast {
				t.Errorf("fast path took it: %v, want %v", fast, tt.want.fast)
			}
			keys := func(m map[string]json.RawMessage) string {
				return strings.Join(slices.Sorted(maps.Keys(m)), ",")
			}
			if k := keys(got.results); k != tt.want.results {
				t.Errorf("results %q, want %q", k, tt.want.results)
			}
			if k := keys(got.errs); k != tt.want.errs {
				t.Errorf("errors %q, want %q", k, tt.want.errs)
			}
		})
	}
}

// TestSplitBatchAnswerCapped: a sub-call's result is a slice of the
// answer, capped, so that appending to it does not write over the next.
func TestSplitBatchAnswerCapped(t *testing.T) {
	p, ok := splitBatchFast(json.RawMessage(`{"result":{"c0":1,"c1":2}}`))
	if !ok {
		t.Fatal("fast path refused a plain answer")
	}
	_ = append(p.results["c0"], "999"...)
	if got := string(p.results["c1"]); got != "2" {
		t.Fatalf("c1 = %s after an append to c0, want 2", got)
	}
}

// FuzzSplitBatchAnswer holds the one pass to encoding/json: on any valid
// JSON the fast path takes, the parts are the same bytes under the same
// keys; and splitBatchAnswer errs exactly when encoding/json does.
func FuzzSplitBatchAnswer(f *testing.F) {
	for _, name := range documentedBatchAnswers {
		f.Add([]byte(batchResult(f, name)))
	}
	f.Add([]byte(`{"result":[5,6],"result_error":[],"result_time":[]}`))
	f.Add([]byte(`{"RESULT":{"c0":1},"result":{"c1":{"a":[1,"]"]}},"x":null}`))
	f.Add([]byte(`{"result":{"c\u0030":1}}`))
	f.Add([]byte(`[{"result":1}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // the envelope's decode gives only valid JSON
		}
		raw := json.RawMessage(b)
		slow, serr := splitBatchSlow(raw)
		got, err := splitBatchAnswer(raw)
		if (err != nil) != (serr != nil) {
			t.Fatalf("error %v, encoding/json's %v", err, serr)
		}
		fast, ok := splitBatchFast(raw)
		if !ok {
			return
		}
		if serr != nil {
			t.Fatalf("fast path took what encoding/json refuses (%v)", serr)
		}
		if d := sameParts(fast, slow); d != "" {
			t.Fatalf("fast path differs from encoding/json: %s", d)
		}
		if d := sameParts(got, slow); d != "" {
			t.Fatalf("splitBatchAnswer differs from encoding/json: %s", d)
		}
	})
}

// BenchmarkSplitBatchAnswer: a batch answer of 50 imbot.message.add
// calls, each result a message id and each time the documented
// result_time entry (imbot-message-add.md, batch.md).
func BenchmarkSplitBatchAnswer(b *testing.B) {
	var times map[string]json.RawMessage
	{
		var res struct {
			Time map[string]json.RawMessage `json:"result_time"`
		}
		if err := json.Unmarshal(batchResult(b, documentedBatchAnswers[0]), &res); err != nil {
			b.Fatal(err)
		}
		times = res.Time
	}
	var sb strings.Builder
	sb.WriteString(`{"result":{`)
	for i := range 50 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"c%d":%d`, i, 19880117+i)
	}
	sb.WriteString(`},"result_error":[],"result_total":[],"result_next":[],"result_time":{`)
	for i := range 50 {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"c%d":%s`, i, times["get_user"])
	}
	sb.WriteString(`}}`)
	raw := json.RawMessage(sb.String())
	for _, bb := range []struct {
		name string
		fn   func(json.RawMessage) (batchParts, error)
	}{{"one pass", splitBatchAnswer}, {"encoding/json", splitBatchSlow}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				p, err := bb.fn(raw)
				if err != nil || len(p.results) != 50 || len(p.times) != 50 {
					b.Fatalf("%d results, %d times, %v", len(p.results), len(p.times), err)
				}
			}
		})
	}
}
