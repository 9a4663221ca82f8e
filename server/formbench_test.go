package server

import (
	"net/url"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// BenchmarkFormEventDecode is the decode of a chat message as the portal
// posts it to /bitrix24/events (the fake portal's ONIMBOTMESSAGEADD: about
// 4 KB, 95 keys) into the event: "one-pass" is the handler's path (the
// body straight into the form's tree), "two-step" the url.Values in
// between, the path of a body the one pass leaves alone.
func BenchmarkFormEventDecode(b *testing.B) {
	body := portalMessageBody()
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
