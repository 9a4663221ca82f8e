package scenarios

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
)

// DefaultRetries is settings.retries when a scenario does not set it.
const DefaultRetries = 2

func isLetter(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Version returns the version hash of a file's content.
func Version(src []byte) string {
	h := sha256.Sum256(src)
	return hex.EncodeToString(h[:6])
}

// Parse loads one scenario from src. file names it in problems; the scenario
// name defaults to the file name without its extension. It returns the
// scenario (nil when there are errors) and every problem found, warnings
// included. The scenario is checked and compiled.
func Parse(file string, src []byte) (*Scenario, Problems) {
	if len(src) > MaxFileSize {
		return nil, Problems{{File: file, Pos: Pos{1, 1}, Err: ErrTooLarge, Msg: fmt.Sprintf("the file is %d bytes; scenario files are limited to 1 MiB", len(src)), Hint: "split it into several files"}}
	}
	root, p := parseYAML(file, src)
	if p != nil {
		return nil, Problems{p}
	}
	if p := notScenario(file, root, topKeys, "scenario"); p != nil {
		return nil, Problems{p}
	}
	p, limit := aliasBomb(file, root)
	if p != nil {
		return nil, Problems{p}
	}
	d := &decoder{file: file, pos: map[string]Pos{}, maxNodes: limit, src: splitLines(string(src))}
	sc := &Scenario{File: file, Version: Version(src), States: map[string]*State{}, pos: d.pos}
	sc.Settings.Retries = DefaultRetries
	d.scenario(root, sc)
	if d.checkable() {
		check(d, sc, root)
	}
	d.problems.Sort()
	if d.problems.HasErrors() {
		return nil, d.problems
	}
	sc.Warnings = d.problems
	return sc, d.problems
}

// parseYAML parses one YAML document into its root mapping node.
func parseYAML(file string, src []byte) (*yaml.Node, *Problem) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file is empty", Hint: "a scenario needs at least start: and states:"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file has only comments", Hint: "a scenario needs at least start: and states:"}
		}
		return nil, syntaxProblem(file, src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{File: file, Pos: posOf(&extra), Err: ErrSyntax, Msg: "a second YAML document (after ---) in one file", Hint: "put each scenario in a file of its own"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(file, src, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file is empty", Hint: "a scenario needs at least start: and states:"}
	}
	if root := doc.Content[0]; root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
		// only "---" or "..." markers: yaml.v3 places the empty value after them
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file has no keys", Hint: "a scenario needs at least start: and states:"}
	}
	return doc.Content[0], nil
}

// notScenario refuses a file that is not a map of keys, or a map that has
// none of the keys the file should have — an env file or a manifest of
// another tool left in the folder. The problem never quotes the file's
// content, which may hold secrets: it names at most its first keys.
func notScenario(file string, root *yaml.Node, known []string, what string) *Problem {
	hint := fmt.Sprintf("a %s file is a map of keys (%s); move other files out of the scenario folder", what, strings.Join(known, ", "))
	if root.Kind != yaml.MappingNode {
		kind := "a text"
		switch {
		case root.Kind == yaml.SequenceNode:
			kind = "a list"
		case root.Kind == yaml.AliasNode:
			kind = "an alias"
		case root.Tag == "!!int" || root.Tag == "!!float":
			kind = "a number"
		case root.Tag == "!!bool":
			kind = "true or false"
		}
		return &Problem{File: file, Pos: posOf(root), Err: ErrNotScenario, Hint: hint,
			Msg: fmt.Sprintf("this is not a %s file: it holds %s, not a map of keys", what, kind)}
	}
	var keys []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if contains(known, k) || suggest(k, known) != "" {
			return nil
		}
		if len(keys) < 3 && validName(k) {
			keys = append(keys, k)
		}
	}
	if len(root.Content) == 0 {
		return nil
	}
	named := ""
	if len(keys) > 0 {
		named = " (" + strings.Join(keys, ", ")
		if len(root.Content)/2 > len(keys) {
			named += ", …"
		}
		named += ")"
	}
	return &Problem{File: file, Pos: posOf(root), Err: ErrNotScenario, Hint: hint,
		Msg: fmt.Sprintf("this is not a %s file: none of its keys%s is a key of a %s", what, named, what)}
}

