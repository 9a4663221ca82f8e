package scenarios

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/olbot/olbot/answers"
)

// Conditions (`if:` of branches, routes and menu items) are expr-lang
// expressions, compiled once at load against the types of the scenario's
// fields, with the builtins off and loops refused: evaluating one is a
// bounded walk over at most maxCondNodes nodes.

// maxCondNodes bounds the size of one condition.
const maxCondNodes = 256

// The names a condition sees besides the collected fields.
const (
	VarClient   = ClientField
	VarLine     = "line"
	VarLanguage = "language"
	VarChannel  = "channel"
	VarNow      = "now"
	FuncSet     = "set"
	FuncOpen    = "open"
)

var condWords = []string{VarClient, VarLine, VarLanguage, VarChannel, VarNow, FuncSet, FuncOpen,
	"and", "or", "not", "in", "contains", "startsWith", "endsWith", "matches", "true", "false"}

// Cond is one compiled condition.
type Cond struct {
	Text string
	prog *vm.Program
}

// Now is the clock a condition sees, in the scenario's time zone.
type Now struct {
	Weekday string `expr:"weekday"` // mon … sun
	Hour    int    `expr:"hour"`    // 0–23
	Minute  int    `expr:"minute"`  // 0–59
}

// Env is what the conditions of one step see: the dialog's values and the
// step's clock (the event's time, never the wall clock).
type Env struct {
	Fields   map[string]string
	Client   string
	Line     int
	Language string
	Channel  string
	Time     time.Time
	// LineHours is the dialog's line's working time for from_line hours;
	// nil when not known (they count as open).
	LineHours *Schedule
}

// Vars evaluates conditions of one scenario in one Env, building the
// variables once for all the conditions of a step. A Vars comes from a
// pool with its variable map, its machine and its set()/open() functions,
// so evaluating the conditions of a step allocates only the boxed values of
// the fields, client and channel the conditions read.
type Vars struct {
	sc  *Scenario
	env Env
	// m is the variable map; its keys are those of owner's conditions
	// (all of them assigned on every build, so no key is stale).
	m     map[string]any
	owner *Scenario
	built bool
	vm    vm.VM
	// set and open are made once per pooled Vars: they read v.env.
	set, open func(string) bool
}

// Vars returns the evaluator of the scenario's conditions in env; Release
// hands it back when the step's decision is made.
func (s *Scenario) Vars(env Env) *Vars {
	v := varsPool.Get().(*Vars)
	v.sc, v.env = s, env
	return v
}

var varsPool = sync.Pool{New: func() any {
	// no size hint: up to 8 names it stays a small map, read without hashing
	v := &Vars{m: map[string]any{}}
	v.set = func(f string) bool { return v.env.Fields[f] != "" }
	v.open = func(name string) bool { return v.sc.OpenWith(name, v.env.Time, v.env.LineHours) }
	return v
}}

