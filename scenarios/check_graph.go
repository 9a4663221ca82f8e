package scenarios

import (
	"fmt"
	"strings"
)

// maxTransitions bounds the compiled transition table of one scenario.
const maxTransitions = 100_000

// tableSize is the number of transitions compile will make, at most.
func tableSize(d *scenarioDef) int {
	n := 2
	for _, st := range d.States.V {
		n += len(st.Menu.V) + len(st.On.V)
		if !st.waits() {
			n += 2 // next (or a call's answer) and a call's error
			continue
		}
		if st.commandsApply() {
			n += len(d.Commands.V)
		}
		n += 4 + len(st.Branch.V) // answer (or unmatched), retry, fail, idle
	}
	return n
}

// graph runs the checks over the whole transition table. States with
// errors (c.unsure) count as leading anywhere their texts name, as ending
// and as saving every field, so that an error in one state does not make
// up problems in others.
func (c *checker) graph(t []Transition) {
	if n := tableSize(c.def); n > maxTransitions {
		// every waiting state gets an edge per global command: a large file
		// could otherwise compile to a table of hundreds of millions of edges
		c.errorf(c.def.Commands.At, "commands", ErrTooLarge, "use fewer global commands or fewer states, or split the scenario into several files",
			"the scenario has %d ways from state to state (each state that waits gets one per command); at most %d are allowed", n, maxTransitions)
		return
	}
	c.passingCycles()
	c.ends(t)
	c.reachable(t)
	c.templates(t)
}

// passingCycles finds loops of states that pass on without waiting.
func (c *checker) passingCycles() {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	reported := map[string]bool{}
	for _, name := range c.names {
		var path []string
		cur := name
		for {
			st := c.def.byName[cur]
			if st == nil || c.unsure[cur] || st.waits() || st.calls() || st.terminal() || st.Next.V == "" || color[cur] == black {
				break
			}
			if color[cur] == grey {
				c.cycle(path[indexOf(path, cur):], reported)
				break
			}
			color[cur] = grey
			path = append(path, cur)
			cur = st.Next.V
		}
		for _, s := range path {
			color[s] = black
		}
	}
}

