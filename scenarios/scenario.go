// Package scenarios loads, checks and compiles olbot scenario files.
//
// A scenario is decoded from YAML through yaml.Node so that every value keeps
// its line and column; all problems of a file are reported at once as
// positioned Problems. A Scenario that loaded without errors is valid and
// compiled: its transition table is ready for the engine.
package scenarios

import (
	"time"

	"github.com/olbot/olbot/match"
)

// Pos is a position in a scenario file, 1-based.
type Pos struct {
	Line int
	Col  int
}

// Scenario is one loaded, checked and compiled scenario file.
type Scenario struct {
	File    string // path as given to the loader
	Name    string // unique id; defaults to the file name without .yaml
	Title   string
	Lines   []int // Open Line ids; empty means this is the default scenario
	Start   string
	Version string // content hash (first 12 hex digits of SHA-256)
	// Source is the file's content this scenario was loaded from: the
	// server keeps it in the history of versions that went live.
	Source []byte

	Settings Settings
	// Languages are settings.languages: the languages texts are written
	// in, the default first; nil when the scenario is in one language.
	Languages []string
	Commands  []Route           // global commands, in file order
	States    map[string]*State // by name
	Order     []string          // state names in file order

	// Table is the compiled transition table: every edge a dialog can take.
	Table []Transition

	// Hours are the named working hours of hours:.
	Hours map[string]*Schedule

	// Warnings are the non-blocking problems found while loading.
	Warnings []*Problem

	def *scenarioDef // what it was compiled from, with the positions
	fsm machines
}

// Default reports whether the scenario serves every line no other scenario serves.
func (s *Scenario) Default() bool { return len(s.Lines) == 0 }

// PosOf returns the position of the value at a dotted path such as
// "states.ask_email.next" or "settings.idle" (or of a state's name, with
// "states.NAME#key"), or the zero Pos when the path is unknown.
func (s *Scenario) PosOf(path string) Pos { return s.def.posOf(path) }

// Settings are the scenario-wide settings.
type Settings struct {
	Retries        int            // bad answers re-asked before on_fail; default 2
	Idle           time.Duration  // 0 = off
	OnIdle         string         // "" = finish
	OnMissingState string         // "" = start
	DetectLanguage bool           // the script of the client's first message picks the language
	Fuzzy          bool           // entries match with one typo in words of five letters or more
	Location       *time.Location // settings.timezone; nil = UTC
	Country        string         // settings.country, or the default language's; "" = none
}

// Greeting is a state's greet action.
type Greeting struct {
	Text    *Template // nil when Welcome
	Welcome bool      // greet: true — the line's own configured greeting
}

// Transfer is a state's transfer action: to a user, or to another line.
type Transfer struct {
	User  int
	Line  int
	Leave bool
}

// MenuItem is one button of a state's menu.
type MenuItem struct {
	Text  string // in the default language
	Goto  string
	Event string // fsm event name, set by the compiler
	If    *Cond  // shown and matched only when true; nil = always
	// URL or Phone make a link or call button (keyboard LINK, ACTION=CALL):
	// it opens the address or dials the number on the client's side, is no
	// choice (no number, its text matches nothing) and has no Goto.
	URL, Phone string
	match      match.Pattern
	tr         []labelText // every language's text, when the text is a map
}

// Link reports whether the item is a link or call button, not a choice.
func (m *MenuItem) Link() bool { return m.URL != "" || m.Phone != "" }

// Matches reports whether a client message contains the item's text, in
// any of its languages, as a phrase.
func (m *MenuItem) Matches(in match.Input) bool {
	if m.match.Match(in) {
		return true
	}
	for i := range m.tr {
		if m.tr[i].match.Match(in) {
			return true
		}
	}
	return false
}

// Is reports whether the cleaned message is the item's text in one of its languages.
func (m *MenuItem) Is(clean string) bool {
	if match.Clean(m.Text) == clean {
		return true
	}
	for i := range m.tr {
		if match.Clean(m.tr[i].Text) == clean {
			return true
		}
	}
	return false
}

// MatchesFuzzy is Matches (or, with whole, Is) allowing one typo in each
// word of five letters or more (settings.fuzzy).
func (m *MenuItem) MatchesFuzzy(in match.Input, whole bool) bool {
	try := func(p match.Pattern) bool {
		if whole {
			return p.EqualFuzzy(in)
		}
		return p.MatchFuzzy(in)
	}
	if try(m.match) {
		return true
	}
	for i := range m.tr {
		if try(m.tr[i].match) {
			return true
		}
	}
	return false
}

// TextIn is the item's text in language lang, or its default text.
func (m *MenuItem) TextIn(lang string) string {
	for i := range m.tr {
		if m.tr[i].Lang == lang {
			return m.tr[i].Text
		}
	}
	return m.Text
}

// Route is a keyword route: a state-local `on` entry or a global command.
type Route struct {
	Match []string
	Goto  string
	Event string // fsm event name, set by the compiler (state-local routes)
	If    *Cond  // matches only when true; nil = always
	match match.Set
}

// Matches reports whether any of the route's entries matches the message.
func (r *Route) Matches(in match.Input) bool { return r.match.Match(in) }

// MatchesFuzzy is Matches allowing one typo in each word of five letters
// or more (settings.fuzzy).
func (r *Route) MatchesFuzzy(in match.Input) bool { return r.match.MatchFuzzy(in) }

