package scenarios

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
)

// DefaultRetries is settings.retries when a scenario does not set it.
const DefaultRetries = 2

// decodeScenario walks the YAML tree of a scenario file into its
// definition. It reports what cannot be decoded — a value of the wrong
// kind, an unknown answer type, a malformed template — and records unknown
// keys in the definition for the checks.
func (d *decoder) decodeScenario(root *yaml.Node, def *scenarioDef) {
	base := filepath.Base(def.File)
	def.Name.V = strings.TrimSuffix(strings.TrimSuffix(base, filepath.Ext(base)), ".yaml")
	def.byName = map[string]*stateDef{}
	d.loose = &def.loose
	if langs := peekLanguages(root); len(langs) > 0 {
		d.defaultLang = langs[0]
	}
	d.mappingIn(root, "", topKeys, &def.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "name":
			def.Name = d.nameVal(v, p, "scenario")
		case "title":
			def.Title = d.textVal(v, p)
		case "lines":
			def.Lines = d.lines(v, p)
		case "start":
			def.Start = d.nameVal(v, p, "state")
		case "settings":
			def.Settings = d.settings(v, p)
		case "commands":
			def.Commands = d.routes(v, p)
		case "hours":
			def.Hours = d.hours(v, p)
		case "states":
			def.States = d.states(v, p, def)
		}
	})
	def.Broken = d.problems.HasErrors()
	def.langMaps = d.langMaps
	d.loose = nil
}

// mark returns a val for the value node v at path, Bad when decoding it
// reported an error (the problems grew since n).
func mark[T any](d *decoder, v *yaml.Node, n int, x T) val[T] {
	return val[T]{V: x, At: posOf(v), Set: true, Bad: d.problems[n:].HasErrors()}
}

func (d *decoder) textVal(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, _ := d.text(v, p)
	return mark(d, v, n, s)
}

func (d *decoder) nameVal(v *yaml.Node, p, what string) val[string] {
	n := len(d.problems)
	s, _ := d.name(v, p, what)
	return mark(d, v, n, s)
}

func (d *decoder) intVal(v *yaml.Node, p string, least int) val[int] {
	n := len(d.problems)
	x, _ := d.integer(v, p, least)
	return mark(d, v, n, x)
}

func (d *decoder) boolVal(v *yaml.Node, p string) val[bool] {
	n := len(d.problems)
	b, _ := d.boolean(v, p)
	return mark(d, v, n, b)
}

func (d *decoder) lines(v *yaml.Node, p string) val[[]val[int]] {
	n := len(d.problems)
	var out []val[int]
	if v.Kind == yaml.ScalarNode && !isNull(v) {
		if x := d.intVal(v, p, 1); !x.Bad {
			out = append(out, x)
		}
		return mark(d, v, n, out)
	}
	seen := map[int]bool{}
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		x := d.intVal(item, ip, 1)
		switch {
		case x.Bad:
		case seen[x.V]:
			d.errorf(item, ip, ErrValue, "remove the second one", "line %d is listed twice", x.V)
		default:
			seen[x.V] = true
			out = append(out, x)
		}
	})
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		d.errorf(v, p, ErrValue, "list the Open Line ids, or remove lines: to make this the default scenario", "lines: is empty")
	}
	return mark(d, v, n, out)
}

func (d *decoder) settings(v *yaml.Node, p string) settingsDef {
	s := settingsDef{Set: true}
	d.mappingIn(v, p, settingsKeys, &s.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "retries":
			s.Retries = d.intVal(v, p, 0)
		case "idle":
			s.Idle = d.idle(v, p)
		case "on_idle":
			s.OnIdle = d.nameVal(v, p, "state")
		case "on_missing_state":
			s.OnMissingState = d.nameVal(v, p, "state")
		case "languages":
			s.Languages = d.languages(v, p)
		case "detect_language":
			s.DetectLanguage = d.boolVal(v, p)
		case "fuzzy":
			s.Fuzzy = d.boolVal(v, p)
		case "timezone":
			s.Timezone = d.timezone(v, p)
		case "country":
			s.Country = d.country(v, p)
		}
	})
	return s
}

func (d *decoder) idle(v *yaml.Node, p string) val[time.Duration] { return d.duration(v, p, "idle") }

// duration decodes a duration of at least a second; what names it in the
// message (idle, after).
func (d *decoder) duration(v *yaml.Node, p, what string) val[time.Duration] {
	n := len(d.problems)
	var dur time.Duration
	if s, ok := d.text(v, p); ok {
		parsed, err := time.ParseDuration(strings.ReplaceAll(s, " ", ""))
		switch {
		case err != nil:
			d.errorf(v, p, ErrDuration, durationHint(s), "%q is not a duration", s)
		case parsed < time.Second:
			d.errorf(v, p, ErrDuration, "write a duration like 90s, 15m or 1h30m", "%s must be at least 1s, got %s", what, s)
		default:
			dur = parsed
		}
	}
	return mark(d, v, n, dur)
}

