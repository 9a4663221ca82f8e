package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets run their seed corpus in every `go test`; to fuzz:
//
//	go test -run='^$' -fuzz='^FuzzParse$' -fuzztime=60s ./scenarios/
//	go test -run='^$' -fuzz='^FuzzParseTests$' -fuzztime=60s ./scenarios/
//
// The seed corpus in testdata/fuzz/FUZZ/ is built from examples/ and
// testdata/check/ by TestFuzzCorpus -update; crashers the fuzzer finds are
// written there too and must be committed with the fix.

// FuzzParse checks that no input makes Parse panic, that a scenario comes
// back exactly when there are no errors, that every problem is positioned
// inside the file and explained, and that a loaded scenario is consistent.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, ps := Parse("fuzz.yaml", data)
		if (sc != nil) == ps.HasErrors() {
			t.Fatalf("scenario=%v with errors=%v:\n%v", sc != nil, ps.HasErrors(), ps)
		}
		checkFuzzProblems(t, data, ps)
		if sc == nil {
			return
		}
		if len(sc.Warnings) != len(ps) {
			t.Errorf("%d warnings kept, %d returned", len(sc.Warnings), len(ps))
		}
		if _, ok := sc.States[sc.Start]; !ok {
			t.Errorf("start %q is not a state", sc.Start)
		}
		checkTable(t, sc)
		for i, tr := range sc.Table {
			if i == 64 {
				break
			}
			if got, err := sc.Fire(tr.From, tr.Event); err != nil || got != tr.To {
				t.Errorf("Fire(%q, %q) = %q, %v; want %q", tr.From, tr.Event, got, err, tr.To)
			}
		}
		_ = sc.Mermaid()
		_ = sc.DOT()
	})
}

// FuzzParseTests does the same for conversation test files.
func FuzzParseTests(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		tf, ps := ParseTests("fuzz.test.yaml", data)
		if (tf != nil) == ps.HasErrors() {
			t.Fatalf("test file=%v with errors=%v:\n%v", tf != nil, ps.HasErrors(), ps)
		}
		checkFuzzProblems(t, data, ps)
		if tf == nil {
			return
		}
		for _, tc := range tf.Tests {
			if tc.Name == "" || tc.Pos.Line < 1 {
				t.Errorf("test %+v: no name or position", tc)
			}
			for _, s := range tc.Steps {
				if s.Kind == "" || s.Pos.Line < 1 || s.Pos.Col < 1 {
					t.Errorf("step %+v: no kind or position", s)
				}
				if s.Kind == StepExpect && s.Expect == nil {
					t.Errorf("expect step without Expect")
				}
			}
		}
	})
}

func checkFuzzProblems(t *testing.T, data []byte, ps Problems) {
	t.Helper()
	lines := len(splitLines(string(data)))
	for i, p := range ps {
		if p.File == "" || p.Pos.Line < 1 || p.Pos.Col < 1 || p.Pos.Line > lines {
			t.Errorf("problem %d: file %q, position %d:%d in a file of %d lines: %s", i, p.File, p.Pos.Line, p.Pos.Col, lines, p.Msg)
		}
		if strings.TrimSpace(p.Msg) == "" || p.Err == nil {
			t.Errorf("problem %d at %d:%d: message %q, sentinel %v", i, p.Pos.Line, p.Pos.Col, p.Msg, p.Err)
		}
		if strings.TrimSpace(p.Hint) == "" {
			t.Errorf("problem %d has no hint: %s", i, p.Error())
		}
		if i > 0 && (ps[i-1].Pos.Line > p.Pos.Line || ps[i-1].Pos.Line == p.Pos.Line && ps[i-1].Pos.Col > p.Pos.Col) {
			t.Errorf("problems out of order at %d", i)
		}
	}
}

// fuzzSeeds maps each fuzz target to the files its seed corpus is built from.
var fuzzSeeds = map[string][]string{
	"FuzzParse":      {"../examples/*.yaml", "testdata/check/*.bad.yaml", "testdata/sets/*/*.yaml"},
	"FuzzParseTests": {"../examples/*.test.yaml", "testdata/sets/*/*.test.yaml"},
}

// seedName names the corpus file of a seed after its source, so that the
// fuzzer's own finds (named by hash) stay apart.
func seedName(src string) string {
	src = filepath.ToSlash(filepath.Clean(src))
	src = strings.TrimPrefix(src, "../")
	src = strings.TrimPrefix(src, "testdata/")
	return "seed-" + strings.NewReplacer("/", "-", ".", "_").Replace(src)
}

// corpusEntry encodes data in the `go test fuzz v1` format.
func corpusEntry(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzCorpus keeps the committed seed corpus in step with its sources:
// run with -update after adding or changing an example or a bad file.
func TestFuzzCorpus(t *testing.T) {
	for target, globs := range fuzzSeeds {
		dir := filepath.Join("testdata", "fuzz", target)
		want := map[string][]byte{}
		for _, g := range globs {
			files, err := filepath.Glob(g)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if target == "FuzzParse" && strings.HasSuffix(f, TestSuffix) {
					continue
				}
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				want[seedName(f)] = corpusEntry(data)
			}
		}
		if len(want) == 0 {
			t.Fatalf("%s: no seed files", target)
		}
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			old, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
			for _, f := range old {
				if _, ok := want[filepath.Base(f)]; !ok {
					os.Remove(f)
				}
			}
		}
		for name, entry := range want {
			golden(t, filepath.Join(dir, name), entry)
		}
		if !*update {
			have, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
			for _, f := range have {
				if _, ok := want[filepath.Base(f)]; !ok {
					t.Errorf("%s has no source any more: run go test ./scenarios/ -run TestFuzzCorpus -update", f)
				}
			}
		}
	}
}

// FuzzSavePath checks that ParseSavePath takes exactly the paths it can
// write back, and that looking one up in any JSON document never panics.
//
//	go test -run='^$' -fuzz='^FuzzSavePath$' -fuzztime=60s ./scenarios/
func FuzzSavePath(f *testing.F) {
	for _, s := range []string{"status", "delivery.eta", "items.0.name", "a..b", "", ".", "x y", "заказ.статус", "a.-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSavePath(s)
		if err != nil {
			return
		}
		if p.String() != s || len(p) == 0 {
			t.Fatalf("ParseSavePath(%q) = %q", s, p)
		}
		for _, doc := range []any{nil, "x", []any{"a"}, map[string]any{p[0]: map[string]any{}}} {
			p.Lookup(doc)
		}
	})
}
