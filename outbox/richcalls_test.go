package outbox

import (
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// TestRichCalls: link and call buttons and the operator note as each bot
// platform's call: imbot.message.add (KEYBOARD LINK / ACTION=CALL,
// SKIP_CONNECTOR=Y) and imbot.v2.Chat.Message.send (fields.keyboard,
// fields.skipConnector).
func TestRichCalls(t *testing.T) {
	d := engine.Dialog{Key: "b24:m:chat7", Channel: engine.Channel{Member: "m", Dialog: "chat7", Chat: 7, Bot: 11}}
	say := engine.Say{Text: "Pick one", Buttons: []string{"Delivery"}, Numbered: true,
		Links: []engine.Link{{Text: "Track", URL: "https://example.com/t"}, {Text: "Call us", Phone: "+74951234567"}}}
	note := engine.Note{Text: "Ann wants a refund"}
	for _, tc := range []struct {
		name   string
		v2     bool
		action engine.Action
		want   string
	}{
		{"v1 links", false, say, `"KEYBOARD":{"BOT_ID":11,"BUTTONS":[{"ACTION":"SEND","ACTION_VALUE":"Delivery","DISPLAY":"LINE","TEXT":"Delivery"},{"DISPLAY":"LINE","LINK":"https://example.com/t","TEXT":"Track"},{"ACTION":"CALL","ACTION_VALUE":"+74951234567","DISPLAY":"LINE","TEXT":"Call us"}]}`},
		{"v1 fallback", false, say, `"MESSAGE":"Pick one[BR][SEND=1]1. Delivery[/SEND][BR]Track: https://example.com/t[BR]Call us: +74951234567"`},
		{"v2 links", true, say, `"keyboard":[{"ACTION":"SEND","ACTION_VALUE":"Delivery","DISPLAY":"LINE","TEXT":"Delivery"},{"DISPLAY":"LINE","LINK":"https://example.com/t","TEXT":"Track"},{"ACTION":"CALL","ACTION_VALUE":"+74951234567","DISPLAY":"LINE","TEXT":"Call us"}]`},
		{"v1 note", false, note, `"SKIP_CONNECTOR":"Y"`},
		{"v2 note", true, note, `"skipConnector":true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := calls(d, []engine.Action{tc.action}, time.Now(), tc.v2)
			if err != nil || len(cs) != 1 {
				t.Fatalf("calls: %v, %d", err, len(cs))
			}
			if !strings.Contains(string(cs[0].Params), tc.want) {
				t.Fatalf("%s %s\nlacks %s", cs[0].Method, cs[0].Params, tc.want)
			}
		})
	}
	// a plain message is not kept from the client
	cs, _ := calls(d, []engine.Action{engine.Say{Text: "hi"}}, time.Now(), false)
	if strings.Contains(string(cs[0].Params), "SKIP_CONNECTOR") {
		t.Fatalf("a plain message with SKIP_CONNECTOR: %s", cs[0].Params)
	}
}
