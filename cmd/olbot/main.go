// Command olbot runs and checks declarative dialog scenarios for Bitrix24
// Open Lines chat-bots.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `olbot — declarative dialog scenarios for Bitrix24 Open Lines bots

Usage:
  olbot serve [flags]                 run the server (default: examples/ on 127.0.0.1:8080)
  olbot check PATH…                   check scenario files or folders; exit 1 on errors
  olbot check --server URL FILE…      ask a running server what saving FILE would do to live dialogs
  olbot history FILE --server URL     list the versions of FILE that went live on a running server
  olbot rollback FILE HASH --server URL [--yes]
                                      show the impact, then put a kept version of FILE live again
  olbot test [--coverage] PATH…       run conversation tests (*.test.yaml)
  olbot chat [--client NAME] FILE     talk to a scenario in the terminal
  olbot graph [--format mermaid|dot] FILE
                                      print the scenario as a diagram
  olbot schema [--tests]              print the JSON Schema for editors
  olbot register --webhook URL --handler URL [--name NAME]
                                      register the Open Lines bot on a portal
  olbot fakeportal [--olbot URL]      run a fake Bitrix24 portal and chat through it (demo)
  olbot fakeportal --api v2           the same through imbot.v2 fetch mode (olbot serve --webhook …)
  olbot load [--target URL] [--mode json|bitrix24|noop] [--dialogs N] [--rate R]
                                      load-test a running server: throughput, latency, outbox lag
  olbot erase --server URL (--dialog ID | --portal MEMBER_ID)
                                      erase a dialog's or a portal's data at once
  olbot backup --server URL FILE      save a running server's store (bbolt) to FILE, checked
  olbot help                          this text

Run "olbot COMMAND -h" for a command's flags.
`

// command is one subcommand: it parses its own flags from args and returns
// the process exit code.
type command func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

var commands = map[string]command{
	"check":      runCheck,
	"test":       runTest,
	"chat":       runChat,
	"graph":      runGraph,
	"schema":     runSchema,
	"serve":      runServe,
	"register":   runRegister,
	"fakeportal": runFakePortal,
	"load":       runLoad,
	"history":    runHistory,
	"rollback":   runRollback,
	"erase":      runErase,
	"backup":     runBackup,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "olbot: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(ctx, args[1:], stdin, stdout, stderr)
}