// Test evaluates c; a nil condition is true. A condition that fails at run
// time (a regular expression on a huge text, say) is false, with the error.
func (v *Vars) Test(c *Cond) (bool, error) {
	if c == nil {
		return true, nil
	}
	if !v.built {
		v.build()
	}
	out, err := v.vm.Run(c.prog, v.m)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.Text, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// Release hands the evaluator back for reuse; v is not used after.
func (v *Vars) Release() {
	if v == nil {
		return
	}
	v.env, v.built = Env{}, false
	varsPool.Put(v)
}

func (v *Vars) build() {
	v.built = true
	m := v.m
	if v.owner != v.sc {
		clear(m)
		v.owner = v.sc
		// the functions are this Vars' own: set once per scenario
		for _, cv := range v.sc.condVars {
			switch cv.kind {
			case varSet:
				m[cv.name] = v.set
			case varOpen:
				m[cv.name] = v.open
			}
		}
	}
	var t time.Time // the clock, in the scenario's time zone, when read
	for _, cv := range v.sc.condVars[:v.sc.condValues] {
		if cv.kind >= varNow && cv.kind <= varMinute && t.IsZero() {
			t = v.env.Time.In(v.sc.loc())
		}
		var x any
		switch cv.kind {
		case varText:
			x = v.env.Fields[cv.name]
		case varNumber:
			x = 0.0
			if s := v.env.Fields[cv.name]; s != "" {
				n, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
				x = n
			}
		case varClient:
			x = v.env.Client
		case varLine:
			x = v.env.Line
		case varLanguage:
			x = v.env.Language
		case varChannel:
			x = v.env.Channel
		case varNow:
			x = Now{Weekday: weekdays[t.Weekday()], Hour: t.Hour(), Minute: t.Minute()}
		case varWeekday:
			// boxed without allocating: from a table of boxed weekdays; the
			// hour and minute are small integers
			x = weekdayValues[t.Weekday()]
		case varHour:
			x = t.Hour()
		case varMinute:
			x = t.Minute()
		}
		m[cv.name] = x
	}
}

// condVar is a name the conditions of a scenario read, and what it is.
type condVar struct {
	name string
	kind varKind
}

type varKind uint8

const (
	varText varKind = iota
	varNumber
	varClient
	varLine
	varLanguage
	varChannel
	varNow
	varWeekday
	varHour
	varMinute
	varSet
	varOpen
)

// condVarsOf are the variables of the names used, the values first (n of
// them), then the functions; fields maps the collected fields to their
// answer types.
func condVarsOf(fields map[string]string, used map[string]bool) (vars []condVar, n int) {
	fixed := map[string]varKind{VarClient: varClient, VarLine: varLine, VarLanguage: varLanguage, VarChannel: varChannel,
		VarNow: varNow, nowWeekday: varWeekday, nowHour: varHour, nowMinute: varMinute, FuncSet: varSet, FuncOpen: varOpen}
	var out, funcs []condVar
	for _, name := range keysOf(used) {
		// the variables win over fields of their names, as in condTypes
		if k, ok := fixed[name]; ok && k >= varSet {
			funcs = append(funcs, condVar{name, k})
		} else if ok {
			out = append(out, condVar{name, k})
		} else if kind, ok := fields[name]; ok {
			if kind == answers.Number {
				out = append(out, condVar{name, varNumber})
			} else {
				out = append(out, condVar{name, varText})
			}
		}
	}
	return append(out, funcs...), len(out)
}

// now.weekday, now.hour and now.minute are read as variables of their own
// (condPatch rewrites the member access): no struct to box per step and
// no reflection to read it.
const (
	nowWeekday = VarNow + ".weekday"
	nowHour    = VarNow + ".hour"
	nowMinute  = VarNow + ".minute"
)

var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

var weekdayValues = func() (out [7]any) {
	for i, d := range weekdays {
		out[i] = d
	}
	return out
}()

// condTypes is the compile-time environment: every name with a value of
// its type.
func condTypes(fields map[string]string) map[string]any {
	m := make(map[string]any, len(fields)+10)
	for f, kind := range fields {
		if kind == answers.Number {
			m[f] = 0.0
		} else {
			m[f] = ""
		}
	}
	m[VarClient], m[VarLine], m[VarLanguage], m[VarChannel] = "", 0, "", ""
	m[VarNow] = Now{}
	m[nowWeekday], m[nowHour], m[nowMinute] = "", 0, 0
	m[FuncSet] = func(string) bool { return false }
	m[FuncOpen] = func(string) bool { return false }
	return m
}

// condError is why a condition does not compile: where in its text, what,
// and a hint.
type condError struct {
	Off  int // byte offset in the text
	Msg  string
	Hint string
}

// condPatch rewrites set(field) into set("field") and records what a
// condition may not use: loops, builtins, and names of unknown hours and
// fields in set() and open().
type condPatch struct {
	fields map[string]string
	hours  map[string]bool
	err    *condError
}

func (p *condPatch) fail(n ast.Node, msg, hint string) {
	if p.err == nil {
		p.err = &condError{Off: n.Location().From, Msg: msg, Hint: hint}
	}
}

// Visit implements ast.Visitor.
func (p *condPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.MemberNode:
		p.member(node, n)
	case *ast.BuiltinNode, *ast.PredicateNode, *ast.SequenceNode, *ast.PointerNode, *ast.VariableDeclaratorNode:
		p.fail(n, "loops and built-in functions are not available in conditions", "compare fields with == != < <= > >=, combine with and, or, not")
	case *ast.BinaryNode:
		if n.Operator == ".." || n.Operator == "|" {
			p.fail(n, fmt.Sprintf("operator %s is not available in conditions", n.Operator), "compare fields with == != < <= > >=, combine with and, or, not")
		}
	case *ast.CallNode:
		p.call(node, n)
	}
}

// member rewrites now.weekday, now.hour and now.minute into the
// variables of those names (see nowWeekday).
func (p *condPatch) member(node *ast.Node, n *ast.MemberNode) {
	id, ok := n.Node.(*ast.IdentifierNode)
	prop, ok2 := n.Property.(*ast.StringNode)
	if !ok || !ok2 || id.Value != VarNow || n.Method {
		return
	}
	switch name := VarNow + "." + prop.Value; name {
	case nowWeekday, nowHour, nowMinute:
		v := &ast.IdentifierNode{Value: name}
		v.SetLocation(n.Location())
		ast.Patch(node, v)
	}
}

// identifiers records every name a compiled condition reads.
type identifiers map[string]bool

// Visit implements ast.Visitor.
func (ids identifiers) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.IdentifierNode); ok {
		ids[n.Value] = true
	}
}

