package scenarios

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		src     string
		fields  []string
		errMsg  string // "" when it parses
		errOff  int
		literal bool // no fields: Render returns Raw
	}{
		{src: "Hello!", literal: true},
		{src: "", literal: true},
		{src: "Hello, {{client}}!", fields: []string{"client"}},
		{src: "{{name}}, your email is {{email}}. Bye, {{name}}!", fields: []string{"name", "email"}},
		{src: "{{ name }} and {{имя}} and {{f_2}}", fields: []string{"name", "имя", "f_2"}},
		{src: "single } and }} braces are text", literal: true},
		{src: "{x} is text too", literal: true},
		{src: "Hello {{", errMsg: "a {{ without its closing }}", errOff: 6},
		{src: "Hello {{name}", errMsg: "a {{ without its closing }}", errOff: 6},
		{src: "{{name}} and {{", errMsg: "a {{ without its closing }}", errOff: 13},
		{src: "Привет, {{", errMsg: "a {{ without its closing }}", errOff: len("Привет, ")},
		{src: "{{}}", errMsg: "{{}} is not a field name (letters, digits and _)", errOff: 0},
		{src: "a {{first name}} b", errMsg: "{{first name}} is not a field name (letters, digits and _)", errOff: 2},
		{src: "{{a-b}}", errMsg: "{{a-b}} is not a field name (letters, digits and _)", errOff: 0},
		{src: "{{a}}{{ {{b}} }}", errMsg: "{{ {{b}} is not a field name (letters, digits and _)", errOff: 5},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tpl, msg, off := parseTemplate(tc.src)
			if tc.errMsg != "" {
				if tpl != nil || msg != tc.errMsg || off != tc.errOff {
					t.Fatalf("parseTemplate(%q) = %v, %q, %d; want nil, %q, %d", tc.src, tpl, msg, off, tc.errMsg, tc.errOff)
				}
				return
			}
			if tpl == nil {
				t.Fatalf("parseTemplate(%q): %s at %d", tc.src, msg, off)
			}
			if !slices.Equal(tpl.Fields, tc.fields) {
				t.Errorf("fields=%q, want %q", tpl.Fields, tc.fields)
			}
			if tpl.String() != tc.src || tpl.Raw != tc.src {
				t.Errorf("String()=%q, want the source", tpl.String())
			}
			if tc.literal {
				if got := tpl.Render(nil, nil, nil); got != tc.src {
					t.Errorf("Render of a literal = %q, want %q", got, tc.src)
				}
			}
		})
	}
}

func TestRender(t *testing.T) {
	// escape as the engine does for BB-codes: a zero-width space after every [
	escape := func(s string) string { return strings.ReplaceAll(s, "[", "[\u200b") }
	tests := []struct {
		name    string
		src     string
		fields  map[string]string
		want    string
		missing []string
	}{
		{"fields", "{{name}}, we will write to {{email}}.", map[string]string{"name": "Anna", "email": "anna@example.com"}, "Anna, we will write to anna@example.com.", nil},
		{"repeated field", "{{name}}! {{name}}?", map[string]string{"name": "Anna"}, "Anna! Anna?", nil},
		{"spaces inside braces", "Hi {{ name }}", map[string]string{"name": "Anna"}, "Hi Anna", nil},
		{"client", "Hello, {{client}}!", map[string]string{"client": "Anna"}, "Hello, Anna!", nil},
		{"empty client removes the comma", "Hello, {{client}}!", map[string]string{"client": ""}, "Hello!", nil},
		{"unknown client removes the comma", "Hello, {{client}}! I am the bot.", nil, "Hello! I am the bot.", nil},
		{"empty client removes the space", "Hi {{client}}, welcome", nil, "Hi, welcome", nil},
		{"empty client, Cyrillic", "Здравствуйте, {{client}}! Это бот.", nil, "Здравствуйте! Это бот.", nil},
		{"client at the start", "{{client}} hello", nil, " hello", nil},
		{"one pass: a value is never parsed again", "You typed: {{note}}", map[string]string{"note": "{{email}} and {{client}}", "email": "x@y.z"}, "You typed: {{email}} and {{client}}", nil},
		{"escape applies to values", "[b]{{name}}[/b]", map[string]string{"name": "[url=http://evil]Anna[/url]"}, "[b][\u200burl=http://evil]Anna[\u200b/url][/b]", nil},
		{"missing field renders empty and is reported", "Thanks, {{name}}! Mail: {{email}}.", map[string]string{"email": "a@b.c"}, "Thanks, ! Mail: a@b.c.", []string{"name"}},
		{"empty value is not missing", "[{{name}}]", map[string]string{"name": ""}, "[]", nil},
		{"the comma stays before other empty fields", "Hello, {{name}}!", map[string]string{"name": ""}, "Hello, !", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, msg, _ := parseTemplate(tc.src)
			if tpl == nil {
				t.Fatal(msg)
			}
			lookup := func(f string) (string, bool) { v, ok := tc.fields[f]; return v, ok }
			var missing []string
			got := tpl.Render(lookup, escape, func(f string) { missing = append(missing, f) })
			if got != tc.want {
				t.Errorf("Render=%q, want %q", got, tc.want)
			}
			if !slices.Equal(missing, tc.missing) {
				t.Errorf("missing=%q, want %q", missing, tc.missing)
			}
			// nil escape and nil missing are allowed
			_ = tpl.Render(lookup, nil, nil)
		})
	}
}

