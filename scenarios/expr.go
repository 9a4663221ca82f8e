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

// Vars evaluates the conditions of one scenario in one Env. A compiled
// condition does not read a variable map: every read of a field, client,
// line, language, channel or the clock is a function the patch put into
// the program as a constant, called with the Vars (expr's $env) when the
// condition gets there, and a comparison of a read with literals (total
// >= 5000, city == "Москва", now.weekday in ["sat", "sun"]) is one such
// function that compares in Go. A step builds nothing up front and boxes
// only the values a condition hands to expr itself. A Vars comes from a
// pool with its machine.
type Vars struct {
	sc  *Scenario
	env Env
	vm  vm.VM
	// local is env.Time in the scenario's time zone, once converted.
	local    time.Time
	hasLocal bool
}

// Vars returns the evaluator of the scenario's conditions in env; Release
// hands it back when the step's decision is made.
func (s *Scenario) Vars(env Env) *Vars {
	v := varsPool.Get().(*Vars)
	v.sc, v.env = s, env
	return v
}

var varsPool = sync.Pool{New: func() any { return &Vars{} }}

// Test evaluates c; a nil condition is true. A condition that fails at run
// time (a regular expression on a huge text, say) is false, with the error.
func (v *Vars) Test(c *Cond) (bool, error) {
	if c == nil {
		return true, nil
	}
	out, err := v.vm.Run(c.prog, v)
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.Text, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// now is the event's time in the scenario's time zone, converted once.
func (v *Vars) now() time.Time {
	if !v.hasLocal {
		v.local, v.hasLocal = v.env.Time.In(v.sc.loc()), true
	}
	return v.local
}

// Release hands the evaluator back for reuse; v is not used after.
func (v *Vars) Release() {
	if v == nil {
		return
	}
	v.sc, v.env, v.local, v.hasLocal = nil, Env{}, time.Time{}, false
	varsPool.Put(v)
}

// number is a number field's value: 0 when not collected.
func number(s string) float64 {
	if s == "" {
		return 0
	}
	n, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
	return n
}

const nowHint = "now has weekday (mon … sun), hour (0–23) and minute: now.weekday, now.hour, now.minute"

var weekdays = [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// read is what one name of a condition reads from the step's values: a
// text or a number (line, now.hour and now.minute are whole numbers).
type read struct {
	name string
	text func(v *Vars) string  // a text read; nil for a number
	num  func(v *Vars) float64 // a number read; nil for a text
	// whole: the number is an int for expr (line, now.hour, now.minute)
	whole bool
	// clock: the bare now, valid only before .weekday, .hour or .minute
	clock bool
}

// kind is the read's answer type, text or number.
func (r *read) kind() string {
	if r.text != nil {
		return answers.Text
	}
	return answers.Number
}

// node is the call of the read in a patched condition: a constant
// function of $env, typed so that expr's checker knows the value's type.
func (r *read) node(at ast.Node) *ast.CallNode {
	var fn any
	switch get, num := r.text, r.num; {
	case r.clock:
		fn = func(any) Now { return Now{} } // never run: a bare now does not compile
	case get != nil:
		fn = func(e any) string { return get(e.(*Vars)) }
	case r.whole:
		fn = func(e any) int { return int(num(e.(*Vars))) }
	default:
		fn = func(e any) float64 { return num(e.(*Vars)) }
	}
	return callOf(at, fn)
}

// callOf is a call of the constant function fn with $env, at the place
// of node at.
func callOf(at ast.Node, fn any) *ast.CallNode {
	callee := &ast.ConstantNode{Value: fn}
	env := &ast.IdentifierNode{Value: "$env"}
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{env}}
	for _, n := range []ast.Node{callee, env, call} {
		n.SetLocation(at.Location())
	}
	return call
}

// condTypes is the compile-time environment: empty, since the patched
// conditions read nothing by name (a name left is unknown).
func condTypes() map[string]any { return map[string]any{} }

// condError is why a condition does not compile: where in its text, what,
// and a hint.
type condError struct {
	Off  int // byte offset in the text
	Msg  string
	Hint string
}

// condPatch rewrites a condition for the evaluator (see Vars): names into
// reads, now.weekday/hour/minute into reads of the clock, set(field) and
// open(hours) into calls, a read compared with literals into one Go
// comparison; and records what a condition may not use: loops, builtins,
// names of unknown hours and fields in set() and open(), a list after in
// of the other type, and now alone.
type condPatch struct {
	fields map[string]string
	hours  map[string]bool
	// reads are the nodes that read a name, with what they read: set(total)
	// takes the name back, a comparison the function.
	reads map[ast.Node]*read
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
		p.compare(node, n)
	case *ast.CallNode:
		p.call(node, n)
	}
}