var durationWords = regexp.MustCompile(`^(\d+)\s*(\pL+)\.?$`)

// durationHint suggests how to write a duration, rewriting "15 minutes" or
// "2 часа" as 15m or 2h when the unit is recognisable.
func durationHint(s string) string {
	const general = "write a duration like 90s, 15m or 1h30m"
	m := durationWords.FindStringSubmatch(strings.TrimSpace(strings.ToLower(s)))
	if m == nil {
		return general
	}
	unit := ""
	switch w := m[2]; {
	case w == "sec" || strings.HasPrefix(w, "second") || strings.HasPrefix(w, "сек"):
		unit = "s"
	case w == "min" || w == "mins" || strings.HasPrefix(w, "minute") || strings.HasPrefix(w, "мин"):
		unit = "m"
	case w == "hr" || w == "hrs" || strings.HasPrefix(w, "hour") || strings.HasPrefix(w, "час"):
		unit = "h"
	default:
		return general
	}
	return fmt.Sprintf("write %s%s; durations use s, m and h, e.g. 90s, 15m or 1h30m", m[1], unit)
}

func (d *decoder) routes(v *yaml.Node, p string) val[[]routeDef] {
	n := len(d.problems)
	var out []routeDef
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		r := routeDef{}
		if d.mappingIn(item, ip, routeKeys, &r.scope, func(key string, k, v *yaml.Node, p string) {
			switch key {
			case "match":
				r.Match, r.match = d.matchWords(v, p)
			case "goto":
				r.Goto = d.nameVal(v, p, "state")
			case "if":
				r.If = d.cond(v, p)
			}
		}) {
			out = append(out, r)
		}
	})
	return mark(d, v, n, out)
}

func (d *decoder) matchWords(v *yaml.Node, p string) (val[[]string], match.Set) {
	n := len(d.problems)
	words, nodes, ok := d.texts(v, p)
	if !ok {
		return mark(d, v, n, words), match.Set{}
	}
	set, errs := match.CompileAll(words)
	for i, err := range errs {
		if err != nil {
			d.errorf(nodes[i], fmt.Sprintf("%s[%d]", p, i), ErrValue, "write a word or phrase; a trailing * matches any ending, e.g. врач*", "%v", err)
		}
	}
	return mark(d, v, n, words), set
}

func (d *decoder) states(v *yaml.Node, p string, def *scenarioDef) val[[]*stateDef] {
	var out []*stateDef
	ok := d.mapping(v, p, nil, func(name string, k, sv *yaml.Node, sp string) {
		if !validName(name) {
			d.errorf(k, sp, ErrValue, "use letters, digits, _ and -, e.g. ask_email", "%q is not a valid state name", name)
			return
		}
		st := d.state(name, sv, sp)
		st.At = posOf(k)
		def.byName[name] = st
		out = append(out, st)
	})
	// Bad only when states: itself is not a map of states
	return val[[]*stateDef]{V: out, At: posOf(v), Set: true, Bad: !ok}
}

// template decodes a text with {{field}} placeholders, or a map of
// languages to such texts.
func (d *decoder) template(v *yaml.Node, p string) val[*Template] {
	if richMessage(d.resolve(v)) {
		return d.notRich(v, p) // attach.go: only say: and ask: carry images and files
	}
	if d.textMap(v) {
		return d.translatedTemplate(v, p)
	}
	return d.plainTemplate(v, p)
}

func (d *decoder) plainTemplate(v *yaml.Node, p string) val[*Template] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if !ok {
		return mark[*Template](d, v, n, nil)
	}
	t, msg, off := parseTemplate(s)
	if t == nil {
		pos := d.textPos(v, off)
		d.problems = append(d.problems, &Problem{File: d.file, Pos: pos, Path: p, Msg: msg, Err: ErrValue, Hint: "write fields as {{name}}; to show braces literally, avoid {{"})
		d.collect(v)
		return mark[*Template](d, v, n, nil)
	}
	t.pos = posOf(v)
	t.fieldPos = d.textPositions(v, t.fieldOff)
	return mark(d, v, n, t)
}

