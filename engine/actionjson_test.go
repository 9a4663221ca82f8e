package engine

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/olbot/olbot/jsonenc"
)

// marshalActionsReflect is the reference: every action through
// encoding/json (MarshalActions before the hand-written encoder).
func marshalActionsReflect(t testing.TB, actions []Action) []byte {
	t.Helper()
	out := []byte{'['}
	for i, a := range actions {
		if i > 0 {
			out = append(out, ',')
		}
		var err error
		if out, err = appendActionReflect(out, a); err != nil {
			t.Fatal(err)
		}
	}
	return append(out, ']')
}

// TestActionEncoderFields fails when an action type's fields change: the
// hand-written encoder (actionjson.go) must learn the new field, and its
// list in fastActions be updated; until then that type is encoded through
// encoding/json.
func TestActionEncoderFields(t *testing.T) {
	for typ, ok := range fastActions {
		if !ok {
			t.Errorf("%s has fields %q the hand-written encoder does not know: teach appendAction and update fastActions", typ, jsonenc.Fields(typ))
		}
	}
}

func TestAppendActionsSameBytes(t *testing.T) {
	extra := []Action{
		Note{Text: "Client <wants> a callback & more"},
		Lookup{Endpoint: "orders", Method: "GET", Path: "/orders/1?x=<y>"},
		Lookup{Endpoint: "crm", Method: "POST"},
		Say{Text: "Here", Image: "https://example.com/a.png?x=1&y=<2>", File: "https://example.com/price list.pdf"},
		Say{Text: "Pick", Links: []Link{{Text: "Site", URL: "https://example.com/?a=1&b=2"}, {Text: "Call", Phone: "+79990000000"}}},
		CRM{Entity: "lead", Title: "Request \u2028 from chat", Fields: nil},
		&Say{Text: "a pointer goes through encoding/json"},
	}
	all := append(append([]Action(nil), allActions...), extra...)
	got, err := AppendActions(nil, all)
	if err != nil {
		t.Fatal(err)
	}
	if want := marshalActionsReflect(t, all); !bytes.Equal(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// appending keeps what was there
	got, _ = AppendActions([]byte("x"), all[:1])
	if want := "x" + string(marshalActionsReflect(t, all[:1])); string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestAppendActionsAllocations(t *testing.T) {
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() { _, _ = AppendActions(buf[:0], allActions) })
	if n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}

// fuzzInput turns fuzz bytes into choices and strings.
type fuzzInput struct{ b []byte }

func (f *fuzzInput) n(max int) int {
	if len(f.b) == 0 {
		return 0
	}
	v := int(f.b[0]) % max
	f.b = f.b[1:]
	return v
}

func (f *fuzzInput) str() string {
	n := f.n(12)
	if n > len(f.b) {
		n = len(f.b)
	}
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

func (f *fuzzInput) num() int {
	if len(f.b) < 4 {
		return f.n(3) - 1
	}
	v := int(int32(binary.LittleEndian.Uint32(f.b)))
	f.b = f.b[4:]
	return v
}

func (f *fuzzInput) strs() []string {
	k := f.n(4)
	if k == 0 {
		return nil
	}
	out := make([]string, k)
	for i := range out {
		out[i] = f.str()
	}
	return out
}

func (f *fuzzInput) action() Action {
	switch f.n(9) {
	case 0:
		return Greet{Text: f.str(), Welcome: f.n(2) == 1}
	case 1:
		s := Say{Text: f.str(), Buttons: f.strs(), Numbered: f.n(2) == 1, Image: f.str(), File: f.str()}
		if k := f.n(3); k > 0 {
			for range k {
				s.Links = append(s.Links, Link{Text: f.str(), URL: f.str(), Phone: f.str()})
			}
		}
		if f.n(3) == 0 && s.Buttons == nil {
			s.Buttons = []string{}
		}
		return s
	case 2:
		c := CRM{Entity: f.str(), LeadID: f.num(), Title: f.str()}
		if k := f.n(5); k > 0 {
			c.Fields = map[string]string{}
			for range k - 1 {
				c.Fields[f.str()] = f.str()
			}
		}
		return c
	case 3:
		return Operator{}
	case 4:
		return Transfer{User: f.num(), Line: f.num(), Leave: f.n(2) == 1}
	case 5:
		return Finish{}
	case 6:
		return Note{Text: f.str()}
	case 7:
		return Lookup{Endpoint: f.str(), Method: f.str(), Path: f.str()}
	default:
		return Say{Text: f.str()}
	}
}

// FuzzAppendActions compares the hand-written encoder with encoding/json
// on random lists of actions.
func FuzzAppendActions(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x05<b>&\x02\x03ab\x01c\x02\x01\x02\x05\xff\xfe\x00x"))
	f.Add([]byte("\x02\x03lead\x10\x00\x00\x00\x04\x04\x02k1\x02v1\x01\xe2\x01\x80"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		var actions []Action
		for len(in.b) > 0 && len(actions) < 8 {
			actions = append(actions, in.action())
		}
		got, err := AppendActions(nil, actions)
		if err != nil {
			t.Fatal(err)
		}
		if want := marshalActionsReflect(t, actions); !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", actions, got, want)
		}
	})
}
