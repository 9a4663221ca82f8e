package server

import (
	"encoding/json"
	"testing"

	"github.com/olbot/olbot/fakeportal"
)

// TestAttachmentsThroughThePortal: a message with a file (faq.yaml's
// delivery answer) reaches the portal, over its wire format, as
// imbot.message.add with an ATTACH the fake accepts (it refuses
// undocumented shapes), the text in MESSAGE beside it.
func TestAttachmentsThroughThePortal(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/faq.yaml") })
	e.install()
	chat := e.chat(7, 6401, "Ann")
	e.send(chat, chat.Join())
	e.settle()
	e.send(chat, chat.Say("Delivery"))
	e.settle()
	var found bool
	for _, m := range p.Messages("chat6401") {
		if m.Attach == nil {
			continue
		}
		got, _ := json.Marshal(m.Attach)
		const want = `[{"FILE":[{"LINK":"https://example.com/files/delivery-terms.pdf","NAME":"delivery-terms.pdf"}]}]`
		if string(got) != want || m.Text == "" || m.SkipConnector {
			t.Fatalf("message %q with ATTACH %s, want %s beside the text", m.Text, got, want)
		}
		found = true
	}
	if !found {
		t.Fatalf("no message with an attachment among %+v", p.Messages("chat6401"))
	}
	for _, c := range p.CallsOf("imbot.message.add") {
		if !c.OK() {
			t.Fatalf("the portal refused a message: %+v", c)
		}
	}
}
