package server

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// BenchmarkFormEventDecode: the form body of a chat message event as the
// fake portal posts it (~95 bracketed keys, 4.2 KB), decoded into the
// event as the handler does — straight into the event (typed), through
// its tree in one pass (one-pass), and through url.Values and the tree
// (two-step).
//
//	go test ./server -run '^$' -bench FormEventDecode -benchtime 5000x -count 3
func BenchmarkFormEventDecode(b *testing.B) {
	body := portalMessageBody()
	b.Run("typed", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for range b.N {
			ev, ok := bitrix24.DecodeEventBody(body)
			if !ok {
				b.Fatal("DecodeEventBody left the portal's body to the two steps")
			}
			if _, err := parseEvent(ev, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-pass", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for range b.N {
			tree, ok := bitrix24.DecodeFormBody(body)
			if !ok {
				b.Fatal("DecodeFormBody refused the portal's body")
			}
			if _, err := parseEvent(bitrix24.ParseEventTree(tree)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("two-step", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for range b.N {
			form, err := url.ParseQuery(body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := parseEvent(bitrix24.ParseEvent(form)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// portalMessageBody is a chat message as the fake portal posts it.
func portalMessageBody() string {
	p := fakeportal.New(fakeportal.Config{BaseURL: "http://127.0.0.1:1"})
	chat := p.Chat(1, 100, bitrix24.User{FirstName: "Anna", Name: "Anna"})
	return chat.Say("anna@example.com").Encode()
}

// TestPortalPostsDecodeTyped: the posts of a line's everyday conversation,
// as the fake portal builds them from the documented bodies, take the
// handler's typed path and decode to the event the tree gives.
func TestPortalPostsDecodeTyped(t *testing.T) {
	p := fakeportal.New(fakeportal.Config{BaseURL: "http://127.0.0.1:1"})
	chat := p.Chat(1, 100, bitrix24.User{FirstName: "Anna", Name: "Anna"})
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"join", chat.Join()},
		{"client message", chat.Say("anna@example.com")},
		{"operator message", chat.OperatorSay(bitrix24.User{ID: 7, Name: "Olga"}, "hello")},
		{"system message", chat.SystemSay("the session is closed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := bitrix24.DecodeEventBody(tc.form.Encode())
			if !ok {
				t.Fatal("left to the two steps")
			}
			want, err := bitrix24.ParseEvent(tc.form)
			if err != nil {
				t.Fatal(err)
			}
			want.Data = nil
			if !reflect.DeepEqual(ev, want) {
				t.Fatalf("typed event differs:\n got %+v\nwant %+v", ev, want)
			}
			gotClient, gotWhy := ev.Author()
			wantClient, wantWhy := want.Author()
			if gotClient != wantClient || gotWhy != wantWhy {
				t.Fatalf("Author() = %v %q, want %v %q", gotClient, gotWhy, wantClient, wantWhy)
			}
		})
	}
}