func (p *condPatch) patchRead(node *ast.Node, at ast.Node, r *read) {
	call := r.node(at)
	if p.reads == nil {
		p.reads = map[ast.Node]*read{}
	}
	p.reads[call] = r
	ast.Patch(node, call)
}

// ident rewrites a read of a field, client, line, language or channel
// (the variables win over fields of their names), and marks now for
// member.
func (p *condPatch) ident(node *ast.Node, n *ast.IdentifierNode) {
	r := &read{name: n.Value}
	switch name := n.Value; {
	case strings.HasPrefix(name, "$"):
		p.fail(n, fmt.Sprintf("unknown name %q: not a collected field, variable or function", name), "names are collected fields, "+listOf([]string{VarClient, VarLine, VarLanguage, VarChannel, VarNow})+" and the functions set() and open()")
		return
	case name == VarClient:
		r.text = func(v *Vars) string { return v.env.Client }
	case name == VarLanguage:
		r.text = func(v *Vars) string { return v.env.Language }
	case name == VarChannel:
		r.text = func(v *Vars) string { return v.env.Channel }
	case name == VarLine:
		r.num, r.whole = func(v *Vars) float64 { return float64(v.env.Line) }, true
	case name == VarNow:
		r.clock = true
	case name == FuncSet || name == FuncOpen:
		return // call rewrites the call; alone they are unknown
	default:
		kind, ok := p.fields[name]
		switch {
		case !ok:
			return // unknown: the checker says so, explainCond suggests
		case kind == answers.Number:
			r.num = func(v *Vars) float64 { return number(v.env.Fields[name]) }
		default:
			r.text = func(v *Vars) string { return v.env.Fields[name] }
		}
	}
	p.patchRead(node, n, r)
}

// member rewrites now.weekday, now.hour and now.minute into reads of the
// clock; another member of now is left to the checker (no such field).
func (p *condPatch) member(node *ast.Node, n *ast.MemberNode) {
	r := p.reads[n.Node]
	prop, ok := n.Property.(*ast.StringNode)
	if r == nil || !r.clock || !ok || n.Method {
		return
	}
	c := &read{name: VarNow + "." + prop.Value}
	switch prop.Value {
	case "weekday":
		c.text = func(v *Vars) string { return weekdays[v.now().Weekday()] }
	case "hour":
		c.num, c.whole = func(v *Vars) float64 { return float64(v.now().Hour()) }, true
	case "minute":
		c.num, c.whole = func(v *Vars) float64 { return float64(v.now().Minute()) }, true
	default:
		return
	}
	p.patchRead(node, n, c)
}

// compare rewrites a read compared with a literal (total >= 5000, city ==
// "Москва") or looked for in a list of literals (now.weekday in ["sat",
// "sun"]) into one function that reads and compares in Go, and reports a
// list of the other type (a number among texts is an error at load, as it
// is with ==). Anything else is left to expr.
func (p *condPatch) compare(node *ast.Node, n *ast.BinaryNode) {
	r := p.reads[n.Left]
	if r == nil || r.clock {
		return
	}
	if n.Operator == "in" {
		p.inList(node, n, r)
		return
	}
	switch lit := n.Right.(type) {
	case *ast.StringNode:
		if r.text == nil {
			return // the checker reports the mismatch
		}
		var fn func(string, string) bool
		switch n.Operator {
		case "==":
			fn = func(a, b string) bool { return a == b }
		case "!=":
			fn = func(a, b string) bool { return a != b }
		default:
			return
		}
		get, want := r.text, lit.Value
		ast.Patch(node, callOf(n, func(e any) bool { return fn(get(e.(*Vars)), want) }))
	case *ast.IntegerNode, *ast.FloatNode:
		want, ok := numberOf(lit)
		if !ok || r.num == nil {
			return
		}
		var fn func(float64, float64) bool
		switch n.Operator {
		case "==":
			fn = func(a, b float64) bool { return a == b }
		case "!=":
			fn = func(a, b float64) bool { return a != b }
		case "<":
			fn = func(a, b float64) bool { return a < b }
		case "<=":
			fn = func(a, b float64) bool { return a <= b }
		case ">":
			fn = func(a, b float64) bool { return a > b }
		case ">=":
			fn = func(a, b float64) bool { return a >= b }
		default:
			return
		}
		get := r.num
		ast.Patch(node, callOf(n, func(e any) bool { return fn(get(e.(*Vars)), want) }))
	}
}

