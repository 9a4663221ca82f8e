package scenarios

import (
	"strings"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
)

// The definition is what the decoder makes of a scenario file: typed
// values, each with where the file wrote it, and what the decoder could
// not take. The checks read it and never change it; compile turns a
// definition without errors into a Scenario.

// val is one decoded value of the definition.
type val[T any] struct {
	V   T
	At  Pos  // where the value is written; zero when the key is absent
	Set bool // the key is written, even when its value was rejected
	Bad bool // the value, or something inside it, was rejected while decoding
}

// ok reports whether the value is written and was taken.
func (v val[T]) ok() bool { return v.Set && !v.Bad }

// unknownKey is a key the language does not have, written in a map.
type unknownKey struct {
	Key  string
	At   Pos    // the key
	Hint string // "did you mean" one of the map's keys, or the list of them
}

// scope is one map of the file: where it is, and its unknown keys in
// file order. Whether an unknown key is a misspelling of a missing key is
// the checks' question.
type scope struct {
	At      Pos
	Path    string // dotted path of the map, "" for the top level
	unknown []unknownKey
}

// scenarioDef is a decoded scenario file.
type scenarioDef struct {
	scope
	File    string
	Version string
	// Broken: the decoder rejected something; the checks that would only
	// repeat its point (an empty states: beside other errors) stay quiet.
	Broken bool

	Name, Title, Start val[string]
	Lines              val[[]val[int]]
	Settings           settingsDef
	Commands           val[[]routeDef]
	States             val[[]*stateDef] // in file order
	Hours              val[[]hoursDef]
	byName             map[string]*stateDef

	// loose are the texts in rejected values and under unknown keys at the
	// top level: names the file may mean to refer to.
	loose []string
	// langMaps are the texts written as maps of languages, in file order.
	langMaps []langMap
}

type settingsDef struct {
	scope
	Set            bool
	Retries        val[int]
	Idle           val[time.Duration]
	OnIdle         val[string]
	OnMissingState val[string]
	Languages      val[[]val[string]]
	DetectLanguage val[bool]
	Fuzzy          val[bool]
	Timezone       val[*time.Location]
	Country        val[string]
}

type routeDef struct {
	scope
	Match val[[]string]
	match match.Set
	Goto  val[string]
	If    val[*condSrc]
}

type menuDef struct {
	scope
	Text  val[string] // the default language's text
	match match.Pattern
	tr    []labelText // every language's text, for a text map
	Goto  val[string]
	If    val[*condSrc]
	URL   val[string] // a link button (keyboard LINK): opens the address, does not move the dialog
	Phone val[string] // a call button (ACTION=CALL): the number in E.164
}

type transferDef struct {
	scope
	User, Line val[int]
	Leave      val[bool]
	Note       val[*Template] // posted for the operator before the transfer
}

// remindDef is a waiting state's remind: {after, say, times}.
type remindDef struct {
	scope
	After val[time.Duration]
	Say   val[*Template]
	Times val[int]
}

type branchDef struct {
	Key string
	To  val[string]
}

type stateDef struct {
	scope  // At is the position of the state's name
	Name   string
	Broken bool // the decoder rejected something in it

	Greet           val[*Greeting]
	Say, Ask, Retry val[*Template]
	// SayAttach, AskAttach: the image and file of say: and ask: written
	// as {text, image, file} (attach.go); unset otherwise
	SayAttach, AskAttach val[attachDef]
	Save                 val[string]
	Type                 val[string]
	Validate             val[string]
	Options              val[[]val[string]] // the default language's texts
	OptionsTr            [][]labelText      // every language's text of each option, for text maps
	Accept               val[[]string]      // type: file: the kinds and extensions taken
	MaxSize              val[int64]         // type: file: the largest file taken, in bytes
	Retries              val[int]
	OnFail               val[string]
	Next                 val[string]        // plain next
	Branch               val[[]branchDef]   // next: {yes: a, no: b}; Set with Next when next: is a map
	Branches             val[[]ifBranchDef] // next: [{if: …, goto: …}, …, {goto: …}]; Set with Next when next: is a list
	Set                  val[[]setDef]
	Menu                 val[[]menuDef]
	On                   val[[]routeDef]
	CRM, Operator        val[string]
	OperatorNote         val[*Template]  // operator: {note: …}
	operatorScope        scope           // the map of operator: {note: …}
	CRMLead              val[crmLeadDef] // the map form of crm:
	Transfer             val[transferDef]
	Finish, Commands     val[bool]
	Call                 callDef // call: and its companions
	Remind               val[remindDef]

	// loose are the texts in this state's rejected values and under its
	// unknown keys: names it may mean to refer to or to save.
	loose []string
}

