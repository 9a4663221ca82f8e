package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/olbot/olbot/scenarios"
)

func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: olbot %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// runCheck loads scenarios with the server's start-up load
// (scenarios.LoadPaths is a registry's first reload) and prints every
// problem; warnings alone exit 0.
func runCheck(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("check", "check [--config FILE] [--server URL] PATH…", stderr)
	config := fs.String("config", "", "the server's YAML config file: every call: must name one of its endpoints (without it: a warning per call)")
	srv := fs.String("server", "", "a running olbot: report what saving each FILE would do to its live dialogs (dry run)")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token (env OLBOT_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *srv != "" {
		return checkServer(ctx, *srv, *token, fs.Args(), stdout, stderr)
	}
	set, problems := scenarios.LoadPaths(fs.Args()...)
	var known map[string]bool
	if *config != "" {
		eps, err := readEndpoints(*config)
		if err != nil {
			fmt.Fprintln(stderr, "olbot check:", err)
			return 2
		}
		known = eps.Known()
	}
	if set != nil {
		problems = append(problems, scenarios.CheckEndpoints(set.List, known, *config != "")...)
		problems.Sort()
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p.Error())
	}
	errs, warns := len(problems.Errors()), len(problems.Warnings())
	if errs > 0 {
		fmt.Fprintf(stdout, "%s, %s\n", plural(errs, "error"), plural(warns, "warning"))
		return 1
	}
	for _, sc := range set.List {
		lines := "default scenario"
		if !sc.Default() {
			lines = fmt.Sprintf("lines %v", sc.Lines)
		}
		fmt.Fprintf(stdout, "ok %s: scenario %s (%s), %s, version %s\n", sc.File, sc.Name, lines, plural(len(sc.States), "state"), sc.Version)
	}
	if warns > 0 {
		fmt.Fprintf(stdout, "%s\n", plural(warns, "warning"))
	}
	return 0
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
