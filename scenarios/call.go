package scenarios

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits of a call: state.
const (
	DefaultCallTimeout = 5 * time.Second
	MaxCallTimeout     = 30 * time.Second
	// MaxSavePath bounds a save: path: its length and its number of steps.
	MaxSavePath = 256
)

// Methods of a call: state.
const (
	MethodGet  = "GET"
	MethodPost = "POST"
)

// Call is a state's lookup in one of the team's own systems: the endpoint is
// named here and configured in the server (with its secrets), never in the
// scenario file.
type Call struct {
	Endpoint string
	Method   string    // GET or POST
	Path     *Template // appended to the endpoint's URL; inserted fields are URL-escaped; nil = ""
	Body     *Body     // POST only; nil = no body
	Save     []CallSave
	Timeout  time.Duration
	OnError  string // "" = hand the dialog to an operator
}

// CallSave is one field of a call's save:, filled from a path in the JSON answer.
type CallSave struct {
	Field string
	Path  SavePath
}

// RenderPath is the call's path with fields inserted URL-escaped (a client
// cannot add a "/", "?" or "#" of their own).
func (c *Call) RenderPath(lookup func(string) (string, bool), missing func(string)) string {
	if c.Path == nil {
		return ""
	}
	return c.Path.Render(lookup, url.PathEscape, missing)
}

// RenderBody is the call's JSON body with fields inserted as JSON strings;
// nil when the call has no body.
func (c *Call) RenderBody(lookup func(string) (string, bool), missing func(string)) []byte {
	if c.Body == nil {
		return nil
	}
	b, _ := json.Marshal(c.Body.value(lookup, missing)) // only maps, lists, strings and JSON literals
	return b
}

// Body is a JSON body template: what the file wrote, with every string a
// template.
type Body struct {
	text  *Template       // a string
	lit   json.RawMessage // a number, true, false or null
	list  []*Body         // a list
	keys  []string        // a map, in file order
	vals  []*Body
	isMap bool
}

// Fields are the template fields the body uses, in order.
func (b *Body) Fields() []*Template {
	var out []*Template
	var walk func(*Body)
	walk = func(b *Body) {
		switch {
		case b.text != nil:
			out = append(out, b.text)
		case b.isMap:
			for _, v := range b.vals {
				walk(v)
			}
		default:
			for _, v := range b.list {
				walk(v)
			}
		}
	}
	walk(b)
	return out
}

func (b *Body) value(lookup func(string) (string, bool), missing func(string)) any {
	switch {
	case b.text != nil:
		return b.text.Render(lookup, nil, missing)
	case b.lit != nil:
		return b.lit
	case b.isMap:
		m := make(orderedMap, 0, len(b.keys))
		for i, k := range b.keys {
			m = append(m, kv{k, b.vals[i].value(lookup, missing)})
		}
		return m
	}
	l := make([]any, len(b.list))
	for i, v := range b.list {
		l[i] = v.value(lookup, missing)
	}
	return l
}

type kv struct {
	k string
	v any
}

// orderedMap keeps a body's keys in file order, so the endpoint sees what
// the author wrote.
type orderedMap []kv

func (m orderedMap) MarshalJSON() ([]byte, error) {
	out := []byte{'{'}
	for i, e := range m {
		if i > 0 {
			out = append(out, ',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		out = append(append(append(out, k...), ':'), v...)
	}
	return append(out, '}'), nil
}

// SavePath is a path into a JSON answer: keys and list indexes separated by
// dots, e.g. delivery.eta or items.0.name.
type SavePath []string

// String writes the path as the file does.
func (p SavePath) String() string { return strings.Join(p, ".") }

// ParseSavePath parses a save: path. A step is a key of letters, digits,
// _ and - (a number is also a list index); steps are separated by dots.
func ParseSavePath(s string) (SavePath, error) {
	if s == "" {
		return nil, fmt.Errorf("the path is empty")
	}
	if len(s) > MaxSavePath {
		return nil, fmt.Errorf("the path is longer than %d characters", MaxSavePath)
	}
	parts := strings.Split(s, ".")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("step %d of %q is empty", i+1, s)
		}
		for _, r := range p {
			if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127 && isLetter(r)) {
				return nil, fmt.Errorf("%q in %q: a path step is a key of letters, digits, _ and -, or a list index", r, s)
			}
		}
	}
	return SavePath(parts), nil
}

// Lookup finds the path in a decoded JSON answer (decoded with UseNumber)
// and returns the value as a field's text: a string as is, a number as
// written, true/false, and a map or list as compact JSON. ok is false
// when the path is not there or leads to null.
func (p SavePath) Lookup(doc any) (string, bool) {
	cur := doc
	for _, step := range p {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[step]
			if !ok {
				return "", false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(v) || strconv.Itoa(i) != step {
				return "", false
			}
			cur = v[i]
		default:
			return "", false
		}
	}
	switch v := cur.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// callDef is a state's call: and its companions as the file wrote them.
type callDef struct {
	Endpoint val[string]
	Path     val[*Template]
	Method   val[string]
	Body     val[*Body]
	Save     val[[]callSaveDef] // save: as a map
	Timeout  val[time.Duration]
	OnError  val[string]
}

type callSaveDef struct {
	Field string
	At    Pos // the field's key
	Path  val[SavePath]
}

func (d *decoder) method(v *yaml.Node, p string) val[string] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	if ok {
		up := strings.ToUpper(strings.TrimSpace(s))
		if up != MethodGet && up != MethodPost {
			d.errorf(v, p, ErrValue, "write method: GET (the default, to read) or method: POST (to send a body)", "method %q: a call is GET or POST", s)
			s = ""
		} else {
			s = up
		}
	}
	return mark(d, v, n, s)
}

