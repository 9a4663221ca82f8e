package scenarios

import (
	"fmt"
	"strconv"
	"strings"
)

// checker runs the checks over one definition. It reads the definition and
// never changes it; everything it finds goes to problems.
type checker struct {
	def      *scenarioDef
	problems Problems
	names    []string
	unknown  map[*scope][]*Problem // the unknown-key problems of each map
	claimed  map[*Problem]bool     // unknown-key problems that already explain a missing key
	ops      int                   // comparisons spent on "did you mean" hints; see suggestBudget
	// unsure are the states with an error in them: what they lead to, save
	// or end in is not known, so the whole-graph checks assume the best.
	unsure map[string]bool
	// meant are the states an unknown reference probably means (its
	// "did you mean"), by the state that refers.
	meant map[string][]string
	// wild are the states (NoState for the top level) with an edge whose
	// target cannot be guessed: a missing start: or next:, a reference to
	// no state like any other. Once one is reachable, any state may be.
	wild map[string]bool
}

// check reports every problem of a decoded scenario that decoding did not
// already report: unknown keys, missing keys, references, the rules of
// each state, and the whole-graph checks (loops, dead ends, unreachable
// states, template fields). An error in one part does not hide the
// problems of another: the graph checks run on what is known and leave
// alone the states whose errors make their edges unknown.
//
// t is the definition's transition table, table(def).
func check(def *scenarioDef, t []Transition) Problems {
	c := &checker{def: def, names: def.names(), unknown: map[*scope][]*Problem{}, claimed: map[*Problem]bool{},
		unsure: map[string]bool{}, meant: map[string][]string{}, wild: map[string]bool{}}
	c.unknownKeys()
	c.required()
	if !c.requiredTop() {
		return c.problems
	}
	if !def.Start.ok() {
		c.wild[NoState] = true
	}
	c.topRefs()
	c.utcHours()
	c.languages()
	c.phoneCountry()
	for _, st := range def.States.V {
		n := len(c.problems)
		c.state(st)
		if st.Broken || c.problems[n:].HasErrors() || len(st.unknown) > 0 {
			c.unsure[st.Name] = true
		}
		if c.problems[n:].Is(ErrAskNoNext) || c.problems[n:].Is(ErrDeadEnd) {
			c.wild[st.Name] = true
		}
	}
	c.graph(t)
	return c.problems
}

func (c *checker) errorf(at Pos, path string, sentinel error, hint, format string, args ...any) *Problem {
	if at == (Pos{}) {
		at = c.def.At
	}
	p := &Problem{File: c.def.File, Pos: at, Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint, Err: sentinel}
	c.problems = append(c.problems, p)
	return p
}

func (c *checker) warnf(at Pos, path string, sentinel error, hint, format string, args ...any) {
	c.errorf(at, path, sentinel, hint, format, args...).Warning = true
}

// suggest is suggest within the file's budget: a file with thousands of
// bad references to thousands of states gets its first hints, not a
// quadratic wait.
func (c *checker) suggest(s string, candidates []string) string {
	if c.ops += len(candidates); c.ops > suggestBudget {
		return ""
	}
	return suggest(s, candidates)
}

func (c *checker) didYouMean(s string, candidates []string) string {
	if m := c.suggest(s, candidates); m != "" {
		return fmt.Sprintf("did you mean %q?", m)
	}
	return ""
}

func (c *checker) didYouMeanOr(s string, candidates []string, fallback string) string {
	if h := c.didYouMean(s, candidates); h != "" {
		return h
	}
	return fallback
}