// state decodes one state. The keys that only need a value decoded are
// read here; those with more to them have a function each.
func (d *decoder) state(name string, n *yaml.Node, path string) *stateDef {
	st := &stateDef{Name: name}
	outer, before := d.loose, len(d.problems)
	d.loose = &st.loose
	defer func() { d.loose, st.Broken = outer, d.problems[before:].HasErrors() }()
	d.mappingIn(n, path, stateKeys, &st.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "greet":
			st.Greet = d.greet(v, p)
		case "say":
			st.Say, st.SayAttach = d.message(v, p)
		case "ask":
			st.Ask, st.AskAttach = d.message(v, p)
		case "retry":
			st.Retry = d.template(v, p)
		case "save":
			if v.Kind == yaml.MappingNode {
				st.Call.Save = d.callSave(v, p)
			} else {
				st.Save = d.save(v, p)
			}
		case "call":
			st.Call.Endpoint = d.nameVal(v, p, "endpoint")
		case "path":
			st.Call.Path = d.plainTemplate(v, p)
		case "method":
			st.Call.Method = d.method(v, p)
		case "body":
			st.Call.Body = d.body(v, p)
		case "timeout":
			st.Call.Timeout = d.callTimeout(v, p)
		case "on_error":
			st.Call.OnError = d.nameVal(v, p, "state")
		case "type":
			st.Type = d.answerType(v, p)
		case "validate":
			st.Validate = d.textVal(v, p)
		case "options":
			st.Options, st.OptionsTr = d.options(v, p)
		case "accept":
			st.Accept = d.accept(v, p)
		case "max_size":
			st.MaxSize = d.maxSize(v, p)
		case "retries":
			st.Retries = d.intVal(v, p, 0)
		case "on_fail":
			st.OnFail = d.nameVal(v, p, "state")
		case "next":
			if v.Kind == yaml.SequenceNode {
				st.Branches = d.nextList(v, p)
				st.Next = val[string]{V: lastGoto(st.Branches.V), At: posOf(v), Set: true, Bad: st.Branches.Bad}
			} else {
				st.Next, st.Branch = d.next(v, p)
			}
		case "set":
			st.Set = d.sets(v, p)
		case "menu":
			st.Menu = d.menu(v, p)
		case "on":
			st.On = d.routes(v, p)
		case "crm":
			st.CRM, st.CRMLead = d.crm(v, p)
		case "operator":
			if v.Kind == yaml.MappingNode {
				st.Operator, st.OperatorNote = d.operatorNote(v, p, &st.operatorScope)
				break
			}
			st.setAction(key, d.action(key, v, p))
		case "transfer":
			st.Transfer = d.transfer(v, p)
		case "finish":
			st.Finish = d.boolVal(v, p)
		case "commands":
			st.Commands = d.boolVal(v, p)
		case "remind":
			st.Remind = d.remind(v, p)
		}
	})
	return st
}

func (st *stateDef) setAction(key string, v val[string]) {
	if key == "crm" {
		st.CRM = v
	} else {
		st.Operator = v
	}
}

func (d *decoder) greet(v *yaml.Node, p string) val[*Greeting] {
	n := len(d.problems)
	if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
		var g *Greeting
		if b, _ := d.boolean(v, p); b {
			g = &Greeting{Welcome: true}
		}
		return mark(d, v, n, g)
	}
	t := d.template(v, p)
	if t.V == nil {
		return mark[*Greeting](d, v, n, nil)
	}
	return mark(d, v, n, &Greeting{Text: t.V})
}

func (d *decoder) save(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.name(v, p, "field")
	if ok && s == ClientField {
		d.errorf(v, p, ErrValue, "pick another field name, e.g. name", "%q is reserved for the client's name from the channel", s)
		s = ""
	}
	return mark(d, v, n, s)
}

func (d *decoder) answerType(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if ok && !answers.Known(s) {
		d.errorf(v, p, ErrUnknownType, typeHint(s), "unknown answer type %q", s)
		s = ""
	}
	return mark(d, v, n, s)
}

func typeHint(s string) string {
	if h := didYouMean(s, answers.Kinds()); h != "" {
		return h
	}
	return "known types: " + strings.Join(answers.Kinds(), ", ")
}

// options decodes a choice's options: a list of texts, or of maps of
// languages ({ru: Брак, en: Defect}).
func (d *decoder) options(v *yaml.Node, p string) (val[[]val[string]], [][]labelText) {
	n := len(d.problems)
	if v.Kind != yaml.SequenceNode {
		if _, _, ok := d.texts(v, p); ok {
			d.errorf(v, p, ErrValue, "write the options as a list, e.g. [Moscow, Kazan]", "expected a list of options")
		}
		return mark[[]val[string]](d, v, n, nil), nil
	}
	var out []val[string]
	var tr [][]labelText
	ok := true
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		if item.Kind != yaml.ScalarNode && item.Kind != yaml.MappingNode || isNull(item) {
			d.text(item, ip)
			ok = false
			return
		}
		o, _, texts := d.label(item, ip, "an option needs words or digits")
		out = append(out, o)
		tr = append(tr, texts)
	})
	if !ok {
		return mark[[]val[string]](d, v, n, nil), nil
	}
	return mark(d, v, n, out), tr
}

