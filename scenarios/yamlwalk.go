package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds how many values YAML aliases may add to a file when
// expanded, so an alias bomb is refused instead of eating time and memory.
const maxNodes = 100_000

// decoder walks a yaml.Node tree against known key sets, recording problems
// with positions. It never stops at the first problem.
type decoder struct {
	file     string
	problems Problems
	nodes    int
	maxNodes int // values the walk may visit, aliases expanded; see aliasBomb
	bombed   bool
	claimed  map[*Problem]bool // unknown-key problems that already explain a missing key
	src      []string          // the source lines, for positions inside values
	idx      problemIndex
	ops      int // comparisons spent on "did you mean" hints; see didYouMean
	// loose, when set, collects the texts of rejected values and of values
	// under unknown keys: names the file may mean (see stateDef.loose).
	loose *[]string
	// defaultLang is the first of settings.languages, read before decoding,
	// so that a text map gives its default language's text at once.
	defaultLang string
	langMaps    []langMap
}

// problemIndex answers the questions the checks ask about the problems found
// so far without scanning them all each time, which would be quadratic in a
// large file with many problems. It is brought up to date on each question
// and is valid until the problems are sorted.
type problemIndex struct {
	n       int                   // problems indexed so far
	unknown map[string][]*Problem // unknown-key problems by the path of their mapping
}

func (d *decoder) index() *problemIndex {
	x := &d.idx
	if x.unknown == nil {
		x.unknown = map[string][]*Problem{}
	}
	for ; x.n < len(d.problems); x.n++ {
		p := d.problems[x.n]
		if !p.Warning && p.Err == ErrUnknownKey {
			parent, key := "", p.Path
			if i := strings.LastIndexByte(p.Path, '.'); i >= 0 {
				parent, key = p.Path[:i], p.Path[i+1:]
			}
			if key != "" && !strings.Contains(key, "[") {
				x.unknown[parent] = append(x.unknown[parent], p)
			}
		}
	}
	return x
}

func posOf(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (d *decoder) errorf(n *yaml.Node, path string, sentinel error, hint, format string, args ...any) {
	d.problems = append(d.problems, &Problem{File: d.file, Pos: posOf(n), Path: path, Msg: fmt.Sprintf(format, args...), Hint: hint, Err: sentinel})
	d.collect(n)
}

// collect adds the texts under n to d.loose, a few hundred at most.
func (d *decoder) collect(n *yaml.Node) {
	if d.loose == nil || n == nil || len(*d.loose) > 256 {
		return
	}
	if n.Kind == yaml.ScalarNode {
		*d.loose = append(*d.loose, n.Value)
		return
	}
	if n.Kind == yaml.AliasNode {
		return // its anchor's texts are collected where it is written
	}
	for _, c := range n.Content {
		d.collect(c)
	}
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
	if d.nodes > d.maxNodes {
		d.bombed = true
		d.errorf(n, "", ErrTooLarge, "remove YAML aliases (*name) that repeat large blocks", "the file expands to more than %d values", maxNodes)
	}
}

// missing reports that the mapping at path lacks a required key (one of
// keys). When the mapping has an unknown key, that key was most likely meant
// ("go:" for "goto:"), so its problem gets the hint instead of a second error.
// Any unknown key counts in small mappings (a menu item, a route); in large
// ones (strict) only a key whose "did you mean" names one of keys.
func (d *decoder) missing(n *yaml.Node, path string, keys []string, strict bool, hint, format string, args ...any) {
	var typo *Problem
	meant := ""
	for _, p := range d.index().unknown[path] {
		rest, ok := childKey(p.Path, path)
		if !ok || d.claimed[p] {
			continue
		}
		for _, k := range keys {
			if strings.HasPrefix(p.Hint, fmt.Sprintf("did you mean %q?", k)) && meant == "" {
				typo, meant = p, k
			}
		}
		if typo == nil && !strict {
			typo, meant = p, d.suggest(rest, keys)
		}
	}
	if typo == nil {
		d.errorf(n, path, ErrMissing, hint, format, args...)
		return
	}
	if d.claimed == nil {
		d.claimed = map[*Problem]bool{}
	}
	d.claimed[typo] = true
	if meant == "" {
		meant = keys[0]
	}
	typo.Hint = fmt.Sprintf("did you mean %q? %s", meant, fmt.Sprintf(format, args...))
}

// childKey returns the key of path p when p names a key directly inside
// the mapping at path ("" for the top level).
func childKey(p, path string) (string, bool) {
	if path != "" {
		var ok bool
		if p, ok = strings.CutPrefix(p, path+"."); !ok {
			return "", false
		}
	}
	return p, p != "" && !strings.ContainsAny(p, ".[")
}

// suggestBudget bounds the candidates compared for "did you mean" hints in
// one file: a file with thousands of bad references to thousands of states
// gets its first hints, not a quadratic wait.
const suggestBudget = 50_000

// suggest is suggest within the file's budget.
func (d *decoder) suggest(s string, candidates []string) string {
	if d.ops += len(candidates); d.ops > suggestBudget {
		return ""
	}
	return suggest(s, candidates)
}

// didYouMean is didYouMean within the file's budget.
func (d *decoder) didYouMean(s string, candidates []string) string {
	if m := d.suggest(s, candidates); m != "" {
		return fmt.Sprintf("did you mean %q?", m)
	}
	return ""
}

// aliasBomb refuses a document whose YAML aliases would add more than
// maxNodes values to it when expanded ("billion laughs"), before anything
// walks it; a large file without aliases is not refused. Sizes are memoized
// per node, so the check is linear in the file. It returns the number of
// values the file expands to at most, the limit for the decoder's walk.
func aliasBomb(file string, root *yaml.Node) (*Problem, int) {
	own, aliases := 0, false // the nodes written in the file, aliases not followed
	var count func(n *yaml.Node)
	count = func(n *yaml.Node) {
		own++
		aliases = aliases || n.Kind == yaml.AliasNode
		for _, c := range n.Content {
			count(c)
		}
	}
	count(root)
	limit := own + maxNodes
	if !aliases {
		return nil, limit
	}
	size := map[*yaml.Node]int{}
	var bad *yaml.Node
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n == nil || bad != nil {
			return 0
		}
		if s, ok := size[n]; ok {
			return s
		}
		size[n] = limit + 1 // an alias to a node being measured would loop
		total := 1
		if n.Kind == yaml.AliasNode {
			total = walk(n.Alias)
		}
		for _, c := range n.Content {
			total += walk(c)
			if total > limit {
				break
			}
		}
		if total > limit && bad == nil {
			bad = n
		}
		size[n] = min(total, limit+1)
		return size[n]
	}
	walk(root)
	if bad == nil {
		return nil, limit
	}
	return &Problem{File: file, Pos: posOf(bad), Err: ErrTooLarge,
		Msg:  fmt.Sprintf("YAML aliases (*name) make this value expand to more than %d values", maxNodes),
		Hint: "an alias repeats the block its anchor (&name) marks; write the values out instead of nesting aliases"}, limit
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
	return d.mappingIn(n, path, known, nil, fn)
}

