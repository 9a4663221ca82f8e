package scenarios

import (
	"fmt"

	"github.com/olbot/olbot/answers"
)

// fieldTypes are the fields a scenario collects (save: and set:) with
// their answer type: number when every state that saves the field asks for
// a number or a rating (1–5), text otherwise.
func fieldTypes(d *scenarioDef) map[string]string {
	out := map[string]string{}
	for _, st := range d.States.V {
		if f := st.Save.V; f != "" {
			typ := answers.Text
			if t := st.answerType(); t == answers.Number || t == answers.Rating {
				typ = answers.Number
			}
			if old, ok := out[f]; ok && old != typ {
				typ = answers.Text
			}
			out[f] = typ
		}
		for _, s := range st.Set.V {
			out[s.Field] = answers.Text
		}
		for _, s := range st.Call.Save.V {
			out[s.Field] = answers.Text
		}
	}
	return out
}

// conds calls fn with every condition of the definition and its path.
func (d *scenarioDef) conds(fn func(c *condSrc, path string)) {
	for i, r := range d.Commands.V {
		if r.If.V != nil {
			fn(r.If.V, fmt.Sprintf("commands[%d].if", i))
		}
	}
	for _, st := range d.States.V {
		p := "states." + st.Name
		for i, b := range st.Branches.V {
			if b.If.V != nil {
				fn(b.If.V, fmt.Sprintf("%s.next[%d].if", p, i))
			}
		}
		for i, r := range st.On.V {
			if r.If.V != nil {
				fn(r.If.V, fmt.Sprintf("%s.on[%d].if", p, i))
			}
		}
		for i, mi := range st.Menu.V {
			if mi.If.V != nil {
				fn(mi.If.V, fmt.Sprintf("%s.menu[%d].if", p, i))
			}
		}
	}
}

// compileConds compiles every condition of the definition, once, against
// its fields and hours, and reports those that do not compile at the
// place in the file where the expression goes wrong.
func compileConds(d *scenarioDef) Problems {
	fields := fieldTypes(d)
	hours := map[string]bool{}
	for _, h := range d.Hours.V {
		hours[h.Name] = true
	}
	var ps Problems
	d.conds(func(c *condSrc, path string) {
		cond, err := compileCond(c.Text, fields, hours)
		if err != nil {
			ps = append(ps, &Problem{File: d.File, Pos: c.pos(err.Off), Path: path, Err: ErrCondition, Msg: err.Msg, Hint: err.Hint})
			return
		}
		c.cond = cond
	})
	return ps
}

// ifBranches: a list next: ends with the otherwise-branch, the only one
// without if:, and every branch goes somewhere.
func (s *stateCheck) ifBranches() {
	st := s.st
	list := st.Branches.V
	for i, b := range list {
		path := fmt.Sprintf("%s[%d]", s.key("next"), i)
		if !b.Goto.Set {
			s.errorf(b.At, path, ErrMissing, "add goto: STATE", "branch %d has no goto:", i+1)
		}
		s.ref(st.Name, b.Goto, path+".goto")
		last := i == len(list)-1
		switch {
		case !b.If.Set && !last:
			s.errorf(b.At, path, ErrValue, "give it an if:, or move it to the end: the branch without if: is the otherwise-branch",
				"branch %d has no if:, so the branches after it are never taken", i+1)
		case b.If.Set && last:
			s.errorf(b.At, path, ErrMissing, "add a last item - goto: STATE for when no condition holds",
				"the last branch has a condition: when none holds, the dialog would be stuck")
		}
	}
}

// utcHours warns when the scenario's own hours (not from_line) are kept
// without settings.timezone: they are then UTC, rarely what a team means.
func (c *checker) utcHours() {
	d := c.def
	if d.Settings.Timezone.Set {
		return
	}
	for _, h := range d.Hours.V {
		if h.Sched != nil && !h.Sched.FromLine {
			c.warnf(h.At, "hours."+h.Name, ErrHours, "add settings.timezone with the team's IANA time zone, e.g. timezone: Europe/Moscow",
				"hours %q are in UTC: settings.timezone is not set", h.Name)
			return
		}
	}
}