// TestTemplatePositions checks that a malformed {{ and a field that may be
// unset are reported at their exact column, whatever the quoting.
func TestTemplatePositions(t *testing.T) {
	const head = "start: a\nstates:\n  a:\n"
	const tail = "    finish: true\n"
	tests := []struct {
		name string
		say  string // the line(s) of the say: key, after head
		pos  Pos
	}{
		{"plain", "    say: Hi {{name\n", Pos{4, 13}},
		{"double quoted", "    say: \"Hi {{name\"\n", Pos{4, 14}},
		{"single quoted", "    say: 'Hi {{name'\n", Pos{4, 14}},
		{"Cyrillic before", "    say: \"Привет, {{имя\"\n", Pos{4, 19}},
		{"escaped quote before", "    say: \"He said \\\"hi\\\" {{x\"\n", Pos{4, 26}},
		{"escaped unicode before", "    say: \"\\u00e9t\\u00e9 {{x\"\n", Pos{4, 25}},
		{"doubled single quote before", "    say: 'it''s {{x'\n", Pos{4, 17}},
		{"flow map", "    say: {x: 1}\n", Pos{4, 10}}, // not text at all: the value
		{"literal block", "    say: |\n      Line one\n      Line {{two\n", Pos{6, 12}},
		{"folded block", "    say: >\n      Line one\n      Line {{two\n", Pos{4, 10}}, // the block's start
		{"plain on two lines", "    say: Line one\n      and {{two\n", Pos{4, 10}},
		{"after a comment", "    say: Hi {{name  # a comment\n", Pos{4, 13}},
		{"tab before", "    say: \"a\tb {{\"\n", Pos{4, 15}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.say + tail
			_, ps := Parse("t.yaml", []byte(src))
			if len(ps) == 0 {
				t.Fatalf("no problem for:\n%s", src)
			}
			if ps[0].Pos != tc.pos {
				t.Errorf("position=%d:%d, want %d:%d (%s)\n%s", ps[0].Pos.Line, ps[0].Pos.Col, tc.pos.Line, tc.pos.Col, ps[0].Msg, src)
			}
		})
	}
}

// TestUnsetFieldPositions checks the column of a field that may be unset,
// including one written with spaces inside the braces.
func TestUnsetFieldPositions(t *testing.T) {
	src := `start: a
states:
  a:
    say: "Привет, {{ client }}! {{ имя }}, {{x}}"
    finish: true
`
	_, ps := Parse("t.yaml", []byte(src))
	var got []Pos
	for _, p := range ps {
		got = append(got, p.Pos)
		if !strings.Contains(p.Msg, "is never collected") {
			t.Errorf("unexpected problem: %v", p)
		}
	}
	if want := []Pos{{4, 33}, {4, 44}}; !slices.Equal(got, want) {
		t.Errorf("positions=%v, want %v:\n%v", got, want, ps)
	}
}

// TestUnsetFieldPositionsInBlocks places fields inside a literal block, one
// line of the file per line of the text, and in a one-line scalar with
// several fields.
func TestUnsetFieldPositionsInBlocks(t *testing.T) {
	src := `start: a
states:
  a:
    say: |
      Hi {{a}} and {{b}}

      then {{ c }}
    retry: "{{d}}\t{{e}} 'x' {{a}}"
    ask: 'it''s {{f}} or {{g}}'
    save: h
    next: a
    on_fail: a
`
	_, ps := Parse("t.yaml", []byte(src))
	var got []Pos
	for _, p := range ps {
		if errorsIs(p, ErrTemplate) {
			got = append(got, p.Pos)
		}
	}
	want := []Pos{{5, 10}, {5, 20}, {7, 12}, {8, 13}, {8, 20}, {8, 30}, {9, 17}, {9, 26}}
	if !slices.Equal(got, want) {
		t.Errorf("positions=%v, want %v:\n%v", got, want, ps)
	}
}

// TestTemplateKeys checks where templates are allowed: greet, say, ask and
// retry parse {{fields}}; other texts are literal.
func TestTemplateKeys(t *testing.T) {
	sc := mustParse(t, "t.yaml", `start: a
states:
  a:
    greet: "Hi {{client}}"
    say: "Say {{client}}"
    ask: "Ask {{client}}"
    save: f
    retry: "Again, {{client}}?"
    menu:
      - text: "{{f}} literal button"
        goto: b
    on_fail: b
    next: b
  b:
    say: "Bye {{client}}"
    finish: true
`)
	a := sc.States["a"]
	for key, tpl := range map[string]*Template{"greet": a.Greet.Text, "say": a.Say, "ask": a.Ask, "retry": a.Retry} {
		if !slices.Equal(tpl.Fields, []string{"client"}) {
			t.Errorf("%s fields=%q", key, tpl.Fields)
		}
	}
	if a.Menu[0].Text != "{{f}} literal button" {
		t.Errorf("menu text=%q: buttons are not templates", a.Menu[0].Text)
	}
}

func errorsIs(p *Problem, target error) bool { return errors.Is(p, target) }
