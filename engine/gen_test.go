package engine

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/scenarios"
)

// This file generates random valid scenarios and new versions of them for the
// property test. The generator keeps a model of the scenario (not YAML) so
// that a mutation can rename or remove a state and fix every reference; the
// model renders to YAML that goes through the real loader. Its own analysis
// of the model's graph (ends, collected fields) is independent of the
// loader's, so the loader agreeing with it is itself a property.

// gScenario is the model of a scenario file.
type gScenario struct {
	name      string
	title     string
	lines     []int
	start     string
	retries   int // -1: not written (the default, 2)
	idle      time.Duration
	onIdle    string
	onMissing string
	commands  []gRoute
	states    []*gState
	renamed   int // renames so far, for fresh names
}

// gState is the model of one state. Texts may hold {{field}} placeholders;
// render drops those the graph does not guarantee to be set.
type gState struct {
	name       string
	greet      string // "" none; "true" the line's greeting; else a text
	say        string
	ask        string
	save       string
	typ        string
	validate   string
	options    []string
	retry      string
	retries    int // -1: inherit
	onFail     string
	next       string
	branch     map[string]string // yesno: yes/no; choice: option -> state
	ifs        []gItem           // next: as a list: {if: text, goto: to} before the otherwise next
	set        string            // a value set: stores into the field "mark" on entering; "" none
	remind     *gRemind          // nil none
	menu       []gItem
	on         []gRoute
	crm        bool
	operator   bool
	transfer   string // "" or a YAML flow map
	finish     bool
	noCommands bool
}

type gItem struct{ text, to string }

type gRemind struct {
	after time.Duration
	say   string
	times int
}

type gRoute struct {
	match []string
	to    string
}

func (st *gState) waits() bool    { return st.ask != "" || len(st.menu) > 0 || len(st.on) > 0 }
func (st *gState) terminal() bool { return st.operator || st.transfer != "" || st.finish }
func (st *gState) passing() bool  { return !st.waits() && !st.terminal() }

// reprompts mirrors the language rule: a bad answer counts in an ask, and in
// a waiting state without next.
func (st *gState) reprompts() bool { return st.ask != "" || (st.waits() && st.next == "") }

func (g *gScenario) state(name string) *gState {
	for _, st := range g.states {
		if st.name == name {
			return st
		}
	}
	return nil
}

// clone is a deep copy, so a mutation leaves the older version's model intact.
func (g *gScenario) clone() *gScenario {
	c := *g
	c.lines = slices.Clone(g.lines)
	c.commands = cloneRoutes(g.commands)
	c.states = make([]*gState, len(g.states))
	for i, st := range g.states {
		s := *st
		s.options = slices.Clone(st.options)
		s.menu = slices.Clone(st.menu)
		s.on = cloneRoutes(st.on)
		s.ifs = slices.Clone(st.ifs)
		if st.branch != nil {
			s.branch = make(map[string]string, len(st.branch))
			for k, v := range st.branch {
				s.branch[k] = v
			}
		}
		c.states[i] = &s
	}
	return &c
}

func cloneRoutes(rs []gRoute) []gRoute {
	out := make([]gRoute, len(rs))
	for i, r := range rs {
		out[i] = gRoute{match: slices.Clone(r.match), to: r.to}
	}
	return out
}

// refs calls fn with every reference to a state, so that it can read or
// change it. Empty references (an absent on_fail) are skipped.
func (g *gScenario) refs(fn func(p *string)) {
	each := func(p *string) {
		if *p != "" {
			fn(p)
		}
	}
	each(&g.start)
	each(&g.onIdle)
	each(&g.onMissing)
	for i := range g.commands {
		each(&g.commands[i].to)
	}
	for _, st := range g.states {
		each(&st.onFail)
		each(&st.next)
		for i := range st.ifs {
			each(&st.ifs[i].to)
		}
		for k, v := range st.branch {
			each(&v)
			st.branch[k] = v
		}
		for i := range st.menu {
			each(&st.menu[i].to)
		}
		for i := range st.on {
			each(&st.on[i].to)
		}
	}
}

