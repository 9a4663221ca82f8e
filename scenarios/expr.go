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
// variables once for all the conditions of a step.
type Vars struct {
	sc  *Scenario
	env Env
	m   map[string]any
}

// Vars returns the evaluator of the scenario's conditions in env.
func (s *Scenario) Vars(env Env) *Vars { return &Vars{sc: s, env: env} }

// Test evaluates c; a nil condition is true. A condition that fails at run
// time (a regular expression on a huge text, say) is false, with the error.
func (v *Vars) Test(c *Cond) (bool, error) {
	if c == nil {
		return true, nil
	}
	if v.m == nil {
		v.m = v.build()
	}
	m := vms.Get().(*vm.VM)
	out, err := m.Run(c.prog, v.m)
	vms.Put(m)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.Text, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// Release hands the variables back for reuse; v is not used after.
func (v *Vars) Release() {
	if v != nil && v.m != nil {
		clear(v.m)
		envs.Put(v.m)
		v.m = nil
	}
}

// envs are reused variable maps: building one is most of a condition's cost.
var envs = sync.Pool{New: func() any { return make(map[string]any, 16) }}

func (v *Vars) build() map[string]any {
	m := envs.Get().(map[string]any)
	used := v.sc.condNames
	// only the names the scenario's conditions read: boxing every field,
	// the clock and two closures for each step was most of a condition's
	// cost
	for f, kind := range v.sc.fieldTypes {
		if !used[f] {
			continue
		}
		s := v.env.Fields[f]
		switch {
		case kind != answers.Number:
			m[f] = s
		case s == "":
			m[f] = 0.0
		default:
			n, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
			m[f] = n
		}
	}
	if used[VarClient] {
		m[VarClient] = v.env.Client
	}
	if used[VarLine] {
		m[VarLine] = v.env.Line
	}
	if used[VarLanguage] {
		m[VarLanguage] = v.env.Language
	}
	if used[VarChannel] {
		m[VarChannel] = v.env.Channel
	}
	if used[VarNow] {
		t := v.env.Time.In(v.sc.loc())
		m[VarNow] = Now{Weekday: weekdays[t.Weekday()], Hour: t.Hour(), Minute: t.Minute()}
	}
	if used[FuncSet] {
		m[FuncSet] = func(f string) bool { return v.env.Fields[f] != "" }
	}
	if used[FuncOpen] {
		m[FuncOpen] = func(name string) bool { return v.sc.OpenWith(name, v.env.Time, v.env.LineHours) }
	}
	return m
}

// vms are reused machines: a fresh one per condition would cost more than
// the condition itself.
var vms = sync.Pool{New: func() any { return &vm.VM{} }}

var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// condTypes is the compile-time environment: every name with a value of
// its type.
func condTypes(fields map[string]string) map[string]any {
	m := make(map[string]any, len(fields)+7)
	for f, kind := range fields {
		if kind == answers.Number {
			m[f] = 0.0
		} else {
			m[f] = ""
		}
	}
	m[VarClient], m[VarLine], m[VarLanguage], m[VarChannel] = "", 0, "", ""
	m[VarNow] = Now{}
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
	used   map[string]bool // every name a condition reads, for Vars.build
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
	case *ast.IdentifierNode:
		if p.used != nil {
			p.used[n.Value] = true
		}
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
	p := &condPatch{fields: fields, hours: hours, used: used}
	prog, err := expr.Compile(text, expr.Env(condTypes(fields)), expr.AsBool(), expr.DisableAllBuiltins(),
		expr.MaxNodes(maxCondNodes), expr.Patch(p))
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, explainCond(text, err, fields)
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
