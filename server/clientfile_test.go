package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/funnel"
)

// TestClientFilesAndRatings: examples/claims.yaml through the portal's wire
// format and POST /v1/events: a client's file answers the file question
// (a file too large is asked again), the note carries its link, a rating
// is saved and counted on the funnel and in /metrics, and "0" in the
// rating question is the portal's own operator call.
func TestClientFilesAndRatings(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/claims.yaml") })
	e.install()

	t.Run("a file answers the file question on v1", func(t *testing.T) {
		chat := e.chat(7, 7101, "Anna")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("Report a damaged item"))
		e.send(chat, chat.Say("123456"))
		resp := e.send(chat, chat.SendFileOf(bitrix24.File{Name: "vase.jpg", Size: 20 << 20}, ""))
		if why, _ := resp["reason"].(string); !strings.Contains(why, "the file is 20 MB, the limit is 10 MB") {
			t.Fatalf("answer %v, want the size named", resp)
		}
		if d := e.record(e.key(chat)); d.State != "ask_photo" || d.Retries != 1 {
			t.Fatalf("state %q retries %d, want ask_photo asked again", d.State, d.Retries)
		}
		e.send(chat, chat.SendFileOf(bitrix24.File{Name: "vase.jpg", Size: 2 << 20}, "here"))
		d := e.record(e.key(chat))
		link := d.Fields["photo.url"]
		if d.Status != engine.HandedOff || d.Fields["photo"] != "vase.jpg" || d.Fields["photo.id"] == "" || !strings.Contains(link, "fileId="+d.Fields["photo.id"]) {
			t.Fatalf("dialog %s fields %v, want the photo saved with its id and link, handed off", d.Status, d.Fields)
		}
		e.settle()
		msgs := p.Messages("chat7101")
		note := msgs[len(msgs)-1]
		if !note.SkipConnector || note.Text != "Claim for order 123456: vase.jpg "+bitrix24.EscapeBB(link) {
			t.Fatalf("last message %+v, want the note with the file's link", note)
		}
	})

	rate := func(chatID int, answers ...string) engine.Dialog {
		chat := e.chat(7, chatID, "Boris")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("Rate our service"))
		for _, a := range answers {
			e.send(chat, chat.Say(a))
		}
		e.settle()
		return e.record(e.key(chat))
	}
	t.Run("ratings are saved and averaged", func(t *testing.T) {
		if d := rate(7102, "★★★★★"); d.Status != engine.Finished || d.Fields["score"] != "5" {
			t.Fatalf("dialog %s fields %v, want finished with score 5", d.Status, d.Fields)
		}
		if d := rate(7103, "6", "4/5"); d.Status != engine.Finished || d.Fields["score"] != "4" {
			t.Fatalf("dialog %s fields %v, want finished with score 4", d.Status, d.Fields)
		}
		var v funnel.FunnelView
		status, body := e.api(http.MethodGet, "/playground/api/funnel/claims", nil)
		if status != http.StatusOK {
			t.Fatalf("GET funnel: %d %s", status, body)
		}
		mustJSON(t, body, &v)
		if v.Ratings != 2 || v.RatingSum != 9 || v.RatingAverage != 4.5 {
			t.Fatalf("funnel ratings %d sum %d average %v, want 2, 9, 4.5", v.Ratings, v.RatingSum, v.RatingAverage)
		}
		status, body = e.request(http.MethodGet, "/metrics", "", nil, "")
		for _, want := range []string{`olbot_rating_average{scenario="claims"} 4.5`, `olbot_ratings_total{scenario="claims"} 2`} {
			if status != http.StatusOK || !strings.Contains(string(body), want) {
				t.Fatalf("/metrics (%d) lacks %s", status, want)
			}
		}
	})

	t.Run("0 in the rating question is the portal's operator call", func(t *testing.T) {
		chat := e.chat(7, 7104, "Clara")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("2"))
		e.settle()
		before := len(p.CallsFor(chat.ChatID))
		e.send(chat, chat.Say("0"))
		e.settle()
		d := e.record(e.key(chat))
		if d.Status != engine.HandedOff || d.Fields["score"] != "" {
			t.Fatalf("dialog %s fields %v, want handed off with no rating", d.Status, d.Fields)
		}
		if calls := p.CallsFor(chat.ChatID)[before:]; len(calls) != 0 {
			t.Fatalf("calls %v: the portal hands the chat over itself on 0", calls)
		}
		// the client's answer to the line's own rating prompt, at the
		// operator's close, reaches a handed-off dialog: ignored
		if resp := e.send(chat, chat.Say("5")); resp["outcome"] != "ignored" {
			t.Fatalf("answer %v, want the message ignored", resp)
		}
	})

	t.Run("POST /v1/events takes a file", func(t *testing.T) {
		e.event(EventRequest{Dialog: "f1", Line: 7, Type: "start"})
		e.event(EventRequest{Dialog: "f1", Type: "message", Text: "1"})
		e.event(EventRequest{Dialog: "f1", Type: "message", Text: "777"})
		size := int64(35341)
		resp := e.event(EventRequest{Dialog: "f1", Type: "file", File: &FileRequest{Name: "receipt.pdf", Size: &size, URL: "https://shop.example/r.pdf", ID: "9"}})
		f := resp.Dialog.Fields
		if resp.Dialog.Status != string(engine.HandedOff) || f["photo"] != "receipt.pdf" || f["photo.url"] != "https://shop.example/r.pdf" || f["photo.id"] != "9" {
			t.Fatalf("dialog %+v, want the receipt saved and handed off", resp.Dialog)
		}
		e.event(EventRequest{Dialog: "f2", Line: 7, Type: "start"})
		e.event(EventRequest{Dialog: "f2", Type: "message", Text: "1"})
		e.event(EventRequest{Dialog: "f2", Type: "message", Text: "778"})
		before := e.dialog("f2")
		for _, tc := range []struct{ name, body, field, want string }{
			{"no name", `{"dialog":"f2","type":"file","file":{"size":5}}`, "file.name", "needs its name"},
			{"a negative size", `{"dialog":"f2","type":"file","file":{"name":"a.jpg","size":-1}}`, "file.size", "0 bytes or more"},
			{"a link that is not http", `{"dialog":"f2","type":"file","file":{"name":"a.jpg","url":"ftp://x/a.jpg"}}`, "file.url", "http"},
			{"an unknown type", `{"dialog":"f2","type":"file","file":{"name":"a.jpg","type":"picture"}}`, "file.type", "picture"},
			{"an unknown key", `{"dialog":"f2","type":"file","file":{"name":"a.jpg","mime":"image/jpeg"}}`, "mime", "unknown field"},
			{"a long name", `{"dialog":"f2","type":"file","file":{"name":"` + strings.Repeat("a", 300) + `"}}`, "file.name", "longer than 255"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := e.api(http.MethodPost, "/v1/events", tc.body)
				got := parseError(t, body)
				if status != http.StatusBadRequest || got.Field != tc.field || !strings.Contains(got.Error, tc.want) {
					t.Fatalf("%d %+v, want 400 naming %s with %q", status, got, tc.field, tc.want)
				}
			})
		}
		if after := e.dialog("f2"); after.Rev != before.Rev {
			t.Fatalf("rejected files changed the dialog: rev %d → %d", before.Rev, after.Rev)
		}
	})
}