// State is one state of a scenario.
type State struct {
	Name string
	Line int // the line of the state's name in the file (the editor jumps there)

	Greet *Greeting
	Say   *Template
	Ask   *Template
	// SayAttach and AskAttach are the image and file sent with Say and
	// Ask (as ATTACH blocks); empty when none.
	SayAttach, AskAttach Attachment
	Save                 string   // field the answer is saved into
	Type                 string   // answer type; "" means text when Ask is set
	Validate             string   // go-playground/validator tag applied to the cleaned answer
	Options              []string // choices of type choice
	// Accept and MaxSize are a type: file ask's accept: (kinds and
	// extensions; nil takes every file) and max_size: (bytes; 0 when not
	// written: answers.DefaultMaxFileSize applies).
	Accept   []string
	MaxSize  int64
	Retry    *Template
	Retries  *int // per-state override of settings.retries
	OnFail   string
	Next     string            // plain next
	Branch   map[string]string // next: {yes: a, no: b} or {Option: state}
	Menu     []MenuItem
	On       []Route
	CRM      string // "lead" or ""
	Operator string // "any" or ""
	Transfer *Transfer
	// Note is posted for the operator before the handoff (operator or
	// transfer note:): in the chat, where the operator sees it and the
	// client does not.
	Note     *Template
	Finish   bool
	Commands bool // global commands apply here (default true)

	// Choices are Options as menu items, matched like a menu.
	Choices []MenuItem

	// Branches is next: as a list: the first whose If holds is taken; the
	// last has no If. Next is then the last one's target.
	Branches []Branch
	// Set are the values stored on entering the state, before its texts,
	// in file order; LanguageField switches the dialog's language.
	Set []SetField
	// Call is the state's lookup (call:); nil when it has none. A state
	// with a call passes on only when the answer comes back.
	Call *Call
	// MenuIf: some menu item has a condition
	MenuIf bool
	// MenuLinks: some menu item is a link or call button
	MenuLinks bool
	// CRMFields are the fields crm: writes, nil for all of them;
	// CRMTitle is the lead's title, nil for the portal's own.
	CRMFields []string
	CRMTitle  *Template
	// Remind is the reminder of a waiting state; nil when none.
	Remind *Remind

	branchEvents map[string]string
	typos        *match.Index // the entries' first words, for the forgiving pass
}

// Candidates are the entries of a state that may match a message with one
// typo (settings.fuzzy): the others cannot, and are not tried.
type Candidates struct {
	m                     match.Marks
	choices, on, commands int  // where each kind's ids start
	all                   bool // no index: every entry is tried
}

// Menu reports whether menu item i may match.
func (c *Candidates) Menu(i int) bool { return c.all || c.m.Has(i) }

// Choice reports whether option i (of Choices) may match.
func (c *Candidates) Choice(i int) bool { return c.all || c.m.Has(c.choices+i) }

// On reports whether the state's route i may match.
func (c *Candidates) On(i int) bool { return c.all || c.m.Has(c.on+i) }

// Command reports whether the scenario's global command i may match.
func (c *Candidates) Command(i int) bool { return c.all || c.m.Has(c.commands+i) }

// FuzzyCandidates returns the state's entries that may match in with a
// typo, from an index of their first words built once per version.
func (st *State) FuzzyCandidates(in match.Input) Candidates {
	nc, no := len(st.Menu), len(st.Menu)+len(st.Choices)
	c := Candidates{choices: nc, on: no, commands: no + len(st.On), all: st.typos == nil}
	if !c.all {
		c.m = st.typos.Candidates(in)
	}
	return c
}

// indexTypos builds the state's index of entry words: its menu items and
// options in every language, its routes and the scenario's commands.
func (st *State) indexTypos(commands []Route) {
	c := st.FuzzyCandidates(match.Input{})
	x := match.NewIndex(c.commands + len(commands))
	item := func(id int, m *MenuItem) {
		x.Add(id, m.match)
		for i := range m.tr {
			x.Add(id, m.tr[i].match)
		}
	}
	route := func(id int, r *Route) {
		for _, p := range r.match {
			x.Add(id, p)
		}
	}
	for i := range st.Menu {
		if !st.Menu[i].Link() {
			item(i, &st.Menu[i])
		}
	}
	for i := range st.Choices {
		item(c.choices+i, &st.Choices[i])
	}
	for i := range st.On {
		route(c.on+i, &st.On[i])
	}
	for i := range commands {
		route(c.commands+i, &commands[i])
	}
	st.typos = x
}

// Waits reports whether the state waits for the client.
func (st *State) Waits() bool { return st.Ask != nil || len(st.Menu) > 0 || len(st.On) > 0 }

// Terminal reports whether the state hands off or ends the dialog.
func (st *State) Terminal() bool { return st.Operator != "" || st.Transfer != nil || st.Finish }

// Branch is one item of next: as a list.
type Branch struct {
	If    *Cond // nil for the otherwise-branch
	Goto  string
	Label string // the condition's text, "otherwise" for the last
	Event string // fsm event name: "next:2", "answer:2" or "unmatched:2"
}

// SetField is one field of set:.
type SetField struct {
	Field string
	Value *Template
}
