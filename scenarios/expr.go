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
	// clock, now: the condition reads now.weekday, now.hour or
	// now.minute; now itself
	clock, now bool
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

// Vars evaluates the conditions of one scenario in one Env. A Vars comes
// from a pool with its machine and its variables, which are functions made
// once per Vars that read its current Env: a condition reads a field, the
// client, the line, the language or the channel when it gets there, and a
// step builds nothing up front. Only the clock (now.weekday, now.hour,
// now.minute) is set per step, when a condition reads it.
type Vars struct {
	sc  *Scenario
	env Env
	m   map[string]any
	vm  vm.VM
	// clock: the clock variables are set for env.Time; local is that time
	// in the scenario's time zone.
	clock, nowSet bool
	local         time.Time
}

// Vars returns the evaluator of the scenario's conditions in env; Release
// hands it back when the step's decision is made.
func (s *Scenario) Vars(env Env) *Vars {
	v := varsPool.Get().(*Vars)
	v.sc, v.env = s, env
	return v
}

var varsPool = sync.Pool{New: func() any { return newVars() }}

// The names a compiled condition calls for what Vars reads lazily (the
// patch rewrites a field total into $num("total"), client into client()).
const (
	funcText = "$text"
	funcNum  = "$num"
)

func newVars() *Vars {
	v := &Vars{}
	v.m = map[string]any{
		funcText:    func(f string) string { return v.env.Fields[f] },
		funcNum:     func(f string) float64 { return number(v.env.Fields[f]) },
		VarClient:   func() string { return v.env.Client },
		VarLine:     func() int { return v.env.Line },
		VarLanguage: func() string { return v.env.Language },
		VarChannel:  func() string { return v.env.Channel },
		FuncSet:     func(f string) bool { return v.env.Fields[f] != "" },
		FuncOpen:    func(name string) bool { return v.sc.openAt(name, v.now(), v.env.LineHours) },
	}
	return v
}

// number is a number field's value: 0 when not collected.
func number(s string) float64 {
	if s == "" {
		return 0
	}
	n, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
	return n
}