// scopes calls fn for every map of the definition that has a key set.
func (d *scenarioDef) scopes(fn func(*scope)) {
	fn(&d.scope)
	if d.Settings.Set {
		fn(&d.Settings.scope)
	}
	for i := range d.Commands.V {
		fn(&d.Commands.V[i].scope)
	}
	for _, st := range d.States.V {
		fn(&st.scope)
		for i := range st.Menu.V {
			fn(&st.Menu.V[i].scope)
		}
		for i := range st.On.V {
			fn(&st.On.V[i].scope)
		}
		if st.Transfer.Set {
			fn(&st.Transfer.V.scope)
		}
		if st.Remind.Set {
			fn(&st.Remind.V.scope)
		}
		if st.operatorScope.Path != "" {
			fn(&st.operatorScope)
		}
		for _, a := range []*val[attachDef]{&st.SayAttach, &st.AskAttach} {
			if a.Set {
				fn(&a.V.scope)
			}
		}
		if st.CRMLead.Set {
			fn(&st.CRMLead.V.outer)
			fn(&st.CRMLead.V.scope)
		}
	}
}

// unknownKeys reports every unknown key of the file.
func (c *checker) unknownKeys() {
	c.def.scopes(func(sc *scope) {
		for _, u := range sc.unknown {
			path := u.Key
			if sc.Path != "" {
				path = sc.Path + "." + u.Key
			}
			c.unknown[sc] = append(c.unknown[sc], c.errorf(u.At, path, ErrUnknownKey, u.Hint, "unknown key %q", u.Key))
		}
	})
}

// required reports the keys a map must have and does not.
func (c *checker) required() {
	d := c.def
	routes := func(list []routeDef) {
		for i := range list {
			r := &list[i]
			if !r.Match.Set {
				c.missing(&r.scope, []string{"match"}, false, "add match: [words…]", "a route needs match:")
			}
			if !r.Goto.Set {
				c.missing(&r.scope, []string{"goto"}, false, "add goto: STATE", "a route needs goto:")
			}
		}
	}
	routes(d.Commands.V)
	for _, st := range d.States.V {
		for i := range st.Menu.V {
			mi := &st.Menu.V[i]
			if !mi.Text.Set {
				c.missing(&mi.scope, []string{"text"}, false, "add text: the button's label", "a menu item needs text:")
			}
			link := mi.URL.Set || mi.Phone.Set
			switch {
			case mi.URL.Set && mi.Phone.Set:
				c.errorf(mi.Phone.At, mi.Path+".phone", ErrValue, "keep one: a button opens a link or calls a number", "a menu item with both url: and phone:")
			case link && mi.Goto.Set:
				c.errorf(mi.Goto.At, mi.Path+".goto", ErrValue, "remove goto:, or make it a plain button without url:/phone:", "a link or call button does not move the dialog: it cannot have goto:")
			case !link && !mi.Goto.Set:
				c.missing(&mi.scope, []string{"goto"}, false, "add goto: STATE (or url:/phone: for a link or call button)", "a menu item needs goto:")
			}
		}
		routes(st.On.V)
		if tr := &st.Transfer; tr.Set && tr.V.scope.Path != "" {
			switch {
			case tr.V.User.Set && tr.V.Line.Set:
				c.errorf(tr.At, tr.V.Path, ErrValue, "keep one of them: a transfer goes to one operator or one line", "transfer has both user and line")
			case !tr.V.User.Set && !tr.V.Line.Set:
				c.missing(&tr.V.scope, []string{"line", "user"}, false, "write transfer: {user: 15} or transfer: {line: 2}", "transfer needs user: or line:")
			}
		}
	}
}

// requiredTop reports a missing start: or states:, and whether the states
// could be read, so that the rest of the checks can run.
func (c *checker) requiredTop() bool {
	d := c.def
	checkable := d.States.ok()
	if !d.States.Set {
		c.missing(&d.scope, []string{"states"}, true, "add states: with at least one state", "no states: the scenario has nothing to do")
	} else if len(d.States.V) == 0 && !d.Broken && !c.problems.HasErrors() {
		c.errorf(d.States.At, "states", ErrMissing, "add at least one state under states:", "states: is empty")
		checkable = false
	}
	if !d.Start.Set {
		hint := "add start: NAME naming the first state"
		if len(c.names) > 0 {
			hint = fmt.Sprintf("add start: %s (or the name of the first state)", c.names[0])
		}
		c.missing(&d.scope, []string{"start"}, true, hint, "no start: olbot does not know which state comes first")
	}
	return checkable
}

