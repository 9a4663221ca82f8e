package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// allActions has every action kind, in every shape a step produces.
var allActions = []Action{
	Greet{Text: "Hello, Anna! I am the support assistant."},
	Greet{Welcome: true},
	Say{Text: "Delivery takes 2–5 days & costs <nothing>."},
	Say{Text: "What would you like to know?", Buttons: []string{"Delivery", "Talk to a person"}, Numbered: true},
	Say{Text: "Your order number?", Buttons: []string{"Back"}},
	Say{Buttons: []string{"Leave a request", "Talk to a person"}, Numbered: true},
	Say{Text: "[\u200bb]quoted[\u200b/b]"},
	Say{Text: "Our address", Image: "https://example.com/map.png", File: "https://example.com/prices.pdf"},
	CRM{Entity: "lead", Fields: map[string]string{"name": "Anna", "email": "anna@example.com", "comment": "line 1\nline 2"}},
	CRM{Entity: "lead", LeadID: 77, Fields: map[string]string{}},
	Operator{},
	Transfer{User: 15},
	Transfer{Line: 5, Leave: true},
	Finish{},
}

func TestMarshalActionsGolden(t *testing.T) {
	got, err := MarshalActions(allActions)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "actions.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestMarshalActionsGolden -update ./engine/ to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalActions:\n got %s\nwant %s", got, want)
	}

	// every object is tagged with its action's kind, in order
	var objs []map[string]any
	if err := json.Unmarshal(got, &objs); err != nil {
		t.Fatalf("not a JSON array of objects: %v", err)
	}
	if len(objs) != len(allActions) {
		t.Fatalf("%d objects, want %d", len(objs), len(allActions))
	}
	for i, o := range objs {
		if o["type"] != allActions[i].Kind() {
			t.Errorf("object %d type = %v, want %q", i, o["type"], allActions[i].Kind())
		}
	}
}

func TestMarshalActionsEmpty(t *testing.T) {
	for _, as := range [][]Action{nil, {}} {
		got, err := MarshalActions(as)
		if err != nil || string(got) != "[]" {
			t.Errorf("MarshalActions(%#v) = %s, %v; want [], nil", as, got, err)
		}
	}
}

func TestActionStrings(t *testing.T) {
	cases := []struct {
		a    Action
		kind string
		want string
	}{
		{Greet{Text: "Hi!"}, "greet", "[greeting] Hi!"},
		{Greet{Welcome: true}, "greet", "[greeting: the line's own welcome message]"},
		{Say{Text: "Hi."}, "say", "Hi."},
		{Say{Text: "Pick:", Buttons: []string{"A", "B"}, Numbered: true}, "say", "Pick:\n[1] A  [2] B"},
		{Say{Buttons: []string{"A", "B"}}, "say", "[1] A  [2] B"},
		{Say{Text: "Where", Image: "https://e.com/m.png"}, "say", "Where\n[image: https://e.com/m.png]"},
		{Say{Text: "Pick:", Buttons: []string{"A"}, File: "https://e.com/p.pdf"}, "say", "Pick:\n[1] A\n[file: https://e.com/p.pdf]"},
		{CRM{Entity: "lead", Fields: map[string]string{"name": "Anna", "email": "a@b.c"}}, "crm", "[crm new lead ← email=a@b.c, name=Anna]"},
		{CRM{Entity: "lead", LeadID: 7}, "crm", "[crm lead 7 ← ]"},
		{Operator{}, "operator", "[handoff → any free operator]"},
		{Transfer{User: 15}, "transfer", "[transfer → operator 15]"},
		{Transfer{Line: 5, Leave: true}, "transfer", "[transfer → line 5, bot leaves]"},
		{Finish{}, "finish", "[session finished]"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.a.Kind(); got != tc.kind {
				t.Errorf("Kind() = %q, want %q", got, tc.kind)
			}
			if got := tc.a.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
