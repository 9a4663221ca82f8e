package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// The load-time checks are tested like Prometheus' rulefmt (expectedErrors)
// and Caddy's adapt tests: every testdata/check/NAME.bad.yaml is loaded as
// `olbot check` loads it, and what `olbot check` would print is compared with
// testdata/check/NAME.golden. Run with -update to rewrite the goldens, then
// read the diff: each message must make sense to a support manager.

// checkCases names what each bad file must report. Every file in
// testdata/check must have a case, so that a new file is not forgotten.
var checkCases = []struct {
	name  string
	errs  []error // sentinels that must be among the problems
	loads bool    // only warnings: the scenario loads
}{
	{"alias_bomb", []error{ErrTooLarge}, false},
	{"call", []error{ErrValue, ErrTemplate, ErrDuration, ErrTerminal, ErrUnknownKey}, false},
	{"call_beside", []error{ErrValue, ErrTerminal}, false},
	{"conditions", []error{ErrCondition, ErrMissing, ErrValue}, false},
	{"hours", []error{ErrHours, ErrValue, ErrCondition}, false},
	{"file_rating", []error{ErrValue}, false},
	{"file_template", []error{ErrTemplate}, false},
	{"ask_no_next", []error{ErrAskNoNext}, false},
	{"ask_no_save", []error{ErrMissing}, false},
	{"bad_duration", []error{ErrDuration}, false},
	{"bad_duration_short", []error{ErrDuration}, false},
	{"bad_validate", []error{ErrValidateTag}, false},
	{"branch_wrong_type", []error{ErrValue}, false},
	{"choice_branches", []error{ErrMissing, ErrValue}, false},
	{"choice_no_options", []error{ErrMissing}, false},
	{"comments_only", []error{ErrMissing}, false},
	{"dead_end", []error{ErrDeadEnd}, false},
	{"duplicate_keys", []error{ErrValue}, false},
	{"empty", []error{ErrMissing}, false},
	{"idle_no_on_idle", []error{ErrNoOnIdle}, true},
	{"crm", []error{ErrValue, ErrUnknownKey, ErrTemplate}, false},
	{"remind", []error{ErrRemind, ErrMissing, ErrUnknownKey, ErrDuration, ErrValue, ErrTemplate}, false},
	{"remind_idle", []error{ErrRemind}, true},
	{"hours_utc", []error{ErrHours}, true},
	{"rich_messages", []error{ErrValue, ErrTemplate, ErrUnknownKey}, false},
	{"attachments", []error{ErrValue, ErrMissing, ErrUnknownKey, ErrAttachSize}, false},
	{"languages", []error{ErrLanguage, ErrTranslation, ErrValue}, false},
	{"languages_unlisted", []error{ErrLanguage}, false},
	{"missing_start", []error{ErrMissing}, false},
	{"missing_states", []error{ErrMissing}, false},
	{"no_on_fail", []error{ErrNoOnFail}, true},
	{"no_on_fail_menu", []error{ErrNoOnFail}, true},
	{"one_pass", []error{ErrUnknownKey, ErrValidateTag, ErrUnknownState, ErrTemplate, ErrUnreachable}, false},
	{"one_pass_decode", []error{ErrDuration, ErrValue, ErrCycle, ErrTemplate, ErrUnreachable}, false},
	{"options_no_choice", []error{ErrValue}, false},
	{"passing_cycle", []error{ErrCycle}, false},
	{"several_problems", []error{ErrDuration, ErrUnknownState, ErrUnknownType, ErrAskNoNext, ErrTerminal}, false},
	{"syntax_colon_in_say", []error{ErrSyntax}, false},
	{"syntax_indented_key", []error{ErrSyntax}, false},
	{"syntax_misindent", []error{ErrSyntax}, false},
	{"syntax_misindent_item", []error{ErrSyntax}, false},
	{"syntax_quote_apostrophe", []error{ErrSyntax}, false},
	{"syntax_tab", []error{ErrSyntax}, false},
	{"syntax_two_documents", []error{ErrSyntax}, false},
	{"syntax_unclosed_list", []error{ErrSyntax}, false},
	{"syntax_unclosed_map", []error{ErrSyntax}, false},
	{"syntax_unclosed_quote", []error{ErrSyntax}, false},
	{"syntax_unclosed_quote_eof", []error{ErrSyntax}, false},
	{"syntax_unknown_alias", []error{ErrSyntax}, false},
	{"template_branch_only", []error{ErrTemplate}, false},
	{"template_malformed", []error{ErrValue}, false},
	{"template_never_collected", []error{ErrTemplate}, false},
	{"template_on_fail", []error{ErrTemplate}, false},
	{"template_some_paths", []error{ErrTemplate}, false},
	{"terminal_beside", []error{ErrTerminal}, false},
	{"too_large", []error{ErrTooLarge}, false}, // generated: see generatedBad
	{"two_terminals", []error{ErrTerminal}, false},
	{"unknown_key_commands", []error{ErrUnknownKey}, false},
	{"unknown_key_menu", []error{ErrUnknownKey}, false},
	{"unknown_key_settings", []error{ErrUnknownKey}, false},
	{"unknown_key_start", []error{ErrUnknownKey}, false},
	{"unknown_key_state", []error{ErrUnknownKey}, false},
	{"unknown_key_top", []error{ErrUnknownKey}, false},
	{"unknown_key_transfer", []error{ErrUnknownKey}, false},
	{"unknown_state_branch", []error{ErrUnknownState}, false},
	{"unknown_state_goto", []error{ErrUnknownState}, false},
	{"unknown_state_next", []error{ErrUnknownState}, false},
	{"unknown_state_no_suggestion", []error{ErrUnknownState}, false},
	{"unknown_state_on_fail", []error{ErrUnknownState}, false},
	{"unknown_state_on_idle", []error{ErrUnknownState}, false},
	{"unknown_state_on_missing_state", []error{ErrUnknownState}, false},
	{"unknown_type", []error{ErrUnknownType}, false},
	{"unreachable", []error{ErrUnreachable}, true},
	{"wrong_value_types", []error{ErrValue}, false},
	{"yesno_incomplete", []error{ErrMissing, ErrValue}, false},
}

