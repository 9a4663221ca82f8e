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
	// queue takes it, as last read; 0 when not read. It never asks the
	// portal: the event path calls it for every run that starts.
	BotTime(portal string, line int) time.Duration
}

// lineWarnings are the server's warnings about scenarios that wait longer
// than their line's bot timeout, by scenario name, then by portal:line.
type lineWarnings struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

// LineWarnings lists the warnings about scenario name against the bot
// timeouts of the lines it served (GET /v1/scenarios shows them).
func (p *Processor) LineWarnings(name string) []string {
	p.warn.mu.Lock()
	defer p.warn.mu.Unlock()
	var out []string
	for _, w := range p.warn.m[name] {
		out = append(out, w)
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
		// after the reads above (the line's language, its working time):
		// a line olbot had no reason to read is not asked for this alone
		p.checkBotTime(sc, member, line)
	}
}

// checkBotTime warns, once per scenario version and line, when the
// scenario's idle or reminders wait longer than the line leaves a chat to
// the bot: the line hands a silent chat to its queue first.
func (p *Processor) checkBotTime(sc *scenarios.Scenario, member string, line int) {
	wait, what := longestWait(sc)
	if wait == 0 {
		return
	}
	bot := p.settings.BotTime(member, line)
	key := member + ":" + strconv.Itoa(line)
	p.warn.mu.Lock()
	defer p.warn.mu.Unlock()
	if p.warn.m == nil {
		p.warn.m = map[string]map[string]string{}
	}
	if bot == 0 || wait <= bot {
		delete(p.warn.m[sc.Name], key)
		return
	}
	msg := fmt.Sprintf("scenario %s waits longer (%s: %s) than line %d of portal %s leaves a silent chat to the bot (WELCOME_BOT_TIME %s): the line hands the chat to its queue first; shorten it, or raise the line's bot time in its settings",
		sc.Name, what, wait, line, member, bot)
	if p.warn.m[sc.Name] == nil {
		p.warn.m[sc.Name] = map[string]string{}
	}
	if p.warn.m[sc.Name][key] != msg {
		p.warn.m[sc.Name][key] = msg
		p.log.Warn("scenario waits longer than the line's bot timeout", "scenario", sc.Name, "version", sc.Version, "portal", member, "line", line,
			"wait", what, "for", wait, "bot_time", bot)
	}
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
