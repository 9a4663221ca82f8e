package main

import (
	"context"
	"fmt"
	"io"

	"github.com/olbot/olbot/convtest"
)

// runTest runs conversation tests: a line per test, the first difference on
// failure, exit 1 when any test fails or a file does not load.
func runTest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("test", "test [--coverage] PATH…", stderr)
	coverage := fs.Bool("coverage", false, "list the states and transitions no test reached")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cov := convtest.NewCoverage()
	set, results, problems := convtest.RunPaths(cov, fs.Args()...)
	for _, p := range problems.Errors() {
		fmt.Fprintln(stdout, p.Error())
	}
	passed, failed := 0, 0
	for _, r := range results {
		fmt.Fprintln(stdout, r.String())
		if r.Pass {
			passed++
		} else {
			failed++
		}
	}
	if *coverage {
		missed := cov.Missed(set.List)
		if len(missed) == 0 {
			fmt.Fprintln(stdout, "coverage: every state and transition was reached")
		} else {
			fmt.Fprintf(stdout, "coverage: %d not reached:\n", len(missed))
			for _, m := range missed {
				fmt.Fprintln(stdout, "  "+m)
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if len(results) == 0 && !problems.HasErrors() {
		fmt.Fprintln(stderr, "olbot test: no *.test.yaml files found")
		return 1
	}
	if failed > 0 || problems.HasErrors() {
		return 1
	}
	return 0
}