// generatedBad are bad files too big to commit; they are built here and
// loaded under the name they would have in testdata/check.
var generatedBad = map[string]func() []byte{
	"too_large": func() []byte {
		// a valid scenario followed by a long comment, just over 1 MiB
		var b bytes.Buffer
		b.WriteString("name: big\nstart: welcome\nstates:\n  welcome:\n    say: Hello!\n    finish: true\n")
		for b.Len() <= MaxFileSize {
			b.WriteString("# " + strings.Repeat("padding ", 12) + "\n")
		}
		return b.Bytes()
	},
}

// loadBad loads a case as `olbot check` would, from its file when there is
// one, else from generatedBad.
func loadBad(t *testing.T, name string) (*Scenario, Problems) {
	t.Helper()
	path := filepath.ToSlash(filepath.Join("testdata", "check", name+".bad.yaml"))
	if gen, ok := generatedBad[name]; ok {
		return Parse(path, gen())
	}
	return LoadFile(path)
}

func TestCheckGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "check", "*.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		names[strings.TrimSuffix(filepath.Base(f), ".bad.yaml")] = true
	}
	for name := range generatedBad {
		names[name] = true
	}
	var cased []string
	for _, tc := range checkCases {
		cased = append(cased, tc.name)
		if !names[tc.name] {
			t.Errorf("case %s: no testdata/check/%s.bad.yaml", tc.name, tc.name)
		}
	}
	for name := range names {
		if !slices.Contains(cased, name) {
			t.Errorf("testdata/check/%s.bad.yaml has no entry in checkCases", name)
		}
	}

	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			sc, ps := loadBad(t, tc.name)
			golden(t, filepath.Join("testdata", "check", tc.name+".golden"), printed(ps))

			if len(ps) == 0 {
				t.Fatal("no problems reported")
			}
			if got := sc != nil; got != tc.loads {
				t.Errorf("loaded=%v, want %v; problems:\n%v", got, tc.loads, ps)
			}
			if got := !ps.HasErrors(); got != tc.loads {
				t.Errorf("only warnings=%v, want %v", got, tc.loads)
			}
			for _, want := range tc.errs {
				if !ps.Is(want) {
					t.Errorf("no problem wraps %q; got:\n%v", want, ps)
				}
				if !tc.loads && !errors.Is(ps.Err(), want) {
					t.Errorf("errors.Is(Problems.Err(), %q) = false", want)
				}
			}
			if tc.loads {
				if ps.Err() != nil {
					t.Errorf("Err() = %v, want nil for warnings only", ps.Err())
				}
				if len(sc.Warnings) != len(ps) {
					t.Errorf("len(Warnings)=%d, want %d", len(sc.Warnings), len(ps))
				}
			}
			checkProblemShape(t, ps, "")
		})
	}
}

