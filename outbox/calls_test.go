package outbox

import (
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// TestCRMCalls: the CRM action goes to the chat's own binding, with only
// the fields the step chose and the title where the entity keeps one.
func TestCRMCalls(t *testing.T) {
	fields := map[string]string{"phone": "+79991234567", "topic": "call back"}
	base := engine.Channel{Member: "m1", Dialog: "chat42", Chat: 42, Bot: 7, Entity: "telegrambot|1|123|45"}
	tests := []struct {
		name         string
		ch           engine.Channel
		a            engine.CRM
		method, want string
	}{
		{"new lead with a title", base, engine.CRM{Entity: "lead", Fields: fields, Title: "Shop: call back"}, "crm.lead.add",
			`{"fields":{"COMMENTS":"topic: call back","IM":[{"VALUE":"imol|telegrambot|1|123|45","VALUE_TYPE":"OPENLINE"}],"PHONE":[{"VALUE":"+79991234567","VALUE_TYPE":"WORK"}],"TITLE":"Shop: call back"}}`},
		{"new lead without a title", base, engine.CRM{Entity: "lead", Fields: map[string]string{"name": "Anna"}}, "crm.lead.add",
			`{"fields":{"IM":[{"VALUE":"imol|telegrambot|1|123|45","VALUE_TYPE":"OPENLINE"}],"NAME":"Anna"}}`},
		{"bound lead", base, engine.CRM{Entity: "lead", LeadID: 9, Fields: fields, Title: "Shop: call back"}, "crm.lead.update",
			`{"fields":{"COMMENTS":"topic: call back","PHONE":[{"VALUE":"+79991234567","VALUE_TYPE":"WORK"}],"TITLE":"Shop: call back"},"id":9}`},
		{"bound contact: the title is a line of the comments", func() engine.Channel { c := base; c.Contact = 5; return c }(),
			engine.CRM{Entity: "lead", Fields: fields, Title: "Shop: call back"}, "crm.contact.update",
			`{"fields":{"COMMENTS":"title: Shop: call back\ntopic: call back","PHONE":[{"VALUE":"+79991234567","VALUE_TYPE":"WORK"}]},"id":5}`},
		{"bound deal: everything in the comments", func() engine.Channel { c := base; c.Deal = 6; return c }(),
			engine.CRM{Entity: "lead", Fields: fields, Title: "Shop: call back"}, "crm.deal.update",
			`{"fields":{"COMMENTS":"phone: +79991234567\ntitle: Shop: call back\ntopic: call back"},"id":6}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := engine.Dialog{Key: "b24:m1:chat42", Channel: tc.ch}
			calls, err := Calls(d, []engine.Action{tc.a}, time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 1 || calls[0].Method != tc.method || string(calls[0].Params) != tc.want {
				t.Fatalf("got %s %s\nwant %s %s", calls[0].Method, calls[0].Params, tc.method, tc.want)
			}
			if _, ok := fields["title"]; ok {
				t.Fatal("the action's fields were changed")
			}
		})
	}
}