// Word pools. Menu texts and route words are all different words, so a
// scenario never has two identical buttons; they overlap with the answer
// vocabulary on purpose (a menu wins over an answer).
var (
	genMenuTexts = []string{"Leave a request", "Talk to a person", "Prices", "Доставка", "Back", "Статус заказа", "Other", "FAQ", "Оплата", "Yes please", "10"}
	genRouteWord = []string{"help", "operator", "человек", "врач*", "price", "menu", "меню", "start over", "назад", "refund*", "anna", "да"}
	genOptions   = []string{"Red", "Green", "Blue", "Доставка", "Возврат", "Moscow", "Saint Petersburg"}
	genFields    = []string{"name", "email", "phone", "age", "topic", "agree", "note"}
	genTypes     = []string{"", answers.Text, answers.Name, answers.Email, answers.Phone, answers.Number, answers.YesNo, answers.Choice}
	genPhrases   = []string{"Hello, {{client}}!", "Step {{name}} done.", "We will write to {{email}}.", "Thanks, {{name}}, noted {{topic}}.", "Call {{phone}}?", "Okay [b]{{note}}[/b].", "Age {{age}}, agree {{agree}}.", "Привет!", "Choose one:"}
	genSets      = []string{"vip", "after {{client}}", "x"}
	// genConds are conditions over the field a state just saved and the
	// values every dialog has, so that they compile in any scenario.
	genConds = []func(field string) string{
		func(f string) string { return "set(" + f + ")" },
		func(f string) string { return "not set(" + f + ") or line == 2" },
		func(string) string { return `channel == "api" and now.hour >= 12` },
		func(string) string { return `client startsWith "A" or now.weekday in ["sat", "sun"]` },
	}
	genTransfers = []string{"{user: 15}", "{line: 2, leave: true}", "{line: 3}"}
)

// genKind picks what a state does.
type genKind int

const (
	kindPass genKind = iota
	kindMenu
	kindOn
	kindAsk
	kindEnd
)

// generate draws a random valid scenario with between 2 and 13 states. It
// may trap a client in a loop (the loader warns); fixEnds removes the traps.
func generate(r *rand.Rand) *gScenario {
	g := &gScenario{name: "gen", retries: -1}
	n := 2 + r.IntN(12)
	kinds := make([]genKind, n)
	for i := range kinds {
		kinds[i] = genKind(r.IntN(5))
	}
	kinds[n-1-r.IntN(n-1)] = kindEnd // at least one end, never forced onto the start
	prefix := map[genKind]string{kindPass: "tell", kindMenu: "menu", kindOn: "route", kindAsk: "ask", kindEnd: "end"}
	for i, k := range kinds {
		g.states = append(g.states, &gState{name: fmt.Sprintf("%s_%d", prefix[k], i)})
	}
	// passing states may pass to a later passing state: no cycle of passing
	// states can arise that way
	for i, k := range kinds {
		g.fill(r, g.states[i], k)
	}
	g.start = g.states[0].name
	if r.IntN(2) == 0 {
		g.retries = r.IntN(4)
	}
	if r.IntN(2) == 0 {
		g.idle = []time.Duration{time.Minute, 10 * time.Minute, 2 * time.Hour}[r.IntN(3)]
		if r.IntN(4) != 0 {
			g.onIdle = g.pick(r)
		}
	}
	if r.IntN(2) == 0 {
		g.onMissing = g.pick(r)
	}
	for range r.IntN(4) {
		g.commands = append(g.commands, gRoute{match: words(r, genRouteWord, 1+r.IntN(2)), to: g.pick(r)})
	}
	g.fixPassing(r)
	return g
}

func (g *gScenario) pick(r *rand.Rand) string { return g.states[r.IntN(len(g.states))].name }

// pickNonPassing picks a state that waits or ends, other than not; with
// none, it adds a state that finishes.
func (g *gScenario) pickNonPassing(r *rand.Rand, not string) string {
	var c []string
	for _, st := range g.states {
		if !st.passing() && st.name != not {
			c = append(c, st.name)
		}
	}
	if len(c) == 0 {
		end := &gState{name: g.fresh("end"), say: "Bye!", finish: true, retries: -1}
		g.states = append(g.states, end)
		return end.name
	}
	return c[r.IntN(len(c))]
}

