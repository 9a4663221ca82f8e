package bitrix24

import "strings"

// DecodeFormBody is DecodeForm(url.ParseQuery(body)) in one pass, for the
// bodies the portal posts: every pair is unescaped into one buffer, shared
// out of a single string, and put straight into the tree, without the
// url.Values in between (a portal event has about a hundred keys, each of
// them escaped: data%5BPARAMS%5D%5BMESSAGE%5D). ok is false for any body
// that either of the two would refuse, and for the shapes this pass leaves
// to them (a ';', more than MaxFormKeys separators); the caller then takes
// the two-step path, which says what is wrong. FuzzDecodeFormBody compares
// the two on random bodies.
func DecodeFormBody(body string) (tree map[string]any, ok bool) {
	text, spans, ok := unescapePairs(body)
	if !ok {
		return nil, false
	}
	root := map[string]any{}
	var parts [MaxFormDepth + 1]string
	for _, sp := range spans {
		ps, err := splitKeyInto(parts[:0], text[sp.k0:sp.k1])
		if err != nil {
			return nil, false
		}
		if insert(root, ps, text[sp.k1:sp.v1]) >= 0 {
			return nil, false // a value and a group, or given twice
		}
	}
	return root, true
}

// pairSpan is one pair of a body in the unescaped text: the key is
// text[k0:k1], the value text[k1:v1].
type pairSpan struct{ k0, k1, v1 int }

// unescapePairs unescapes a body's pairs into one string, as
// url.ParseQuery reads them (empty pairs skipped); ok is false for a bad
// escape and for the shapes DecodeFormBody leaves to the two steps (a ';',
// more than MaxFormKeys separators).
func unescapePairs(body string) (text string, spans []pairSpan, ok bool) {
	if strings.IndexByte(body, ';') >= 0 {
		return "", nil, false
	}
	pairs := strings.Count(body, "&") + 1
	if pairs > MaxFormKeys {
		return "", nil, false
	}
	// the unescaped text is never longer than the body
	buf := make([]byte, 0, len(body))
	spans = make([]pairSpan, 0, pairs)
	rest := body
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		sp := pairSpan{k0: len(buf)}
		if buf, ok = unescapeQuery(buf, key); !ok {
			return "", nil, false
		}
		sp.k1 = len(buf)
		if buf, ok = unescapeQuery(buf, value); !ok {
			return "", nil, false
		}
		sp.v1 = len(buf)
		spans = append(spans, sp)
	}
	return string(buf), spans, true
}

// unescapeQuery appends s unescaped as url.QueryUnescape does ('+' is a
// space, %XX a byte); false on a bad escape. The runs between escapes are
// copied whole (a portal body's keys are mostly %5B and %5D between short
// names).
func unescapeQuery(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] != '%' && s[j] != '+' {
			j++
		}
		dst = append(dst, s[i:j]...)
		if j == len(s) {
			break
		}
		if s[j] == '+' {
			dst = append(dst, ' ')
			i = j + 1
			continue
		}
		if j+2 >= len(s) || !isHex(s[j+1]) || !isHex(s[j+2]) {
			return dst, false
		}
		dst = append(dst, unhex(s[j+1])<<4|unhex(s[j+2]))
		i = j + 3
	}
	return dst, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