// checkProblemShape asserts what every reported problem must have: a file, a
// 1-based position, a message, a hint, a sentinel, and the problems in
// position order.
func checkProblemShape(t *testing.T, ps Problems, wantFile string) {
	t.Helper()
	for i, p := range ps {
		if p.File == "" || (wantFile != "" && p.File != wantFile) {
			t.Errorf("problem %d: File=%q, want %q", i, p.File, wantFile)
		}
		if p.Pos.Line < 1 || p.Pos.Col < 1 {
			t.Errorf("problem %d (%s): position %d:%d, want both ≥ 1", i, p.Msg, p.Pos.Line, p.Pos.Col)
		}
		if strings.TrimSpace(p.Msg) == "" {
			t.Errorf("problem %d at %d:%d has no message", i, p.Pos.Line, p.Pos.Col)
		}
		if strings.TrimSpace(p.Hint) == "" {
			t.Errorf("problem %d (%s) has no hint", i, p.Error())
		}
		if p.Err == nil || !errors.Is(p, p.Err) {
			t.Errorf("problem %d (%s) wraps no sentinel", i, p.Msg)
		}
		if i > 0 {
			a, b := ps[i-1], p
			if a.File == b.File && (a.Pos.Line > b.Pos.Line || a.Pos.Line == b.Pos.Line && a.Pos.Col > b.Pos.Col) {
				t.Errorf("problems out of order: %d:%d before %d:%d", a.Pos.Line, a.Pos.Col, b.Pos.Line, b.Pos.Col)
			}
		}
	}
}

// TestCheckPositions pins the exact position of the value to fix for the
// checks where pointing at the right place is the point of the check.
func TestCheckPositions(t *testing.T) {
	tests := []struct {
		name      string
		line, col int
		path      string
	}{
		// the mis-indented key, three lines below its block, not the block
		{"syntax_misindent", 15, 4, ""},
		{"syntax_misindent_item", 9, 6, ""},
		{"syntax_tab", 6, 1, ""},
		{"syntax_unclosed_quote", 5, 10, ""},
		{"syntax_unclosed_quote_eof", 6, 10, ""},
		{"syntax_quote_apostrophe", 6, 13, ""},
		{"syntax_unclosed_list", 3, 8, ""},
		{"syntax_unclosed_map", 6, 15, ""},
		{"syntax_colon_in_say", 5, 19, ""},
		{"syntax_unknown_alias", 5, 10, ""},
		{"unknown_state_next", 9, 11, "states.ask_email.next"},
		{"unknown_state_branch", 11, 11, "states.confirm.next.no"},
		{"unknown_state_on_missing_state", 4, 21, "settings.on_missing_state"},
		{"unknown_type", 7, 11, "states.ask_email.type"},
		{"unknown_key_top", 2, 1, "titel"},
		{"template_some_paths", 19, 22, "states.thanks.say"},
		{"template_malformed", 7, 20, "states.ask_name.retry"},
		{"alias_bomb", 8, 4, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := loadBad(t, tc.name)
			if len(ps) == 0 {
				t.Fatal("no problems")
			}
			p := ps[0]
			if p.Pos.Line != tc.line || p.Pos.Col != tc.col {
				t.Errorf("position=%d:%d, want %d:%d (%s)", p.Pos.Line, p.Pos.Col, tc.line, tc.col, p.Msg)
			}
			if p.Path != tc.path {
				t.Errorf("path=%q, want %q", p.Path, tc.path)
			}
		})
	}
}