func words(r *rand.Rand, pool []string, n int) []string {
	p := r.Perm(len(pool))
	out := make([]string, 0, n)
	for _, i := range p[:min(n, len(pool))] {
		out = append(out, pool[i])
	}
	return out
}

func phrase(r *rand.Rand) string { return genPhrases[r.IntN(len(genPhrases))] }

// fill gives st a random body of kind k, pointing at random states.
func (g *gScenario) fill(r *rand.Rand, st *gState, k genKind) {
	*st = gState{name: st.name, retries: -1}
	f := &gFiller{g: g, r: r, st: st}
	if r.IntN(5) == 0 {
		if r.IntN(2) == 0 {
			st.greet = "true"
		} else {
			st.greet = phrase(r)
		}
	}
	if r.IntN(3) != 0 || k == kindPass {
		st.say = phrase(r)
	}
	st.crm = r.IntN(8) == 0
	if r.IntN(6) == 0 {
		st.set = genSets[r.IntN(len(genSets))]
	}
	switch k {
	case kindPass:
		// any state for now: fixPassing repoints a pass to an earlier passing
		// state, or to itself, once every state has its kind
		st.next = g.pick(r)
	case kindMenu:
		f.menu(4)
		if r.IntN(2) == 0 {
			st.next = g.pick(r)
		}
		if r.IntN(3) == 0 {
			f.on()
		}
		f.waitingExtras()
	case kindOn:
		f.on()
		if r.IntN(2) == 0 {
			st.next = g.pick(r)
		}
		f.waitingExtras()
	case kindAsk:
		f.ask()
	case kindEnd:
		switch r.IntN(3) {
		case 0:
			st.operator = true
		case 1:
			st.transfer = genTransfers[r.IntN(len(genTransfers))]
		default:
			st.finish = true
		}
	}
}

// gFiller draws the parts of one state's body for fill.
type gFiller struct {
	g  *gScenario
	r  *rand.Rand
	st *gState
}

func (f *gFiller) waitingExtras() {
	r, st := f.r, f.st
	if r.IntN(3) == 0 {
		st.retry = phrase(r)
	}
	if r.IntN(3) == 0 {
		st.retries = r.IntN(4)
	}
	if st.reprompts() && r.IntN(3) != 0 {
		st.onFail = f.g.pick(r)
	}
	st.noCommands = r.IntN(6) == 0
	if r.IntN(4) == 0 {
		after := []time.Duration{30 * time.Second, 5 * time.Minute, 20 * time.Minute, 2 * time.Hour}[r.IntN(4)]
		st.remind = &gRemind{after: after, say: phrase(r), times: 1 + r.IntN(3)}
	}
}

func (f *gFiller) menu(max int) {
	for _, t := range words(f.r, genMenuTexts, 1+f.r.IntN(max)) {
		f.st.menu = append(f.st.menu, gItem{text: t, to: f.g.pick(f.r)})
	}
}

func (f *gFiller) on() {
	for range 1 + f.r.IntN(2) {
		f.st.on = append(f.st.on, gRoute{match: words(f.r, genRouteWord, 1+f.r.IntN(3)), to: f.g.pick(f.r)})
	}
}

