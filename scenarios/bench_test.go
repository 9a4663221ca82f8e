package scenarios

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// generateScenario writes a valid scenario of n states: a chain of asks,
// menus, keyword routes and passing states, with global commands, idle
// handling, and templates that use fields collected earlier in the chain,
// plus the handoff and bye states the chain falls back to.
func generateScenario(n int) []byte {
	var b strings.Builder
	b.WriteString(`name: generated
title: Generated benchmark scenario
lines: [1, 2, 3]
start: s000
settings:
  retries: 2
  country: RU
  idle: 15m
  on_idle: bye
  on_missing_state: s000
commands:
  - match: [operator, human, оператор*, живо* человек*]
    goto: handoff
  - match: [start over, сначала]
    goto: s000
  - match: [bye, пока]
    goto: bye
states:
`)
	types := []string{"text", "name", "email", "phone", "number"}
	chain := n - 2
	name := func(i int) string { return fmt.Sprintf("s%03d", i) }
	lastField := "" // the field of the latest ask: every path to later states passes it
	for i := range chain {
		next := name(i + 1)
		if i == chain-1 {
			fmt.Fprintf(&b, "  %s:\n    say: \"Thank you, {{%s}}! That is all.\"\n    crm: lead\n    finish: true\n", name(i), lastField)
			break
		}
		greeting := "Hello, {{client}}!"
		if lastField != "" {
			greeting = "{{" + lastField + "}}, thank you."
		}
		switch i % 4 {
		case 0:
			field := fmt.Sprintf("f%03d", i)
			fmt.Fprintf(&b, "  %s:\n    ask: \"%s Question %d?\"\n    save: %s\n    type: %s\n    retry: \"Please answer question %d again.\"\n    on_fail: handoff\n    next: %s\n",
				name(i), greeting, i, field, types[(i/4)%len(types)], i, next)
			if types[(i/4)%len(types)] == "text" {
				b.WriteString("    validate: min=2,max=200\n")
			}
			lastField = field
		case 1:
			fmt.Fprintf(&b, "  %s:\n    say: \"%s What next?\"\n    menu:\n      - text: Continue %d\n        goto: %s\n      - text: Start over %d\n        goto: s000\n      - text: Talk to a person %d\n        goto: handoff\n    on_fail: handoff\n",
				name(i), greeting, i, next, i, i)
		case 2:
			fmt.Fprintf(&b, "  %s:\n    say: \"Type next, {{%s}}, or ask for an operator.\"\n    on:\n      - match: [next*, дальше, step %d]\n        goto: %s\n      - match: [back, назад]\n        goto: s000\n    next: %s\n",
				name(i), lastField, i, next, next)
		case 3:
			fmt.Fprintf(&b, "  %s:\n    say: \"Step %d of %d done.\"\n    next: %s\n", name(i), i, chain, next)
		}
	}
	b.WriteString(`  handoff:
    say: "Connecting you to an operator…"
    operator: any
  bye:
    say: "Closing the chat for now."
    finish: true
`)
	return []byte(b.String())
}

func TestGeneratedScenario(t *testing.T) {
	sc := mustParse(t, "generated.yaml", string(generateScenario(200)))
	if len(sc.States) != 200 {
		t.Errorf("%d states, want 200", len(sc.States))
	}
	if len(sc.Warnings) != 0 {
		t.Errorf("warnings:\n%v", sc.Warnings)
	}
	checkTable(t, sc)
}

// BenchmarkLoad200 measures load + check + compile of a 200-state scenario,
// the work of one reload of a large file.
func BenchmarkLoad200(b *testing.B) {
	src := generateScenario(200)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		sc, ps := Parse("generated.yaml", src)
		if sc == nil {
			b.Fatal(ps)
		}
	}
}

// BenchmarkLoadSupport measures loading the spec's support.yaml.
func BenchmarkLoadSupport(b *testing.B) {
	src, err := os.ReadFile(examplePath("support"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		sc, ps := Parse("support.yaml", src)
		if sc == nil {
			b.Fatal(ps)
		}
	}
}

// BenchmarkFire measures one move on a pooled machine, which the engine
// does for every client message.
func BenchmarkFire(b *testing.B) {
	sc := mustLoad(b, examplePath("support"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sc.Fire("welcome", "menu:1"); err != nil {
			b.Fatal(err)
		}
	}
}