// TestCheckSentinels is the errors.Is table over small inline scenarios, one
// per check, so a check can be read next to the input that triggers it.
func TestCheckSentinels(t *testing.T) {
	const tail = `
  handoff:
    operator: any
`
	tests := []struct {
		name    string
		src     string
		want    error
		warning bool
	}{
		{"syntax", "start: a\nstates: [a\n", ErrSyntax, false},
		{"unknown key", "start: a\nstates:\n  a:\n    sya: hi\n    finish: true\n", ErrUnknownKey, false},
		{"missing start", "states:\n  a:\n    finish: true\n", ErrMissing, false},
		{"unknown state in next", "start: a\nstates:\n  a:\n    next: b\n", ErrUnknownState, false},
		{"unknown state in goto", "start: a\nstates:\n  a:\n    menu:\n      - {text: x, goto: b}\n    on_fail: a\n", ErrUnknownState, false},
		{"unknown state in on_fail", "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    on_fail: b\n    next: handoff" + tail, ErrUnknownState, false},
		{"unknown state in on_idle", "start: handoff\nsettings: {idle: 1m, on_idle: b}\nstates:" + tail, ErrUnknownState, false},
		{"unknown state in on_missing_state", "start: handoff\nsettings: {on_missing_state: b}\nstates:" + tail, ErrUnknownState, false},
		{"unknown state in command", "start: handoff\ncommands: [{match: [x], goto: b}]\nstates:" + tail, ErrUnknownState, false},
		{"unknown state in start", "start: b\nstates:" + tail, ErrUnknownState, false},
		{"unknown type", "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    type: mail\n    on_fail: handoff\n    next: handoff" + tail, ErrUnknownType, false},
		{"bad validator tag", "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    validate: nosuchrule\n    on_fail: handoff\n    next: handoff" + tail, ErrValidateTag, false},
		{"ask without next", "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    on_fail: handoff" + tail, ErrAskNoNext, false},
		{"ask without save", "start: a\nstates:\n  a:\n    ask: q\n    on_fail: handoff\n    next: handoff" + tail, ErrMissing, false},
		{"two terminal actions", "start: a\nstates:\n  a:\n    operator: any\n    transfer: {user: 1}\n", ErrTerminal, false},
		{"terminal beside next", "start: a\nstates:\n  a:\n    finish: true\n    next: handoff" + tail, ErrTerminal, false},
		{"cycle", "start: a\nstates:\n  a:\n    next: b\n  b:\n    next: a\n", ErrCycle, false},
		{"self cycle", "start: a\nstates:\n  a:\n    say: hi\n    next: a\n", ErrCycle, false},
		{"dead end", "start: a\nstates:\n  a:\n    say: hi\n", ErrDeadEnd, false},
		{"unreachable", "start: handoff\nstates:\n  a:\n    finish: true" + tail, ErrUnreachable, true},
		// found by engine.TestProperty: two menus pointing at each other,
		// no command, no idle, no way to an operator
		{"no way out", "start: a\nstates:\n  a:\n    menu: [{text: x, goto: b}]\n    next: b\n  b:\n    on: [{match: [y], goto: a}]\n    next: a\n", ErrNoWayOut, true},
		{"no on_fail", "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    next: handoff" + tail, ErrNoOnFail, true},
		{"idle without on_idle", "start: handoff\nsettings: {idle: 1m}\nstates:" + tail, ErrNoOnIdle, true},
		{"template field never collected", "start: a\nstates:\n  a:\n    say: 'Hi {{name}}'\n    finish: true\n", ErrTemplate, false},
		{"bad duration", "start: handoff\nsettings: {idle: soon}\nstates:" + tail, ErrDuration, false},
		{"too large", "start: a\n#" + strings.Repeat("x", MaxFileSize), ErrTooLarge, false},
		{"wrong value type", "start: a\nstates:\n  a:\n    say: [a, b]\n    finish: true\n", ErrValue, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc, ps := Parse("test.yaml", []byte(tc.src))
			if !ps.Is(tc.want) {
				t.Fatalf("no problem wraps %q; got:\n%v", tc.want, ps)
			}
			var hit *Problem
			for _, p := range ps {
				if errors.Is(p, tc.want) {
					hit = p
					break
				}
			}
			if hit.Warning != tc.warning {
				t.Errorf("warning=%v, want %v: %v", hit.Warning, tc.warning, hit)
			}
			if got := sc != nil; got != tc.warning {
				t.Errorf("loaded=%v, want %v:\n%v", got, tc.warning, ps)
			}
			if !tc.warning {
				var target *Problem
				if err := ps.Err(); !errors.Is(err, tc.want) || !errors.As(err, &target) {
					t.Errorf("errors.Is/As(Problems.Err(), %q) failed: %v", tc.want, err)
				}
			}
			checkProblemShape(t, ps, "test.yaml")
		})
	}
}