func (d *decoder) scenario(root *yaml.Node, sc *Scenario) {
	d.pos[rootPos] = posOf(root)
	base := filepath.Base(sc.File)
	sc.Name = strings.TrimSuffix(strings.TrimSuffix(base, filepath.Ext(base)), ".yaml")
	var startNode, statesNode *yaml.Node
	ok := d.mapping(root, "", topKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "name":
			if s, ok := d.name(v, p, "scenario"); ok {
				sc.Name = s
			}
		case "title":
			if s, ok := d.text(v, p); ok {
				sc.Title = s
			}
		case "lines":
			d.lines(v, p, sc)
		case "start":
			startNode = v
			if s, ok := d.name(v, p, "state"); ok {
				sc.Start = s
			}
		case "settings":
			d.settings(v, p, sc)
		case "commands":
			d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
				if r, ok := d.route(item, ip); ok {
					sc.Commands = append(sc.Commands, r)
				}
			})
		case "states":
			statesNode = v
			d.mapping(v, p, nil, func(name string, k, sv *yaml.Node, sp string) {
				d.pos[sp+"#key"] = posOf(k)
				if !validName(name) {
					d.errorf(k, sp, ErrValue, "use letters, digits, _ and -, e.g. ask_email", "%q is not a valid state name", name)
					return
				}
				st := d.state(name, sv, sp)
				sc.States[name] = st
				sc.Order = append(sc.Order, name)
			})
		}
	})
	if !ok {
		return
	}
	if statesNode == nil {
		d.missing(root, "", []string{"states"}, true, "add states: with at least one state", "no states: the scenario has nothing to do")
	} else if len(sc.Order) == 0 && !d.problems.HasErrors() {
		d.errorf(statesNode, "states", ErrMissing, "add at least one state under states:", "states: is empty")
	}
	if startNode == nil {
		hint := "add start: NAME naming the first state"
		if len(sc.Order) > 0 {
			hint = fmt.Sprintf("add start: %s (or the name of the first state)", sc.Order[0])
		}
		d.missing(root, "", []string{"start"}, true, hint, "no start: olbot does not know which state comes first")
	}
}

// checkable reports whether the decoded scenario is complete enough for the
// whole-scenario checks: its states were read, though some values in them
// may have been rejected. Running the checks then reports every problem of
// the file at once instead of only the decoding ones.
func (d *decoder) checkable() bool {
	if d.bombed {
		return false
	}
	if _, ok := d.pos["states"]; !ok {
		return false
	}
	for _, p := range d.problems {
		if !p.Warning && p.Path == "states" {
			return false
		}
	}
	return true
}

func (d *decoder) lines(v *yaml.Node, p string, sc *Scenario) {
	if v.Kind == yaml.ScalarNode && !isNull(v) {
		if n, ok := d.integer(v, p, 1); ok {
			sc.Lines = []int{n}
		}
		return
	}
	seen := map[int]bool{}
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		if n, ok := d.integer(item, ip, 1); ok {
			if seen[n] {
				d.errorf(item, ip, ErrValue, "remove the second one", "line %d is listed twice", n)
				return
			}
			seen[n] = true
			sc.Lines = append(sc.Lines, n)
		}
	})
	if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		d.errorf(v, p, ErrValue, "list the Open Line ids, or remove lines: to make this the default scenario", "lines: is empty")
	}
}