// ask draws a question: its type, rule or options, where it goes, and
// now and then a menu and routes beside it.
func (f *gFiller) ask() {
	g, r, st := f.g, f.r, f.st
	st.ask = phrase(r) + " What is it?"
	st.save = genFields[r.IntN(len(genFields))]
	st.typ = genTypes[r.IntN(len(genTypes))]
	switch st.typ {
	case "", answers.Text:
		if r.IntN(3) == 0 {
			st.validate = "min=2,max=40"
		}
	case answers.Number:
		if r.IntN(3) == 0 {
			st.validate = "gte=18,lte=120"
		}
	case answers.Choice:
		st.options = words(r, genOptions, 2+r.IntN(3))
	}
	switch {
	case st.typ == answers.YesNo && r.IntN(2) == 0:
		st.branch = map[string]string{"yes": g.pick(r), "no": g.pick(r)}
	case st.typ == answers.Choice && r.IntN(2) == 0:
		st.branch = map[string]string{}
		for _, o := range st.options {
			st.branch[o] = g.pick(r)
		}
	default:
		st.next = g.pick(r)
		for n := r.IntN(4); n > 0 && r.IntN(2) == 0; n-- {
			st.ifs = append(st.ifs, gItem{text: genConds[r.IntN(len(genConds))](st.save), to: g.pick(r)})
		}
	}
	if st.typ != answers.Choice && r.IntN(4) == 0 {
		f.menu(2)
	}
	if r.IntN(4) == 0 {
		f.on()
	}
	f.waitingExtras()
}

// fixPassing repoints every passing state that passes to a passing state
// further up (or to itself) at a state that waits or ends, so that no cycle
// of passing states exists.
func (g *gScenario) fixPassing(r *rand.Rand) {
	idx := map[string]int{}
	for i, st := range g.states {
		idx[st.name] = i
	}
	for i, st := range g.states {
		if !st.passing() {
			continue
		}
		if to := g.state(st.next); to == nil || to.passing() && idx[st.next] <= i {
			st.next = g.pickNonPassing(r, st.name)
		}
	}
}

// gEdge is one way from state to state of the model; to "" is the end of
// the bot's part (an operator, a transfer, a finish).
type gEdge struct{ from, to, sets string }

// edges lists the model's transitions by the language rules, written
// independently of the compiler.
func (g *gScenario) edges() []gEdge {
	var out []gEdge
	missing := g.onMissing
	if missing == "" {
		missing = g.start
	}
	out = append(out, gEdge{from: scenarios.NoState, to: g.start}, gEdge{from: scenarios.NoState, to: missing})
	for _, st := range g.states {
		add := func(to, sets string) { out = append(out, gEdge{from: st.name, to: to, sets: sets}) }
		if st.terminal() {
			add("", "")
			continue
		}
		if !st.waits() {
			add(st.next, "")
			continue
		}
		for _, mi := range st.menu {
			add(mi.to, "")
		}
		for _, rt := range st.on {
			add(rt.to, "")
		}
		if !st.noCommands {
			for _, c := range g.commands {
				add(c.to, "")
			}
		}
		switch {
		case st.ask != "" && st.branch != nil:
			for _, to := range st.branch {
				add(to, st.save)
			}
		case st.ask != "":
			for _, b := range st.ifs {
				add(b.to, st.save)
			}
			add(st.next, st.save)
		case st.next != "":
			add(st.next, "")
		}
		if st.reprompts() {
			add(st.onFail, "") // "" = the implicit operator
		}
		if g.idle > 0 {
			add(g.onIdle, "") // "" = the implicit finish
		}
	}
	return out
}

// trapped returns the waiting states from which no way leads to an end, in
// file order.
func (g *gScenario) trapped() []string {
	into := map[string][]string{}
	for _, e := range g.edges() {
		into[e.to] = append(into[e.to], e.from)
	}
	reach := reachesEnd(into, []string{""})
	var out []string
	for _, st := range g.states {
		if st.waits() && !reach[st.name] {
			out = append(out, st.name)
		}
	}
	return out
}

// fixEnds gives every trapped waiting state a way out: a button to an end
// state (made when there is none), as an author would.
func (g *gScenario) fixEnds(r *rand.Rand) {
	g.fixPassing(r)
	for _, name := range g.trapped() {
		var ends []string
		for _, st := range g.states {
			if st.terminal() {
				ends = append(ends, st.name)
			}
		}
		if len(ends) == 0 {
			end := &gState{name: g.fresh("handoff"), say: "Connecting…", operator: true, retries: -1}
			g.states = append(g.states, end)
			ends = append(ends, end.name)
		}
		st := g.state(name)
		if st.typ == answers.Choice {
			st.on = append(st.on, gRoute{match: []string{"person"}, to: ends[r.IntN(len(ends))]})
			continue
		}
		text := "Talk to a person"
		for i := 2; slices.ContainsFunc(st.menu, func(mi gItem) bool { return mi.text == text }); i++ {
			text = fmt.Sprintf("Person %d", i)
		}
		st.menu = append(st.menu, gItem{text: text, to: ends[r.IntN(len(ends))]})
	}
}

