package scenarios

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Reminders: `remind: {after: 5m, say: TEXT, times: 2}` in a waiting
// state. Silence for `after`, counted from the client's last message (or
// from entering the state without one) and then again from each reminder,
// sends `say`, at most `times` times.

// ErrRemind is a reminder that can never fire, or only partly.
var ErrRemind = errors.New("bad reminder")

// MaxRemindTimes bounds remind.times: a client is not nagged without end.
const MaxRemindTimes = 10

// Remind is a waiting state's reminder.
type Remind struct {
	After time.Duration
	Say   *Template
	Times int // 1 when not written
}

func (d *decoder) remind(v *yaml.Node, p string) val[remindDef] {
	n := len(d.problems)
	var r remindDef
	if r := d.resolve(v); r != nil && r.Kind != yaml.MappingNode && !isNull(r) {
		d.errorf(v, p, ErrValue, `write remind: {after: 5m, say: "Are you still there?", times: 2}`, "expected a reminder: after, say and times")
		return val[remindDef]{At: posOf(v), Set: true, Bad: true}
	}
	ok := d.mappingIn(v, p, remindKeys, &r.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "after":
			r.After = d.duration(v, p, "after")
		case "say":
			r.Say = d.template(v, p)
		case "times":
			r.Times = d.intVal(v, p, 1)
			if r.Times.ok() && r.Times.V > MaxRemindTimes {
				d.errorf(v, p, ErrRemind, fmt.Sprintf("remind at most %d times; after that, let settings.idle take the dialog on", MaxRemindTimes), "times: %d is too many reminders", r.Times.V)
				r.Times.Bad = true
			}
		}
	})
	out := mark(d, v, n, r)
	out.Bad = out.Bad || !ok
	return out
}

// remind: a reminder needs after: and say:, and fires only in a waiting
// state, before settings.idle takes the dialog on.
func (s *stateCheck) remind() {
	st := s.st
	r := st.Remind.V
	path := s.key("remind")
	if st.Remind.Bad && !r.After.Set && !r.Say.Set {
		return // not a map: decoding said so
	}
	if !r.After.Set && !s.typo(&st.Remind.V.scope, "after") {
		s.errorf(st.Remind.At, path, ErrMissing, "add after: 5m (how long the client is silent before the reminder)", "remind: has no after:")
	}
	if !r.Say.Set && !s.typo(&st.Remind.V.scope, "say") {
		s.errorf(st.Remind.At, path, ErrMissing, `add say: "Are you still there?"`, "remind: has no say:")
	}
	if !s.waits {
		s.errorf(st.Remind.At, path, ErrRemind, "put remind: on a state with ask:, menu: or on:, where the bot waits for the client",
			"the reminder never fires: state %q does not wait for the client", st.Name)
		return
	}
	idle := s.def.Settings.Idle.V
	if !r.After.ok() || idle == 0 {
		return
	}
	times := 1
	if r.Times.ok() {
		times = r.Times.V
	}
	if r.After.V*time.Duration(times) < idle {
		return
	}
	// reminders go out at after, 2×after, …; idle at its own time
	fire := int((idle - 1) / r.After.V)
	hint := fmt.Sprintf("make after × times shorter than settings.idle (%s), e.g. after: %s", shortDuration(idle), shortDuration(idle/time.Duration(times+1)))
	if fire == 0 {
		s.warnf(r.After.At, path+".after", ErrRemind, hint, "the reminder never fires: settings.idle (%s) comes first", shortDuration(idle))
		return
	}
	s.warnf(r.After.At, path+".after", ErrRemind, hint, "only %d of the %d reminders fire: settings.idle (%s) comes first", fire, times, shortDuration(idle))
}

// shortDuration writes d without zero parts: 5m, not 5m0s.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Second {
		d = time.Second
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func compileRemind(st *stateDef) *Remind {
	if !st.Remind.ok() || !st.waits() {
		return nil
	}
	r := st.Remind.V
	out := &Remind{After: r.After.V, Say: r.Say.V, Times: 1}
	if r.Times.ok() {
		out.Times = r.Times.V
	}
	return out
}