func (d *decoder) settings(v *yaml.Node, p string, sc *Scenario) {
	d.mapping(v, p, settingsKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "retries":
			if n, ok := d.integer(v, p, 0); ok {
				sc.Settings.Retries = n
			}
		case "idle":
			if s, ok := d.text(v, p); ok {
				dur, err := time.ParseDuration(strings.ReplaceAll(s, " ", ""))
				switch {
				case err != nil:
					d.errorf(v, p, ErrDuration, durationHint(s), "%q is not a duration", s)
				case dur < time.Second:
					d.errorf(v, p, ErrDuration, "write a duration like 90s, 15m or 1h30m", "idle must be at least 1s, got %s", s)
				default:
					sc.Settings.Idle = dur
				}
			}
		case "on_idle":
			if s, ok := d.name(v, p, "state"); ok {
				sc.Settings.OnIdle = s
			}
		case "on_missing_state":
			if s, ok := d.name(v, p, "state"); ok {
				sc.Settings.OnMissingState = s
			}
		}
	})
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

func (d *decoder) route(n *yaml.Node, p string) (Route, bool) {
	var r Route
	var matchNode *yaml.Node
	ok := d.mapping(n, p, routeKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "match":
			matchNode = v
			words, nodes, good := d.texts(v, p)
			if !good {
				return
			}
			set, errs := match.CompileAll(words)
			for i, err := range errs {
				if err != nil {
					d.errorf(nodes[i], fmt.Sprintf("%s[%d]", p, i), ErrValue, "write a word or phrase; a trailing * matches any ending, e.g. врач*", "%v", err)
				}
			}
			r.Match, r.match = words, set
		case "goto":
			if s, good := d.name(v, p, "state"); good {
				r.Goto = s
			}
		}
	})
	if !ok {
		return r, false
	}
	if matchNode == nil {
		d.missing(n, p, []string{"match"}, false, "add match: [words…]", "a route needs match:")
	}
	if _, ok := d.pos[p+".goto"]; !ok {
		d.missing(n, p, []string{"goto"}, false, "add goto: STATE", "a route needs goto:")
	}
	if matchNode == nil || r.Goto == "" {
		return r, false
	}
	return r, true
}

func (d *decoder) template(v *yaml.Node, p string) *Template {
	s, ok := d.text(v, p)
	if !ok {
		return nil
	}
	t, msg, off := parseTemplate(s)
	if t == nil {
		pos := d.textPos(v, off)
		d.problems = append(d.problems, &Problem{File: d.file, Pos: pos, Path: p, Msg: msg, Err: ErrValue, Hint: "write fields as {{name}}; to show braces literally, avoid {{"})
		return nil
	}
	t.pos = posOf(v)
	t.fieldPos = d.textPositions(v, t.fieldOff)
	return t
}

// textPos is the position in the file of byte offset off of a scalar's value.
func (d *decoder) textPos(v *yaml.Node, off int) Pos {
	return d.textPositions(v, []int{off})[0]
}

// textPositions returns the positions in the file of byte offsets offs
// (ascending) of a scalar's value: exact for one-line plain and quoted
// scalars (backslash escapes and doubled single quotes included) and for
// literal blocks (|), else the scalar's start. The line is read once.
func (d *decoder) textPositions(v *yaml.Node, offs []int) []Pos {
	out := make([]Pos, len(offs))
	for i := range out {
		out[i] = posOf(v)
	}
	if v.Line < 1 || v.Line > len(d.src) {
		return out
	}
	if v.Style&yaml.LiteralStyle != 0 {
		d.literalPositions(v, offs, out)
		return out
	}
	if v.Style&yaml.FoldedStyle != 0 {
		return out
	}
	line := d.src[v.Line-1]
	si := byteAtCol(line, v.Column)
	var quote byte
	switch {
	case v.Style&yaml.DoubleQuotedStyle != 0:
		quote = '"'
	case v.Style&yaml.SingleQuotedStyle != 0:
		quote = '\''
	}
	if si < 0 || quote != 0 && (si >= len(line) || line[si] != quote) {
		return out
	}
	if quote != 0 {
		si++
	}
	vi := 0   // bytes of the value matched so far
	col := -1 // runes of line[:si], counted from lineStart
	lineStart := 0
	for i, off := range offs {
		off = max(0, min(off, len(v.Value)))
		if off < vi || strings.Contains(v.Value[vi:off], "\n") {
			break // offsets out of order, or past the first line: the start
		}
		for vi < off && si < len(line) {
			switch c := line[si]; {
			case quote == '"' && c == '\\' && si+1 < len(line):
				n, produced := escapeLen(line[si+1:])
				si += 1 + n
				vi += produced
			case quote == '\'' && c == '\'' && si+1 < len(line) && line[si+1] == '\'':
				si += 2
				vi++
			default:
				_, size := utf8.DecodeRuneInString(line[si:])
				si += size
				vi += size
			}
		}
		if vi != off { // the value continues on the next line
			break
		}
		if col < 0 {
			col = 0
		}
		col += utf8.RuneCountInString(line[lineStart:si])
		lineStart = si
		out[i] = Pos{v.Line, col + 1}
	}
	return out
}