// Test evaluates c; a nil condition is true. A condition that fails at run
// time (a regular expression on a huge text, say) is false, with the error.
func (v *Vars) Test(c *Cond) (bool, error) {
	if c == nil {
		return true, nil
	}
	if c.clock && !v.clock {
		t := v.now()
		h, mi, _ := t.Clock()
		// boxed without allocating: the weekday from a table of boxed
		// names, the hour and minute small integers
		v.m[nowWeekday], v.m[nowHour], v.m[nowMinute] = weekdayValues[t.Weekday()], h, mi
		v.clock = true
	}
	if c.now && !v.nowSet {
		t := v.now()
		v.m[VarNow] = Now{Weekday: weekdays[t.Weekday()], Hour: t.Hour(), Minute: t.Minute()}
		v.nowSet = true
	}
	out, err := v.vm.Run(c.prog, v.m)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.Text, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// now is the event's time in the scenario's time zone, converted once.
func (v *Vars) now() time.Time {
	if v.local.IsZero() {
		v.local = v.env.Time.In(v.sc.loc())
	}
	return v.local
}

// Release hands the evaluator back for reuse; v is not used after.
func (v *Vars) Release() {
	if v == nil {
		return
	}
	v.sc, v.env, v.clock, v.nowSet, v.local = nil, Env{}, false, false, time.Time{}
	varsPool.Put(v)
}

// now.weekday, now.hour and now.minute are read as variables of their own
// (condPatch rewrites the member access): no reflection to read them.
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

// condTypes is the compile-time environment: every name the patched
// conditions read, with a value of its type (the same as newVars').
func condTypes() map[string]any {
	return map[string]any{
		funcText:    func(string) string { return "" },
		funcNum:     func(string) float64 { return 0 },
		VarClient:   func() string { return "" },
		VarLine:     func() int { return 0 },
		VarLanguage: func() string { return "" },
		VarChannel:  func() string { return "" },
		FuncSet:     func(string) bool { return false },
		FuncOpen:    func(string) bool { return false },
		VarNow:      Now{},
		nowWeekday:  "",
		nowHour:     0,
		nowMinute:   0,
	}
}

// condError is why a condition does not compile: where in its text, what,
// and a hint.
type condError struct {
	Off  int // byte offset in the text
	Msg  string
	Hint string
}

// condPatch rewrites a condition for the evaluator — reads of fields and
// variables into calls Vars answers lazily, now.weekday/hour/minute into
// variables, set(field) into set("field"), x in [short literal list] into
// comparisons — and records what a condition may not use: loops, builtins,
// names of unknown hours and fields in set() and open(), and a list after
// in of the other type.
type condPatch struct {
	fields map[string]string
	hours  map[string]bool
	// reads are the nodes that read a name lazily (field total →
	// $num("total"), client → client()), with the name: set(total) takes
	// the name back.
	reads map[ast.Node]string
	err   *condError
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
		p.ident(node, n)
	case *ast.MemberNode:
		p.member(node, n)
	case *ast.BuiltinNode, *ast.PredicateNode, *ast.SequenceNode, *ast.PointerNode, *ast.VariableDeclaratorNode:
		p.fail(n, "loops and built-in functions are not available in conditions", "compare fields with == != < <= > >=, combine with and, or, not")
	case *ast.BinaryNode:
		if n.Operator == ".." || n.Operator == "|" {
			p.fail(n, fmt.Sprintf("operator %s is not available in conditions", n.Operator), "compare fields with == != < <= > >=, combine with and, or, not")
		}
		if n.Operator == "in" {
			p.inList(node, n)
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

// ident rewrites a read of a field into $text("f") or $num("f"), and of
// client, line, language and channel into a call: Vars reads them when
// the condition gets there. The variables win over fields of their names.
func (p *condPatch) ident(node *ast.Node, n *ast.IdentifierNode) {
	var call *ast.CallNode
	switch name := n.Value; {
	case strings.HasPrefix(name, "$"):
		p.fail(n, fmt.Sprintf("unknown name %q: not a collected field, variable or function", name), "names are collected fields, "+listOf([]string{VarClient, VarLine, VarLanguage, VarChannel, VarNow})+" and the functions set() and open()")
		return
	case name == VarClient || name == VarLine || name == VarLanguage || name == VarChannel:
		call = &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}}
	case name == VarNow || name == FuncSet || name == FuncOpen:
		return
	default:
		kind, ok := p.fields[name]
		if !ok {
			return // unknown: the checker says so, explainCond suggests
		}
		fn := funcText
		if kind == answers.Number {
			fn = funcNum
		}
		arg := &ast.StringNode{Value: name}
		arg.SetLocation(n.Location())
		call = &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: []ast.Node{arg}}
	}
	call.Callee.SetLocation(n.Location())
	call.SetLocation(n.Location())
	if p.reads == nil {
		p.reads = map[ast.Node]string{}
	}
	p.reads[call] = n.Value
	ast.Patch(node, call)
}

// maxInList is the longest list inList unrolls.
const maxInList = 16