// mappingIn is mapping that records the map's position and unknown keys in
// sc instead of reporting them, when sc is not nil.
func (d *decoder) mappingIn(n *yaml.Node, path string, known []string, sc *scope, fn func(key string, k, v *yaml.Node, p string)) bool {
	n = d.resolve(n)
	if n == nil || d.bombed {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, ErrValue, "put its keys on the lines below it, each indented by two more spaces", "expected a map of keys, got %s", kindName(n))
		return false
	}
	d.count(n)
	if sc != nil {
		sc.At, sc.Path = posOf(n), path
	}
	seen := make(map[string]int, len(n.Content)/2) // key -> its line
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
			d.errorf(k, p, ErrValue, "write the value out instead of an alias (*name) to another alias", "alias nesting too deep")
			continue
		}
		if known != nil && !contains(known, key) {
			hint := d.didYouMean(key, known)
			if hint == "" {
				hint = "known keys here: " + strings.Join(known, ", ")
			}
			if sc != nil {
				sc.unknown = append(sc.unknown, unknownKey{Key: key, At: posOf(k), Hint: hint})
				d.collect(v)
				continue
			}
			d.errorf(k, p, ErrUnknownKey, hint, "unknown key %q", key)
			continue
		}
		if line, ok := seen[key]; ok {
			d.errorf(k, p, ErrValue, "remove one of them, or rename one", "key %q appears twice (first on line %d)", key, line)
			continue
		}
		seen[key] = k.Line
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
		key := path[strings.LastIndexAny(path, ".]")+1:]
		if key == "" {
			key = "say"
		}
		hint := fmt.Sprintf("write the text right after the colon, e.g. %s: \"…\"", key)
		if n.Kind == yaml.SequenceNode {
			hint = "write one text, not a [list]; put a text that starts with [ in quotes"
		}
		d.errorf(n, path, ErrValue, hint, "expected text, got %s", kindName(n))
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
				d.errorf(n, path, ErrValue, fmt.Sprintf("write a whole number of %d or more", min), "must be %d or more, got %d", min, v)
				return 0, false
			}
			return v, true
		}
	}
	hint := fmt.Sprintf("write a whole number in digits, e.g. %d", max(min, 2))
	if strings.HasPrefix(path, "lines") {
		hint = "write the Open Line ids as numbers, e.g. lines: [1, 3]"
	}
	d.errorf(n, path, ErrValue, hint, "expected a whole number, got %s", kindName(n))
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
		d.errorf(n, path, ErrValue, "write each item on a line of its own starting with \"- \", or as [first, second]", "expected a list, got %s", kindName(n))
		return
	}
	d.count(n)
	for i, item := range n.Content {
		item = d.resolve(item)
		if item == nil || d.bombed {
			return
		}
		fn(i, item, fmt.Sprintf("%s[%d]", path, i))
	}
}