// literalPositions places offsets (ascending) of a literal block scalar
// (|) into out: each line of the value is a line of the file, after the
// block's indentation. Offsets it cannot place keep the scalar's start.
func (d *decoder) literalPositions(v *yaml.Node, offs []int, out []Pos) {
	indent := -1
	for i := v.Line; i < len(d.src); i++ { // d.src[v.Line] is the line after the |
		if strings.TrimSpace(d.src[i]) != "" {
			indent = indentOf(d.src[i])
			break
		}
	}
	if indent < 0 {
		return
	}
	k, lineStart, at := 0, 0, 0 // value line k starts at byte lineStart; read up to at
	checked, runes := -1, 0     // the line last checked against the file; runes of lineStart..at
	for i, off := range offs {
		off = max(0, min(off, len(v.Value)))
		if off < at {
			return
		}
		for j := strings.IndexByte(v.Value[at:off], '\n'); j >= 0; j = strings.IndexByte(v.Value[at:off], '\n') {
			k++
			at += j + 1
			lineStart, runes = at, 0
		}
		runes += utf8.RuneCountInString(v.Value[at:off])
		at = off
		n := v.Line + 1 + k // 1-based line of the offset
		if n > len(d.src) {
			return
		}
		if checked != k {
			end := strings.IndexByte(v.Value[lineStart:], '\n')
			if end < 0 {
				end = len(v.Value) - lineStart
			}
			if src := d.src[n-1]; len(src) < indent || !strings.HasPrefix(src[indent:], v.Value[lineStart:lineStart+end]) {
				return
			}
			checked = k
		}
		out[i] = Pos{n, indent + runes + 1}
	}
}

// byteAtCol returns the byte index of 1-based rune column col of line, or -1.
func byteAtCol(line string, col int) int {
	for i := range line {
		if col--; col == 0 {
			return i
		}
	}
	if col == 1 {
		return len(line)
	}
	return -1
}

// escapeLen reads the escape after a backslash in a double-quoted scalar: it
// returns the bytes it takes in the file and the bytes it yields in the value.
func escapeLen(s string) (n, produced int) {
	if s == "" {
		return 0, 0
	}
	hex := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	switch s[0] {
	case 'x', 'u', 'U':
		k := hex[s[0]]
		if len(s) > k {
			if r, err := strconv.ParseUint(s[1:1+k], 16, 32); err == nil {
				if l := utf8.RuneLen(rune(r)); l > 0 {
					return 1 + k, l
				}
				return 1 + k, 3 // invalid runes become U+FFFD
			}
		}
		return 1, 1
	case 'N', '_':
		return 1, 2 // U+0085, U+00A0
	case 'L', 'P':
		return 1, 3 // U+2028, U+2029
	}
	return 1, 1
}

