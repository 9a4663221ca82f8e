package bitrix24

import (
	"bytes"
	"encoding/json"
	"net/url"
	"testing"
)

// batchClients are a webhook client that adds CLIENT_ID to imbot.* calls
// and one that adds nothing.
func batchClients(t testing.TB) []*Client {
	t.Helper()
	hook, err := NewWebhook("https://example.bitrix24.com/rest/1/abc123/", "local.fakeportal.app")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewWebhook("https://example.bitrix24.com/rest/1/abc123/", "")
	if err != nil {
		t.Fatal(err)
	}
	return []*Client{hook, plain}
}

// sameCommand checks BatchCommand against the generic tree path where the
// one-pass path answers, and reports whether it did. (Where it does not,
// BatchCommand is the tree path, which picks one of two values flattened
// to one form key at random.)
func sameCommand(t testing.TB, c *Client, method string, params []byte) bool {
	t.Helper()
	if !validMethod(method) {
		return false
	}
	if _, fast := c.batchQueryFast(method, params); !fast {
		return false
	}
	call := BatchCall{Method: method, Params: json.RawMessage(params)}
	want, wantErr := c.batchCommandTree(call)
	got, err := c.BatchCommand(call)
	if (err != nil) != (wantErr != nil) || got != want {
		t.Fatalf("BatchCommand(%s, %s) = %q, %v; the tree path %q, %v", method, params, got, err, want, wantErr)
	}
	return true
}

func TestBatchQueryFast(t *testing.T) {
	tests := []struct {
		method, params string
		fast           bool
	}{
		// outbox.calls' params (json.Marshal of the requests)
		{"imbot.message.add", `{"BOT_ID":39,"DIALOG_ID":"chat1777","KEYBOARD":[{"TEXT":"Leave a request","COMMAND":"olbot","COMMAND_PARAMS":"1","DISPLAY":"LINE","BLOCK":"Y"}],"MESSAGE":"Hello! How can we help?"}`, true},
		{"imopenlines.bot.session.message.send", `{"CHAT_ID":1777,"MESSAGE":"","NAME":"WELCOME"}`, true},
		{"imopenlines.bot.session.transfer", `{"CHAT_ID":1777,"LEAVE":"N","USER_ID":5}`, true},
		{"imbot.message.add", `{"DIALOG_ID":"chat1","ATTACH":{"BLOCKS":[{"IMAGE":{"LINK":"https://example.com/a.png"}}]},"MESSAGE":"See"}`, true},
		{"imbot.v2.Chat.Message.send", `{"botId":7,"dialogId":"chat1","fields":{"message":"Hi","keyboard":{"buttons":[{"text":"A"}]},"urlPreview":false}}`, true},
		{"imbot.message.add", `{"MESSAGE":"Ünïcödé — ok","X":null,"Y":{},"Z":[],"N":-1.5e3,"B":true}`, true},
		{"imbot.message.add", ` { "MESSAGE" : "spaced" , "auth" : {"token":"x"} } `, true},
		{"imbot.message.add", `{"CLIENT_ID":"mine","MESSAGE":"x"}`, true},
		{"imbot.message.add", `{}`, true},
		{"batch", `{"halt":0}`, true},
		// the tree path's: escapes, duplicates, two keys of one form key, not an object
		{"imbot.message.add", `{"MESSAGE":"line\nbreak \u003cb\u003e"}`, false},
		{"imbot.message.add", `{"MESSAGE":"a","MESSAGE":"b"}`, false},
		{"imbot.message.add", `{"A":{"B":1},"A[B]":2}`, false},
		{"imbot.message.add", `{"A":{"B":1,"B":{"C":2}}}`, false},
		{"imbot.message.add", `null`, false},
		{"imbot.message.add", `[1]`, false},
		{"imbot.message.add", `{"MESSAGE":"x"} trailing`, false},
		{"imbot.message.add", `{"MESSAGE":01}`, false},
		{"imbot.message.add", `{"MESSAGE":"\xff"}`, false},
		{"bad method!", `{"MESSAGE":"x"}`, false},
	}
	for _, c := range batchClients(t) {
		for _, tt := range tests {
			if fast := sameCommand(t, c, tt.method, []byte(tt.params)); fast != tt.fast {
				t.Errorf("%s %s: fast path %v, want %v", tt.method, tt.params, fast, tt.fast)
			}
		}
	}
}

