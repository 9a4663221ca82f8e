package scenarios

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites the golden files under testdata/ instead of comparing:
//
//	go test ./scenarios/ -update
//
// Review the diff of testdata/ before committing it.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with the file at path, or writes it with -update.
func golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./scenarios/ -run '%s' -update to create it)", err, tb.Name())
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s is out of date (run go test ./scenarios/ -run '%s' -update, then review the diff):\n%s",
			path, tb.Name(), lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing line of want and got with a little context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d\n", i+1)
	for j := max(0, i-2); j < i; j++ {
		fmt.Fprintf(&b, "    %s\n", w[j])
	}
	for j := i; j < min(len(w), i+3); j++ {
		fmt.Fprintf(&b, "  - %s\n", w[j])
	}
	for j := i; j < min(len(g), i+3); j++ {
		fmt.Fprintf(&b, "  + %s\n", g[j])
	}
	return b.String()
}

// printed formats problems exactly as `olbot check` prints them: one
// p.Error() after another, each on its own line(s).
func printed(ps Problems) []byte {
	var b bytes.Buffer
	for _, p := range ps {
		b.WriteString(p.Error())
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// mustLoad loads a scenario file that must have no errors.
func mustLoad(tb testing.TB, path string) *Scenario {
	tb.Helper()
	sc, ps := LoadFile(path)
	if sc == nil || ps.HasErrors() {
		tb.Fatalf("LoadFile(%s):\n%v", path, ps)
	}
	return sc
}

// mustParse parses a scenario source that must have no errors.
func mustParse(tb testing.TB, file, src string) *Scenario {
	tb.Helper()
	sc, ps := Parse(file, []byte(src))
	if sc == nil || ps.HasErrors() {
		tb.Fatalf("Parse(%s):\n%v", file, ps)
	}
	return sc
}
