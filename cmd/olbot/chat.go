package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/lookup"
	"github.com/olbot/olbot/scenarios"
)

const chatHelp = `Type as the client. Commands: /button N (press button N), /idle (silent until the next
reminder or idle), /at 2027-01-09T20:00 (set the clock, in the scenario's time zone),
/restart (a new session), /state (where the dialog is), /language CODE (switch the
dialog's language), /file NAME [SIZE] [CAPTION] (send a file, e.g. /file photo.jpg 2MB), /quit.`

// runChat is an interactive terminal session with one scenario. It also
// works with piped stdin, echoing each input so the transcript reads well.
func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("chat", "chat [--client NAME] [--language CODE] [--at TIME] [--config FILE] FILE", stderr)
	config := fs.String("config", "", "the server's YAML config file: call: states make real calls to its endpoints (${VAR} from the environment); without it they take on_error")
	client := fs.String("client", "", "the client's first name as the channel would report it")
	lang := fs.String("language", "", "the Open Line's language, e.g. en: the dialog starts in it (one of the scenario's settings.languages)")
	at := fs.String("at", "", "the clock at the start, e.g. 2027-01-09T20:00 in the scenario's time zone (default: now)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	sc, problems := scenarios.LoadFile(fs.Arg(0))
	if sc == nil {
		for _, p := range problems {
			fmt.Fprintln(stderr, p.Error())
		}
		return 1
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p.Error())
	}
	if *lang != "" && !sc.HasLanguage(*lang) {
		fmt.Fprintf(stderr, "olbot chat: --language %s: the scenario's languages are %s\n", *lang, languageList(sc))
		return 2
	}
	calls, err := chatCalls(ctx, *config)
	if err != nil {
		fmt.Fprintln(stderr, "olbot chat:", err)
		return 2
	}
	interactive := isTerminal(stdin)
	c := &chat{ctx: ctx, sc: sc, out: stdout, client: *client, lang: *lang, now: time.Now(), d: engine.Dialog{Key: "chat:terminal"}, calls: calls}
	fmt.Fprintf(stdout, "olbot chat: scenario %s (%s), version %s\n%s\n\n", sc.Name, sc.File, sc.Version, chatHelp)
	if *at != "" {
		c.at(*at)
	}
	c.send(engine.Event{Type: engine.Start})
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64*1024), 1<<20)
	for {
		if interactive {
			fmt.Fprint(stdout, "you> ")
		}
		if ctx.Err() != nil || !in.Scan() {
			if interactive {
				fmt.Fprintln(stdout)
			}
			return 0
		}
		line := strings.TrimRight(in.Text(), "\r")
		if !interactive {
			fmt.Fprintf(stdout, "you> %s\n", line)
		}
		if !c.command(line) {
			return 0
		}
	}
}

// chatCalls is the endpoints' client of a config file; nil without one.
func chatCalls(ctx context.Context, config string) (*lookup.Client, error) {
	if config == "" {
		return nil, nil
	}
	eps, err := readEndpoints(config)
	if err != nil {
		return nil, err
	}
	if err := eps.Expand(os.LookupEnv); err != nil {
		return nil, err
	}
	return lookup.NewClient(ctx, eps, nil)
}

type chat struct {
	ctx    context.Context
	calls  *lookup.Client // nil: no --config; every call takes on_error
	sc     *scenarios.Scenario
	d      engine.Dialog
	out    io.Writer
	client string
	lang   string // the line's language given with --language
	now    time.Time
}

// languageList names a scenario's languages for a message.
func languageList(sc *scenarios.Scenario) string {
	if len(sc.Languages) == 0 {
		return "none (it lists no settings.languages)"
	}
	return strings.Join(sc.Languages, ", ")
}

// command handles one typed line; it returns false on /quit.
func (c *chat) command(line string) bool {
	fields := strings.Fields(line)
	if len(fields) == 0 || !strings.HasPrefix(fields[0], "/") {
		c.send(engine.Event{Type: engine.Message, Text: line})
		return true
	}
	switch fields[0] {
	case "/quit", "/exit", "/q":
		return false
	case "/button", "/b":
		if len(fields) < 2 {
			fmt.Fprintln(c.out, "  ! /button needs a number or a button's text, e.g. /button 1")
			return true
		}
		rest := strings.TrimSpace(strings.TrimPrefix(line, fields[0]))
		if n, err := strconv.Atoi(rest); err == nil {
			c.send(engine.Event{Type: engine.Button, Button: n})
		} else {
			c.send(engine.Event{Type: engine.Button, Text: rest})
		}
	case "/idle":
		// silent until the next timer: a reminder, or idle
		if due := c.d.IdleAt; !due.IsZero() && due.After(c.now) {
			c.now = due.Add(-time.Second) // send adds the second back
		} else {
			c.now = c.now.Add(c.sc.Settings.Idle)
		}
		c.send(engine.Event{Type: engine.Idle})
	case "/at":
		c.at(strings.TrimSpace(strings.TrimPrefix(line, fields[0])))
	case "/file", "/f":
		f, caption, err := parseFileCommand(strings.TrimPrefix(line, fields[0]))
		if err != nil {
			fmt.Fprintf(c.out, "  ! %v\n", err)
			return true
		}
		fmt.Fprintf(c.out, "  (file %s, %s)\n", f.Name, answers.FormatSize(f.Size))
		if caption == "" {
			c.send(engine.Event{Type: engine.File, File: &f})
		} else {
			c.send(engine.Event{Type: engine.Message, Text: caption, File: &f})
		}
	case "/restart":
		c.d = engine.Dialog{Key: c.d.Key}
		c.send(engine.Event{Type: engine.Start})
	case "/state":
		fmt.Fprintf(c.out, "  state %s, %s, retries %d, fields %v", c.d.State, c.d.Status, c.d.Retries, c.d.Fields)
		if l := engine.Language(c.sc, c.d); l != "" {
			fmt.Fprintf(c.out, ", language %s", l)
		}
		fmt.Fprintln(c.out)
	case "/language", "/lang":
		if len(fields) != 2 || !c.sc.HasLanguage(fields[1]) {
			fmt.Fprintf(c.out, "  ! /language needs one of the scenario's languages: %s\n", languageList(c.sc))
			return true
		}
		c.send(engine.Event{Type: engine.SwitchLanguage, Language: fields[1]})
	case "/help", "/?":
		fmt.Fprintln(c.out, chatHelp)
	default:
		fmt.Fprintf(c.out, "  ! unknown command %s\n%s\n", fields[0], chatHelp)
	}
	return true
}

