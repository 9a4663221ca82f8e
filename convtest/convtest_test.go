package convtest

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/olbot/olbot/scenarios"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestExamples runs the conversation tests of every example scenario: the
// examples are documentation, so they must keep working.
func TestExamples(t *testing.T) {
	cov := NewCoverage()
	set, results, problems := RunPaths(cov, "../examples")
	if problems.HasErrors() {
		t.Fatalf("examples do not load:\n%s", problems.Errors())
	}
	if len(set.List) < 3 {
		t.Fatalf("loaded %d example scenarios, want at least 3", len(set.List))
	}
	if len(results) == 0 {
		t.Fatal("no conversation tests ran")
	}
	for _, r := range results {
		t.Run(filepath.Base(r.File)+"/"+r.Test, func(t *testing.T) {
			if !r.Pass {
				t.Error(r.String())
			}
		})
	}
	tested := map[string]bool{}
	_, files, _ := scenarios.Files("../examples")
	for _, f := range files {
		if tf, _ := scenarios.LoadTests(f); tf != nil {
			tested[tf.Scenario] = true
		}
	}
	for _, sc := range set.List {
		if !tested[sc.Name] {
			t.Errorf("example scenario %s has no conversation tests", sc.Name)
		}
	}
}

// TestFailures pins the messages a failing conversation test prints.
func TestFailures(t *testing.T) {
	_, results, problems := RunPaths(nil, "testdata")
	if problems.HasErrors() {
		t.Fatal(problems.Errors())
	}
	var b strings.Builder
	for _, r := range results {
		b.WriteString(r.String())
		b.WriteString("\n")
	}
	golden(t, "testdata/failing.golden", b.String())
	if !results[0].Pass {
		t.Errorf("the first test must pass: %s", results[0])
	}
	for _, r := range results[1:] {
		if r.Pass {
			t.Errorf("%q passed, want a failure", r.Test)
		}
	}
}

func TestCoverage(t *testing.T) {
	cov := NewCoverage()
	set, _, _ := RunPaths(cov, "testdata")
	missed := strings.Join(cov.Missed(set.List), "\n")
	golden(t, "testdata/coverage.golden", missed+"\n")
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"Hello*", "Hello, Anna!", true},
		{"Hello", "Hello, Anna!", false},
		{"*Anna*", "Hello, Anna!", true},
		{"*", "", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"exact", "exact", true},
		{" spaced ", "spaced", true},
		{"*end", "the end", true},
		{"*end", "ending", false},
	}
	for _, tc := range tests {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestCallsDeclared: a call is answered from the test's calls:, a call
// without one fails the test naming the call it wanted, and an answer
// never asked for fails it too.
func TestCallsDeclared(t *testing.T) {
	sc, ps := scenarios.Parse("shop.yaml", []byte(`name: shop
start: ask
states:
  ask:
    ask: "Order?"
    save: order
    next: look
    on_fail: person
  person:
    operator: any
  look:
    call: shop
    path: "/orders/{{order}}"
    save: {status: status}
    next: done
    on_error: person
  done:
    say: "{{order}}"
    finish: true
`))
	if ps.HasErrors() {
		t.Fatal(ps)
	}
	set := &scenarios.Set{List: []*scenarios.Scenario{sc}, ByName: map[string]*scenarios.Scenario{"shop": sc}}
	tests := []struct {
		name, calls, fail string
	}{
		{"answered", `[{call: shop, path: "/orders/a%20b", json: {status: ok}}]`, ""},
		{"no answer listed", `[]`, `the dialog calls GET shop/orders/a%20b, but the test lists no answer for it`},
		{"another path", `[{call: shop, path: "/orders/1", json: {status: ok}}]`, `the dialog calls GET shop/orders/a%20b`},
		{"an answer never asked for", `[{call: shop, path: "/orders/a%20b", json: {status: ok}}, {call: shop, path: "/x"}]`, `calls[1]: the answer for shop /x was never asked for`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf, ps := scenarios.ParseTests("shop.test.yaml", []byte(`scenario: shop
tests:
  - name: t
    calls: `+tc.calls+`
    steps:
      - start: {}
      - user: a b
      - bot: a b
      - expect: {finished: true, fields: {status: ok}}
`))
			if ps.HasErrors() {
				t.Fatal(ps)
			}
			res := Run(set, tf, nil)
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			if tc.fail == "" && !res[0].Pass {
				t.Fatalf("failed: %s", res[0].Failure)
			}
			if tc.fail != "" && (res[0].Pass || !strings.Contains(res[0].Failure, tc.fail)) {
				t.Fatalf("failure %q, want %q", res[0].Failure, tc.fail)
			}
		})
	}
}
