package dialogs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// LineSettings is what else the processor reads of an Open Line, when the
// LineLanguages it is given knows it too (package lines): its working time
// for from_line hours, and its bot timeout (WELCOME_BOT_TIME). Both come
// from a cache; the engine's step gets the working time as data.
type LineSettings interface {
	// Hours is the line's working time; nil when not known.
	Hours(ctx context.Context, portal string, line int) *scenarios.Schedule
	// BotTime is how long the line leaves a chat to the bot before its
	// queue takes it, as last read (0 when not read), and whether the line
	// is due to be read again. It never asks the portal: the event path
	// calls it for every run that starts.
	BotTime(portal string, line int) (bot time.Duration, due bool)
	// Refresh reads the line's settings from the portal unless they are
	// fresh (bounded, at most once per line at a time) and returns its bot
	// timeout, 0 when not known.
	Refresh(ctx context.Context, portal string, line int) time.Duration
}

// maxLineReads bounds the lines read in the background at once for their
// bot timeouts; a line not read now is read when its next run starts.
const maxLineReads = 4

// lineWarnings are the lines each scenario served (by scenario name, then
// portal:line), what was logged of them, and the lines being read.
type lineWarnings struct {
	mu      sync.Mutex
	served  map[string]map[string]servedLine
	logged  map[string]string // scenario name, portal:line → version and message logged
	reading map[string]bool   // portal:line
}

// servedLine is an Open Line a scenario started runs on.
type servedLine struct {
	member string
	line   int
}

// LineWarnings lists the warnings about scenario name against the bot
// timeouts of the lines it served (GET /v1/scenarios shows them): its
// current version's waits against each line's bot timeout as last read.
func (p *Processor) LineWarnings(name string) []string {
	sc := p.registry.Current().Set.ByName[name]
	if sc == nil || p.settings == nil {
		return nil
	}
	p.warn.mu.Lock()
	lines := make([]servedLine, 0, len(p.warn.served[name]))
	for _, l := range p.warn.served[name] {
		lines = append(lines, l)
	}
	p.warn.mu.Unlock()
	var out []string
	for _, l := range lines {
		bot, _ := p.settings.BotTime(l.member, l.line)
		if msg := botTimeWarning(sc, l.member, l.line, bot); msg != "" {
			out = append(out, msg)
		}
	}
	sort.Strings(out)
	return out
}

// lineFacts adds what the event's step needs of the dialog's line — its
// working time, when the scenario has from_line hours — and checks the
// scenario's waits against the line's bot timeout when a run can start.
func (p *Processor) lineFacts(ctx context.Context, old engine.Dialog, in *Input) {
	if p.settings == nil || in.Scenario != "" {
		return
	}
	member, line := in.Channel.Member, in.Event.Line
	if member == "" {
		member = old.Channel.Member
	}
	if line <= 0 {
		line = old.Line
	}
	if member == "" || line <= 0 {
		return
	}
	set := p.registry.Current().Set
	var sc *scenarios.Scenario
	if old.Status == engine.Active && old.Scenario != "" && !in.NewSession {
		sc = set.ByName[old.Scenario]
	} else {
		sc = set.Lookup(line)
	}
	if sc == nil {
		return
	}
	if in.Event.LineHours == nil && sc.UsesLineHours() {
		in.Event.LineHours = p.settings.Hours(ctx, member, line)
	}
	if old.Status != engine.Active || in.NewSession {
		p.watchBotTime(ctx, sc, member, line)
	}
}

// watchBotTime checks the scenario's waits against the line's bot timeout
// as last read, and when the line is due to be read (first seen, or its
// settings are old) reads it in the background and checks again: the event
// does not wait for the portal, and every line the bot serves is read,
// not only those whose language or working time a scenario needs.
func (p *Processor) watchBotTime(ctx context.Context, sc *scenarios.Scenario, member string, line int) {
	if wait, _ := longestWait(sc); wait == 0 {
		return
	}
	bot, due := p.settings.BotTime(member, line)
	p.checkBotTime(sc, member, line, bot)
	if !due {
		return
	}
	key := member + ":" + strconv.Itoa(line)
	p.warn.mu.Lock()
	if p.warn.reading[key] || len(p.warn.reading) >= maxLineReads {
		p.warn.mu.Unlock()
		return
	}
	if p.warn.reading == nil {
		p.warn.reading = map[string]bool{}
	}
	p.warn.reading[key] = true
	p.warn.mu.Unlock()
	// started inside Apply, so Wait (shutdown) waits for it too; the read
	// is bounded by the cache's timeout
	p.inFlight.Add(1)
	go func() {
		defer p.inFlight.Done()
		bot := p.settings.Refresh(context.WithoutCancel(ctx), member, line)
		if cur := p.registry.Current().Set.ByName[sc.Name]; cur != nil {
			sc = cur // reloaded while the portal answered
		}
		p.checkBotTime(sc, member, line, bot)
		p.warn.mu.Lock()
		delete(p.warn.reading, key)
		p.warn.mu.Unlock()
	}()
}

// checkBotTime records that the scenario serves the line and logs, once per
// scenario version and line, when its idle or reminders wait longer than
// the line leaves a chat to the bot: the line hands a silent chat to its
// queue first.
func (p *Processor) checkBotTime(sc *scenarios.Scenario, member string, line int, bot time.Duration) {
	key := member + ":" + strconv.Itoa(line)
	msg := botTimeWarning(sc, member, line, bot)
	p.warn.mu.Lock()
	defer p.warn.mu.Unlock()
	if p.warn.served == nil {
		p.warn.served, p.warn.logged = map[string]map[string]servedLine{}, map[string]string{}
	}
	if p.warn.served[sc.Name] == nil {
		p.warn.served[sc.Name] = map[string]servedLine{}
	}
	p.warn.served[sc.Name][key] = servedLine{member: member, line: line}
	lk := sc.Name + "\x00" + key
	if msg == "" {
		delete(p.warn.logged, lk)
		return
	}
	if p.warn.logged[lk] == sc.Version+msg {
		return
	}
	p.warn.logged[lk] = sc.Version + msg
	wait, what := longestWait(sc)
	p.log.Warn("scenario waits longer than the line's bot timeout", "scenario", sc.Name, "version", sc.Version, "portal", member, "line", line,
		"wait", what, "for", wait, "bot_time", bot)
}

// botTimeWarning is the warning about the scenario's longest wait against
// the line's bot timeout; "" when it is shorter, or the bot timeout is not
// known.
func botTimeWarning(sc *scenarios.Scenario, member string, line int, bot time.Duration) string {
	wait, what := longestWait(sc)
	if wait == 0 || bot == 0 || wait <= bot {
		return ""
	}
	return fmt.Sprintf("scenario %s waits longer (%s: %s) than line %d of portal %s leaves a silent chat to the bot (WELCOME_BOT_TIME %s): the line hands the chat to its queue first; shorten it, or raise the line's bot time in its settings",
		sc.Name, what, wait, line, member, bot)
}

// longestWait is the longest silence a scenario waits for before it acts:
// settings.idle, or a state's reminders (after × times).
func longestWait(sc *scenarios.Scenario) (time.Duration, string) {
	wait, what := sc.Settings.Idle, "settings.idle"
	for _, name := range sc.Order {
		if r := sc.States[name].Remind; r != nil {
			if d := r.After * time.Duration(r.Times); d > wait {
				wait, what = d, "states."+name+".remind"
			}
		}
	}
	return wait, what
}