// cycle reports a loop of passing states once.
func (c *checker) cycle(loop []string, reported map[string]bool) {
	for _, s := range loop {
		if reported[s] {
			return
		}
	}
	for _, s := range loop {
		reported[s] = true
	}
	first := loop[0]
	c.errorf(c.def.byName[first].At, "states."+first, ErrCycle, "make one of these states wait for the client (ask:, menu: or on:) or end the dialog",
		"states %s pass to each other forever without waiting for the client", strings.Join(append(append([]string(nil), loop...), first), " → "))
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// ends warns about waiting states from which no way leads to an operator,
// a transfer or a finish: a client who enters one can only go round in
// circles with the bot. Ends are the terminal states and the edges that
// end by themselves (retries used up without on_fail, idle without on_idle).
func (c *checker) ends(t []Transition) {
	into := map[string][]string{}
	ends := map[string]bool{}
	var queue []string
	end := func(s string) {
		if !ends[s] {
			ends[s] = true
			queue = append(queue, s)
		}
	}
	for _, tr := range t {
		into[tr.To] = append(into[tr.To], tr.From)
		if tr.Implicit != "" {
			end(tr.From)
		}
	}
	for _, st := range c.def.States.V {
		if st.terminal() || c.unsure[st.Name] {
			end(st.Name)
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
	for _, st := range c.def.States.V {
		if st.waits() && !ends[st.Name] {
			trapped = append(trapped, st.Name)
		}
	}
	if len(trapped) == 0 {
		return
	}
	first := trapped[0]
	// A warning, not an error: a client can still type 0 (Bitrix24's own
	// "call an operator") and the line's own timeout closes the session,
	// and an endless loop may be meant (a bot that only takes notes).
	c.warnf(c.def.byName[first].At, "states."+first, ErrNoWayOut,
		"give one of these states a way to an operator or an end: a menu item or on: route to a state with operator:, transfer: or finish:, on_fail: (or none, which calls an operator), a global command, or settings.idle",
		"%s %s to an operator or an end: a client there can only go round in circles", strings.Join(trapped, ", "), plural(len(trapped), "never leads", "never lead"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// mayLead are the states a state (or NoState, for the top level) may lead
// to beyond the table: the names in its rejected values and under its
// unknown keys, and the states its unknown references probably mean.
func (c *checker) mayLead() map[string][]string {
	out := map[string][]string{}
	add := func(from string, names []string) {
		for _, n := range names {
			if _, ok := c.def.byName[n]; ok {
				out[from] = append(out[from], n)
			}
		}
	}
	add(NoState, c.def.loose)
	for _, st := range c.def.States.V {
		add(st.Name, st.loose)
	}
	for from, names := range c.meant {
		add(from, names)
	}
	return out
}

// reachable warns about states no dialog can ever enter.
func (c *checker) reachable(t []Transition) {
	out := c.mayLead()
	for _, tr := range t {
		out[tr.From] = append(out[tr.From], tr.To)
	}
	seen := map[string]bool{NoState: true}
	queue := []string{NoState}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if c.wild[cur] {
			return // it may lead to any state
		}
		for _, to := range out[cur] {
			if !seen[to] {
				seen[to] = true
				queue = append(queue, to)
			}
		}
	}
	for _, st := range c.def.States.V {
		if !seen[st.Name] {
			c.warnf(st.At, "states."+st.Name, ErrUnreachable, "point a next:, goto: or on_fail: at it, or remove it", "state %q is unreachable: nothing leads to it", st.Name)
		}
	}
}

// templates reports template fields that may be unset when the text is
// shown: a field counts as set only on its ask's next edge, and must be set
// on every path into the state (a must-analysis over the transition table).
func (c *checker) templates(t []Transition) {
	saved := map[string]string{} // field -> a state that collects it
	var fields []string
	for _, st := range c.def.States.V {
		if f := st.Save.V; f != "" {
			if _, ok := saved[f]; !ok {
				saved[f] = st.Name
				fields = append(fields, f)
			}
		}
		for _, s := range st.Set.V {
			if _, ok := saved[s.Field]; !ok {
				saved[s.Field] = st.Name
				fields = append(fields, s.Field)
			}
		}
		for _, s := range st.Call.Save.V {
			if _, ok := saved[s.Field]; !ok && validName(s.Field) {
				saved[s.Field] = st.Name
				fields = append(fields, s.Field)
			}
		}
	}
	in := c.collected(t, fields)
	maybe := map[string]bool{} // named where an error is: perhaps collected
	for _, s := range c.def.loose {
		maybe[s] = true
	}
	for _, st := range c.def.States.V {
		for _, s := range st.loose {
			maybe[s] = true
		}
	}
	idx := map[string]int{}
	for i, f := range fields {
		idx[f] = i
	}
	for _, st := range c.def.States.V {
		for _, tp := range []struct {
			key string
			t   *Template
		}{{"greet", greetTemplate(st.Greet.V)}, {"say", st.Say.V}, {"ask", st.Ask.V}, {"retry", st.Retry.V}} {
			if tp.t != nil {
				c.templateFields(st, "states."+st.Name+"."+tp.key, tp.t, fields, idx, saved, in, maybe)
			}
		}
		if t := st.CRMLead.V.Title.V; t != nil {
			c.templateFields(st, "states."+st.Name+".crm.lead.title", t, fields, idx, saved, in, maybe)
		}
		if r := st.Remind.V.Say.V; r != nil {
			c.templateFields(st, "states."+st.Name+".remind.say", r, fields, idx, saved, in, maybe)
		}
		if n := st.OperatorNote.V; n != nil {
			c.templateFields(st, "states."+st.Name+".operator.note", n, fields, idx, saved, in, maybe)
		}
		if n := st.Transfer.V.Note.V; n != nil {
			c.templateFields(st, "states."+st.Name+".transfer.note", n, fields, idx, saved, in, maybe)
		}
		for _, s := range st.Set.V {
			if s.Value.V != nil {
				c.templateFields(st, "states."+st.Name+".set."+s.Field, s.Value.V, fields, idx, saved, in, maybe)
			}
		}
		if st.Call.Path.V != nil {
			c.templateFields(st, "states."+st.Name+".path", st.Call.Path.V, fields, idx, saved, in, maybe)
		}
		if st.Call.Body.V != nil {
			for _, t := range st.Call.Body.V.Fields() {
				c.templateFields(st, "states."+st.Name+".body", t, fields, idx, saved, in, maybe)
			}
		}
	}
}

// templateFields checks the fields of one template of st.
func (c *checker) templateFields(st *stateDef, path string, t *Template, fields []string, idx map[string]int, saved map[string]string, in map[string]bits, maybe map[string]bool) {
	name := st.Name
	for i, f := range t.Fields {
		pos := fieldPos(t, i)
		key := f // the field set with f: a file's FIELD for FIELD.url
		if base, part, dotted := strings.Cut(f, "."); dotted {
			switch {
			case !contains(fileParts, part):
				c.problems = append(c.problems, &Problem{File: c.def.File, Pos: pos, Path: path, Err: ErrTemplate,
					Hint: fmt.Sprintf("a file answer has {{%s}} (its name), {{%s.url}} and {{%s.id}}", base, base, base),
					Msg:  fmt.Sprintf("{{%s}}: a field has no part .%s", f, part)})
				continue
			case !c.fileField(base):
				c.problems = append(c.problems, &Problem{File: c.def.File, Pos: pos, Path: path, Err: ErrTemplate,
					Hint: fmt.Sprintf("write {{%s}}, or collect %s with an ask of type: file", base, base),
					Msg:  fmt.Sprintf("{{%s}}: only the answer of a type: file ask has .%s", f, part)})
				continue
			}
			key = base // set exactly when the file's name is
		}
		switch i, ok := idx[key]; {
		case key == ClientField:
		case !ok && maybe[key]:
		case !ok:
			known := append(fields[:len(fields):len(fields)], ClientField)
			hint := c.didYouMean(f, known)
			if hint == "" {
				hint = "collect it with ask: and save: " + f + " first, or use one of: " + listOf(known)
			}
			c.problems = append(c.problems, &Problem{File: c.def.File, Pos: pos, Path: path, Err: ErrTemplate, Hint: hint,
				Msg: fmt.Sprintf("{{%s}} is never collected: no state has save: %s", f, f)})
		case !in[name].has(i) && saved[key] == name:
			c.problems = append(c.problems, &Problem{File: c.def.File, Pos: pos, Path: path, Err: ErrTemplate,
				Hint: fmt.Sprintf("this text is shown before the answer is saved: remove {{%s}}, or collect %s in an earlier state", f, f),
				Msg:  fmt.Sprintf("{{%s}} may be unset here: this state is the one that collects it", f)})
		case !in[name].has(i):
			c.problems = append(c.problems, &Problem{File: c.def.File, Pos: pos, Path: path, Err: ErrTemplate,
				Hint: fmt.Sprintf("make every way into %q pass through %q, or remove {{%s}} from this text", name, saved[key], f),
				Msg:  fmt.Sprintf("{{%s}} may be unset here: some paths into %q skip state %q, which collects it", f, name, saved[key])})
		}
	}
}

// collected computes, for every state, the fields set on every path into
// it: a worklist, where a state is looked at again only when what flows
// into it shrank. An unsure state passes on every field.
func (c *checker) collected(t []Transition, fields []string) map[string]bits {
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
	for _, name := range c.names {
		in[name] = full.clone()
	}
	in[NoState] = newBits(n)
	in[c.def.Start.V] = newBits(n)
	in[c.def.missingTarget()] = newBits(n)
	out := map[string][]Transition{}
	for _, tr := range t {
		out[tr.From] = append(out[tr.From], tr)
	}
	queue := append([]string{NoState}, c.names...)
	queued := map[string]bool{}
	for _, q := range queue {
		queued[q] = true
	}
	flow := newBits(n)
	sets := map[string][]int{}  // fields a state's set: stores on entering it
	calls := map[string][]int{} // fields a call's answer saves, on its next edges
	for _, st := range c.def.States.V {
		for _, s := range st.Set.V {
			sets[st.Name] = append(sets[st.Name], idx[s.Field])
		}
		for _, s := range st.Call.Save.V {
			if i, ok := idx[s.Field]; ok {
				calls[st.Name] = append(calls[st.Name], i)
			}
		}
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		queued[cur] = false
		for _, tr := range out[cur] {
			copy(flow, in[cur])
			if c.unsure[cur] {
				copy(flow, full)
			}
			for _, i := range sets[cur] {
				flow.set(i)
			}
			if tr.Sets != "" {
				flow.set(idx[tr.Sets])
			}
			if tr.Kind == EdgeCall {
				for _, i := range calls[cur] {
					flow.set(i)
				}
			}
			if in[tr.To].intersect(flow) && !queued[tr.To] {
				queued[tr.To] = true
				queue = append(queue, tr.To)
			}
		}
	}
	for name, list := range sets {
		if in[name] == nil {
			continue
		}
		for _, i := range list {
			in[name].set(i) // set: runs first on entering, before the texts
		}
	}
	return in
}

func greetTemplate(g *Greeting) *Template {
	if g == nil {
		return nil
	}
	return g.Text
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
