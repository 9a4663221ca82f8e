package pull_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/pull"
)

// TestDialogInput polls the fake portal's events of one Open Lines chat
// and maps each: the client's join, messages and menu commands become
// steps of the chat's dialog; everything else is skipped with a reason.
func TestDialogInput(t *testing.T) {
	e := newEnv(t)
	chat := e.chat
	chat.Join()
	chat.Say("hello")
	chat.OperatorSay(bitrix24.User{ID: 1, Name: "John Smith", FirstName: "John"}, "I am here")
	chat.SystemSay("The dialog was transferred")
	chat.Command("menu", "2", "keyboard")
	chat.Command("help", "topic", "textarea")
	chat.SendFile(bitrix24.File{Name: "receipt.pdf", Size: 35341}, "")
	chat.SendFile(bitrix24.File{Name: "photo.jpg", Size: 10}, "the box")
	f, err := fakeportal.LoadFixture("v2.data.onimbotv2messageadd") // a group chat, as documented
	if err != nil {
		t.Fatal(err)
	}
	group, _ := f.Tree()
	group["bot"].(map[string]any)["id"] = e.bot.ID()
	e.portal.V2Push(e.bot.ID(), bitrix24.EventV2MessageAdd, group)
	e.portal.V2DeleteBot(e.bot.ID())

	page, err := e.bot.Events(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const key = "b24:fakeportal-member-0001:chat1777"
	for i, want := range []struct {
		typ    engine.EventType
		text   string
		button int
		id     string // the id's first letter: m<message id>, c<message id>:<command id>, j<event id>
		skip   string
		file   string // the file's name, "" for none
	}{
		{typ: engine.Start, id: "j"},
		{typ: engine.Message, text: "hello", id: "m"},
		{skip: "a message of the operator, not the client's"},
		{skip: "a message of the system, not the client's"},
		{typ: engine.Button, button: 2, id: "c"},
		{skip: `command "/help" with params "topic" is not a menu button`},
		{typ: engine.File, id: "m", file: "receipt.pdf"},
		{typ: engine.Message, text: "the box", id: "m", file: "photo.jpg"},
		{skip: "not an Open Lines chat"},
		{skip: fmt.Sprintf("bot %d was deleted on the portal", e.bot.ID())},
	} {
		ev, err := bitrix24.DecodeV2Event(page.Events[i])
		if err != nil {
			t.Fatal(err)
		}
		in, skip := pull.DialogInput("fakeportal-member-0001", "portal.example", ev, e.clk.Now())
		if skip != want.skip {
			t.Fatalf("event %d (%s): skip %q, want %q", i, ev.Type, skip, want.skip)
		}
		if skip != "" {
			continue
		}
		got := in.Event
		if in.Key != key || got.Type != want.typ || got.Text != want.text || got.Button != want.button || got.Line != 1 || got.Client != "Anna" {
			t.Fatalf("event %d: %s %+v", i, in.Key, got)
		}
		if name := fileName(got); name != want.file || got.File != nil && (got.File.ID == "" || got.File.URL != "") {
			t.Fatalf("event %d: file %+v, want %q with its id and no link", i, got.File, want.file)
		}
		if got.ID == "" || got.ID[:1] != want.id {
			t.Fatalf("event %d: id %q, want prefix %q", i, got.ID, want.id)
		}
		if ch := in.Channel; ch.Dialog != "chat1777" || ch.Chat != 1777 || ch.Bot != e.bot.ID() || ch.Member != "fakeportal-member-0001" || ch.Domain != "portal.example" ||
			ch.Entity != chat.EntityID() {
			t.Fatalf("event %d: channel %+v", i, ch)
		}
	}
}

func fileName(ev engine.Event) string {
	if ev.File == nil {
		return ""
	}
	return ev.File.Name
}