func (c *chat) send(ev engine.Event) {
	c.now = c.now.Add(time.Second)
	ev.Time, ev.Client = c.now, c.client
	if ev.Language == "" {
		ev.Language = c.lang
	}
	before := engine.Language(c.sc, c.d)
	res, err := engine.Step(c.sc, c.d, ev)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, engine.ErrNoButton) {
			msg = strings.TrimPrefix(msg, engine.ErrNoButton.Error()+": ")
		}
		fmt.Fprintf(c.out, "  ! %s\n", msg)
		return
	}
	c.d = res.Dialog
	for _, a := range res.Actions {
		switch a := a.(type) {
		case engine.Say:
			if a.Text != "" {
				fmt.Fprintf(c.out, "bot> %s\n", strings.ReplaceAll(a.Text, "\n", "\n     "))
			}
			if len(a.Buttons) > 0 {
				parts := make([]string, len(a.Buttons))
				for i, b := range a.Buttons {
					parts[i] = fmt.Sprintf("[%d] %s", i+1, b)
				}
				fmt.Fprintf(c.out, "     %s\n", strings.Join(parts, "  "))
			}
			for _, l := range a.Links {
				// no number: typing does not press them
				kind := "link"
				if l.Phone != "" {
					kind = "call"
				}
				fmt.Fprintf(c.out, "     [%s] %s → %s\n", kind, l.Text, l.Target())
			}
			// the attachment (ATTACH blocks): shown by its address
			if a.Image != "" {
				fmt.Fprintf(c.out, "     [image] %s\n", a.Image)
			}
			if a.File != "" {
				fmt.Fprintf(c.out, "     [file] %s %s\n", bitrix24.LinkName(a.File), a.File)
			}
		default:
			fmt.Fprintln(c.out, a.String())
		}
	}
	if l := engine.Language(c.sc, c.d); l != before && ev.Type != engine.Start {
		fmt.Fprintf(c.out, "  (language %s from now on)\n", l)
	}
	if res.Outcome == engine.Ignored {
		fmt.Fprintf(c.out, "  (ignored: %s)\n", res.Reason)
	} else if res.Reason != "" {
		fmt.Fprintf(c.out, "  (%s)\n", res.Reason)
	}
	switch {
	case len(res.Actions) > 0 && c.d.Status == engine.HandedOff:
		fmt.Fprintln(c.out, "  (an operator has the chat now; /restart for a new session)")
	case c.d.Status == engine.HandedOff && res.Outcome == engine.Applied && ev.Type == engine.Message:
		fmt.Fprintln(c.out, "[handoff → Bitrix24 calls an operator itself]")
	case len(res.Actions) > 0 && c.d.Status == engine.Finished:
		fmt.Fprintln(c.out, "  (the session is finished; write again to start a new one)")
	}
	if call := c.d.Call; call != nil && len(res.Actions) > 0 && res.Actions[len(res.Actions)-1].Kind() == "call" {
		// a real call when the endpoint is configured; otherwise the
		// answer says which call would have been made, and on_error follows
		a := c.calls.Do(c.ctx, *call)
		if a.Error == "" {
			fmt.Fprintf(c.out, "  (call %s answered %d, %d bytes)\n", lookup.Describe(*call), a.Status, len(a.Body))
		}
		c.send(engine.Event{Type: engine.CallAnswer, Answer: &a})
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// at sets the clock of the following inputs: conditions on now and
// open() see it.
func (c *chat) at(when string) {
	loc := time.UTC
	if c.sc.Settings.Location != nil {
		loc = c.sc.Settings.Location
	}
	t, err := scenarios.TestTime(when, loc)
	if err != nil {
		fmt.Fprintln(c.out, "  ! /at needs a time, e.g. /at 2027-01-09T20:00")
		return
	}
	c.now = t.Add(-time.Second) // the next input is at t
	fmt.Fprintf(c.out, "  clock %s\n", t.In(loc).Format("Mon 2006-01-02 15:04 MST"))
}