// TestValidatorTagsDoNotPanic feeds validator tags that make
// go-playground/validator panic when used; each must be a load-time error.
func TestValidatorTagsDoNotPanic(t *testing.T) {
	tags := []string{
		"min=", "min=abc", "maxx=3", "dive", "eqfield=Other", "required_if=Other 1",
		"oneof", "len=2|len=x", ",", "|", "min=2,,max=3", "keys,endkeys", "file",
		"startswith", "gte=1000,lte=999999", " min=2", "excluded_with=X", "omitempty,",
	}
	for _, typ := range []string{"text", "number", "email", "name"} {
		for _, tag := range tags {
			t.Run(typ+"/"+tag, func(t *testing.T) {
				src := "start: a\nstates:\n  a:\n    ask: q\n    save: f\n    type: " + typ +
					"\n    validate: '" + tag + "'\n    on_fail: b\n    next: b\n  b:\n    finish: true\n"
				sc, ps := Parse("tags.yaml", []byte(src))
				if sc == nil && !ps.Is(ErrValidateTag) {
					t.Errorf("rejected without ErrValidateTag:\n%v", ps)
				}
				checkProblemShape(t, ps, "tags.yaml")
			})
		}
	}
}

// TestAliasBomb checks that a "billion laughs" file is refused quickly and
// without expanding it, in scenario and in test files.
func TestAliasBomb(t *testing.T) {
	bomb, err := os.ReadFile(filepath.Join("testdata", "check", "alias_bomb.bad.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	testBomb := bytes.Replace(bomb, []byte("start: welcome\nstates:"), []byte("scenario: x\ntests:\n  - name: t\n    steps:\n      - user: *i\nignored:"), 1)
	for name, parse := range map[string]func() Problems{
		"scenario": func() Problems { _, ps := Parse("bomb.yaml", bomb); return ps },
		"tests":    func() Problems { _, ps := ParseTests("bomb.test.yaml", testBomb); return ps },
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			ps := parse()
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)

			if !ps.Is(ErrTooLarge) || len(ps) != 1 {
				t.Fatalf("want one ErrTooLarge problem, got:\n%v", ps)
			}
			if !strings.Contains(ps[0].Msg, "aliases") {
				t.Errorf("message %q does not say that aliases are the problem", ps[0].Msg)
			}
			t.Logf("%v, %d KiB allocated", elapsed, (after.TotalAlloc-before.TotalAlloc)>>10)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("allocated %d MiB, want a few", alloc>>20)
			}
		})
	}
}

// TestAliasesAllowed checks that ordinary anchors and aliases still load:
// only their expansion is bounded.
func TestAliasesAllowed(t *testing.T) {
	src := `start: welcome
commands:
  - match: &human [operator, human]
    goto: handoff
states:
  welcome:
    say: &hello "Hello!"
    on:
      - match: *human
        goto: handoff
    next: again
  again:
    say: *hello
    next: handoff
  handoff:
    operator: any
`
	sc := mustParse(t, "aliases.yaml", src)
	if got := sc.States["again"].Say.Raw; got != "Hello!" {
		t.Errorf("again.say=%q, want %q", got, "Hello!")
	}
	if got := sc.States["welcome"].On[0].Match; !slices.Equal(got, []string{"operator", "human"}) {
		t.Errorf("on[0].match=%q", got)
	}
}

// TestTooLarge checks the 1 MiB limit through every entry point.
func TestTooLarge(t *testing.T) {
	big := generatedBad["too_large"]()
	dir := t.TempDir()
	path := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	testPath := filepath.Join(dir, "big.test.yaml")
	if err := os.WriteFile(testPath, big, 0o644); err != nil {
		t.Fatal(err)
	}
	_, parsed := Parse(path, big)
	_, loaded := LoadFile(path)
	if got, want := printed(loaded), printed(parsed); !bytes.Equal(got, want) {
		t.Errorf("LoadFile and Parse disagree:\n%s\n%s", got, want)
	}
	_, tps := LoadTests(testPath)
	_, ptps := ParseTests(testPath, big)
	for _, ps := range []Problems{parsed, loaded, tps, ptps} {
		if len(ps) != 1 || !ps.Is(ErrTooLarge) {
			t.Errorf("want one ErrTooLarge, got:\n%v", ps)
		}
		checkProblemShape(t, ps, "")
	}
	if _, ps := LoadFile(filepath.Join(dir, "missing.yaml")); !ps.Is(ErrRead) || ps.Is(ErrTooLarge) {
		t.Errorf("missing file: want ErrRead, got:\n%v", ps)
	}
	// exactly at the limit is fine
	ok := append([]byte("start: a\nstates:\n  a:\n    finish: true\n#"), bytes.Repeat([]byte("x"), MaxFileSize)...)
	ok = append(ok[:MaxFileSize-1], '\n')
	if sc, ps := Parse("limit.yaml", ok); sc == nil {
		t.Errorf("a file of exactly 1 MiB was refused:\n%v", ps)
	}
}