func (d *decoder) callTimeout(v *yaml.Node, p string) val[time.Duration] {
	n := len(d.problems)
	var t time.Duration
	s, ok := d.text(v, p)
	if ok {
		x, err := time.ParseDuration(strings.TrimSpace(s))
		switch {
		case err != nil:
			d.errorf(v, p, ErrDuration, "write a duration such as 5s or 1500ms", "%q is not a duration", s)
		case x <= 0 || x > MaxCallTimeout:
			d.errorf(v, p, ErrDuration, fmt.Sprintf("write a duration above 0 and at most %s, e.g. 5s", MaxCallTimeout), "timeout %s: a call waits more than 0 and at most %s", x, MaxCallTimeout)
		default:
			t = x
		}
	}
	return mark(d, v, n, t)
}

// callSave decodes save: as a map of field: path.
func (d *decoder) callSave(v *yaml.Node, p string) val[[]callSaveDef] {
	n := len(d.problems)
	var out []callSaveDef
	d.mapping(v, p, nil, func(key string, k, v *yaml.Node, p string) {
		sd := callSaveDef{Field: key, At: posOf(k)}
		switch {
		case !validName(key):
			d.errorf(k, p, ErrValue, "use letters, digits, _ and -, e.g. status", "%q is not a valid field name", key)
		case key == ClientField:
			d.errorf(k, p, ErrValue, "pick another field name, e.g. name", "%q is reserved for the client's name from the channel", key)
		}
		pn := len(d.problems)
		s, ok := d.text(v, p)
		var path SavePath
		if ok {
			var err error
			if path, err = ParseSavePath(strings.TrimSpace(s)); err != nil {
				d.errorf(v, p, ErrValue, "write a path into the JSON answer: keys and list indexes separated by dots, e.g. delivery.eta or items.0.name", "save path: %v", err)
			}
		}
		sd.Path = mark(d, v, pn, path)
		out = append(out, sd)
	})
	return mark(d, v, n, out)
}

// body decodes a POST body: any YAML value, each string a template.
func (d *decoder) body(v *yaml.Node, p string) val[*Body] {
	n := len(d.problems)
	b := d.bodyNode(v, p, 0)
	return mark(d, v, n, b)
}

func (d *decoder) bodyNode(v *yaml.Node, p string, depth int) *Body {
	v = d.resolve(v)
	if v == nil || d.bombed {
		return nil
	}
	if depth > 32 {
		d.errorf(v, p, ErrValue, "send a flatter body", "the body is nested more than 32 levels deep")
		return nil
	}
	d.count(v)
	switch v.Kind {
	case yaml.MappingNode:
		b := &Body{isMap: true}
		d.mapping(v, p, nil, func(key string, k, v *yaml.Node, p string) {
			if c := d.bodyNode(v, p, depth+1); c != nil {
				b.keys = append(b.keys, key)
				b.vals = append(b.vals, c)
			}
		})
		return b
	case yaml.SequenceNode:
		b := &Body{list: []*Body{}}
		for i, item := range v.Content {
			if c := d.bodyNode(item, fmt.Sprintf("%s[%d]", p, i), depth+1); c != nil {
				b.list = append(b.list, c)
			}
		}
		return b
	case yaml.ScalarNode:
		switch v.Tag {
		case "!!null":
			return &Body{lit: json.RawMessage("null")}
		case "!!bool":
			if b, ok := d.boolean(v, p); ok {
				return &Body{lit: json.RawMessage(strconv.FormatBool(b))}
			}
			return nil
		case "!!int", "!!float":
			if f, err := strconv.ParseFloat(strings.ReplaceAll(v.Value, "_", ""), 64); err == nil {
				b, _ := json.Marshal(f)
				return &Body{lit: b}
			}
		}
		t := d.plainTemplate(v, p)
		if t.V == nil {
			return nil
		}
		return &Body{text: t.V}
	}
	d.errorf(v, p, ErrValue, "write a map, a list or a text", "expected a JSON value, got %s", kindName(v))
	return nil
}

// compileCall is the runtime call of a state that has one.
func compileCall(c *callDef) *Call {
	if !c.Endpoint.ok() {
		return nil
	}
	out := &Call{Endpoint: c.Endpoint.V, Method: c.Method.V, Path: c.Path.V, Body: c.Body.V, Timeout: c.Timeout.V, OnError: c.OnError.V}
	if out.Method == "" {
		out.Method = MethodGet
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultCallTimeout
	}
	for _, s := range c.Save.V {
		out.Save = append(out.Save, CallSave{Field: s.Field, Path: s.Path.V})
	}
	return out
}