// inList checks a list after in against the type of what is looked for
// (a number in a list of texts is an error at load, as it is with ==), and
// rewrites now.weekday in ["sat", "sun"] into now.weekday == "sat" or
// now.weekday == "sun": the same test, without the reflection expr's in
// uses. Only a variable read without a call (now.weekday, now.hour,
// now.minute) in a short list of literals of its type is rewritten.
func (p *condPatch) inList(node *ast.Node, n *ast.BinaryNode) {
	list, ok := n.Right.(*ast.ArrayNode)
	if !ok || len(list.Nodes) == 0 {
		return
	}
	kind := p.kindOf(n.Left)
	if kind == "" {
		return
	}
	for _, e := range list.Nodes {
		var lit string
		switch e.(type) {
		case *ast.StringNode:
			lit = answers.Text
		case *ast.IntegerNode, *ast.FloatNode:
			lit = answers.Number
		default:
			return
		}
		if lit != kind {
			p.fail(e, fmt.Sprintf("%s is a %s, the list has a %s", p.nameOf(n.Left), typeWord(kind), typeWord(lit)),
				`a number is looked for among numbers (now.hour in [9, 10]), a text among texts (now.weekday in ["sat", "sun"])`)
			return
		}
	}
	id, ok := n.Left.(*ast.IdentifierNode)
	if !ok || len(list.Nodes) > maxInList {
		return
	}
	var out ast.Node
	for _, e := range list.Nodes {
		left := &ast.IdentifierNode{Value: id.Value}
		left.SetLocation(id.Location())
		eq := &ast.BinaryNode{Operator: "==", Left: left, Right: e}
		eq.SetLocation(n.Location())
		if out == nil {
			out = eq
			continue
		}
		or := &ast.BinaryNode{Operator: "or", Left: out, Right: eq}
		or.SetLocation(n.Location())
		out = or
	}
	ast.Patch(node, out)
}

// kindOf is the answer type (text or number) of a read of a name, "" for
// anything else.
func (p *condPatch) kindOf(n ast.Node) string {
	if id, ok := n.(*ast.IdentifierNode); ok {
		switch id.Value {
		case nowWeekday:
			return answers.Text
		case nowHour, nowMinute:
			return answers.Number
		}
		return ""
	}
	name, ok := p.reads[n]
	switch {
	case !ok:
		return ""
	case name == VarLine:
		return answers.Number
	case name == VarClient || name == VarLanguage || name == VarChannel:
		return answers.Text
	case p.fields[name] == answers.Number:
		return answers.Number
	}
	return answers.Text
}

// nameOf is the name a read reads, as the author wrote it.
func (p *condPatch) nameOf(n ast.Node) string {
	if id, ok := n.(*ast.IdentifierNode); ok {
		return id.Value
	}
	return p.reads[n]
}

func typeWord(kind string) string {
	if kind == answers.Number {
		return "number"
	}
	return "text"
}

// clockUse is what of the clock a compiled condition reads.
type clockUse struct{ fields, now bool }

// Visit implements ast.Visitor.
func (u *clockUse) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.IdentifierNode); ok {
		switch n.Value {
		case nowWeekday, nowHour, nowMinute:
			u.fields = true
		case VarNow:
			u.now = true
		}
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
	case *ast.StringNode:
		name = a.Value
	default:
		read, ok := p.reads[a]
		if !ok {
			p.fail(n.Arguments[0], fmt.Sprintf("%s() takes a name", id.Value), fmt.Sprintf("write %s(NAME)", id.Value))
			return
		}
		name = read
	}
	if _, ok := n.Arguments[0].(*ast.StringNode); !ok {
		s := &ast.StringNode{Value: name}
		s.SetLocation(n.Arguments[0].Location())
		ast.Patch(&n.Arguments[0], s)
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
func compileCond(text string, fields map[string]string, hours map[string]bool) (*Cond, *condError) {
	if strings.TrimSpace(text) == "" {
		return nil, &condError{Msg: "the condition is empty", Hint: `write a condition, e.g. total >= 5000 and city == "Москва"`}
	}
	p := &condPatch{fields: fields, hours: hours}
	prog, err := expr.Compile(text, expr.Env(condTypes()), expr.AsBool(), expr.DisableAllBuiltins(),
		expr.MaxNodes(maxCondNodes), expr.Patch(p))
	if p.err != nil {
		return nil, p.err
	}
	if err != nil {
		return nil, explainCond(text, err, fields)
	}
	var u clockUse
	root := prog.Node()
	ast.Walk(&root, &u)
	return &Cond{Text: text, prog: prog, clock: u.fields, now: u.now}, nil
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
