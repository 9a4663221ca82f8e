package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/olbot/olbot/fakeportal"
)

// TestLinkButtonsAndNote: through the portal's wire format, a menu with
// link and call buttons is one keyboard (SEND choices, then LINK and
// ACTION=CALL) with the numbered fallback listing the links unnumbered;
// a handoff with a note posts the note with SKIP_CONNECTOR=Y — the
// operator sees it, the client's channel does not — before the handoff call.
func TestLinkButtonsAndNote(t *testing.T) {
	p := newPortal(t, fakeportal.Config{LineLanguages: map[int]string{4: "en"}})
	e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/bilingual.yaml") })
	e.install()
	chat := e.chat(4, 6301, "Ann")
	e.send(chat, chat.Join())
	e.settle()
	msgs := p.Messages("chat6301")
	if len(msgs) < 2 {
		t.Fatalf("messages %+v, want the greeting and the menu", msgs)
	}
	menu := msgs[len(msgs)-1]
	kb, _ := json.Marshal(menu.Keyboard)
	for _, want := range []string{
		`{"ACTION":"SEND","ACTION_VALUE":"Talk to a person","DISPLAY":"LINE","TEXT":"Talk to a person"}`,
		`{"DISPLAY":"LINE","LINK":"https://example.com/track","TEXT":"Track the parcel"}`,
		`{"ACTION":"CALL","ACTION_VALUE":"+74951234567","DISPLAY":"LINE","TEXT":"Call us"}`,
	} {
		if !strings.Contains(string(kb), want) {
			t.Errorf("keyboard %s lacks %s", kb, want)
		}
	}
	if !strings.Contains(menu.Text, "[SEND=4]4. Talk to a person[/SEND][BR]Track the parcel: https://example.com/track[BR]Call us: +74951234567") {
		t.Errorf("numbered fallback %q: want the links after the choices, without numbers", menu.Text)
	}
	if menu.SkipConnector {
		t.Error("the menu was kept from the client")
	}

	before := len(p.CallsFor(chat.ChatID))
	e.send(chat, chat.Say("operator"))
	e.settle()
	var got []string
	for _, c := range p.CallsFor(chat.ChatID)[before:] {
		if c.OK() {
			got = append(got, c.Method+" "+c.Str("SKIP_CONNECTOR"))
		}
	}
	want := []string{"imbot.message.add ", "imbot.message.add Y", "imopenlines.bot.session.operator "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q: the note before the handoff", got, want)
	}
	msgs = p.Messages("chat6301")
	note := msgs[len(msgs)-1]
	if !note.SkipConnector || note.Text != "Ann asks for a person. The client writes in English." {
		t.Fatalf("last message %+v, want the English note kept from the client's channel", note)
	}
}
