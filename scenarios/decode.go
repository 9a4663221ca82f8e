package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many YAML nodes one file may expand to, aliases
// included, so an alias bomb is refused instead of eating memory.
const maxNodes = 100_000

// decoder walks a yaml.Node tree against known key sets, recording problems
// with positions. It never stops at the first problem.
type decoder struct {
	file     string
	problems Problems
	pos      map[string]Pos
	nodes    int
	bombed   bool
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (d *decoder) errorf(n *yaml.Node, path string, sentinel error, hint, format string, args ...any) {
	d.problems = append(d.problems, &Problem{File: d.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint, Err: sentinel})
}

func (d *decoder) warnf(n *yaml.Node, path string, sentinel error, hint, format string, args ...any) {
	d.problems = append(d.problems, &Problem{File: d.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint, Err: sentinel, Warning: true})
}

// resolve follows aliases, counting expansions against maxNodes.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 10 {
			return nil
		}
		d.count(n.Alias)
		n = n.Alias
	}
	return n
}

func (d *decoder) count(n *yaml.Node) {
	if d.bombed || n == nil {
		return
	}
	d.nodes += 1 + len(n.Content)
	if d.nodes > maxNodes {
		d.bombed = true
		d.errorf(n, "", ErrTooLarge, "remove YAML aliases (*name) that repeat large blocks", "the file expands to more than %d values", maxNodes)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map of keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping iterates the key/value pairs of a mapping node, reporting keys not
// in known. fn gets the key, the resolved value node and its path.
func (d *decoder) mapping(n *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node, p string)) bool {
	n = d.resolve(n)
	if n == nil || d.bombed {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, ErrValue, "", "expected a map of keys, got %s", kindName(n))
		return false
	}
	d.count(n)
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], d.resolve(n.Content[i+1])
		if k.Kind == yaml.AliasNode && k.Value == "<<" || k.Value == "<<" && k.Tag == "!!merge" {
			d.errorf(k, path, ErrValue, "write the keys out instead of merging with <<", "YAML merge keys are not supported")
			continue
		}
		key := k.Value
		p := key
		if path != "" {
			p = path + "." + key
		}
		if v == nil {
			d.errorf(k, p, ErrValue, "", "alias nesting too deep")
			continue
		}
		if known != nil && !contains(known, key) {
			hint := didYouMean(key, known)
			if hint == "" {
				hint = "known keys here: " + strings.Join(known, ", ")
			}
			d.errorf(k, p, ErrUnknownKey, hint, "unknown key %q", key)
			continue
		}
		if seen[key] {
			d.errorf(k, p, ErrValue, "remove one of them", "key %q appears twice", key)
			continue
		}
		seen[key] = true
		d.pos[p] = posOf(v)
		fn(key, k, v, p)
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// text decodes a scalar as text; numbers and booleans are taken as written.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, ErrValue, "write the text after the colon, in quotes if it contains \": \" or starts with a special character", "expected text, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

// name decodes a state or field name.
func (d *decoder) name(n *yaml.Node, path, what string) (string, bool) {
	s, ok := d.text(n, path)
	if !ok {
		return "", false
	}
	if !validName(s) {
		d.errorf(n, path, ErrValue, "use letters, digits, _ and -, e.g. ask_email", "%q is not a valid %s name", s, what)
		return "", false
	}
	return s, true
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 127 && isLetter(r)) {
			return false
		}
	}
	return true
}

func (d *decoder) integer(n *yaml.Node, path string, min int) (int, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!str") {
		if v, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			if v < min {
				d.errorf(n, path, ErrValue, "", "must be %d or more, got %d", min, v)
				return 0, false
			}
			return v, true
		}
	}
	d.errorf(n, path, ErrValue, "", "expected a whole number, got %s", kindName(n))
	return 0, false
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		v, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return v, true
		}
	}
	d.errorf(n, path, ErrValue, "write true or false", "expected true or false, got %s", kindName(n))
	return false, false
}

// texts decodes a list of texts; a single text counts as a list of one.
func (d *decoder) texts(n *yaml.Node, path string) ([]string, []*yaml.Node, bool) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{n.Value}, []*yaml.Node{n}, true
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, ErrValue, "write a list like [operator, human]", "expected a list of words, got %s", kindName(n))
		return nil, nil, false
	}
	d.count(n)
	var out []string
	var nodes []*yaml.Node
	ok := true
	for i, item := range n.Content {
		item = d.resolve(item)
		if item == nil {
			return nil, nil, false
		}
		s, good := d.text(item, fmt.Sprintf("%s[%d]", path, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, item)
	}
	return out, nodes, ok
}

// sequence iterates the items of a list.
func (d *decoder) sequence(n *yaml.Node, path string, fn func(i int, item *yaml.Node, p string)) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, ErrValue, "", "expected a list (items start with \"- \"), got %s", kindName(n))
		return
	}
	d.count(n)
	for i, item := range n.Content {
		item = d.resolve(item)
		if item == nil || d.bombed {
			return
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = posOf(item)
		fn(i, item, p)
	}
}
