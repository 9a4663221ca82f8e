package engine

import (
	"reflect"
	"testing"
)

// TestCRMChoice: crm: lead writes every collected field; the map form only
// the listed ones (a listed field not collected on this path is left out)
// and renders the title from the fields, unescaped.
func TestCRMChoice(t *testing.T) {
	const head = `
start: ask_name
states:
  ask_name:
    ask: "Name?"
    save: name
    on_fail: bye
    next: ask_topic
  ask_topic:
    ask: "Topic?"
    save: topic
    on_fail: bye
    next: done
  other:
    ask: "Email?"
    save: email
    on_fail: bye
    next: done
  bye:
    finish: true
  done:
    set: {source: bot}
    finish: true
`
	tests := []struct {
		name string
		crm  string
		want CRM
	}{
		{"all fields", "lead", CRM{Entity: "lead", Fields: fields("name", "Anna", "topic", "[b]refund[/b]", "source", "bot")}},
		{"listed fields and a title", `{lead: {fields: [topic, name, email], title: "Request: {{topic}} from {{client}}"}}`,
			CRM{Entity: "lead", Fields: fields("name", "Anna", "topic", "[b]refund[/b]"), Title: "Request: [b]refund[/b] from Ann"}},
		{"a title only", `{lead: {title: "Request"}}`, CRM{Entity: "lead", Fields: fields("name", "Anna", "topic", "[b]refund[/b]", "source", "bot"), Title: "Request"}},
		{"lead with nothing", `{lead: }`, CRM{Entity: "lead", Fields: fields("name", "Anna", "topic", "[b]refund[/b]", "source", "bot")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustParse(t, head+"    crm: "+tc.crm+"\n")
			d := Dialog{Key: "api:crm"}
			var last Result
			for _, ev := range timed(Event{Type: Start, Client: "Ann"}, msg("Anna"), msg("[b]refund[/b]")) {
				r, err := Step(sc, d, ev)
				if err != nil {
					t.Fatal(err)
				}
				d, last = r.Dialog, r
			}
			var got []CRM
			for _, a := range last.Actions {
				if c, ok := a.(CRM); ok {
					got = append(got, c)
				}
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("CRM actions %+v, want %+v", got, tc.want)
			}
		})
	}
}