// TestClientFileV2Webhook: on the imbot.v2 bot a client's file, posted
// form-encoded (webhook mode), answers the file question: its name and id
// are saved and no link (the v2 event carries none); the note shows the
// name only.
func TestClientFileV2Webhook(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) {
		e.cfg.Bitrix24.BotAPI = "auto"
		e.dir = scenarioDir(t, "../examples/claims.yaml")
	})
	in := e.installV2()
	chat := p.V2Chat(in.V2BotID, 7, 821, bitrix24.User{FirstName: "Anna"})
	deliver := func(id int64) {
		t.Helper()
		for _, status := range p.V2Deliver(context.Background(), in.V2BotID) {
			if status != http.StatusOK {
				t.Fatalf("a webhook post of event %d was answered %d:\n%s", id, status, e.logs)
			}
		}
		e.settle()
	}
	deliver(chat.Join())
	deliver(chat.Say("Report a damaged item"))
	deliver(chat.Say("123456"))
	deliver(chat.SendFile(bitrix24.File{Name: "logs.zip", Size: 100}, ""))
	key := engine.KeyPortal + e.member() + ":" + chat.DialogID()
	if d := e.record(key); d.State != "ask_photo" || d.Retries != 1 {
		t.Fatalf("state %q retries %d, want the zip refused and the photo asked again", d.State, d.Retries)
	}
	deliver(chat.SendFile(bitrix24.File{ID: "138", Name: "vase.jpg", Size: 2 << 20}, ""))
	d := e.record(key)
	if d.Status != engine.HandedOff || d.Fields["photo"] != "vase.jpg" || d.Fields["photo.id"] != "138" || d.Fields["photo.url"] != "" {
		t.Fatalf("dialog %s fields %v, want the photo with its id, no link, handed off", d.Status, d.Fields)
	}
	var notes []string
	for _, c := range p.CallsOf(bitrix24.MethodV2MessageSend) {
		if strings.Contains(call(c), "Claim for order") {
			notes = append(notes, call(c))
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"message":"Claim for order 123456: vase.jpg "`) || !(strings.Contains(notes[0], `"skipConnector":true`) || strings.Contains(notes[0], `"skipConnector":"1"`)) {
		t.Fatalf("note calls %v, want one hidden from the client naming the photo", notes)
	}
}
