package outbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestAttachCalls: a message with an image and a file goes out as
// imbot.message.add with ATTACH, or as imbot.v2.Chat.Message.send with
// fields.attach, both the short form of IMAGE and FILE blocks; the calls
// as stored are sent to a fake portal over HTTP, which accepts them
// (it refuses undocumented ATTACH shapes) and keeps the attachment.
func TestAttachCalls(t *testing.T) {
	say := engine.Say{Text: "Our address", Buttons: []string{"Back"}, Image: "https://example.com/map.png", File: "https://example.com/files/prices.pdf"}
	const blocks = `[{"IMAGE":[{"LINK":"https://example.com/map.png","NAME":"map.png"}]},{"FILE":[{"LINK":"https://example.com/files/prices.pdf","NAME":"prices.pdf"}]}]`
	for _, tc := range []struct {
		name string
		v2   bool
		want string
	}{
		{"v1", false, `"ATTACH":` + blocks},
		{"v2", true, `"attach":` + blocks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
			defer srv.Close()
			c, err := bitrix24.NewWebhook(p.WebhookURL(), "olbot-key")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			botID := p.AddBot("olbot", "olbot-key", "https://h.example/e")
			var v2 *bitrix24.V2
			if tc.v2 {
				info, err := c.V2Register(ctx, bitrix24.V2RegisterParams{Code: "olbot2", Token: "tok", Name: "olbot"})
				if err != nil {
					t.Fatal(err)
				}
				botID, v2 = info.ID, c.V2Bot(info.ID, "tok")
			}
			d := engine.Dialog{Key: "b24:m:chat7", Channel: engine.Channel{Member: "m", Dialog: "chat7", Chat: 7, Bot: botID}}
			cs, err := calls(d, []engine.Action{say}, time.Now(), tc.v2)
			if err != nil || len(cs) != 1 {
				t.Fatalf("calls: %v, %d", err, len(cs))
			}
			if !strings.Contains(string(cs[0].Params), tc.want) {
				t.Fatalf("%s %s\nlacks %s", cs[0].Method, cs[0].Params, tc.want)
			}
			r := bitrix24.Request{Method: cs[0].Method, Params: json.RawMessage(cs[0].Params)}
			if v2 != nil {
				r = v2.Prepare(r)
			}
			if _, err := c.Call(ctx, r.Method, r.Params); err != nil {
				t.Fatalf("the portal refused %s: %v", r.Method, err)
			}
			ms := p.Messages("chat7")
			if len(ms) != 1 {
				t.Fatalf("%d messages", len(ms))
			}
			got, _ := json.Marshal(ms[0].Attach)
			if string(got) != blocks || ms[0].Text != "Our address" {
				t.Fatalf("posted %q with ATTACH %s, want %s", ms[0].Text, got, blocks)
			}
		})
	}
	// a message without an attachment carries none
	cs, _ := calls(engine.Dialog{Key: "k", Channel: engine.Channel{Dialog: "chat7", Chat: 7, Bot: 1}}, []engine.Action{engine.Say{Text: "hi"}}, time.Now(), true)
	if strings.Contains(strings.ToLower(string(cs[0].Params)), "attach") {
		t.Fatalf("a plain message with an attachment: %s", cs[0].Params)
	}
}
