package scenarios

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
)

// check runs the load-time checks that need the whole decoded scenario, then
// compiles it. Decoding problems have been reported already.
func check(d *decoder, sc *Scenario, root *yaml.Node) {
	names := sc.Order
	at := func(path string) *yaml.Node {
		p, ok := d.pos[path]
		if !ok {
			p = Pos{root.Line, root.Column}
		}
		return &yaml.Node{Line: p.Line, Column: p.Col}
	}
	keyAt := func(state string) *yaml.Node { return at("states." + state + "#key") }
	ref := func(path, target string) {
		if target == "" {
			return
		}
		if _, ok := sc.States[target]; !ok {
			hint := d.didYouMean(target, names)
			if hint == "" {
				hint = "states here: " + listOf(names)
			}
			d.errorf(at(path), path, ErrUnknownState, hint, "unknown state %q", target)
		}
	}
	ref("start", sc.Start)
	ref("settings.on_idle", sc.Settings.OnIdle)
	ref("settings.on_missing_state", sc.Settings.OnMissingState)
	for i, c := range sc.Commands {
		ref(fmt.Sprintf("commands[%d].goto", i), c.Goto)
	}
	if sc.Settings.Idle > 0 && sc.Settings.OnIdle == "" {
		d.warnf(at("settings.idle"), "settings.idle", ErrNoOnIdle, "add settings.on_idle: STATE, e.g. a state that says goodbye and finishes", "idle is set but on_idle is not: a silent client's session is finished without a word")
	}
	if sc.Settings.Idle == 0 && sc.Settings.OnIdle != "" && !d.failed("settings.idle") {
		d.warnf(at("settings.on_idle"), "settings.on_idle", ErrValue, "set settings.idle: 15m (or another duration) to use it", "on_idle is never used: idle is off")
	}

	for _, name := range names {
		checkState(d, sc, sc.States[name], at, keyAt, ref)
	}
	if d.problems.HasErrors() {
		return
	}
	if n := tableSize(sc); n > maxTransitions {
		// every waiting state gets an edge per global command: a large file
		// could otherwise compile to a table of hundreds of millions of edges
		d.errorf(at("commands"), "commands", ErrTooLarge, "use fewer global commands or fewer states, or split the scenario into several files",
			"the scenario has %d ways from state to state (each state that waits gets one per command); at most %d are allowed", n, maxTransitions)
		return
	}
	compile(sc)
	checkPassingCycles(d, sc, keyAt)
	if d.problems.HasErrors() {
		return
	}
	checkEnds(d, sc, keyAt)
	checkReachable(d, sc, keyAt)
	checkTemplates(d, sc)
}

// maxTransitions bounds the compiled transition table of one scenario.
const maxTransitions = 100_000

// tableSize is the number of transitions compile will make, at most.
func tableSize(sc *Scenario) int {
	n := 2
	for _, st := range sc.States {
		n += len(st.Menu) + len(st.On)
		if !st.Waits() {
			n++
			continue
		}
		if st.Commands {
			n += len(sc.Commands)
		}
		n += 4 + len(st.Branch) // answer (or unmatched), retry, fail, idle
	}
	return n
}

