package bitrix24

// Every outbox call that goes out in a batch is rendered by BatchCommand:
// its stored JSON params decoded into a generic tree (encoding/json, with
// reflection), flattened to PHP form keys and encoded. batchQueryFast does
// the same in one pass over the JSON for the params the outbox stores
// (json.Marshal's output: no escapes in keys, strings mostly without them),
// and gives up on anything it does not handle (an escape, a duplicate key,
// two paths that flatten to one form key, invalid JSON), which then takes
// the generic path. FuzzBatchCommand checks that where it answers, the
// answer is the generic path's.

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// formPair is one flattened form key and its value.
type formPair struct{ key, value string }

// batchQueryFast is BatchCommand's query of raw (a JSON object) for method,
// and whether it could render it.
func (c *Client) batchQueryFast(method string, raw []byte) (string, bool) {
	p := flatParser{b: raw}
	p.space()
	if !p.byte('{') {
		return "", false
	}
	var top []string // the object's keys, for the duplicate check
	var pairs []formPair
	p.space()
	if !p.byte('}') {
		for {
			p.space()
			k, ok := p.plain()
			if !ok || slices.Contains(top, k) {
				return "", false
			}
			top = append(top, k)
			p.space()
			if !p.byte(':') {
				return "", false
			}
			p.space()
			start := p.i
			switch {
			case strings.EqualFold(k, "auth"):
				ok = p.skip()
			case jsonValued[strings.ToUpper(k)] && p.i < len(p.b) && (p.b[p.i] == '{' || p.b[p.i] == '['):
				// as a JSON string, as BatchCommand sends it
				if ok = p.skip(); ok {
					pairs = append(pairs, formPair{k, string(p.b[start:p.i])})
				}
			default:
				pairs, ok = p.flatten(pairs, k, 0)
			}
			if !ok {
				return "", false
			}
			p.space()
			if p.byte(',') {
				continue
			}
			if p.byte('}') {
				break
			}
			return "", false
		}
	}
	p.space()
	if p.i != len(p.b) {
		return "", false
	}
	if c.webhook && c.clientID != "" && needsClientID(method) && !slices.Contains(top, "CLIENT_ID") {
		if !utf8.ValidString(c.clientID) {
			return "", false
		}
		pairs = append(pairs, formPair{"CLIENT_ID", c.clientID})
	}
	slices.SortFunc(pairs, func(a, b formPair) int { return strings.Compare(a.key, b.key) })
	n := 0
	for _, pr := range pairs {
		n += len(pr.key) + len(pr.value) + 2
	}
	q := make([]byte, 0, n+n/4)
	for i, pr := range pairs {
		if i > 0 {
			if pairs[i-1].key == pr.key {
				return "", false // the generic path keeps one of them, at random
			}
			q = append(q, '&')
		}
		q = AppendQueryEscape(q, pr.key)
		q = append(q, '=')
		q = AppendQueryEscape(q, pr.value)
	}
	return string(q), true
}

// AppendQueryEscape appends url.QueryEscape(s) to dst: letters, digits and
// -_.~ as they are, space as +, every other byte as %XX.
func AppendQueryEscape(dst []byte, s string) []byte {
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return dst
}

// flatParser reads JSON from b at i.
type flatParser struct {
	b []byte
	i int
	// skipping: check the value, keep no pairs
	skipping bool
}

// maxFlatDepth bounds the nesting the fast path follows; deeper params
// take the generic path.
const maxFlatDepth = 32

func (p *flatParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *flatParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// plain consumes a string without escapes or control characters, valid
// UTF-8, and returns its value.
func (p *flatParser) plain() (string, bool) {
	start := p.i + 1
	if !p.plainSpan() {
		return "", false
	}
	return string(p.b[start : p.i-1]), true
}

// plainSpan is plain without making the string.
func (p *flatParser) plainSpan() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	start := p.i + 1
	for i := start; i < len(p.b); i++ {
		switch b := p.b[i]; {
		case b == '"':
			if !utf8.Valid(p.b[start:i]) {
				return false
			}
			p.i = i + 1
			return true
		case b == '\\' || b < 0x20:
			return false
		}
	}
	return false
}

// number consumes a JSON number.
func (p *flatParser) number() bool {
	p.byte('-')
	d := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == d || p.b[d] == '0' && p.i-d > 1 {
		return false
	}
	if p.byte('.') {
		f := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == f {
			return false
		}
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		e := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		if p.i == e {
			return false
		}
	}
	return true
}

// lit consumes s.
func (p *flatParser) lit(s string) bool {
	if bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		p.i += len(s)
		return true
	}
	return false
}

// flatten consumes one value and appends its form pairs under key, as
// encodeValue flattens it decoded: strings as they are, numbers as
// written, true 1, false 0, null and empty groups nothing, objects
// key[name], arrays key[0], key[1], ….
func (p *flatParser) flatten(pairs []formPair, key string, depth int) ([]formPair, bool) {
	if p.i >= len(p.b) || depth > maxFlatDepth {
		return pairs, false
	}
	switch p.b[p.i] {
	case '"':
		if p.skipping {
			return pairs, p.plainSpan()
		}
		s, ok := p.plain()
		return p.pair(pairs, key, s), ok
	case 't':
		return p.pair(pairs, key, "1"), p.lit("true")
	case 'f':
		return p.pair(pairs, key, "0"), p.lit("false")
	case 'n':
		return pairs, p.lit("null")
	case '{':
		p.i++
		var names []string
		p.space()
		if p.byte('}') {
			return pairs, true
		}
		for {
			p.space()
			var k string
			if p.skipping {
				if !p.plainSpan() { // a duplicate is no matter in a value sent as it is
					return pairs, false
				}
			} else {
				var ok bool
				if k, ok = p.plain(); !ok || slices.Contains(names, k) {
					return pairs, false
				}
				names = append(names, k)
			}
			p.space()
			if !p.byte(':') {
				return pairs, false
			}
			p.space()
			var ok bool
			if pairs, ok = p.flatten(pairs, p.sub(key, k), depth+1); !ok {
				return pairs, false
			}
			p.space()
			if p.byte(',') {
				continue
			}
			return pairs, p.byte('}')
		}
	case '[':
		p.i++
		p.space()
		if p.byte(']') {
			return pairs, true
		}
		for n := 0; ; n++ {
			p.space()
			var ok bool
			sub := ""
			if !p.skipping {
				sub = key + "[" + strconv.Itoa(n) + "]"
			}
			if pairs, ok = p.flatten(pairs, sub, depth+1); !ok {
				return pairs, false
			}
			p.space()
			if p.byte(',') {
				continue
			}
			return pairs, p.byte(']')
		}
	default:
		start := p.i
		if !p.number() {
			return pairs, false
		}
		if p.skipping {
			return pairs, true
		}
		return p.pair(pairs, key, string(p.b[start:p.i])), true
	}
}

// pair appends key=value unless skipping.
func (p *flatParser) pair(pairs []formPair, key, value string) []formPair {
	if p.skipping {
		return pairs
	}
	return append(pairs, formPair{key, value})
}

// sub is key[name], or nothing when skipping.
func (p *flatParser) sub(key, name string) string {
	if p.skipping {
		return ""
	}
	return key + "[" + name + "]"
}

// skip consumes one value, checking it is JSON the fast path reads.
func (p *flatParser) skip() bool {
	p.skipping = true
	_, ok := p.flatten(nil, "", 0)
	p.skipping = false
	return ok
}