func (d *decoder) state(name string, n *yaml.Node, path string) *State {
	st := &State{Name: name, Commands: true}
	d.mapping(n, path, stateKeys, func(key string, k, v *yaml.Node, p string) {
		switch key {
		case "greet":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!bool" {
				if b, _ := d.boolean(v, p); b {
					st.Greet = &Greeting{Welcome: true}
				}
				return
			}
			if t := d.template(v, p); t != nil {
				st.Greet = &Greeting{Text: t}
			}
		case "say":
			st.Say = d.template(v, p)
		case "ask":
			st.Ask = d.template(v, p)
		case "retry":
			st.Retry = d.template(v, p)
		case "save":
			if s, ok := d.name(v, p, "field"); ok {
				if s == ClientField {
					d.errorf(v, p, ErrValue, "pick another field name, e.g. name", "%q is reserved for the client's name from the channel", s)
					return
				}
				st.Save = s
			}
		case "type":
			if s, ok := d.text(v, p); ok {
				if !answers.Known(s) {
					d.errorf(v, p, ErrUnknownType, typeHint(s), "unknown answer type %q", s)
					return
				}
				st.Type = s
			}
		case "validate":
			if s, ok := d.text(v, p); ok {
				st.Validate = s
			}
		case "options":
			opts, _, ok := d.texts(v, p)
			if ok && v.Kind != yaml.SequenceNode {
				d.errorf(v, p, ErrValue, "write the options as a list, e.g. [Moscow, Kazan]", "expected a list of options")
				return
			}
			if ok {
				st.Options = opts
			}
		case "retries":
			if n, ok := d.integer(v, p, 0); ok {
				st.Retries = &n
			}
		case "on_fail":
			if s, ok := d.name(v, p, "state"); ok {
				st.OnFail = s
			}
		case "next":
			if v.Kind == yaml.MappingNode {
				st.Branch = map[string]string{}
				d.mapping(v, p, nil, func(key string, k, bv *yaml.Node, bp string) {
					if s, ok := d.name(bv, bp, "state"); ok {
						st.Branch[key] = s
					}
				})
				return
			}
			if s, ok := d.name(v, p, "state"); ok {
				st.Next = s
			}
		case "menu":
			d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
				var mi MenuItem
				var hasText, hasGoto bool
				ok := d.mapping(item, ip, menuKeys, func(key string, k, v *yaml.Node, p string) {
					switch key {
					case "text":
						if s, ok := d.text(v, p); ok {
							hasText = true
							mi.Text = s
							pat, err := match.Compile(s)
							if err != nil {
								d.errorf(v, p, ErrValue, "a button needs words or digits", "%v", err)
								return
							}
							mi.match = pat
						}
					case "goto":
						hasGoto = true
						if s, ok := d.name(v, p, "state"); ok {
							mi.Goto = s
						}
					}
				})
				if !ok {
					return
				}
				if !hasText {
					d.missing(item, ip, []string{"text"}, false, "add text: the button's label", "a menu item needs text:")
				}
				if !hasGoto {
					d.missing(item, ip, []string{"goto"}, false, "add goto: STATE", "a menu item needs goto:")
				}
				st.Menu = append(st.Menu, mi)
			})
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				d.errorf(v, p, ErrValue, "add buttons, or remove menu:", "menu: is empty")
			}
		case "on":
			d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
				if r, ok := d.route(item, ip); ok {
					st.On = append(st.On, r)
				}
			})
		case "crm":
			if s, ok := d.text(v, p); ok {
				if s != "lead" {
					d.errorf(v, p, ErrValue, "write crm: lead", "unknown crm target %q", s)
					return
				}
				st.CRM = s
			}
		case "operator":
			if s, ok := d.text(v, p); ok {
				if s != "any" {
					d.errorf(v, p, ErrValue, "write operator: any; for a given person use transfer: {user: ID}", "unknown operator %q", s)
					return
				}
				st.Operator = s
			}
		case "transfer":
			tr := &Transfer{}
			ok := d.mapping(v, p, transferKeys, func(key string, k, v *yaml.Node, p string) {
				switch key {
				case "user":
					tr.User, _ = d.integer(v, p, 1)
				case "line":
					tr.Line, _ = d.integer(v, p, 1)
				case "leave":
					tr.Leave, _ = d.boolean(v, p)
				}
			})
			if !ok {
				return
			}
			_, hasUser := d.pos[p+".user"]
			_, hasLine := d.pos[p+".line"]
			switch {
			case hasUser && hasLine:
				d.errorf(v, p, ErrValue, "keep one of them: a transfer goes to one operator or one line", "transfer has both user and line")
			case !hasUser && !hasLine:
				d.missing(v, p, []string{"line", "user"}, false, "write transfer: {user: 15} or transfer: {line: 2}", "transfer needs user: or line:")
			}
			st.Transfer = tr
		case "finish":
			if b, ok := d.boolean(v, p); ok {
				st.Finish = b
			}
		case "commands":
			if b, ok := d.boolean(v, p); ok {
				st.Commands = b
			}
		}
	})
	if st.Ask != nil && st.Type == "" {
		st.Type = "text"
	}
	return st
}