func checkState(d *decoder, sc *Scenario, st *State, at func(string) *yaml.Node, keyAt func(string) *yaml.Node, ref func(string, string)) {
	p := "states." + st.Name
	key := func(k string) string { return p + "." + k }
	has := func(k string) bool { _, ok := d.pos[key(k)]; return ok }
	// A key whose value was rejected while decoding still counts as written,
	// so that its error is not followed by others that assume it is absent;
	// a misspelled key ("nxet:") counts as the key it was meant to be.
	written := func(k string) bool { return has(k) || d.typo(p, k) }
	asks := written("ask")
	waits := asks || written("menu") || written("on")

	// terminal actions: at most one, and nothing that waits or moves on beside it
	var terms []string
	for _, k := range []string{"operator", "transfer", "finish"} {
		if has(k) && (k != "finish" || st.Finish || d.failed(key(k))) {
			terms = append(terms, k)
		}
	}
	if len(terms) > 1 {
		d.errorf(at(key(terms[1])), key(terms[1]), ErrTerminal, "keep one: a state hands off, transfers, or finishes", "%s and %s in one state: both end the bot's part", terms[0], terms[1])
	}
	if len(terms) > 0 {
		for _, k := range []string{"next", "ask", "menu", "on"} {
			if has(k) {
				d.errorf(at(key(k)), key(k), ErrTerminal, fmt.Sprintf("remove %s:, or move %s: into a state of its own", k, terms[0]), "%s: beside %s: — %s: ends the bot's part of the dialog, so %s: is never used", k, terms[0], terms[0], k)
			}
		}
	}

	// ask and its companions
	typeOK := !d.failed(key("type"))
	if asks {
		if st.Save == "" && !written("save") && !d.claim(p, "save", "ask without save: the answer would be lost") {
			d.errorf(at(key("ask")), key("ask"), ErrMissing, "add save: FIELD, the name the answer is kept under (e.g. save: name)", "ask without save: the answer would be lost")
		}
		if st.Next == "" && st.Branch == nil && !written("next") && len(terms) == 0 && !d.claim(p, "next", "ask without next") {
			d.errorf(at(key("ask")), key("ask"), ErrAskNoNext, "add next: STATE — where to go after a valid answer", "ask without next: olbot does not know where to go after a valid answer")
		}
		if !typeOK {
			// the type's own error says it all
		} else if st.Type == "choice" && len(st.Options) == 0 && !has("options") {
			d.errorf(at(key("type")), key("type"), ErrMissing, "add options: [First, Second]", "type choice needs options:")
		}
		if has("options") && st.Type != "choice" && typeOK {
			d.errorf(at(key("options")), key("options"), ErrValue, "add type: choice, or remove options:", "options: only applies to an ask of type: choice")
		}
		if st.Type == "choice" && len(st.Menu) > 0 {
			d.errorf(at(key("menu")), key("menu"), ErrValue, "a choice shows its options as buttons; remove menu: or use another type", "menu: beside type: choice")
		}
		if st.Validate != "" && typeOK {
			if err := answers.CheckTag(st.Type, st.Validate); err != nil {
				d.errorf(at(key("validate")), key("validate"), ErrValidateTag, "write rules such as min=2,max=40 (length of a text) or gte=18 (a number); see validate: in the README", "%v", err)
			}
		}
		if st.OnFail == "" && !written("on_fail") && len(terms) == 0 {
			d.warnf(at(key("ask")), key("ask"), ErrNoOnFail, "add on_fail: STATE; without it the client is handed to any free operator", "no on_fail: after %d bad answers the dialog goes to an operator", sc.Retries(st)+1)
		}
	} else {
		for _, k := range []string{"save", "type", "validate", "options"} {
			if has(k) {
				d.errorf(at(key(k)), key(k), ErrValue, "add ask: with the question, or remove "+k+":", "%s: only applies to a state with ask:", k)
			}
		}
		if st.Branch != nil {
			d.errorf(at(key("next")), key("next"), ErrValue, "use next: STATE here; branches follow the answer of a yesno or choice ask", "next: with branches needs an ask: of type yesno or choice")
		}
		if !waits {
			for _, k := range []string{"retry", "retries", "on_fail"} {
				if has(k) {
					d.warnf(at(key(k)), key(k), ErrValue, "remove it, or make the state wait with ask:, menu: or on:", "%s: is never used: this state does not wait for the client", k)
				}
			}
		} else if st.Next == "" && !written("next") && !written("on_fail") && len(terms) == 0 {
			d.warnf(keyAt(st.Name), p, ErrNoOnFail, "add on_fail: STATE, or next: STATE for input that matches nothing", "no on_fail: after %d unmatched messages the dialog goes to an operator", sc.Retries(st)+1)
		}
	}

	// branches
	if st.Branch != nil && asks && typeOK {
		complete := !d.failed(key("next"))
		switch st.Type {
		case "yesno":
			meant := map[string]bool{} // a misspelled branch stands for the one it resembles
			for _, k := range sortedKeys(st.Branch) {
				if k != "yes" && k != "no" {
					meant[d.suggest(k, []string{"yes", "no"})] = true
					d.errorf(at(key("next."+k)), key("next."+k), ErrValue, d.didYouMeanOr(k, []string{"yes", "no"}, "a yesno answer branches on yes: and no:"), "unknown branch %q", k)
				}
			}
			for _, k := range []string{"yes", "no"} {
				if _, ok := st.Branch[k]; !ok && complete && !meant[k] {
					d.errorf(at(key("next")), key("next"), ErrMissing, "add "+k+": STATE", "no branch for %q", k)
				}
			}
		case "choice":
			meant := map[string]bool{}
			options := make(map[string]bool, len(st.Options))
			for _, o := range st.Options {
				options[o] = true
			}
			for _, k := range sortedKeys(st.Branch) {
				if !options[k] {
					meant[d.suggest(k, st.Options)] = true
					d.errorf(at(key("next."+k)), key("next."+k), ErrValue, d.didYouMeanOr(k, st.Options, "branch names are the options' texts: "+listOf(st.Options)), "%q is not one of the options", k)
				}
			}
			for _, o := range st.Options {
				if _, ok := st.Branch[o]; !ok && complete && !meant[o] {
					d.errorf(at(key("next")), key("next"), ErrMissing, fmt.Sprintf("add %q: STATE", o), "no branch for option %q", o)
				}
			}
		default:
			d.errorf(at(key("next")), key("next"), ErrValue, "use next: STATE, or type: yesno / choice", "next: with branches needs type yesno or choice, not %s", st.Type)
		}
		st.branchEvents = map[string]string{}
		for k := range st.Branch {
			st.branchEvents[k] = EdgeAnswer + ":" + k
		}
	}

	// options compile like menu items
	for i, o := range st.Options {
		pat, err := match.Compile(o)
		if err != nil {
			d.errorf(at(fmt.Sprintf("%s[%d]", key("options"), i)), key("options"), ErrValue, "an option needs words or digits", "%v", err)
			continue
		}
		st.Choices = append(st.Choices, MenuItem{Text: o, match: pat})
	}

	// menu: texts unique
	seen := map[string]int{}
	for i, mi := range st.Menu {
		c := match.Clean(mi.Text)
		if j, ok := seen[c]; ok && c != "" {
			pp := fmt.Sprintf("%s[%d].text", key("menu"), i)
			d.errorf(at(pp), pp, ErrValue, "give each button its own text", "the same button text as item %d", j+1)
		}
		seen[c] = i
	}

	// references
	ref(key("next"), st.Next)
	for _, k := range sortedKeys(st.Branch) {
		ref(key("next."+k), st.Branch[k])
	}
	ref(key("on_fail"), st.OnFail)
	for i, mi := range st.Menu {
		ref(fmt.Sprintf("%s[%d].goto", key("menu"), i), mi.Goto)
	}
	for i, r := range st.On {
		ref(fmt.Sprintf("%s[%d].goto", key("on"), i), r.Goto)
	}

	// dead end
	ends := len(terms) > 0 || d.typo(p, "operator") || d.typo(p, "transfer") || d.typo(p, "finish")
	if !waits && !ends && st.Next == "" && !written("next") {
		d.errorf(keyAt(st.Name), p, ErrDeadEnd, "add next: STATE, or wait with ask:/menu:/on:, or end with operator:, transfer: or finish: true", "state %q is a dead end: it neither waits, moves on, nor ends", st.Name)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkPassingCycles finds loops of states that pass on without waiting.
func checkPassingCycles(d *decoder, sc *Scenario, keyAt func(string) *yaml.Node) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	reported := map[string]bool{}
	for _, name := range sc.Order {
		var path []string
		cur := name
		for {
			st := sc.States[cur]
			if st == nil || st.Waits() || st.Terminal() || st.Next == "" || color[cur] == black {
				break
			}
			if color[cur] == grey {
				i := indexOf(path, cur)
				cycle := append(append([]string(nil), path[i:]...), cur)
				first := cycle[0]
				for _, s := range cycle {
					if reported[s] {
						first = ""
					}
				}
				if first != "" {
					for _, s := range cycle {
						reported[s] = true
					}
					d.errorf(keyAt(first), "states."+first, ErrCycle, "make one of these states wait for the client (ask:, menu: or on:) or end the dialog",
						"states %s pass to each other forever without waiting for the client", strings.Join(cycle, " → "))
				}
				break
			}
			color[cur] = grey
			path = append(path, cur)
			cur = st.Next
		}
		for _, s := range path {
			color[s] = black
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// checkEnds warns about waiting states from which no way leads to an
// operator, a transfer or a finish: a client who enters one can only go
// round in circles with the bot. Ends are the terminal states and the edges that end
// by themselves (retries used up without on_fail, idle without on_idle).
func checkEnds(d *decoder, sc *Scenario, keyAt func(string) *yaml.Node) {
	into := map[string][]string{}
	ends := map[string]bool{}
	var queue []string
	end := func(s string) {
		if !ends[s] {
			ends[s] = true
			queue = append(queue, s)
		}
	}
	for _, t := range sc.Table {
		into[t.To] = append(into[t.To], t.From)
		if t.Implicit != "" {
			end(t.From)
		}
	}
	for _, name := range sc.Order {
		if sc.States[name].Terminal() {
			end(name)
		}
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, from := range into[cur] {
			end(from)
		}
	}
	var trapped []string
	for _, name := range sc.Order {
		if sc.States[name].Waits() && !ends[name] {
			trapped = append(trapped, name)
		}
	}
	if len(trapped) == 0 {
		return
	}
	first := trapped[0]
	// A warning, not an error: a client can still type 0 (Bitrix24's own
	// "call an operator") and the line's own timeout closes the session,
	// and an endless loop may be meant (a bot that only takes notes).
	d.warnf(keyAt(first), "states."+first, ErrNoWayOut,
		"give one of these states a way to an operator or an end: a menu item or on: route to a state with operator:, transfer: or finish:, on_fail: (or none, which calls an operator), a global command, or settings.idle",
		"%s %s to an operator or an end: a client there can only go round in circles", strings.Join(trapped, ", "), plural(len(trapped), "never leads", "never lead"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// checkReachable warns about states no dialog can ever enter.
func checkReachable(d *decoder, sc *Scenario, keyAt func(string) *yaml.Node) {
	out := map[string][]string{}
	for _, t := range sc.Table {
		out[t.From] = append(out[t.From], t.To)
	}
	seen := map[string]bool{NoState: true}
	queue := []string{NoState}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, to := range out[cur] {
			if !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for _, name := range sc.Order {
		if !seen[name] {
			d.warnf(keyAt(name), "states."+name, ErrUnreachable, "point a next:, goto: or on_fail: at it, or remove it", "state %q is unreachable: nothing leads to it", name)
		}
	}
}

// checkTemplates reports template fields that may be unset when the text is
// shown: a field counts as set only on its ask's next edge, and must be set on
// every path into the state (a must-analysis over the transition table).
func checkTemplates(d *decoder, sc *Scenario) {
	saved := map[string]string{} // field -> a state that collects it
	var fields []string
	for _, name := range sc.Order {
		if f := sc.States[name].Save; f != "" {
			if _, ok := saved[f]; !ok {
				saved[f] = name
				fields = append(fields, f)
			}
		}
	}
	idx := map[string]int{}
	for i, f := range fields {
		idx[f] = i
	}
	n := len(fields)
	full := newBits(n)
	for i := 0; i < n; i++ {
		full.set(i)
	}
	in := map[string]bits{}
	for _, name := range sc.Order {
		in[name] = full.clone()
	}
	in[NoState] = newBits(n)
	in[sc.Start] = newBits(n)
	in[sc.MissingTarget()] = newBits(n)
	// a worklist: a state is looked at again only when what flows into it shrank
	out := map[string][]Transition{}
	for _, t := range sc.Table {
		out[t.From] = append(out[t.From], t)
	}
	queue := append([]string{NoState}, sc.Order...)
	queued := map[string]bool{}
	for _, q := range queue {
		queued[q] = true
	}
	flow := newBits(n)
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		queued[cur] = false
		for _, t := range out[cur] {
			copy(flow, in[cur])
			if t.Sets != "" {
				flow.set(idx[t.Sets])
			}
			if in[t.To].intersect(flow) && !queued[t.To] {
				queued[t.To] = true
				queue = append(queue, t.To)
			}
		}
	}
	for _, name := range sc.Order {
		st := sc.States[name]
		for _, tp := range []struct {
			key string
			t   *Template
		}{{"greet", greetTemplate(st)}, {"say", st.Say}, {"ask", st.Ask}, {"retry", st.Retry}} {
			if tp.t == nil {
				continue
			}
			path := "states." + name + "." + tp.key
			for i, f := range tp.t.Fields {
				pos := fieldPos(tp.t, i)
				switch i, ok := idx[f]; {
				case f == ClientField:
				case !ok:
					known := append(fields[:len(fields):len(fields)], ClientField)
					hint := d.didYouMean(f, known)
					if hint == "" {
						hint = "collect it with ask: and save: " + f + " first, or use one of: " + listOf(known)
					}
					d.problems = append(d.problems, &Problem{File: d.file, Pos: pos, Path: path, Err: ErrTemplate, Hint: hint,
						Msg: fmt.Sprintf("{{%s}} is never collected: no state has save: %s", f, f)})
				case !in[name].has(i) && saved[f] == name:
					d.problems = append(d.problems, &Problem{File: d.file, Pos: pos, Path: path, Err: ErrTemplate,
						Hint: fmt.Sprintf("this text is shown before the answer is saved: remove {{%s}}, or collect %s in an earlier state", f, f),
						Msg:  fmt.Sprintf("{{%s}} may be unset here: this state is the one that collects it", f)})
				case !in[name].has(i):
					d.problems = append(d.problems, &Problem{File: d.file, Pos: pos, Path: path, Err: ErrTemplate,
						Hint: fmt.Sprintf("make every way into %q pass through %q, or remove {{%s}} from this text", name, saved[f], f),
						Msg:  fmt.Sprintf("{{%s}} may be unset here: some paths into %q skip state %q, which collects it", f, name, saved[f])})
				}
			}
		}
	}
}

func greetTemplate(st *State) *Template {
	if st.Greet == nil {
		return nil
	}
	return st.Greet.Text
}

// fieldPos is the position in the file of the first {{…}} of t.Fields[i].
func fieldPos(t *Template, i int) Pos {
	if i < len(t.fieldPos) {
		return t.fieldPos[i]
	}
	return t.pos
}

type bits []uint64

func newBits(n int) bits      { return make(bits, (n+63)/64) }
func (b bits) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bits) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bits) clone() bits    { return append(bits(nil), b...) }
func (b bits) intersect(o bits) bool {
	changed := false
	for i := range b {
		if v := b[i] & o[i]; v != b[i] {
			b[i] = v
			changed = true
		}
	}
	return changed
}
