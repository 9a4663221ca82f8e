package main

import (
	"context"
	"fmt"
	"io"

	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/schema"
)

// runGraph prints a scenario as a Mermaid or Graphviz diagram.
func runGraph(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("graph", "graph [--format mermaid|dot] FILE", stderr)
	format := fs.String("format", "mermaid", "diagram format: mermaid or dot")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if *format != "mermaid" && *format != "dot" {
		fmt.Fprintf(stderr, "olbot graph: unknown format %q (want mermaid or dot)\n", *format)
		return 2
	}
	sc, problems := scenarios.LoadFile(fs.Arg(0))
	if sc == nil {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.Error())
		}
		return 1
	}
	if *format == "dot" {
		fmt.Fprint(stdout, sc.DOT())
	} else {
		fmt.Fprint(stdout, sc.Mermaid())
	}
	return 0
}

// runSchema prints the JSON Schema of scenario files (or of test files).
func runSchema(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("schema", "schema [--tests]", stderr)
	tests := fs.Bool("tests", false, "print the schema of conversation test files (*.test.yaml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *tests {
		stdout.Write(schema.Tests)
	} else {
		stdout.Write(schema.Scenario)
	}
	return 0
}