func typeHint(s string) string {
	if h := didYouMean(s, answers.Kinds()); h != "" {
		return h
	}
	return "known types: " + strings.Join(answers.Kinds(), ", ")
}

// LoadFile reads and parses one scenario file.
func LoadFile(path string) (*Scenario, Problems) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, Problems{readProblem(path, err, "scenario")}
	}
	return Parse(path, src)
}

// Set is a group of scenarios loaded together, as a server serves them.
type Set struct {
	ByName  map[string]*Scenario
	ByLine  map[int]*Scenario
	Default *Scenario
	List    []*Scenario // in file order
}

// Lookup picks the scenario for an Open Line: the one that lists it, else the default.
func (s *Set) Lookup(line int) *Scenario {
	if sc, ok := s.ByLine[line]; ok {
		return sc
	}
	return s.Default
}

// NewSet combines scenarios, earlier ones winning conflicts: a later scenario
// with a taken name, a second default, or a taken line is left out with an error.
func NewSet(list []*Scenario) (*Set, Problems) {
	set := &Set{ByName: map[string]*Scenario{}, ByLine: map[int]*Scenario{}}
	var ps Problems
	for _, sc := range list {
		bad := false
		if other, ok := set.ByName[sc.Name]; ok {
			hint := fmt.Sprintf("change name: in one of the two files; every scenario needs its own, e.g. name: %s_2", sc.Name)
			if _, ok := sc.pos["name"]; !ok {
				hint = "the name comes from the file name here: add name: with a name of its own"
			}
			ps = append(ps, &Problem{File: sc.File, Pos: sc.nameOrTop(), Path: "name", Err: ErrDuplicateName,
				Msg:  fmt.Sprintf("scenario name %q is already used by %s", sc.Name, other.File),
				Hint: hint})
			bad = true
		}
		if sc.Default() && set.Default != nil {
			ps = append(ps, &Problem{File: sc.File, Pos: sc.top(), Path: "lines", Err: ErrTwoDefaults,
				Msg:  fmt.Sprintf("this scenario has no lines: and so is the default, but %s is the default already", set.Default.File),
				Hint: "add lines: [ID, …] to one of them; only one scenario may serve all other lines"})
			bad = true
		}
		for i, l := range sc.Lines {
			if other, ok := set.ByLine[l]; ok {
				pos := sc.pos[fmt.Sprintf("lines[%d]", i)]
				if pos == (Pos{}) {
					pos = sc.pos["lines"]
				}
				ps = append(ps, &Problem{File: sc.File, Pos: pos, Path: "lines", Err: ErrLineTaken,
					Msg:  fmt.Sprintf("line %d is already served by scenario %q (%s)", l, other.Name, other.File),
					Hint: "a line is served by one scenario: remove it from one of the files"})
				bad = true
			}
		}
		if bad {
			continue
		}
		set.ByName[sc.Name] = sc
		for _, l := range sc.Lines {
			set.ByLine[l] = sc
		}
		if sc.Default() {
			set.Default = sc
		}
		set.List = append(set.List, sc)
	}
	return set, ps
}

func (s *Scenario) nameOrTop() Pos {
	if p, ok := s.pos["name"]; ok {
		return p
	}
	return s.top()
}

// top is the position of the scenario's first key, where a missing
// top-level key would be added.
func (s *Scenario) top() Pos {
	if p, ok := s.pos[rootPos]; ok {
		return p
	}
	return Pos{1, 1}
}

// rootPos is the pos key of the document's top-level map.
const rootPos = "#root"