// TestSetsGolden checks the set-level checks through LoadPaths, the path
// `olbot check DIR` and every reload take: each testdata/sets/NAME/ folder
// is loaded as one set and its problems compared with testdata/sets/NAME.golden.
func TestSetsGolden(t *testing.T) {
	tests := []struct {
		name  string
		want  error
		keeps map[string]string // scenario name -> file base name that keeps it
	}{
		{"duplicate_name", ErrDuplicateName, map[string]string{"sales": "sales.yaml"}},
		{"line_taken", ErrLineTaken, map[string]string{"sales": "sales.yaml"}},
		{"two_defaults", ErrTwoDefaults, map[string]string{"faq": "faq.yaml"}},
		{"ok", nil, map[string]string{"faq": "faq.yaml", "sales": "sales.yaml", "support": "support.yaml"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.ToSlash(filepath.Join("testdata", "sets", tc.name))
			set, ps := LoadPaths(dir)
			golden(t, filepath.Join("testdata", "sets", tc.name+".golden"), printed(ps))
			checkProblemShape(t, ps, "")
			if tc.want == nil {
				if len(ps) != 0 {
					t.Errorf("problems:\n%v", ps)
				}
			} else if !ps.Is(tc.want) || !errors.Is(ps.Err(), tc.want) {
				t.Errorf("no problem wraps %q:\n%v", tc.want, ps)
			}
			if len(set.ByName) != len(tc.keeps) {
				t.Errorf("set has %d scenarios, want %d", len(set.ByName), len(tc.keeps))
			}
			for name, base := range tc.keeps {
				sc := set.ByName[name]
				if sc == nil || filepath.Base(sc.File) != base {
					t.Errorf("ByName[%q] = %v, want the scenario of %s", name, sc, base)
				}
			}
		})
	}
}

func TestSetLookup(t *testing.T) {
	set, ps := LoadPaths(filepath.Join("testdata", "sets", "ok"))
	if len(ps) != 0 {
		t.Fatalf("problems:\n%v", ps)
	}
	for line, want := range map[int]string{1: "sales", 3: "sales", 2: "support", 99: "faq", 0: "faq"} {
		if got := set.Lookup(line); got == nil || got.Name != want {
			t.Errorf("Lookup(%d) = %v, want %s", line, got, want)
		}
	}
	if set.Default == nil || set.Default.Name != "faq" {
		t.Errorf("Default = %v, want faq", set.Default)
	}
	var names []string
	for _, sc := range set.List {
		names = append(names, sc.Name)
	}
	if want := []string{"faq", "sales", "support"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v (file order; support.test.yaml is not a scenario)", names, want)
	}
}

