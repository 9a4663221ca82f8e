package engine

import (
	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
	"github.com/olbot/olbot/scenarios"
)

// This file is how a waiting state takes a client's message: its buttons,
// routes and commands, and its question's answer.

// buttons are the items a state shows: its menu, or a choice's options.
func (s *stepper) buttons(st *scenarios.State) []scenarios.MenuItem {
	if st == nil {
		return nil
	}
	if st.Ask != nil && st.Type == answers.Choice {
		return st.Choices
	}
	return s.menu(st)
}

// numbered reports whether a state's buttons are also chosen by number.
func numbered(st *scenarios.State) bool {
	return !(st.Ask != nil && (st.Type == answers.Number || st.Type == answers.Phone || st.Type == answers.Rating))
}

// pick finds the button a message chooses: equal text or number first, then
// a button whose text the message contains as a phrase. A number chooses
// item n when byNumber and 1 <= n <= len(items); any other number ("0",
// "99") chooses only an item with that text, and a negative one ("-1")
// nothing: it is input for the state, not a menu choice.
func pick(items []scenarios.MenuItem, in match.Input, byNumber bool) int {
	if in.Clean == "" {
		return -1
	}
	if n, ok := in.Number(); ok {
		switch {
		case n < 0:
			return -1
		case byNumber && n >= 1 && n <= len(items):
			return n - 1
		}
	}
	for i := range items {
		if items[i].Is(in.Clean) {
			return i
		}
	}
	for i := range items {
		if items[i].Matches(in) {
			return i
		}
	}
	return -1
}

// strongTypes are answer types whose valid answers win over global commands.
func strongType(t string) bool {
	switch t {
	case answers.Email, answers.Phone, answers.Number, answers.YesNo, answers.Choice, answers.Rating:
		return true
	}
	return false
}

// input handles a client message in the current waiting state, in the
// spec's order: menu, on, strongly-typed answer, commands, answer, fallback.
// routesOnly handles only menu, on and commands (first message of a run).
func (s *stepper) input(routesOnly bool) error {
	d := &s.d
	st := s.sc.States[d.State]
	if st == nil || !st.Waits() {
		return s.ignore("the dialog is not waiting for input")
	}
	in := match.NewInput(s.ev.Text)
	var v *scenarios.Vars
	defer func() { v.Release() }()
	menu := s.menu(st)
	if i := pick(menu, in, numbered(st)); i >= 0 {
		if err := s.fire(d.State, menu[i].Event); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	for i := range st.On {
		if st.On[i].Matches(in) && s.test(&v, st.On[i].If) {
			if err := s.fire(d.State, st.On[i].Event); err != nil {
				return err
			}
			return s.enter(d.State)
		}
	}
	// a strongly-typed answer is parsed once: a failed parse stays failed
	strong := !routesOnly && st.Ask != nil && strongType(st.Type)
	if strong {
		if v, ok := s.parse(st, in); ok {
			return s.accept(st, v)
		}
	}
	if st.Commands {
		for i := range s.sc.Commands {
			if s.sc.Commands[i].Matches(in) && s.test(&v, s.sc.Commands[i].If) {
				if err := s.fire(d.State, scenarios.CommandEvent(i)); err != nil {
					return err
				}
				return s.enter(d.State)
			}
		}
	}
	if event, v, ok := s.fuzzy(st, in, routesOnly); ok {
		if event == "" {
			return s.accept(st, v)
		}
		if err := s.fire(d.State, event); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	if routesOnly {
		return nil
	}
	if st.Ask != nil {
		if !strong {
			if v, ok := s.parse(st, in); ok {
				return s.accept(st, v)
			}
		}
		return s.bad(st)
	}
	if st.Next != "" {
		if err := s.fire(d.State, s.branch(st, scenarios.EdgeUnmatched)); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	return s.bad(st)
}

// parse validates an answer against the state's type and validate rule.
func (s *stepper) parse(st *scenarios.State, in match.Input) (string, bool) {
	var v string
	var ok bool
	if st.Type == answers.Choice {
		if i := pick(st.Choices, in, true); i >= 0 {
			v, ok = st.Choices[i].Text, true
		}
	} else {
		v, ok = s.parseAnswer(st.Type, in.Raw)
	}
	if ok && st.Validate != "" {
		ok = answers.Validate(st.Type, st.Validate, v)
	}
	return v, ok
}

// accept saves a valid answer and follows next or the answer's branch.
func (s *stepper) accept(st *scenarios.State, v string) error {
	d := &s.d
	if d.Fields == nil {
		d.Fields = make(map[string]string, 4)
	}
	d.Fields[st.Save] = v
	event := s.branch(st, scenarios.EdgeAnswer)
	if st.Branch != nil {
		event = st.BranchEvent(v)
	}
	if err := s.fire(d.State, event); err != nil {
		return err
	}
	return s.enter(d.State)
}

// bad counts a bad answer: re-ask while retries last, then on_fail.
func (s *stepper) bad(st *scenarios.State) error {
	d := &s.d
	s.r.Invalid++
	if d.Retries < s.sc.Retries(st) {
		d.Retries++
		if err := s.fire(d.State, scenarios.EdgeRetry); err != nil {
			return err
		}
		text := st.Retry
		if text == nil {
			text = st.Ask
		}
		if text == nil {
			text = st.Say
		}
		btns, links := s.buttonTexts(st), s.links(st)
		say := Say{Buttons: btns, Links: links, Numbered: numbered(st) && len(btns)+len(links) > 0}
		if text != nil {
			say.Text = s.render(text)
		}
		// a state with only on: routes has nothing to ask again: an empty
		// message would be refused by the portal, so the re-ask is silent
		if say.Text != "" || len(say.Buttons)+len(say.Links) > 0 {
			s.emit(say)
		}
		return nil
	}
	if err := s.fire(d.State, scenarios.EdgeFail); err != nil {
		return err
	}
	if st.OnFail == "" {
		s.emit(Operator{})
		d.Status = HandedOff
		return nil
	}
	return s.enter(d.State)
}

// buttonTexts are the texts of a state's buttons in the dialog's language.
func (s *stepper) buttonTexts(st *scenarios.State) []string {
	items := s.buttons(st)
	if len(items) == 0 {
		return nil
	}
	out := make([]string, len(items))
	lang := s.lang()
	for i := range items {
		out[i] = items[i].TextIn(lang)
	}
	return out
}