func (p *condPatch) call(node *ast.Node, n *ast.CallNode) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || (id.Value != FuncSet && id.Value != FuncOpen) {
		return
	}
	if len(n.Arguments) != 1 {
		p.fail(n, fmt.Sprintf("%s() takes one name", id.Value), fmt.Sprintf("write %s(NAME)", id.Value))
		return
	}
	var name string
	switch a := n.Arguments[0].(type) {
	case *ast.IdentifierNode:
		name = a.Value
		s := &ast.StringNode{Value: name}
		s.SetLocation(a.Location())
		ast.Patch(&n.Arguments[0], s)
	case *ast.StringNode:
		name = a.Value
	default:
		p.fail(n.Arguments[0], fmt.Sprintf("%s() takes a name", id.Value), fmt.Sprintf("write %s(NAME)", id.Value))
		return
	}
	if id.Value == FuncSet {
		if _, ok := p.fields[name]; !ok && name != ClientField {
			p.fail(n.Arguments[0], fmt.Sprintf("set(%s): no state collects %s", name, name), nameHint(name, keysOf(p.fields), "collect it with save: or set: first"))
		}
		return
	}
	if !p.hours[name] {
		p.fail(n.Arguments[0], fmt.Sprintf("open(%q): no such hours", name), nameHint(name, keysOf(p.hours), "define it under hours:"))
	}
	_ = node
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nameHint(name string, known []string, fallback string) string {
	if m := suggest(name, known); m != "" {
		return fmt.Sprintf("did you mean %q?", m)
	}
	return fallback
}

// compileCond compiles a condition against the fields (name → answer
// type) and the hours names.
func compileCond(text string, fields map[string]string, hours map[string]bool, used map[string]bool) (*Cond, *condError) {
	if strings.TrimSpace(text) == "" {
		return nil, &condError{Msg: "the condition is empty", Hint: `write a condition, e.g. total >= 5000 and city == "Москва"`}
	}
	p := &condPatch{fields: fields, hours: hours}
	prog, err := expr.Compile(text, expr.Env(condTypes(fields)), expr.AsBool(), expr.DisableAllBuiltins(),
		expr.MaxNodes(maxCondNodes), expr.Patch(p))
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, explainCond(text, err, fields)
	}
	if used != nil {
		root := prog.Node()
		ast.Walk(&root, identifiers(used))
	}
	return &Cond{Text: text, prog: prog}, nil
}

// explainCond turns an expr error into a message and a hint in the
// scenario's terms.
func explainCond(text string, err error, fields map[string]string) *condError {
	ce := &condError{Msg: err.Error(), Hint: `conditions compare fields with == != < <= > >=, combine with and, or, not, e.g. total >= 5000 and city == "Москва"`}
	var fe *file.Error
	if errors.As(err, &fe) {
		ce.Msg = fe.Message
		ce.Off = runeOffset(text, fe.Line, fe.Column)
	}
	known := append(keysOf(fields), condWords...)
	switch msg := ce.Msg; {
	case strings.HasPrefix(msg, "unknown name "):
		name := strings.TrimPrefix(msg, "unknown name ")
		ce.Msg = fmt.Sprintf("unknown name %q: not a collected field, variable or function", name)
		ce.Hint = nameHint(name, known, "names are collected fields, "+listOf([]string{VarClient, VarLine, VarLanguage, VarChannel, VarNow})+" and the functions set() and open()")
	case strings.Contains(msg, "mismatched types"):
		ce.Msg = strings.NewReplacer("float64", "number", "string", "text", "int", "number", "bool", "yes/no").Replace(msg)
		ce.Hint = `a number field compares with numbers (total >= 5000), a text with texts (city == "Москва")`
	case strings.Contains(msg, `Operator("=")`):
		ce.Msg = "unknown operator ="
		ce.Hint = "did you mean ==?"
	case strings.HasPrefix(msg, "unexpected token Identifier("):
		word := strings.TrimSuffix(strings.TrimPrefix(msg, `unexpected token Identifier("`), `")`)
		ce.Msg = fmt.Sprintf("unknown operator %q", word)
		ce.Hint = nameHint(strings.ToLower(word), []string{"and", "or", "not", "in", "contains", "startsWith", "endsWith", "matches"}, "operators: == != < <= > >= and or not in contains startsWith matches")
	case strings.HasPrefix(msg, "expected bool"):
		ce.Msg = "the condition is not a yes/no question: " + strings.NewReplacer("float64", "a number", "string", "a text").Replace(msg)
		ce.Hint = `compare it, e.g. total > 0 or city != ""`
	case strings.Contains(msg, "has no field "):
		ce.Hint = "now has weekday (mon … sun), hour (0–23) and minute"
	}
	return ce
}

// runeOffset is the byte offset of (line, rune column) in text.
func runeOffset(text string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			return off
		}
		off += i + 1
	}
	for c := 0; c < col && off < len(text); c++ {
		_, n := utf8.DecodeRuneInString(text[off:])
		off += n
	}
	return off
}
