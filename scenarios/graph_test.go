package scenarios

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGraphGolden pins the Mermaid and Graphviz diagrams of the examples in
// testdata/graph/NAME.mermaid.golden and NAME.dot.golden (-update rewrites).
func TestGraphGolden(t *testing.T) {
	for _, name := range examples {
		sc := mustLoad(t, examplePath(name))
		t.Run(name+"/mermaid", func(t *testing.T) {
			golden(t, filepath.Join("testdata", "graph", name+".mermaid.golden"), []byte(sc.Mermaid()))
		})
		t.Run(name+"/dot", func(t *testing.T) {
			golden(t, filepath.Join("testdata", "graph", name+".dot.golden"), []byte(sc.DOT()))
		})
	}
}

// TestGraphStable renders twice from two loads: map iteration must not leak
// into the output.
func TestGraphStable(t *testing.T) {
	for _, name := range examples {
		a, b := mustLoad(t, examplePath(name)), mustLoad(t, examplePath(name))
		if a.Mermaid() != b.Mermaid() || a.DOT() != b.DOT() {
			t.Errorf("%s: diagrams differ between two loads", name)
		}
	}
}

// TestEdges checks that the diagram shows every transition of the table and
// an end arrow for each state that hands off or finishes.
func TestEdges(t *testing.T) {
	for _, name := range examples {
		sc := mustLoad(t, examplePath(name))
		edges := sc.Edges()
		ends := map[string]string{}
		n := 0
		for _, e := range edges {
			if e.Kind == "end" {
				ends[e.From] = e.Label
				if e.To != NoState {
					t.Errorf("%s: end edge %+v does not go to [*]", name, e)
				}
				continue
			}
			n++
		}
		skipped := 0 // the missing-state edge is drawn only when it differs from start
		if sc.MissingTarget() == sc.Start {
			skipped = 1
		}
		if n != len(sc.Table)-skipped {
			t.Errorf("%s: %d transition edges, want %d", name, n, len(sc.Table)-skipped)
		}
		for _, st := range sc.States {
			if _, ok := ends[st.Name]; ok != st.Terminal() {
				t.Errorf("%s: state %s terminal=%v but end edge=%v", name, st.Name, st.Terminal(), ok)
			}
		}
	}
	ru := mustLoad(t, examplePath("russian"))
	for _, e := range ru.Edges() {
		if e.From == "zapisan" && e.Kind == "end" && e.Label != "transfer → line 5" {
			t.Errorf("zapisan end label=%q", e.Label)
		}
	}
}

// TestGraphEscaping checks names and labels that would break the diagram
// syntaxes: quotes, colons, Mermaid keywords, non-ASCII state names.
func TestGraphEscaping(t *testing.T) {
	sc := mustParse(t, "esc.yaml", `name: esc
title: 'Quotes " and: colons; #hash {braces}'
start: end
states:
  end:
    say: hi
    menu:
      - text: 'Say "yes": now'
        goto: состояние
      - text: a\b
        goto: state
    on_fail: state
  состояние:
    transfer: {user: 7}
  state:
    finish: true
`)
	m := sc.Mermaid()
	for _, want := range []string{
		`state "end" as s1`, `state "состояние" as s2`, `state "state" as s3`,
		"s1 --> s2: button Say 'yes'∶ now",
		"s2 --> [*]: transfer → user 7",
		"title: esc — Quotes ' and∶ colons, ＃hash (braces)",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("Mermaid lacks %q:\n%s", want, m)
		}
	}
	d := sc.DOT()
	for _, want := range []string{
		`"end" -> "состояние" [label="button Say \"yes\": now"];`,
		`"end" -> "state" [label="button a\\b"];`,
		`digraph "esc" {`,
		`"state" [peripheries=2];`,
		`"end" [style="rounded,bold"];`,
	} {
		if !strings.Contains(d, want) {
			t.Errorf("DOT lacks %q:\n%s", want, d)
		}
	}
}
