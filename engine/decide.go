package engine

import (
	"strings"

	"github.com/olbot/olbot/answers"

	"github.com/olbot/olbot/scenarios"
)

// Decisions in a step: conditions of branches, routes and menu items, and
// set:. Conditions see the dialog as it is at the decision, and the
// event's time as the clock.

// channelName is the connector of the dialog's chat for conditions:
// telegrambot, livechat, … for a portal chat, api for /v1/events,
// playground for the playground.
func channelName(d *Dialog) string {
	switch {
	case d.Channel.Playground || strings.HasPrefix(d.Key, KeyPlayground):
		return "playground"
	case strings.HasPrefix(d.Key, KeyAPI):
		return "api"
	}
	if c, _, ok := strings.Cut(d.Channel.Entity, "|"); ok {
		return c
	}
	return ""
}

// vars are the values the conditions of one decision see.
func (s *stepper) vars() *scenarios.Vars {
	d := &s.d
	return s.sc.Vars(scenarios.Env{
		Fields: d.Fields, Client: d.Client, Line: d.Line, Language: d.Language,
		Channel: channelName(d), Time: s.ev.Time, LineHours: s.ev.LineHours,
	})
}

// test evaluates one condition; one that fails at run time is false and
// the reason says why.
func (s *stepper) test(v **scenarios.Vars, c *scenarios.Cond) bool {
	if c == nil {
		return true
	}
	if *v == nil {
		*v = s.vars()
	}
	ok, err := (*v).Test(c)
	if err != nil {
		s.r.Reason = err.Error()
	}
	return ok
}

// branch is the event a state's next: fires along kind (next, answer,
// unmatched): kind itself, or the first branch of a list whose condition
// holds (the last one always does).
func (s *stepper) branch(st *scenarios.State, kind string) string {
	if len(st.Branches) == 0 {
		return kind
	}
	var v *scenarios.Vars
	defer func() { v.Release() }()
	for _, b := range st.Branches {
		if s.test(&v, b.If) {
			return b.Event
		}
	}
	return st.Branches[len(st.Branches)-1].Event
}

// menu is the state's menu as shown now: the choices (not the link and
// call buttons) whose condition holds.
func (s *stepper) menu(st *scenarios.State) []scenarios.MenuItem {
	if st == nil {
		return nil
	}
	if !st.MenuIf && !st.MenuLinks {
		return st.Menu
	}
	var v *scenarios.Vars
	defer func() { v.Release() }()
	out := make([]scenarios.MenuItem, 0, len(st.Menu))
	for _, mi := range st.Menu {
		if !mi.Link() && s.test(&v, mi.If) {
			out = append(out, mi)
		}
	}
	return out
}

// links are the state's link and call buttons shown now, in the dialog's
// language: they follow the choices on the keyboard.
func (s *stepper) links(st *scenarios.State) []Link {
	if st == nil || !st.MenuLinks {
		return nil
	}
	var v *scenarios.Vars
	defer func() { v.Release() }()
	var out []Link
	lang := s.lang()
	for i := range st.Menu {
		mi := &st.Menu[i]
		if mi.Link() && s.test(&v, mi.If) {
			out = append(out, Link{Text: mi.TextIn(lang), URL: mi.URL, Phone: mi.Phone})
		}
	}
	return out
}

// applySet stores the state's set: fields, in file order, each seeing the
// ones before it.
func (s *stepper) applySet(st *scenarios.State) {
	if len(st.Set) == 0 {
		return
	}
	d := &s.d
	for _, f := range st.Set {
		if f.Field == scenarios.LanguageField {
			continue // the dialog's language, not a field: see set
		}
		if d.Fields == nil {
			d.Fields = make(map[string]string, len(st.Set))
		}
		// stored as typed: escaping is for what is shown, when it is shown
		d.Fields[f.Field] = f.Value.Render(s.lookup, nil, s.missing)
	}
}

// crm is the state's CRM action: every collected field, or only those of
// crm.lead.fields, and the lead's title from crm.lead.title.
func (s *stepper) crm(st *scenarios.State) CRM {
	d := &s.d
	a := CRM{Entity: st.CRM, LeadID: d.LeadID}
	if st.CRMFields == nil {
		a.Fields = make(map[string]string, len(d.Fields))
		for k, v := range d.Fields {
			a.Fields[k] = v
		}
	} else {
		a.Fields = make(map[string]string, len(st.CRMFields))
		for _, k := range st.CRMFields {
			if v, ok := d.Fields[k]; ok {
				a.Fields[k] = v
			}
		}
	}
	if st.CRMTitle != nil {
		// stored as typed, like the fields: BB-codes mean nothing in the CRM
		a.Title = st.CRMTitle.In(s.lang()).Render(s.lookup, nil, s.missing)
	}
	return a
}

// parseAnswer parses an answer of kind; a phone with the scenario's
// settings.country becomes E.164 of that country.
func (s *stepper) parseAnswer(kind, raw string) (string, bool) {
	if kind == answers.Phone && s.sc.Settings.Country != "" {
		return answers.ParsePhone(raw, s.sc.Settings.Country)
	}
	return answers.Parse(kind, raw)
}
