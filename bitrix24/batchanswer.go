package bitrix24

import (
	"encoding/json"
	"strconv"
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
// for valid JSON (raw comes from the envelope's json.Unmarshal) whose
// object keys are plain ASCII: the values are slices of raw. It reports
// false, and the slow path decides, for anything else: a result that is
// not an object, a key with an escape or a byte past ASCII (encoding/json
// unescapes them and folds case by Unicode rules), or bytes it cannot
// walk.
func splitBatchFast(raw json.RawMessage) (batchParts, bool) {
	var parts [5]json.RawMessage // result, result_error, result_total, result_next, result_time
	ok := walkObject(raw, func(key, val []byte) bool {
		if i := batchPart(key); i >= 0 {
			parts[i] = val // the last of a repeated key wins, as in encoding/json
		}
		return true
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

// batchPart is the index in splitBatchFast's parts of a result key,
// matched as encoding/json matches ASCII names (case-insensitively), or -1.
func batchPart(key []byte) int {
	for i, name := range [...]string{"result", "result_error", "result_total", "result_next", "result_time"} {
		if equalFoldASCII(key, name) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// phpObjectFast is phpObject for splitBatchFast: an object's values by key,
// a list's by index, nil for anything else (null, a string, a number) or
// no part at all; false when a key is not plain ASCII.
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
// reports false when b is not an object it can walk or a key is not plain
// ASCII without escapes.
func walkObject(b []byte, fn func(key, val []byte) bool) bool {
	i, empty, ok := openWalk(b, '{', '}')
	if !ok || empty {
		return ok
	}
	for more := true; more; {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		start := i + 1
		j := start
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' || b[j] >= 0x80 || b[j] < 0x20 {
				return false
			}
			j++
		}
		if j >= len(b) {
			return false
		}
		key := b[start:j]
		i = skipSpace(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		end, ok := skipValue(b, i)
		if !ok || !fn(key, b[i:end:end]) { // capped: an append to one value must not write over the next
			return false
		}
		if i, more, ok = nextElement(b, end, '}'); !ok {
			return false
		}
	}
	return true
}

// walkArray calls fn with each element of the JSON array b, as walkObject.
func walkArray(b []byte, fn func(i int, val []byte)) bool {
	i, empty, ok := openWalk(b, '[', ']')
	if !ok || empty {
		return ok
	}
	for n, more := 0, true; more; n++ {
		end, ok := skipValue(b, i)
		if !ok {
			return false
		}
		fn(n, b[i:end:end])
		if i, more, ok = nextElement(b, end, ']'); !ok {
			return false
		}
	}
	return true
}

// openWalk enters the object or array b, which opener and closer delimit:
// i is where its first element begins; empty when it closes at once
// (then ok says that nothing follows it).
func openWalk(b []byte, opener, closer byte) (i int, empty, ok bool) {
	i = skipSpace(b, 0)
	if i >= len(b) || b[i] != opener {
		return i, false, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i, true, skipSpace(b, i+1) == len(b)
	}
	return i, false, true
}

// nextElement reads what follows an element that ends at end: a comma
// (more, and i is where the next element begins) or closer, which must end b.
func nextElement(b []byte, end int, closer byte) (i int, more, ok bool) {
	i = skipSpace(b, end)
	if i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return skipSpace(b, i+1), true, true
	case closer:
		return i, false, skipSpace(b, i+1) == len(b)
	}
	return i, false, false
}

// skipValue returns the end of the JSON value starting at b[i]. It walks
// strings and nesting only: the bytes are valid JSON (the envelope's
// decode checked them), and it reports false rather than read past b.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return i, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i, i > start
		}
		i++
	}
	return i, i > start
}

// skipString returns the end of the JSON string whose quote is b[i].
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