// numberOf is the value of a number literal.
func numberOf(n ast.Node) (float64, bool) {
	switch l := n.(type) {
	case *ast.IntegerNode:
		return float64(l.Value), true
	case *ast.FloatNode:
		return l.Value, true
	}
	return 0, false
}

// inList is compare for in: a list of literals of the read's type.
func (p *condPatch) inList(node *ast.Node, n *ast.BinaryNode, r *read) {
	list, ok := n.Right.(*ast.ArrayNode)
	if !ok || len(list.Nodes) == 0 {
		return
	}
	texts := map[string]bool{}
	var nums []float64
	for _, e := range list.Nodes {
		lit := answers.Number
		switch l := e.(type) {
		case *ast.StringNode:
			lit = answers.Text
			texts[l.Value] = true
		case *ast.IntegerNode, *ast.FloatNode:
			x, _ := numberOf(l)
			nums = append(nums, x)
		default:
			return
		}
		if lit != r.kind() {
			p.fail(e, fmt.Sprintf("%s is a %s, the list has a %s", r.name, typeWord(r.kind()), typeWord(lit)),
				`a number is looked for among numbers (now.hour in [9, 10]), a text among texts (now.weekday in ["sat", "sun"])`)
			return
		}
	}
	if get := r.text; get != nil {
		ast.Patch(node, callOf(n, func(e any) bool { return texts[get(e.(*Vars))] }))
		return
	}
	get := r.num
	ast.Patch(node, callOf(n, func(e any) bool {
		x := get(e.(*Vars))
		for _, want := range nums {
			if x == want {
				return true
			}
		}
		return false
	}))
}

func typeWord(kind string) string {
	if kind == answers.Number {
		return "number"
	}
	return "text"
}

// call rewrites set(field) and open(hours) into calls that answer them.
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
		r, ok := p.reads[a]
		if !ok {
			p.fail(n.Arguments[0], fmt.Sprintf("%s() takes a name", id.Value), fmt.Sprintf("write %s(NAME)", id.Value))
			return
		}
		name = r.name
	}
	if id.Value == FuncSet {
		if _, ok := p.fields[name]; !ok && name != ClientField {
			p.fail(n.Arguments[0], fmt.Sprintf("set(%s): no state collects %s", name, name), nameHint(name, keysOf(p.fields), "collect it with save: or set: first"))
			return
		}
		if name == ClientField {
			ast.Patch(node, callOf(n, func(e any) bool { return e.(*Vars).env.Client != "" }))
			return
		}
		ast.Patch(node, callOf(n, func(e any) bool { return e.(*Vars).env.Fields[name] != "" }))
		return
	}
	if !p.hours[name] {
		p.fail(n.Arguments[0], fmt.Sprintf("open(%q): no such hours", name), nameHint(name, keysOf(p.hours), "define it under hours:"))
		return
	}
	ast.Patch(node, callOf(n, func(e any) bool {
		v := e.(*Vars)
		return v.sc.openAt(name, v.now(), v.env.LineHours)
	}))
}

// bareNow finds a now left alone in a compiled condition.
type bareNow struct {
	reads map[ast.Node]*read
	at    ast.Node
}

// Visit implements ast.Visitor.
func (b *bareNow) Visit(node *ast.Node) {
	if r := b.reads[*node]; r != nil && r.clock && b.at == nil {
		b.at = *node
	}
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
	b := bareNow{reads: p.reads}
	root := prog.Node()
	ast.Walk(&root, &b)
	if b.at != nil {
		return nil, &condError{Off: b.at.Location().From, Msg: "now alone is not a value",
			Hint: nowHint}
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
	case strings.Contains(msg, "scenarios.Now") && !strings.Contains(msg, "has no field "):
		ce.Msg = "now alone is not a value"
		ce.Hint = nowHint
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
	case strings.Contains(msg, "has no field ") && strings.Contains(msg, "scenarios.Now"):
		ce.Msg = strings.Replace(msg, "type scenarios.Now", "now", 1)
		ce.Hint = nowHint
	case strings.Contains(msg, "has no field "):
		ce.Hint = "a field is a text or a number: it has no parts; compare it as a whole, e.g. city == \"Москва\""
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
