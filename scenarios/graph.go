package scenarios

import (
	"fmt"
	"regexp"
	"strings"
)

// Edge is one arrow of a scenario diagram, built from the transition table.
type Edge struct {
	From, To string // NoState stands for the start and for the end of the bot's part
	Label    string
	Kind     string
}

// Edges returns the scenario's diagram: every transition of the table (the
// self-loop of a bad answer included), plus an arrow to the end from each
// state that hands off or finishes. Order is the table's, so output is stable.
func (s *Scenario) Edges() []Edge {
	var out []Edge
	for _, t := range s.Table {
		e := Edge{From: t.From, To: t.To, Kind: t.Kind}
		switch t.Kind {
		case EdgeStart:
		case EdgeMissing:
			if t.To == s.Start {
				continue
			}
			e.Label = "state removed by a reload"
		case EdgeMenu:
			e.Label = "button " + t.Label
		case EdgeOn:
			e.Label = "on " + t.Label
		case EdgeCommand:
			e.Label = "command " + t.Label
		case EdgeAnswer:
			e.Label = answerLabel(s.States[t.From])
			if t.Label != "" {
				e.Label += " " + t.Label
			}
		case EdgeUnmatched:
			e.Label = "anything else"
		case EdgeRetry:
			e.Label = "bad answer"
		case EdgeFail:
			e.Label = "retries used up"
			if t.Implicit != "" {
				e.To, e.Label = NoState, "retries used up → operator"
			}
		case EdgeIdle:
			e.Label = "idle"
			if t.Implicit != "" {
				e.To, e.Label = NoState, "idle → finish"
			}
		case EdgeNext:
			e.Label = t.Label // a branch's condition, or "otherwise"
		case EdgeCall:
			e.Label = "call " + s.States[t.From].Call.Endpoint + " answered"
			if t.Label != "" {
				e.Label += ", " + t.Label
			}
		case EdgeCallError:
			e.Label = "call " + s.States[t.From].Call.Endpoint + " failed"
			if t.Implicit != "" {
				e.To, e.Label = NoState, e.Label+" → operator"
			}
		}
		out = append(out, e)
	}
	for _, name := range s.Order {
		st := s.States[name]
		var label string
		switch {
		case st.Operator != "":
			label = "operator"
		case st.Transfer != nil && st.Transfer.User != 0:
			label = fmt.Sprintf("transfer → user %d", st.Transfer.User)
		case st.Transfer != nil:
			label = fmt.Sprintf("transfer → line %d", st.Transfer.Line)
		case st.Finish:
			label = "finish"
		default:
			continue
		}
		if st.Note != nil {
			label += " + note"
		}
		out = append(out, Edge{From: name, To: NoState, Label: label, Kind: "end"})
	}
	return out
}

// Notes are what a state shows besides its edges: the images and files
// its messages carry, its link and call buttons (they lead nowhere in the
// dialog) and its note for the operator.
func (st *State) Notes() []string {
	out := st.SayAttach.notes(nil)
	out = st.AskAttach.notes(out)
	for i := range st.Menu {
		mi := &st.Menu[i]
		switch {
		case mi.URL != "":
			out = append(out, "link "+mi.Text+" → "+mi.URL)
		case mi.Phone != "":
			out = append(out, "call "+mi.Text+" → "+mi.Phone)
		}
	}
	if st.Note != nil {
		out = append(out, "note for the operator: "+st.Note.Raw)
	}
	return out
}

var plainID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Mermaid renders the scenario as a Mermaid state diagram.
func (s *Scenario) Mermaid() string {
	var b strings.Builder
	b.WriteString("---\ntitle: " + mermaidText(s.title()) + "\n---\nstateDiagram-v2\n")
	ids := map[string]string{NoState: NoState}
	for i, name := range s.Order {
		if plainID.MatchString(name) && name != "end" && name != "state" {
			ids[name] = name
			continue
		}
		ids[name] = fmt.Sprintf("s%d", i+1)
		fmt.Fprintf(&b, "    state %q as %s\n", name, ids[name])
	}
	for _, e := range s.Edges() {
		fmt.Fprintf(&b, "    %s --> %s", ids[e.From], ids[e.To])
		if e.Label != "" {
			b.WriteString(": " + mermaidText(e.Label))
		}
		b.WriteString("\n")
	}
	for _, name := range s.Order {
		if notes := s.States[name].Notes(); len(notes) > 0 {
			for i := range notes {
				notes[i] = mermaidText(notes[i])
			}
			fmt.Fprintf(&b, "    note right of %s : %s\n", ids[name], strings.Join(notes, "<br/>"))
		}
	}
	return b.String()
}

func (s *Scenario) title() string {
	if s.Title != "" {
		return s.Name + " — " + s.Title
	}
	return s.Name
}

// mermaidText keeps a label on one line and away from Mermaid's syntax.
func mermaidText(s string) string {
	r := strings.NewReplacer("\n", " ", ":", "∶", ";", ",", "#", "＃", "{", "(", "}", ")", "\"", "'")
	return r.Replace(s)
}

// DOT renders the scenario as a Graphviz digraph.
func (s *Scenario) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(s.Name))
	fmt.Fprintf(&b, "    label=%s;\n    labelloc=t;\n    rankdir=LR;\n", dotQuote(s.title()))
	b.WriteString("    node [shape=box, style=rounded];\n")
	b.WriteString("    \"[*]\" [shape=circle, label=\"\", width=0.2, style=filled, fillcolor=black];\n")
	for _, name := range s.Order {
		st := s.States[name]
		attrs := ""
		switch {
		case st.Terminal():
			attrs = " [peripheries=2]"
		case name == s.Start:
			attrs = " [style=\"rounded,bold\"]"
		}
		if notes := st.Notes(); len(notes) > 0 {
			label := dotQuote(name + "\n" + strings.Join(notes, "\n"))
			if attrs == "" {
				attrs = " [label=" + label + "]"
			} else {
				attrs = strings.TrimSuffix(attrs, "]") + ", label=" + label + "]"
			}
		}
		fmt.Fprintf(&b, "    %s%s;\n", dotQuote(name), attrs)
	}
	for _, e := range s.Edges() {
		fmt.Fprintf(&b, "    %s -> %s", dotQuote(e.From), dotQuote(e.To))
		if e.Label != "" {
			fmt.Fprintf(&b, " [label=%s]", dotQuote(e.Label))
		}
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
