package fakeportal_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/olbot/olbot/fakeportal"
)

// batchBody is a raw batch request of three session.operator sub-calls
// about chats 1, 2 and 3, written the way the docs show it.
const batchBody = `{"halt":0,"cmd":{"a":"imopenlines.bot.session.operator?CHAT_ID=1","b":"imopenlines.bot.session.operator?CHAT_ID=2","c":"imopenlines.bot.session.operator?CHAT_ID=3"}}`

// TestBatchAnswer checks the documented answer shape
// ({"result":{"result":{…},"result_error":{…},"result_total":…,
// "result_next":…,"result_time":{…}},"time":{…}}, keyed by sub-call name),
// where FailNext's and FailChat's faults land (the whole request or one
// sub-call), and that a batch counts once in the leaky bucket.
func TestBatchAnswer(t *testing.T) {
	tests := []struct {
		name   string
		cfg    fakeportal.Config
		fault  func(p *fakeportal.Portal)
		status int
		code   string // of the whole request
		ok     string // sub-calls in result, sorted
		errs   string // sub-call:code in result_error, sorted
		after  int    // status of a single call right after the batch
	}{
		{name: "all ok", status: 200, ok: "a b c", after: 200},
		{name: "counts once in the bucket", cfg: fakeportal.Config{Burst: 1, Rate: 0.001}, status: 200, ok: "a b c", after: 503},
		{name: "wrong chat", fault: func(p *fakeportal.Portal) { p.SetChatState(2, fakeportal.StateOperator) },
			status: 200, ok: "a c", errs: "b:WRONG_CHAT", after: 200},
		{name: "request-level fault fails the batch", fault: func(p *fakeportal.Portal) { p.QueryLimitBurst(1) },
			status: 503, code: "QUERY_LIMIT_EXCEEDED", after: 200},
		{name: "expired token fails the batch", fault: func(p *fakeportal.Portal) { p.FailNext(1, "expired_token") },
			status: 401, code: "expired_token", after: 200},
		{name: "batch error", fault: func(p *fakeportal.Portal) { p.FailNext(1, "ERROR_BATCH_METHOD_NOT_ALLOWED") },
			status: 405, code: "ERROR_BATCH_METHOD_NOT_ALLOWED", after: 200},
		{name: "method-level faults hit sub-calls in turn", fault: func(p *fakeportal.Portal) { p.FailNext(2, "CHAT_ID_EMPTY") },
			status: 200, ok: "c", errs: "a:CHAT_ID_EMPTY b:CHAT_ID_EMPTY", after: 200},
		{name: "a chat's fault hits its sub-call", fault: func(p *fakeportal.Portal) { p.FailChat(3, 1, "QUERY_LIMIT_EXCEEDED") },
			status: 200, ok: "a b", errs: "c:QUERY_LIMIT_EXCEEDED", after: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := start(t, tc.cfg)
			if tc.fault != nil {
				tc.fault(p)
			}
			status, ans := post(t, p.WebhookURL()+"batch", "application/json", batchBody)
			if code, _ := ans["error"].(string); status != tc.status || code != tc.code {
				t.Fatalf("%d %v, want %d %q", status, ans, tc.status, tc.code)
			}
			if tc.status == 200 {
				res, _ := ans["result"].(map[string]any)
				if _, ok := ans["time"].(map[string]any); !ok || res == nil {
					t.Fatalf("answer %v: want result and time", ans)
				}
				for _, part := range []string{"result", "result_error", "result_total", "result_next", "result_time"} {
					if _, ok := res[part]; !ok {
						t.Fatalf("result lacks %s: %v", part, res)
					}
				}
				if got := keys(res["result"]); got != tc.ok {
					t.Fatalf("result keys %q, want %q", got, tc.ok)
				}
				if got := keys(res["result_time"]); got != tc.ok {
					t.Fatalf("result_time keys %q, want %q", got, tc.ok)
				}
				var errs []string
				if m, ok := res["result_error"].(map[string]any); ok {
					for k, v := range m {
						e, _ := v.(map[string]any)
						if d, _ := e["error_description"].(string); d == "" {
							t.Fatalf("result_error %s=%v: want error and error_description", k, v)
						}
						errs = append(errs, fmt.Sprintf("%s:%v", k, e["error"]))
					}
				}
				sort.Strings(errs)
				if got := strings.Join(errs, " "); got != tc.errs {
					t.Fatalf("result_error %q, want %q", got, tc.errs)
				}
			}
			// sub-calls recorded with their keys, then the batch itself
			var rec []string
			for _, c := range p.Calls() {
				rec = append(rec, c.Batch+":"+c.Method)
			}
			want := ":batch"
			if tc.status == 200 {
				want = "a:imopenlines.bot.session.operator b:imopenlines.bot.session.operator c:imopenlines.bot.session.operator :batch"
			}
			if got := strings.Join(rec, " "); got != want {
				t.Fatalf("recorded %q, want %q", got, want)
			}
			if status, _ := post(t, p.WebhookURL()+"imopenlines.bot.session.operator", "application/json", `{"CHAT_ID":9}`); status != tc.after {
				t.Fatalf("single call after the batch: %d, want %d", status, tc.after)
			}
		})
	}
}

// keys lists a JSON object's keys, sorted; "" for PHP's empty [].
func keys(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		if l, isList := v.([]any); !isList || len(l) != 0 {
			b, _ := json.Marshal(v)
			return "not an object: " + string(b)
		}
		return ""
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