// missing reports that the map sc lacks a required key (one of keys). When
// the map has an unknown key, that key was most likely meant ("go:" for
// "goto:"), so its problem gets the hint instead of a second error. Any
// unknown key counts in small maps (a menu item, a route); in large ones
// (strict) only a key whose "did you mean" names one of keys.
func (c *checker) missing(sc *scope, keys []string, strict bool, hint, format string, args ...any) {
	var typo *Problem
	meant := ""
	for _, p := range c.unknown[sc] {
		rest, ok := childKey(p.Path, sc.Path)
		if !ok || c.claimed[p] {
			continue
		}
		for _, k := range keys {
			if meant == "" && strings.HasPrefix(p.Hint, meanHint(k)) {
				typo, meant = p, k
			}
		}
		if typo == nil && !strict {
			typo, meant = p, c.suggest(rest, keys)
		}
	}
	if typo == nil {
		c.errorf(sc.At, sc.Path, ErrMissing, hint, format, args...)
		return
	}
	c.claimed[typo] = true
	if meant == "" {
		meant = keys[0]
	}
	typo.Hint = fmt.Sprintf("did you mean %q? %s", meant, fmt.Sprintf(format, args...))
}

// claim looks for an unknown key of sc that resembles key ("sav:" for
// "save:") although its hint named another known key, and makes its hint
// explain why key is needed. It reports whether it found one, so that the
// caller need not report key as missing too.
func (c *checker) claim(sc *scope, key, why string) bool {
	for _, p := range c.unknown[sc] {
		rest, ok := childKey(p.Path, sc.Path)
		if ok && !c.claimed[p] && suggest(rest, []string{key}) == key {
			c.claimed[p] = true
			p.Hint = fmt.Sprintf("did you mean %q? %s", key, why)
			return true
		}
	}
	return false
}

// typo reports whether sc has an unknown key that is probably a
// misspelling of key.
func (c *checker) typo(sc *scope, key string) bool {
	unknown := c.unknown[sc]
	if len(unknown) == 0 {
		return false
	}
	hint := meanHint(key)
	for _, p := range unknown {
		if _, ok := childKey(p.Path, sc.Path); ok && strings.HasPrefix(p.Hint, hint) {
			return true
		}
	}
	return false
}

// meanHint is how a "did you mean" hint for key begins.
func meanHint(key string) string { return "did you mean " + strconv.Quote(key) + "?" }

// ref reports a reference to a state that does not exist.
func (c *checker) ref(from string, v val[string], path string) {
	if v.V == "" || v.Bad {
		return
	}
	if _, ok := c.def.byName[v.V]; ok {
		return
	}
	hint := c.didYouMean(v.V, c.names)
	if hint == "" {
		hint = "states here: " + listOf(c.names)
		c.wild[from] = true
	} else {
		c.meant[from] = append(c.meant[from], c.suggest(v.V, c.names))
	}
	c.errorf(v.At, path, ErrUnknownState, hint, "unknown state %q", v.V)
}

// topRefs checks the references and settings outside the states.
func (c *checker) topRefs() {
	d := c.def
	c.ref(NoState, d.Start, "start")
	c.ref(NoState, d.Settings.OnIdle, "settings.on_idle")
	c.ref(NoState, d.Settings.OnMissingState, "settings.on_missing_state")
	for i, r := range d.Commands.V {
		c.ref(NoState, r.Goto, fmt.Sprintf("commands[%d].goto", i))
	}
	s := d.Settings
	if s.Idle.V > 0 && s.OnIdle.V == "" {
		c.warnf(s.Idle.At, "settings.idle", ErrNoOnIdle, "add settings.on_idle: STATE, e.g. a state that says goodbye and finishes", "idle is set but on_idle is not: a silent client's session is finished without a word")
	}
	if s.Idle.V == 0 && s.OnIdle.V != "" && !s.Idle.Bad {
		c.warnf(s.OnIdle.At, "settings.on_idle", ErrValue, "set settings.idle: 15m (or another duration) to use it", "on_idle is never used: idle is off")
	}
}
