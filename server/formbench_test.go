package server

import (
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// BenchmarkFormEventDecode is the decode of a chat message as the portal
// posts it to /bitrix24/events (the fake portal's ONIMBOTMESSAGEADD: about
// 4 KB, 95 keys): the form, its tree, the event.
func BenchmarkFormEventDecode(b *testing.B) {
	body := portalMessageBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		form, err := parseForm(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parseEvent(form); err != nil {
			b.Fatal(err)
		}
	}
}

// portalMessageBody is a chat message as the fake portal posts it.
func portalMessageBody() string {
	p := fakeportal.New(fakeportal.Config{BaseURL: "http://127.0.0.1:1"})
	chat := p.Chat(1, 100, bitrix24.User{FirstName: "Anna", Name: "Anna"})
	return chat.Say("anna@example.com").Encode()
}
