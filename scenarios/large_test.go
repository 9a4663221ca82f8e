package scenarios

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLargeFilesAreFast loads files near the size limit that are built to
// hit every loop over "all problems", "all states" or "all fields" at once:
// each must load (or be refused) in about linear work. The guard is the
// memory allocated per input byte, which does not depend on how busy the
// machine is (a quadratic pass over problems or states allocates far more);
// the time is only logged.
// maxAllocPerByte bounds the memory one input byte may cost a load here.
const maxAllocPerByte = 1024 // the largest case takes under 200

func TestLargeFilesAreFast(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	const size = 300_000
	build := func(head, item func(i int) string) []byte {
		var b strings.Builder
		b.WriteString(head(0))
		for i := 0; b.Len() < size; i++ {
			b.WriteString(item(i))
		}
		return []byte(b.String())
	}
	fixed := func(s string) func(int) string { return func(int) string { return s } }
	tests := []struct {
		name  string
		tests bool // a conversation test file
		src   []byte
		want  error // a problem the file must report; nil when it loads
	}{
		{"tests without steps", true, build(fixed("scenario: s\ntests:\n"), fixed("  - name: x\n")), ErrMissing},
		{"misspelled keys in every state", false, build(fixed("start: s0\nstates:\n"), func(i int) string {
			return fmt.Sprintf("  s%d:\n    sya: hi\n    nxt: s%d\n", i, i+1)
		}), ErrUnknownKey},
		{"bad references to many states", false, build(fixed("start: s0\nstates:\n"), func(i int) string {
			return fmt.Sprintf("  s%d:\n    say: hi\n    next: t%d\n", i, i)
		}), ErrUnknownState},
		{"many lines", false, build(fixed("start: a\nstates:\n  a:\n    finish: true\nlines:\n"), func(i int) string {
			return fmt.Sprintf("  - %d\n", i+1)
		}), nil},
		{"template with many fields", false, append(build(fixed("start: a\nstates:\n  a:\n    finish: true\n    say: \""), func(i int) string {
			return fmt.Sprintf("{{f%d}} {{f%d}} ", i, i/2)
		}), "\"\n"...), ErrTemplate},
		{"literal block with many fields", false, append(build(fixed("start: a\nstates:\n  a:\n    finish: true\n    say: |\n      "), func(i int) string {
			if i%1000 == 999 {
				return "\n      "
			}
			return fmt.Sprintf("{{f%d}} ", i)
		}), "\n"...), ErrTemplate},
		{"choice with many options", false, build(fixed("start: a\nstates:\n  b:\n    finish: true\n  a:\n    ask: q\n    save: f\n    type: choice\n    on_fail: b\n    options: [x]\n    next:\n"), func(i int) string {
			return fmt.Sprintf("      o%d: b\n", i)
		}), ErrValue},
		{"commands times waiting states", false, build(fixed("start: s0\ncommands:\n"+strings.Repeat("  - {match: [w], goto: s0}\n", 5000)+"states:\n"), func(i int) string {
			return fmt.Sprintf("  s%d: {on: [{match: [x], goto: s0}], next: s0}\n", i)
		}), ErrTooLarge},
		{"chain of asks written backwards", false, backwardChain(4000), ErrTemplate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			var ps Problems
			if tc.tests {
				_, ps = ParseTests("big.test.yaml", tc.src)
			} else {
				_, ps = Parse("big.yaml", tc.src)
			}
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			perByte := (after.TotalAlloc - before.TotalAlloc) / uint64(len(tc.src))
			if tc.want != nil && !ps.Is(tc.want) {
				t.Errorf("no problem wraps %q; first problems:\n%v", tc.want, ps[:min(len(ps), 3)])
			}
			if tc.want == nil && ps.HasErrors() {
				t.Errorf("errors:\n%v", ps[:min(len(ps), 3)])
			}
			t.Logf("%d bytes, %d problems, %v, %d bytes allocated per input byte", len(tc.src), len(ps), elapsed, perByte)
			if perByte > maxAllocPerByte {
				t.Errorf("allocated %d bytes per input byte, want at most %d: a pass that is not linear", perByte, maxAllocPerByte)
			}
		})
	}
}

// backwardChain is a chain of n asks, each using the field of the one before
// it, written last state first: a round-robin fixpoint needs n rounds here.
func backwardChain(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "start: s1\nstates:\n  end:\n    say: \"{{f0}} {{f%d}}\"\n    finish: true\n", n)
	for j := n; j >= 1; j-- {
		next := fmt.Sprintf("s%d", j+1)
		if j == n {
			next = "end"
		}
		fmt.Fprintf(&b, "  s%d:\n    ask: \"{{f%d}}?\"\n    save: f%d\n    on_fail: s1\n    next: %s\n", j, j-1, j, next)
	}
	return []byte(b.String())
}