// answerType is the state's answer type: text when it asks without type:.
func (st *stateDef) answerType() string {
	if st.Type.V == "" && st.Ask.ok() {
		return answers.Text
	}
	return st.Type.V
}

// waits reports whether the state waits for the client.
func (st *stateDef) waits() bool {
	return st.Ask.ok() || len(st.Menu.V) > 0 || len(st.On.V) > 0
}

// terminal reports whether the state hands off or ends the dialog.
// calls reports whether the state looks something up (call:).
func (st *stateDef) calls() bool { return st.Call.Endpoint.Set }

func (st *stateDef) terminal() bool {
	return st.Operator.V != "" || st.Transfer.ok() || st.Finish.V
}

// commandsApply reports whether global commands apply in the state (the default).
func (st *stateDef) commandsApply() bool { return !st.Commands.Set || st.Commands.Bad || st.Commands.V }

// reprompts reports whether unmatched input counts as a bad answer.
func (st *stateDef) reprompts() bool {
	return st.Ask.ok() || (st.waits() && st.Next.V == "")
}

// branchKeys returns the branch keys in a stable order: yes/no, or the
// options' order.
func (st *stateDef) branchKeys() []string {
	has := make(map[string]bool, len(st.Branch.V))
	for _, b := range st.Branch.V {
		has[b.Key] = true
	}
	var keys []string
	if st.answerType() == answers.YesNo {
		for _, k := range []string{"yes", "no"} {
			if has[k] {
				keys = append(keys, k)
			}
		}
		return keys
	}
	for _, o := range st.Options.V {
		if has[o.V] {
			keys = append(keys, o.V)
			has[o.V] = false
		}
	}
	return keys
}

// retries is the number of bad answers the state re-asks before on_fail.
func (d *scenarioDef) retries(st *stateDef) int {
	if st.Retries.ok() {
		return st.Retries.V
	}
	if d.Settings.Retries.ok() {
		return d.Settings.Retries.V
	}
	return DefaultRetries
}

// missingTarget is where a dialog goes when a reload removed its state.
func (d *scenarioDef) missingTarget() string {
	if d.Settings.OnMissingState.V != "" {
		return d.Settings.OnMissingState.V
	}
	return d.Start.V
}

// names are the state names in file order.
func (d *scenarioDef) names() []string {
	out := make([]string, len(d.States.V))
	for i, st := range d.States.V {
		out[i] = st.Name
	}
	return out
}

// posOf resolves a dotted path to where its value is written: a top-level
// key, a setting, a state's key ("states.NAME.KEY") or the state's name
// ("states.NAME#key").
func (d *scenarioDef) posOf(path string) Pos {
	head, rest, _ := strings.Cut(path, ".")
	switch head {
	case "name":
		return d.Name.At
	case "title":
		return d.Title.At
	case "lines":
		return d.Lines.At
	case "start":
		return d.Start.At
	case "commands":
		return d.Commands.At
	case "hours":
		return d.Hours.At
	case "settings":
		return d.Settings.posOf(rest)
	case "states":
		if name, ok := strings.CutSuffix(rest, "#key"); ok {
			if st := d.byName[name]; st != nil {
				return st.At
			}
			return Pos{}
		}
		name, key, _ := strings.Cut(rest, ".")
		if st := d.byName[name]; st != nil {
			return st.posOf(key)
		}
	}
	return Pos{}
}

func (s *settingsDef) posOf(key string) Pos {
	switch key {
	case "retries":
		return s.Retries.At
	case "idle":
		return s.Idle.At
	case "on_idle":
		return s.OnIdle.At
	case "on_missing_state":
		return s.OnMissingState.At
	case "languages":
		return s.Languages.At
	case "detect_language":
		return s.DetectLanguage.At
	case "fuzzy":
		return s.Fuzzy.At
	case "timezone":
		return s.Timezone.At
	case "country":
		return s.Country.At
	}
	return Pos{}
}

func (st *stateDef) posOf(key string) Pos {
	for _, k := range []struct {
		key string
		at  Pos
	}{
		{"greet", st.Greet.At}, {"say", st.Say.At}, {"ask", st.Ask.At}, {"retry", st.Retry.At},
		{"save", st.Save.At}, {"type", st.Type.At}, {"validate", st.Validate.At}, {"options", st.Options.At},
		{"retries", st.Retries.At}, {"on_fail", st.OnFail.At}, {"next", st.Next.At}, {"menu", st.Menu.At},
		{"on", st.On.At}, {"crm", st.CRM.At}, {"operator", st.Operator.At}, {"transfer", st.Transfer.At},
		{"finish", st.Finish.At}, {"commands", st.Commands.At}, {"set", st.Set.At}, {"remind", st.Remind.At},
	} {
		if k.key == key {
			return k.at
		}
	}
	return Pos{}
}