// fresh makes a state name no state has.
func (g *gScenario) fresh(base string) string {
	for {
		g.renamed++
		name := fmt.Sprintf("%s_v%d", base, g.renamed)
		if g.state(name) == nil {
			return name
		}
	}
}

// fieldsSet is the must-analysis of collected fields: for each state, the
// fields set on every path into it.
func (g *gScenario) fieldsSet() map[string]map[string]bool {
	full := func() map[string]bool {
		m := map[string]bool{}
		for _, st := range g.states {
			if st.ask != "" {
				m[st.save] = true
			}
		}
		return m
	}
	in := map[string]map[string]bool{scenarios.NoState: {}}
	for _, st := range g.states {
		in[st.name] = full()
	}
	missing := g.onMissing
	if missing == "" {
		missing = g.start
	}
	in[g.start], in[missing] = map[string]bool{}, map[string]bool{}
	es := g.edges()
	for changed := true; changed; {
		changed = false
		for _, e := range es {
			if e.to == "" {
				continue
			}
			for f := range in[e.to] {
				if !in[e.from][f] && f != e.sets {
					delete(in[e.to], f)
					changed = true
				}
			}
		}
	}
	return in
}

var placeholder = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// yaml renders the model. Placeholders of fields the graph does not
// guarantee are dropped, so the file passes the template check.
func (g *gScenario) yaml() string {
	set := g.fieldsSet()
	w := &yamlWriter{text: func(state, s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			f := placeholder.FindStringSubmatch(m)[1]
			if f == scenarios.ClientField || set[state][f] {
				return m
			}
			return "-"
		})
	}}
	g.header(w)
	w.p("states:\n")
	for _, st := range g.states {
		w.p("  %s:\n", st.name)
		w.says(st)
		w.routes(st)
		switch {
		case st.operator:
			w.p("    operator: any\n")
		case st.transfer != "":
			w.p("    transfer: %s\n", st.transfer)
		case st.finish:
			w.p("    finish: true\n")
		}
	}
	return w.b.String()
}

// yamlWriter renders a gScenario; text drops the placeholders a state's
// text may not use.
type yamlWriter struct {
	b    strings.Builder
	text func(state, s string) string
}

