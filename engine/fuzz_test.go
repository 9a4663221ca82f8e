package engine

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/olbot/olbot/scenarios"
)

// To fuzz (the seed corpus in testdata/fuzz/FuzzRender runs in every go test):
//
//	go test -run='^$' -fuzz='^FuzzRender$' -fuzztime=60s ./engine/

// renderScenario asks for a name and then says tpl, a template an author
// wrote; the greeting names the client.
func renderScenario(tpl string) string {
	return `start: q
states:
  q:
    greet: "Hi, {{client}}!"
    ask: "Your name?"
    save: name
    next: done
  done:
    say: ` + yamlQuote(tpl) + `
    finish: true
`
}

// yamlQuote writes s as a YAML double-quoted scalar that decodes back to s
// (after invalid UTF-8 became U+FFFD): every character YAML does not allow
// raw is escaped.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r <= 0x7e, r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd && r != 0xfeff, r >= 0x10000:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// FuzzRender checks the template promise with an author's text, a client's
// name and a client's answer all chosen by the fuzzer: no panic; inserted
// values are escaped (every "[" they bring is followed by U+200B) and never
// expanded again (a client called "{{name}}" is greeted literally); what
// the template itself says is kept as written.
func FuzzRender(f *testing.F) {
	for _, s := range [][3]string{
		{"Thanks, {{name}}!", "Anna", "anna"},
		{"Hello, {{client}}! You are {{name}}.", "{{name}}", "[URL=http://evil.example]click[/URL]"},
		{"{{ name }} and {{client}}", "", "{{client}}"},
		{"[B]Bold[/B] {{name}}", "[b]x", "[[[name]]] {{"},
		{"no fields at all", "Анна", "Анна-Мария"},
		{"{{client}}, {{client}},{{client}}", "", "x"},
		{"broken {{name", "a", "b"},
		{"{{unknown}}", "a", "b"},
		{"\u200b[{{name}}", "\xff", "line\nlevel=ERROR msg=forged"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, tpl, client, answer string) {
		src := renderScenario(tpl)
		sc, ps := scenarios.Parse("render.yaml", []byte(src))
		if sc == nil {
			// an unknown field or a broken {{: the loader's checks, covered
			// by scenarios.FuzzParse; they must still explain themselves
			if !ps.HasErrors() {
				t.Fatalf("no scenario and no error for\n%s", src)
			}
			return
		}
		first, err := Step(sc, Dialog{Key: "fuzz"}, Event{Type: Start, Client: client, Time: t0})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		wantGreet := "Hi!"
		if client != "" {
			wantGreet = "Hi, " + EscapeBB(client) + "!"
		}
		if g, ok := first.Actions[0].(Greet); !ok || g.Text != wantGreet {
			t.Fatalf("greeting %#v, want %q", first.Actions[0], wantGreet)
		}
		res, err := Step(sc, first.Dialog, Event{Type: Message, Text: answer, Time: t0.Add(1)})
		if err != nil {
			t.Fatalf("answer %q: %v", answer, err)
		}
		if res.Dialog.State != "done" {
			return // an empty answer asked again, or "0" called an operator
		}
		say, ok := res.Actions[0].(Say)
		if !ok {
			t.Fatalf("first action %#v, want the done state's message", res.Actions[0])
		}
		d := res.Dialog
		values := map[string]string{scenarios.ClientField: d.Client}
		for k, v := range d.Fields {
			values[k] = v
		}
		if got, want := say.Text, expectRender(sc.States["done"].Say, values); got != want {
			t.Fatalf("rendered %q, want %q\ntemplate %q, values %q", got, want, sc.States["done"].Say.Raw, values)
		}
		for _, field := range sc.States["done"].Say.Fields {
			if v := values[field]; v != "" && !strings.Contains(say.Text, EscapeBB(v)) {
				t.Fatalf("rendered %q does not hold %s=%q literally", say.Text, field, v)
			}
		}
		if got, most := unescaped(say.Text), unescaped(sc.States["done"].Say.Raw); got > most {
			t.Fatalf("rendered %q has %d unescaped \"[\", the template only %d: a value opened a BB-code", say.Text, got, most)
		}
		// each on its own: "\xdc" and "\xba" are invalid, "\xdc\xba" is U+073A
		if utf8.ValidString(tpl) && utf8.ValidString(client) && utf8.ValidString(answer) && !utf8.ValidString(say.Text) {
			t.Fatalf("valid input rendered invalid UTF-8: %q", say.Text)
		}
	})
}

// expectRender renders t the slow, obvious way: the template is rendered
// with a marker in place of every non-empty value, then each marker becomes
// the escaped value. Markers start with U+E000, which no marker repeats
// inside, so a marker cannot be found across a value's edge; values are
// never scanned for markers or placeholders again.
func expectRender(t *scenarios.Template, values map[string]string) string {
	const open, closing = "\ue000", "\ue001"
	if strings.Contains(t.Raw, open) {
		return t.Render(func(f string) (string, bool) { v, ok := values[f]; return v, ok }, EscapeBB, nil)
	}
	var pairs []string
	marked := t.Render(func(f string) (string, bool) {
		v, ok := values[f]
		if v == "" {
			return "", ok && f != scenarios.ClientField
		}
		pairs = append(pairs, open+f+closing, EscapeBB(v))
		return open + f + closing, true
	}, nil, nil)
	return strings.NewReplacer(pairs...).Replace(marked)
}

// unescaped counts the "[" not followed by U+200B.
func unescaped(s string) int {
	return strings.Count(s, "[") - strings.Count(s, "[\u200b")
}

// TestRenderHostileClient pins the fuzzer's property on the attacks it is
// about: a client named like a template, an answer carrying BB-codes, a
// template placeholder and a forged log line.
func TestRenderHostileClient(t *testing.T) {
	sc := mustParse(t, renderScenario("Hello, {{client}}! You are {{name}}."))
	first, err := Step(sc, Dialog{Key: "x"}, Event{Type: Start, Client: "{{name}}[B]", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if g := first.Actions[0].(Greet).Text; g != "Hi, {{name}}[\u200bB]!" {
		t.Fatalf("greeting %q", g)
	}
	res, err := Step(sc, first.Dialog, Event{Type: Message, Text: "[URL=http://evil.example]{{client}}[/URL]\nlevel=ERROR msg=forged", Time: t0.Add(1)})
	if err != nil {
		t.Fatal(err)
	}
	want := "Hello, {{name}}[\u200bB]! You are [\u200bURL=http://evil.example]{{client}}[\u200b/URL]\nlevel=ERROR msg=forged."
	if got := res.Actions[0].(Say).Text; got != want {
		t.Fatalf("rendered %q, want %q", got, want)
	}
	if got := expectRender(sc.States["done"].Say, map[string]string{"client": "{{name}}[B]", "name": res.Dialog.Fields["name"]}); got != want {
		t.Fatalf("expectRender %q, want %q", got, want)
	}
}