// FuzzBatchCommand compares BatchCommand's one-pass path with the tree
// path on random params.
func FuzzBatchCommand(f *testing.F) {
	f.Add("imbot.message.add", []byte(`{"BOT_ID":39,"DIALOG_ID":"chat1777","KEYBOARD":[{"TEXT":"Yes","COMMAND":"olbot"}],"MESSAGE":"Pick one"}`))
	f.Add("imopenlines.bot.session.finish", []byte(`{"CHAT_ID":1777}`))
	f.Add("imbot.message.add", []byte(`{"a":{"b":[1,2,{"c":true}]},"d":null,"e":-0.5E+2,"AUTH":"x","menu":[]}`))
	f.Add("crm.lead.add", []byte(`{"fields":{"TITLE":"Anna","PHONE":[{"VALUE":"+7 900","VALUE_TYPE":"WORK"}]}}`))
	clients := batchClients(f)
	f.Fuzz(func(t *testing.T, method string, params []byte) {
		for _, c := range clients {
			sameCommand(t, c, method, params)
		}
	})
}

// BenchmarkBatchCommand renders a reply with buttons, the outbox's most
// frequent call, through the one-pass path and through the tree.
//
//	go test -run '^$' -bench BatchCommand -benchmem ./bitrix24/
func BenchmarkBatchCommand(b *testing.B) {
	c := batchClients(b)[0]
	call := BatchCall{Method: "imbot.message.add", Params: json.RawMessage(`{"BOT_ID":39,"DIALOG_ID":"chat1777","KEYBOARD":[{"TEXT":"Leave a request","COMMAND":"olbot","COMMAND_PARAMS":"1","DISPLAY":"LINE","BLOCK":"Y"},{"TEXT":"Talk to an operator","COMMAND":"olbot","COMMAND_PARAMS":"2","DISPLAY":"LINE","BLOCK":"Y"}],"MESSAGE":"Hello! How can we help?"}`)}
	for _, path := range []struct {
		name string
		fn   func(BatchCall) (string, error)
	}{{"one-pass", c.BatchCommand}, {"tree", c.batchCommandTree}} {
		b.Run(path.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := path.fn(call); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzQueryEscape compares AppendQueryEscape with url.QueryEscape.
func FuzzQueryEscape(f *testing.F) {
	for _, s := range []string{"", "KEYBOARD[0][TEXT]", "a b+c&d=e/f?g", "Ünï~-_.", "\x00\xff%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendQueryEscape([]byte("x"), s)), "x"+url.QueryEscape(s); got != want {
			t.Fatalf("AppendQueryEscape(%q) = %q, want %q", s, got, want)
		}
	})
}

// FuzzAppendEncodedForm compares AppendEncodedForm with
// EncodeForm(tree).Encode() on trees decoded from random JSON objects,
// where the direct path answers (elsewhere both are EncodeForm, which
// keeps either of two values flattened to one key).
func FuzzAppendEncodedForm(f *testing.F) {
	f.Add([]byte(`{"event":"ONIMBOTMESSAGEADD","data":{"PARAMS":{"MESSAGE":"Hi there & <you>","CHAT_ID":"1777"},"BOT":{"39":{"BOT_ID":"39"}}},"ts":"1","auth":{"domain":"x.bitrix24.com"}}`))
	f.Add([]byte(`{"a":[1,"b",true,false,null,{"c":[]}],"d":{},"e":-1.5}`))
	f.Add([]byte(`{"a":{"b":1},"a[b]":2}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var tree map[string]any
		if d.Decode(&tree) != nil {
			return
		}
		if _, ok := flatTree(nil, "", tree, true); !ok {
			return
		}
		want := EncodeForm(tree).Encode()
		if got := string(AppendEncodedForm([]byte("x"), tree)); got != "x"+want && !ambiguous(tree) {
			t.Fatalf("AppendEncodedForm = %q, EncodeForm(…).Encode() = %q", got, want)
		}
	})
}

// ambiguous reports whether two paths of tree flatten to one key.
func ambiguous(tree map[string]any) bool {
	pairs, _ := flatTree(nil, "", tree, true)
	seen := map[string]bool{}
	for _, p := range pairs {
		if seen[p.key] {
			return true
		}
		seen[p.key] = true
	}
	return false
}
