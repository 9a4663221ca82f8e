package scenarios

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExampleTestFiles parses the conversation tests next to the examples:
// each names a scenario of examples/ and has no problems.
func TestExampleTestFiles(t *testing.T) {
	_, files, err := Files(filepath.Join("..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(examples) {
		t.Errorf("%d test files, want one per example: %v", len(files), files)
	}
	set, ps := LoadPaths(filepath.Join("..", "examples"))
	if ps.HasErrors() {
		t.Fatal(ps)
	}
	for _, f := range files {
		tf, ps := LoadTests(f)
		if tf == nil || len(ps) != 0 {
			t.Errorf("%s:\n%v", f, ps)
			continue
		}
		if set.ByName[tf.Scenario] == nil {
			t.Errorf("%s: scenario %q is not in examples/", f, tf.Scenario)
		}
		if len(tf.Tests) == 0 {
			t.Errorf("%s: no tests", f)
		}
		for _, tc := range tf.Tests {
			if len(tc.Steps) == 0 {
				t.Errorf("%s: test %q has no steps", f, tc.Name)
			}
		}
	}
}

func TestParseTestsSteps(t *testing.T) {
	src := `scenario: support
tests:
  - name: every step
    steps:
      - start: {client: Anna, line: 3}
      - start:
      - user: hello
      - button: 2
      - button: Talk to a person
      - bot: "Hello*"
      - bot: {text: "Pick one", buttons: [A, B]}
      - bot: {buttons: []}
      - idle: {}
      - close:
      - expect:
          state: welcome
          finished: false
          handed_off: true
          fields: {name: Anna}
          operator: any
          transfer: {line: 2, leave: true}
          greet: "Hello*"
          crm: lead
      - expect: {operator: false, greet: false, crm: false}
  - steps:
      - start: {}
`
	tf, ps := ParseTests("support.test.yaml", []byte(src))
	if tf == nil || len(ps) != 0 {
		t.Fatalf("problems:\n%v", ps)
	}
	if tf.Scenario != "support" || len(tf.Tests) != 2 {
		t.Fatalf("scenario=%q tests=%d", tf.Scenario, len(tf.Tests))
	}
	if name := tf.Tests[1].Name; name != "test at line 25" {
		t.Errorf("unnamed test: name=%q, want its line", name)
	}
	checkParsedSteps(t, tf.Tests[0].Steps)
}

// checkParsedSteps checks the steps of TestParseTestsSteps' first test.
func checkParsedSteps(t *testing.T, steps []TestStep) {
	t.Helper()
	var kinds []string
	for _, s := range steps {
		kinds = append(kinds, s.Kind)
	}
	want := []string{"start", "start", "user", "button", "button", "bot", "bot", "bot", "idle", "close", "expect", "expect"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("kinds=%v, want %v", kinds, want)
	}
	if s := steps[0]; s.Client != "Anna" || s.Line != 3 || s.Pos != (Pos{5, 9}) {
		t.Errorf("start=%+v", s)
	}
	if steps[3].Button != 2 || steps[4].Text != "Talk to a person" || steps[4].Button != 0 {
		t.Errorf("buttons=%+v %+v", steps[3], steps[4])
	}
	if steps[5].Text != "Hello*" || steps[5].Buttons != nil {
		t.Errorf("bot text=%+v: buttons unchecked must be nil", steps[5])
	}
	if steps[6].Text != "Pick one" || !slices.Equal(steps[6].Buttons, []string{"A", "B"}) {
		t.Errorf("bot map=%+v", steps[6])
	}
	if steps[7].Text != "*" || steps[7].Buttons == nil || len(steps[7].Buttons) != 0 {
		t.Errorf("bot {buttons: []} = %+v: any text, and no buttons expected", steps[7])
	}
	checkParsedExpects(t, steps[10].Expect, steps[11].Expect)
}

// checkParsedExpects checks the two expect steps of TestParseTestsSteps.
func checkParsedExpects(t *testing.T, e, e2 *Expect) {
	t.Helper()
	if e == nil || *e.State != "welcome" || *e.Finished || !*e.HandedOff || e.Fields["name"] != "Anna" ||
		!*e.Operator || *e.Transfer.Line != 2 || !*e.Transfer.Leave || e.Transfer.User != nil ||
		!e.Greet.Want || e.Greet.Text != "Hello*" || !*e.CRM {
		t.Errorf("expect=%+v", e)
	}
	if *e2.Operator || e2.Greet.Want || *e2.CRM || e2.State != nil {
		t.Errorf("expect false=%+v", e2)
	}
}

func TestParseTestsProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings of the printed problems, in order
		err  error
	}{
		{"empty", "", []string{"1:1: error: the file is empty"}, ErrMissing},
		{"no scenario", "tests: []\n", []string{"no scenario:"}, ErrMissing},
		{"no tests", "scenario: support\n", []string{"no tests:"}, ErrMissing},
		{"unknown top key", "scenario: s\ntest: []\n", []string{`2:1: error: test: unknown key "test"`, `did you mean "tests"? no tests:`}, ErrUnknownKey},
		{"unknown step", "scenario: s\ntests:\n  - name: a\n    steps:\n      - usr: hi\n", []string{`5:9: error: tests[0].steps[0].usr: unknown key "usr"`, `did you mean "user"?`}, ErrUnknownKey},
		{"two keys in a step", "scenario: s\ntests:\n  - name: a\n    steps:\n      - user: hi\n        bot: hello\n", []string{"5:9: error: tests[0].steps[0]: a step is one of"}, ErrValue},
		{"no steps", "scenario: s\ntests:\n  - name: a\n", []string{"3:5: error: tests[0]: a test needs steps:"}, ErrMissing},
		{"bad expect", "scenario: s\ntests:\n  - steps:\n      - expect: {finished: maybe, operator: someone, crm: deal}\n", []string{"expected true or false", `unknown operator "someone"`, `unknown crm target "deal"`}, ErrValue},
		{"unknown expect key", "scenario: s\ntests:\n  - steps:\n      - expect: {handedoff: true}\n", []string{`unknown key "handedoff"`, `did you mean "handed_off"?`}, ErrUnknownKey},
		{"syntax", "scenario: s\ntests:\n  - steps:\n      - user: \"hi\n", []string{"4:15: error: the file ends inside a quoted text"}, ErrSyntax},
		{"a user map without a file", "scenario: s\ntests:\n  - steps:\n      - user: {text: hi}\n", []string{"4:15: error: tests[0].steps[0].user: a user step written as a map sends a file: add file:"}, ErrMissing},
		{"a file without a name", "scenario: s\ntests:\n  - steps:\n      - user: {file: {size: 5MB}}\n", []string{"4:22: error: tests[0].steps[0].user.file: a file needs its name", "hint: add name: photo.jpg"}, ErrMissing},
		{"a bad file", "scenario: s\ntests:\n  - steps:\n      - user: {file: {name: a.jpg, size: huge, type: picture, url: ftp://x, mime: x}}\n",
			[]string{`size: "huge" is not a size`, `unknown file type "picture"`, `"ftp://x" is not a link`, `unknown key "mime"`}, ErrValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf, ps := ParseTests("x.test.yaml", []byte(tc.src))
			if tf != nil {
				t.Errorf("parsed a bad test file")
			}
			out := string(printed(ps))
			at := 0
			for _, w := range tc.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Errorf("output lacks %q (in order):\n%s", w, out)
					break
				}
				at += i + len(w)
			}
			if !ps.Is(tc.err) {
				t.Errorf("no problem wraps %q:\n%s", tc.err, out)
			}
			checkProblemShape(t, ps, "x.test.yaml")
		})
	}
}
