package engine

import (
	"strconv"

	"github.com/olbot/olbot/match"
	"github.com/olbot/olbot/scenarios"
)

// buttons are the items a state shows: its menu, or a choice's options.
func buttons(st *scenarios.State) []scenarios.MenuItem {
	if st == nil {
		return nil
	}
	if st.Ask != nil && st.Type == "choice" {
		return st.Choices
	}
	return st.Menu
}

// numbered reports whether a state's buttons are also chosen by number.
func numbered(st *scenarios.State) bool {
	return !(st.Ask != nil && (st.Type == "number" || st.Type == "phone"))
}

// pick finds the button a message chooses: equal text or number first, then
// a button whose text the message contains as a phrase.
func pick(items []scenarios.MenuItem, in match.Input, byNumber bool) int {
	if in.Clean == "" {
		return -1
	}
	if byNumber {
		if n, err := strconv.Atoi(in.Clean); err == nil && n >= 1 && n <= len(items) {
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
	case "email", "phone", "number", "yesno", "choice":
		return true
	}
	return false
}

// buttonTexts are the texts of a state's buttons in the dialog's language.
func (s *stepper) buttonTexts(st *scenarios.State) []string {
	items := buttons(st)
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
