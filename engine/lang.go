package engine

import (
	"fmt"
	"strings"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
	"github.com/olbot/olbot/scenarios"
)

// Language is the language a dialog of sc is in: its own when the scenario
// still lists it, else the scenario's default ("" for a scenario in one
// language).
func Language(sc *scenarios.Scenario, d Dialog) string {
	if d.Language != "" && sc.HasLanguage(d.Language) {
		return d.Language
	}
	return sc.DefaultLanguage()
}

// startLanguage sets the language of a run that starts: the client's
// earlier choice, else the line's language when the scenario lists it,
// else the default.
func (s *stepper) startLanguage() {
	d := &s.d
	if len(s.sc.Languages) == 0 {
		d.Language, d.LanguageChosen = "", false
		return
	}
	if d.LanguageChosen && s.sc.HasLanguage(d.Language) {
		return
	}
	d.Language, d.LanguageChosen = s.sc.DefaultLanguage(), false
	if l := scenarios.PortalLanguage(s.ev.Language); s.sc.HasLanguage(l) {
		d.Language = l
	}
}

// detectLanguage picks the dialog's language by the script of the
// client's message (settings.detect_language), once per dialog.
func (s *stepper) detectLanguage() {
	d := &s.d
	if !s.sc.Settings.DetectLanguage || d.LanguageChosen {
		return
	}
	if l := s.sc.Detect(s.ev.Text); l != "" {
		d.Language, d.LanguageChosen = l, true
	}
}

// set applies a state's set: on entering it.
func (s *stepper) set(st *scenarios.State) {
	for _, a := range st.Set {
		if a.Field == scenarios.LanguageField && s.sc.HasLanguage(a.Value.Raw) {
			s.d.Language, s.d.LanguageChosen = a.Value.Raw, true
		}
	}
}

// switchLanguage handles a SwitchLanguage event.
func (s *stepper) switchLanguage() error {
	l := scenarios.PortalLanguage(s.ev.Language)
	if !s.sc.HasLanguage(l) {
		return fmt.Errorf("%w: language %q is not one of scenario %s's languages (%s)", ErrBadEvent, s.ev.Language, s.sc.Name, strings.Join(s.sc.Languages, ", "))
	}
	if s.d.Language == l && s.d.LanguageChosen {
		return s.ignore("the dialog is in " + l + " already")
	}
	s.d.Language, s.d.LanguageChosen = l, true
	return nil
}

// lang is the language texts are rendered in.
func (s *stepper) lang() string { return Language(s.sc, s.d) }

// fuzzyAllowed reports whether a state matches with typos: not one asking
// for an email, phone or number, whose answers are exact by nature.
func fuzzyAllowed(st *scenarios.State) bool {
	switch st.Type {
	case answers.Email, answers.Phone, answers.Number:
		return st.Ask == nil
	}
	return true
}

// fuzzy looks for the one entry a message matches with typos, once nothing
// matched exactly (settings.fuzzy): a menu button, an on route, a choice
// option, a yes/no word or a global command. It returns the fsm event to
// fire, or the choice/yes-no value to accept; when two entries that lead to
// different places match, the message matches neither.
func (s *stepper) fuzzy(st *scenarios.State, in match.Input, routesOnly bool) (event, value string, ok bool) {
	if !s.sc.Settings.Fuzzy || !fuzzyAllowed(st) || in.Clean == "" {
		return "", "", false
	}
	in = in.Forgiving()
	cand := st.FuzzyCandidates(in) // the entries a word of in can be one edit from
	found := 0
	var first string // where the first entry found leads
	take := func(e, v, to string) {
		if found == 0 {
			event, value, first = e, v, to
			found++
		} else if to != first {
			found++ // entries that lead to the same place do not compete
		}
	}
	whole := func(items []scenarios.MenuItem, i int) bool { return items[i].MatchesFuzzy(in, true) }
	some := func(items []scenarios.MenuItem, i int) bool { return items[i].MatchesFuzzy(in, false) }
	for _, m := range []func([]scenarios.MenuItem, int) bool{whole, some} {
		for i := range st.Menu {
			if cand.Menu(i) && !st.Menu[i].Link() && m(st.Menu, i) {
				take(st.Menu[i].Event, "", st.Menu[i].Goto)
			}
		}
		if !routesOnly && st.Ask != nil && st.Type == answers.Choice {
			for i := range st.Choices {
				if cand.Choice(i) && m(st.Choices, i) {
					take("", st.Choices[i].Text, "="+st.Choices[i].Text)
				}
			}
		}
		if found > 0 {
			break // a button typed whole wins over one inside a sentence, as without typos
		}
	}
	for i := range st.On {
		if cand.On(i) && st.On[i].MatchesFuzzy(in) {
			take(st.On[i].Event, "", st.On[i].Goto)
		}
	}
	if !routesOnly && st.Ask != nil && st.Type == answers.YesNo {
		if v, yes := answers.ParseYesNoFuzzy(in.Raw); yes {
			take("", v, "="+v)
		}
	}
	if st.Commands {
		for i := range s.sc.Commands {
			if cand.Command(i) && s.sc.Commands[i].MatchesFuzzy(in) {
				take(scenarios.CommandEvent(i), "", s.sc.Commands[i].Goto)
			}
		}
	}
	return event, value, found == 1
}