func (w *yamlWriter) p(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// header writes everything above states:.
func (g *gScenario) header(w *yamlWriter) {
	w.p("name: %s\n", g.name)
	if g.title != "" {
		w.p("title: %q\n", g.title)
	}
	if len(g.lines) > 0 {
		w.p("lines: %s\n", flowList(g.lines))
	}
	w.p("start: %s\n", g.start)
	if g.retries >= 0 || g.idle > 0 || g.onIdle != "" || g.onMissing != "" {
		w.p("settings:\n")
	}
	if g.retries >= 0 {
		w.p("  retries: %d\n", g.retries)
	}
	if g.idle > 0 {
		w.p("  idle: %s\n", g.idle)
	}
	if g.onIdle != "" {
		w.p("  on_idle: %s\n", g.onIdle)
	}
	if g.onMissing != "" {
		w.p("  on_missing_state: %s\n", g.onMissing)
	}
	if len(g.commands) > 0 {
		w.p("commands:\n")
		for _, c := range g.commands {
			w.p("  - match: %s\n    goto: %s\n", flowList(c.match), c.to)
		}
	}
}

// says writes what a state sends: greet, say, crm and its question.
func (w *yamlWriter) says(st *gState) {
	switch st.greet {
	case "":
	case "true":
		w.p("    greet: true\n")
	default:
		w.p("    greet: %q\n", w.text(st.name, st.greet))
	}
	if st.say != "" {
		w.p("    say: %q\n", w.text(st.name, st.say))
	}
	if st.set != "" {
		w.p("    set: {mark: %q}\n", st.set)
	}
	if st.crm {
		w.p("    crm: lead\n")
	}
	if st.ask == "" {
		return
	}
	w.p("    ask: %q\n    save: %s\n", w.text(st.name, st.ask), st.save)
	if st.typ != "" {
		w.p("    type: %s\n", st.typ)
	}
	if st.validate != "" {
		w.p("    validate: %q\n", st.validate)
	}
	if len(st.options) > 0 {
		w.p("    options: %s\n", flowList(st.options))
	}
}

// routes writes where a state goes: retries, next, menu, on, commands.
func (w *yamlWriter) routes(st *gState) {
	if st.retry != "" {
		w.p("    retry: %q\n", w.text(st.name, st.retry))
	}
	if st.retries >= 0 {
		w.p("    retries: %d\n", st.retries)
	}
	if st.onFail != "" {
		w.p("    on_fail: %s\n", st.onFail)
	}
	if st.branch != nil {
		w.p("    next:\n")
		keys := make([]string, 0, len(st.branch))
		for k := range st.branch {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			w.p("      %q: %s\n", k, st.branch[k])
		}
	} else if len(st.ifs) > 0 {
		w.p("    next:\n")
		for _, b := range st.ifs {
			w.p("      - if: %q\n        goto: %s\n", b.text, b.to)
		}
		w.p("      - goto: %s\n", st.next)
	} else if st.next != "" {
		w.p("    next: %s\n", st.next)
	}
	if len(st.menu) > 0 {
		w.p("    menu:\n")
		for _, mi := range st.menu {
			w.p("      - text: %q\n        goto: %s\n", mi.text, mi.to)
		}
	}
	if len(st.on) > 0 {
		w.p("    on:\n")
		for _, rt := range st.on {
			w.p("      - match: %s\n        goto: %s\n", flowList(rt.match), rt.to)
		}
	}
	if st.noCommands {
		w.p("    commands: false\n")
	}
	if rm := st.remind; rm != nil {
		w.p("    remind: {after: %s, say: %q, times: %d}\n", rm.after, w.text(st.name, rm.say), rm.times)
	}
}

func flowList[T any](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%q", fmt.Sprint(x))
		if _, ok := any(x).(int); ok {
			parts[i] = fmt.Sprint(x)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// modelOf turns a loaded scenario (an example) into a model, so that it can
// be mutated like a generated one.
func modelOf(sc *scenarios.Scenario) *gScenario {
	g := &gScenario{
		name: sc.Name, title: sc.Title, lines: slices.Clone(sc.Lines), start: sc.Start,
		retries: sc.Settings.Retries, idle: sc.Settings.Idle, onIdle: sc.Settings.OnIdle, onMissing: sc.Settings.OnMissingState,
	}
	raw := func(t *scenarios.Template) string {
		if t == nil {
			return ""
		}
		return t.Raw
	}
	for _, c := range sc.Commands {
		g.commands = append(g.commands, gRoute{match: slices.Clone(c.Match), to: c.Goto})
	}
	for _, name := range sc.Order {
		s := sc.States[name]
		st := &gState{
			name: name, say: raw(s.Say), ask: raw(s.Ask), save: s.Save, typ: s.Type, validate: s.Validate,
			options: slices.Clone(s.Options), retry: raw(s.Retry), retries: -1, onFail: s.OnFail, next: s.Next,
			crm: s.CRM != "", operator: s.Operator != "", finish: s.Finish, noCommands: !s.Commands,
		}
		if s.Greet != nil {
			st.greet = "true"
			if !s.Greet.Welcome {
				st.greet = s.Greet.Text.Raw
			}
		}
		if s.Retries != nil {
			st.retries = *s.Retries
		}
		if rm := s.Remind; rm != nil {
			st.remind = &gRemind{after: rm.After, say: rm.Say.Raw, times: rm.Times}
		}
		// the model branches after answers; a passing state's branches
		// (over hours it does not model) keep their otherwise target only
		for _, b := range s.Branches[:max(len(s.Branches)-1, 0)] {
			if s.Ask != nil {
				st.ifs = append(st.ifs, gItem{text: b.If.Text, to: b.Goto})
			}
		}
		if s.Branch != nil {
			st.branch = map[string]string{}
			for k, v := range s.Branch {
				st.branch[k] = v
			}
		}
		for _, mi := range s.Menu {
			if mi.Link() {
				continue // a link or call button leads nowhere: the model has none
			}
			st.menu = append(st.menu, gItem{text: mi.Text, to: mi.Goto})
		}
		for _, rt := range s.On {
			st.on = append(st.on, gRoute{match: slices.Clone(rt.Match), to: rt.Goto})
		}
		if t := s.Transfer; t != nil {
			switch {
			case t.User != 0:
				st.transfer = fmt.Sprintf("{user: %d}", t.User)
			default:
				st.transfer = fmt.Sprintf("{line: %d, leave: %v}", t.Line, t.Leave)
			}
		}
		g.states = append(g.states, st)
	}
	return g
}

// Mutations: each returns a description for the failure report.

// mutate makes the next version of a model: a state added, removed,
// renamed or rewritten, on_missing_state or the retries changed. The result
// is valid by construction (fixEnds repairs what a change left trapped).
func mutate(r *rand.Rand, old *gScenario) (*gScenario, string) {
	g := old.clone()
	var what string
	switch r.IntN(7) {
	case 0: // add a state and point some reference at it
		st := &gState{name: g.fresh("added")}
		g.states = append(g.states, st)
		g.fill(r, st, genKind(r.IntN(5)))
		if st.passing() {
			st.next = g.pickNonPassing(r, st.name)
		}
		g.redirectOne(r, st.name)
		what = "add state " + st.name
	case 1, 2: // remove a state; its references go to a state that waits or ends
		if len(g.states) < 2 {
			return mutate(r, old)
		}
		st := g.states[r.IntN(len(g.states))]
		g.states = slices.DeleteFunc(g.states, func(s *gState) bool { return s == st })
		repl := g.pickNonPassing(r, "")
		g.refs(func(p *string) {
			if *p == st.name {
				*p = repl
			}
		})
		what = fmt.Sprintf("remove state %s (references now go to %s)", st.name, repl)
	case 3: // rename a state and every reference to it
		st := g.states[r.IntN(len(g.states))]
		from := st.name
		st.name = g.fresh(strings.SplitN(from, "_", 2)[0])
		g.refs(func(p *string) {
			if *p == from {
				*p = st.name
			}
		})
		what = fmt.Sprintf("rename state %s to %s", from, st.name)
	case 4: // rewrite a state under its name: it may stop waiting
		st := g.states[r.IntN(len(g.states))]
		g.fill(r, st, genKind(r.IntN(5)))
		if st.passing() {
			st.next = g.pickNonPassing(r, st.name)
		}
		what = "rewrite state " + st.name
	case 5:
		g.onMissing = ""
		if r.IntN(3) != 0 {
			g.onMissing = g.pick(r)
		}
		what = "on_missing_state: " + g.onMissing
	default:
		g.retries = r.IntN(4)
		if st := g.states[r.IntN(len(g.states))]; st.waits() {
			st.retries = r.IntN(3) - 1
		}
		what = fmt.Sprintf("retries: %d", g.retries)
	}
	g.fixEnds(r)
	return g, what
}

// redirectOne points one random reference at name, so that an added state
// is usually reachable. A passing state's next is left alone unless name
// waits or ends.
func (g *gScenario) redirectOne(r *rand.Rand, name string) {
	var ps []*string
	target := g.state(name)
	g.refs(func(p *string) { ps = append(ps, p) })
	for _, i := range r.Perm(len(ps)) {
		p := ps[i]
		if *p == name {
			continue
		}
		if target.passing() && g.isPassingNext(p) {
			continue
		}
		*p = name
		return
	}
}

func (g *gScenario) isPassingNext(p *string) bool {
	for _, st := range g.states {
		if p == &st.next && st.passing() {
			return true
		}
	}
	return false
}
