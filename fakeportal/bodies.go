package fakeportal

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"

	"github.com/olbot/olbot/bitrix24"
)

// An event body is a documented fixture with some structure changed (the
// bot's entry re-keyed by the fake's bot id, the refresh tokens taken out:
// its shape) and then values put into the keys the fixture has (setPresent,
// in a list of assigns). The load tool sends one body per event, and
// building each from a copy of the fixture's tree cost about half of the
// tool's CPU on the form route, on the same cores as the server it
// measures; so SayBody and JoinBody encode each shape once, with a
// placeholder in every key an assign sets, and then only fill in the
// values. The tree path (Say, Join) is the same shape and assigns through
// setPresent; TestBodyTemplates checks that both give the same bytes.

// assign is one setPresent: values into the group at path (nil: the
// root), only into keys the group has.
type assign struct {
	path   []string
	values map[string]any
}

// applyAssigns puts the assigns' values into tree, as setPresent does; an
// assign whose group the fixture lacks is skipped.
func applyAssigns(tree map[string]any, as []assign) {
	for _, a := range as {
		if g, ok := groupAt(tree, a.path); ok {
			setPresent(g, a.values)
		}
	}
}

// treeOf is a shape's tree with the assigns' values: the body as the
// portal's fixture gives it, without a template.
func treeOf(shape func() map[string]any, as []assign) map[string]any {
	tree := shape()
	applyAssigns(tree, as)
	return tree
}

// groupAt is group without the panic: false when tree has no such group.
func groupAt(tree map[string]any, path []string) (map[string]any, bool) {
	m := tree
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

// bodyTemplate is a shape's encoded body with a hole for each value an
// assign puts into it: parts[0], hole 0, parts[1], … parts[len(holes)].
type bodyTemplate struct {
	parts [][]byte
	holes []hole
	size  int // of the parts
}

// hole names the value that fills it: the key of one assign.
type hole struct {
	assign int
	key    string
}

// The placeholder of hole n: letters and digits only, so that query
// escaping leaves it as it is, and found back by its prefix.
const holePrefix = "zq0fakeportalhole"

func holeName(n int) string { return fmt.Sprintf("%s%05dq", holePrefix, n) }

// newBodyTemplate encodes shape (a tree the caller owns) with placeholders
// where the assigns put values; nil when the shape cannot be templated
// (a value that is not a string, or the fixture's own text holds the
// prefix), and the caller builds the body from the tree instead.
func newBodyTemplate(shape map[string]any, as []assign) *bodyTemplate {
	var refs []hole
	for i, a := range as {
		g, ok := groupAt(shape, a.path)
		if !ok {
			continue
		}
		for k, v := range a.values {
			if _, present := g[k]; !present {
				continue
			}
			if _, isString := v.(string); !isString {
				return nil
			}
			// a later assign of the same key overwrites this hole's
			// placeholder, and its own is the one found below
			g[k] = holeName(len(refs))
			refs = append(refs, hole{assign: i, key: k})
		}
	}
	enc := bitrix24.AppendEncodedForm(nil, shape)
	t := &bodyTemplate{}
	used := make([]bool, len(refs))
	for {
		i := bytes.Index(enc, []byte(holePrefix))
		if i < 0 {
			break
		}
		rest := enc[i+len(holePrefix):]
		if len(rest) < 6 || rest[5] != 'q' {
			return nil
		}
		n, err := strconv.Atoi(string(rest[:5]))
		if err != nil || n >= len(refs) || used[n] {
			return nil
		}
		used[n] = true
		t.parts = append(t.parts, enc[:i])
		t.holes = append(t.holes, refs[n])
		enc = rest[6:]
	}
	t.parts = append(t.parts, enc)
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// fill appends the body with the assigns' values in its holes; false when
// an assign lacks a value the template has a hole for.
func (t *bodyTemplate) fill(dst []byte, as []assign) ([]byte, bool) {
	// room for the parts and values as long again (an event's values are
	// shorter than its keys); a long text grows it once more
	dst = slices.Grow(dst, 2*t.size)
	for i, h := range t.holes {
		dst = append(dst, t.parts[i]...)
		if h.assign >= len(as) {
			return dst, false
		}
		v, ok := as[h.assign].values[h.key].(string)
		if !ok {
			return dst, false
		}
		dst = bitrix24.AppendQueryEscape(dst, v)
	}
	return append(dst, t.parts[len(t.parts)-1]...), true
}

// bodyLocked is the encoded body of the shape that key names (shape builds
// it, a fresh tree) with the assigns' values: from the shape's template,
// made on first use. The caller holds p.mu.
func (p *Portal) bodyLocked(key string, shape func() map[string]any, as []assign) []byte {
	t, ok := p.bodies[key]
	if !ok {
		t = newBodyTemplate(shape(), as)
		if p.bodies == nil {
			p.bodies = map[string]*bodyTemplate{}
		}
		p.bodies[key] = t
	}
	if t != nil {
		if b, ok := t.fill(nil, as); ok {
			return b
		}
	}
	return bitrix24.AppendEncodedForm(nil, treeOf(shape, as))
}