// languages decodes settings.languages: a list of language codes.
func (d *decoder) languages(v *yaml.Node, p string) val[[]val[string]] {
	n := len(d.problems)
	var out []val[string]
	if v.Kind == yaml.ScalarNode && !isNull(v) {
		d.errorf(v, p, ErrValue, "write the languages as a list, the default first, e.g. [ru, en]", "expected a list of language codes")
		return mark(d, v, n, out)
	}
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		out = append(out, d.textVal(item, ip))
	})
	return mark(d, v, n, out)
}

func (d *decoder) next(v *yaml.Node, p string) (val[string], val[[]branchDef]) {
	n := len(d.problems)
	if v.Kind != yaml.MappingNode {
		return d.nameVal(v, p, "state"), val[[]branchDef]{}
	}
	var out []branchDef
	d.mapping(v, p, nil, func(key string, k, bv *yaml.Node, bp string) {
		out = append(out, branchDef{Key: key, To: d.nameVal(bv, bp, "state")})
	})
	branches := mark(d, v, n, out)
	return val[string]{At: posOf(v), Set: true, Bad: branches.Bad}, branches
}

func (d *decoder) menu(v *yaml.Node, p string) val[[]menuDef] {
	n := len(d.problems)
	var out []menuDef
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		var mi menuDef
		if d.mappingIn(item, ip, menuKeys, &mi.scope, func(key string, k, v *yaml.Node, p string) {
			switch key {
			case "text":
				mi.Text, mi.match, mi.tr = d.label(v, p, "a button needs words or digits")
			case "goto":
				mi.Goto = d.nameVal(v, p, "state")
			case "if":
				mi.If = d.cond(v, p)
			case "url":
				mi.URL = d.linkURL(v, p)
			case "phone":
				mi.Phone = d.callPhone(v, p)
			}
		}) {
			out = append(out, mi)
		}
	})
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		d.errorf(v, p, ErrValue, "add buttons, or remove menu:", "menu: is empty")
	}
	return mark(d, v, n, out)
}

func (d *decoder) action(key string, v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	switch {
	case !ok:
	case key == "crm" && s != "lead":
		d.errorf(v, p, ErrValue, "write crm: lead", "unknown crm target %q", s)
		s = ""
	case key == "operator" && s != "any":
		d.errorf(v, p, ErrValue, "write operator: any; for a given person use transfer: {user: ID}", "unknown operator %q", s)
		s = ""
	}
	return mark(d, v, n, s)
}

func (d *decoder) transfer(v *yaml.Node, p string) val[transferDef] {
	n := len(d.problems)
	var tr transferDef
	ok := d.mappingIn(v, p, stateTransferKeys, &tr.scope, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "user":
			tr.User = d.intVal(v, p, 1)
		case "line":
			tr.Line = d.intVal(v, p, 1)
		case "leave":
			tr.Leave = d.boolVal(v, p)
		case "note":
			tr.Note = d.template(v, p)
		}
	})
	out := mark(d, v, n, tr)
	out.Bad = out.Bad || !ok
	return out
}

// linkURL decodes a link button's url: an absolute http or https address.
func (d *decoder) linkURL(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if !ok {
		return mark(d, v, n, "")
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		d.errorf(v, p, ErrValue, "write an address starting with https:// (or http://), e.g. https://example.com/track", "%q is not an http(s) link", s)
		return mark(d, v, n, "")
	}
	return mark(d, v, n, u.String())
}

// callPhone decodes a call button's phone: a valid number in international
// format, kept in E.164 (the keyboard's ACTION_VALUE for CALL).
func (d *decoder) callPhone(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if !ok {
		return mark(d, v, n, "")
	}
	e164, ok := answers.ParseInternational(s)
	if !ok {
		d.errorf(v, p, ErrValue, "write the number in international format with its country code, e.g. \"+74951234567\"", "%q is not a phone number", s)
		return mark(d, v, n, "")
	}
	return mark(d, v, n, e164)
}

// operatorNote decodes operator: {note: TEXT}: a handoff to any free
// operator with a note for them.
func (d *decoder) operatorNote(v *yaml.Node, p string, sc *scope) (val[string], val[*Template]) {
	n := len(d.problems)
	var note val[*Template]
	ok := d.mappingIn(v, p, operatorKeys, sc, func(key string, k, v *yaml.Node, p string) {
		note = d.template(v, p)
	})
	op := mark(d, v, n, "any")
	op.Bad = op.Bad || !ok
	return op, note
}