// TestNewSetOrder checks that NewSet keeps the earlier scenario of a
// conflict and reports the later one at its own position.
func TestNewSetOrder(t *testing.T) {
	a := mustParse(t, "a.yaml", "name: shop\nlines: [1, 2]\nstart: x\nstates:\n  x:\n    finish: true\n")
	b := mustParse(t, "b.yaml", "lines: [3, 2]\nname: shop2\nstart: x\nstates:\n  x:\n    finish: true\n")
	c := mustParse(t, "c.yaml", "start: x\nstates:\n  x:\n    finish: true\n")
	d := mustParse(t, "d.yaml", "\n\nstart: x\nstates:\n  x:\n    finish: true\n")
	e := mustParse(t, "shop.yaml", "start: x\nlines: [7]\nstates:\n  x:\n    finish: true\n")

	set, ps := NewSet([]*Scenario{a, b, c, d, e})
	want := []struct {
		file string
		pos  Pos
		err  error
	}{
		{"b.yaml", Pos{1, 12}, ErrLineTaken},       // the 2 in lines: [3, 2]
		{"d.yaml", Pos{3, 1}, ErrTwoDefaults},      // the first key: lines: would go there
		{"shop.yaml", Pos{1, 1}, ErrDuplicateName}, // name from the file name
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i, w := range want {
		p := ps[i]
		if p.File != w.file || p.Pos != w.pos || !errors.Is(p, w.err) {
			t.Errorf("problem %d = %s:%d:%d %v, want %s:%d:%d %v", i, p.File, p.Pos.Line, p.Pos.Col, p.Err, w.file, w.pos.Line, w.pos.Col, w.err)
		}
	}
	if set.Lookup(2) != a {
		t.Errorf("Lookup(2) = %s, want a.yaml, which listed it first", set.Lookup(2).File)
	}
	if set.Lookup(3) != c {
		t.Errorf("Lookup(3) = %v, want the default c.yaml: b.yaml was refused", set.Lookup(3))
	}
	if set.Default != c {
		t.Errorf("Default = %v, want c.yaml", set.Default)
	}
	if _, ok := set.ByName["shop2"]; ok {
		t.Errorf("b.yaml was refused but is in the set")
	}
}

// TestOneMistakeOneProblem checks that a single mistake is reported once:
// the checks that run after decoding must not add follow-on errors about a
// key whose value was rejected or whose name was misspelled.
func TestOneMistakeOneProblem(t *testing.T) {
	// b is reachable whatever a says (on_missing_state leads to it), so that
	// the mistake in a is the file's only problem
	const tmpl = "start: a\nsettings: {on_missing_state: b}\nstates:\n  a:\n%s\n  b:\n    finish: true\n"
	tests := []struct {
		name, state, want string
	}{
		{"misspelled type with options and branches", "    ask: q\n    save: f\n    type: choise\n    options: [x, y]\n    on_fail: b\n    next: {x: b, y: b}", `unknown answer type "choise"`},
		{"ask is a list", "    ask: [a, b]\n    save: f\n    on_fail: b\n    next: b", "states.a.ask: expected text, got a list"},
		{"bad field name", "    ask: q\n    save: my field\n    on_fail: b\n    next: b", `"my field" is not a valid field name`},
		{"misspelled save", "    ask: q\n    sav: f\n    on_fail: b\n    next: b", `did you mean "save"? ask without save`},
		{"misspelled on_fail", "    ask: q\n    save: f\n    on_fial: b\n    next: b", `did you mean "on_fail"?`},
		{"misspelled next after ask", "    ask: q\n    save: f\n    on_fail: b\n    nxet: b", `did you mean "next"?`},
		{"misspelled next after say", "    say: hi\n    nxt: b", `did you mean "next"?`},
		{"misspelled finish", "    say: hi\n    finsh: true", `did you mean "finish"?`},
		{"next is a list", "    say: hi\n    next: [a, b]", "a list next: takes {if: COND, goto: STATE} items"},
		{"unknown operator", "    say: hi\n    operator: anyone", `unknown operator "anyone"`},
		{"transfer to a non-number", "    say: hi\n    transfer: {user: abc}", `expected a whole number, got "abc"`},
		{"finish: yes", "    say: hi\n    finish: yes", `expected true or false, got "yes"`},
		{"greet is a list", "    greet: [x]\n    next: b", "states.a.greet: expected text, got a list"},
		{"menu is a text", "    say: hi\n    menu: Leave a request\n    next: b", `expected a list, got "Leave a request"`},
		{"malformed template in ask", "    ask: 'Hi {{name'\n    save: name\n    on_fail: b\n    next: b", "a {{ without its closing }}"},
		{"misspelled branch target", "    ask: q\n    save: f\n    type: yesno\n    on_fail: b\n    next: {yes: b, no: bb}", `unknown state "bb"`},
		{"misspelled yes branch", "    ask: q\n    save: f\n    type: yesno\n    on_fail: b\n    next: {yse: b, no: b}", `unknown branch "yse"`},
		{"bad branch target name", "    ask: q\n    save: f\n    type: yesno\n    on_fail: b\n    next: {yes: b, no: b c}", `"b c" is not a valid state name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ps := Parse("x.yaml", fmt.Appendf(nil, tmpl, tc.state))
			if len(ps) != 1 || !strings.Contains(ps[0].Error(), tc.want) {
				t.Errorf("want one problem with %q, got %d:\n%v", tc.want, len(ps), ps)
			}
		})
	}
}
