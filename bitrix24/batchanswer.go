package bitrix24

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// batchParts is a batch answer's result split into its five parts, each a
// sub-call's raw value by its key (c0, c1, …): what the portal sends as
// {"result":{…},"result_error":{…},"result_total":{…},"result_next":{…},
// "result_time":{…}} (settings/how-to-call-rest-api/batch.md).
type batchParts struct {
	results, errs, totals, nexts, times map[string]json.RawMessage
}

// splitBatchAnswer splits the result of a batch answer. It takes the
// answer's common shape in one pass over the bytes (splitBatchFast) and
// any other through encoding/json, which decides what is an error;
// FuzzSplitBatchAnswer holds the two to the same outcome.
func splitBatchAnswer(raw json.RawMessage) (batchParts, error) {
	if p, ok := splitBatchFast(raw); ok {
		return p, nil
	}
	return splitBatchSlow(raw)
}

// splitBatchSlow is splitBatchAnswer through encoding/json: the result as a
// struct of its parts (keys matched case-insensitively, the last of a
// repeated key kept), each part as PHP sends it (phpObject).
func splitBatchSlow(raw json.RawMessage) (batchParts, error) {
	var ans struct {
		Result json.RawMessage `json:"result"`
		Errors json.RawMessage `json:"result_error"`
		Total  json.RawMessage `json:"result_total"`
		Next   json.RawMessage `json:"result_next"`
		Time   json.RawMessage `json:"result_time"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return batchParts{}, err
	}
	return batchParts{
		results: phpObject(ans.Result), errs: phpObject(ans.Errors),
		totals: phpObject(ans.Total), nexts: phpObject(ans.Next), times: phpObject(ans.Time),
	}, nil
}

// splitBatchFast is splitBatchAnswer without reflection or a second scan,
// for valid JSON (raw comes from the envelope's json.Unmarshal) whose keys
// have no escapes: the values are slices of raw. It reports false, and the
// slow path decides, for anything else: a result that is not an object, a
// key with an escape, a result key past ASCII (encoding/json folds the
// case of field names by Unicode rules), or bytes it cannot walk.
func splitBatchFast(raw json.RawMessage) (batchParts, bool) {
	var parts [5]json.RawMessage // result, result_error, result_total, result_next, result_time
	ok := walkObject(raw, func(key, val []byte) bool {
		i, ok := batchPart(key)
		if i >= 0 {
			parts[i] = val // the last of a repeated key wins, as in encoding/json
		}
		return ok
	})
	if !ok {
		return batchParts{}, false
	}
	var p batchParts
	for i, dst := range []*map[string]json.RawMessage{&p.results, &p.errs, &p.totals, &p.nexts, &p.times} {
		m, ok := phpObjectFast(parts[i])
		if !ok {
			return batchParts{}, false
		}
		*dst = m
	}
	return p, true
}

// batchPartNames are the result's keys, in splitBatchFast's order.
var batchPartNames = [...][]byte{[]byte("result"), []byte("result_error"), []byte("result_total"), []byte("result_next"), []byte("result_time")}

// batchPart is the index in splitBatchFast's parts of a result key,
// matched as encoding/json matches a name (case-insensitively), or -1;
// false for a key past ASCII, which splitBatchFast leaves to encoding/json.
func batchPart(key []byte) (int, bool) {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return -1, false
		}
	}
	for i, name := range batchPartNames {
		if bytes.EqualFold(key, name) {
			return i, true
		}
	}
	return -1, true
}

// phpObjectFast is phpObject for splitBatchFast: an object's values by key,
// a list's by index, nil for anything else (null, a string, a number) or
// no part at all; false when a key has an escape.
func phpObjectFast(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if len(raw) == 0 {
		return nil, true
	}
	switch raw[0] {
	case '{':
		m := map[string]json.RawMessage{}
		ok := walkObject(raw, func(key, val []byte) bool {
			m[string(key)] = val
			return true
		})
		return m, ok
	case '[':
		m := map[string]json.RawMessage{}
		ok := walkArray(raw, func(i int, val []byte) {
			m[strconv.Itoa(i)] = val
		})
		return m, ok
	}
	return nil, true
}

// walkObject calls fn with each key and value of the JSON object b (its
// values trimmed of white space, as json.RawMessage holds them). It
// reports false when b is not an object it can walk, a key has an escape,
// or fn says so.
func walkObject(b []byte, fn func(key, val []byte) bool) bool {
	p := flatParser{b: b}
	p.space()
	if !p.byte('{') {
		return false
	}
	p.space()
	if !p.byte('}') {
		for {
			p.space()
			k := p.i + 1
			if !p.plainSpan() {
				return false
			}
			key := b[k : p.i-1]
			p.space()
			if !p.byte(':') {
				return false
			}
			p.space()
			v := p.i
			// capped: an append to one value must not write over the next
			if !p.skipValid() || !fn(key, b[v:p.i:p.i]) {
				return false
			}
			p.space()
			if p.byte(',') {
				continue
			}
			if p.byte('}') {
				break
			}
			return false
		}
	}
	p.space()
	return p.i == len(b)
}

// walkArray calls fn with each element of the JSON array b, as walkObject.
func walkArray(b []byte, fn func(i int, val []byte)) bool {
	p := flatParser{b: b}
	p.space()
	if !p.byte('[') {
		return false
	}
	p.space()
	if !p.byte(']') {
		for n := 0; ; n++ {
			p.space()
			v := p.i
			if !p.skipValid() {
				return false
			}
			fn(n, b[v:p.i:p.i])
			p.space()
			if p.byte(',') {
				continue
			}
			if p.byte(']') {
				break
			}
			return false
		}
	}
	p.space()
	return p.i == len(b)
}

// skipValid consumes one value of JSON known to be valid, following only
// strings and nesting (skip checks what it reads, and refuses escapes). It
// reports false rather than read past b.
func (p *flatParser) skipValid() bool {
	b := p.b
	if p.i >= len(b) {
		return false
	}
	switch b[p.i] {
	case '"':
		return p.skipString()
	case '{', '[':
		depth := 0
		for p.i < len(b) {
			switch b[p.i] {
			case '"':
				if !p.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return true
				}
			}
			p.i++
		}
		return false
	}
	start := p.i // a number or a literal
	for p.i < len(b) {
		switch b[p.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return p.i > start
		}
		p.i++
	}
	return p.i > start
}

// skipString consumes the string whose quote is at p.i, escapes and all.
func (p *flatParser) skipString() bool {
	for i := p.i + 1; i < len(p.b); i++ {
		switch p.b[i] {
		case '\\':
			i++
		case '"':
			p.i = i + 1
			return true
		}
	}
	return false
}
