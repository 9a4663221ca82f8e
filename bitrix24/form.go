package bitrix24

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Limits applied by DecodeForm. PHP's own max_input_vars default is 1000 too.
const (
	// MaxFormKeys is the most key=value pairs a form may carry.
	MaxFormKeys = 1000
	// MaxFormDepth is the most levels a key may have: data[BOT][1011][AUTH][access_token] has 5.
	MaxFormDepth = 8
)

// FieldError reports a malformed or missing field of an event form. Field is
// the field in wire notation (data[PARAMS][CHAT_ID]); it is empty when the
// problem concerns the form as a whole.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// clip shortens attacker-controlled text before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// splitKey splits a PHP-style key "data[PARAMS][DIALOG_ID]" into its parts
// ["data", "PARAMS", "DIALOG_ID"]. It rejects everything http_build_query
// never produces: unbalanced or nested brackets, empty names, "[]", text
// after a closing bracket.
func splitKey(key string) ([]string, error) { return splitKeyInto(nil, key) }

// splitKeyInto is splitKey appending the parts to dst (substrings of key).
func splitKeyInto(dst []string, key string) ([]string, error) {
	bad := func(msg string) error {
		return &FieldError{Field: clip(key), Msg: "bad key syntax: " + msg}
	}
	open := strings.IndexByte(key, '[')
	if open < 0 {
		if strings.IndexByte(key, ']') >= 0 {
			return nil, bad(`"]" without "["`)
		}
		if key == "" {
			return nil, bad("empty name")
		}
		return append(dst, key), nil
	}
	if open == 0 {
		return nil, bad("empty name before \"[\"")
	}
	name := key[:open]
	if strings.IndexByte(name, ']') >= 0 {
		return nil, bad(`"]" without "["`)
	}
	parts := append(dst, name)
	rest := key[open:]
	for rest != "" {
		if rest[0] != '[' {
			return nil, bad(`text after "]" must start a new "[…]"`)
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, bad(`"[" without "]"`)
		}
		seg := rest[1:end]
		if strings.IndexByte(seg, '[') >= 0 {
			return nil, bad(`nested "["`)
		}
		if seg == "" {
			return nil, bad(`empty "[]"`)
		}
		parts = append(parts, seg)
		if len(parts)-len(dst) > MaxFormDepth {
			return nil, &FieldError{Field: clip(key), Msg: fmt.Sprintf("nested deeper than %d levels", MaxFormDepth)}
		}
		rest = rest[end+1:]
	}
	return parts, nil
}

// joinKey is the inverse of splitKey.
func joinKey(parts []string) string {
	var b strings.Builder
	b.WriteString(parts[0])
	for _, p := range parts[1:] {
		b.WriteByte('[')
		b.WriteString(p)
		b.WriteByte(']')
	}
	return b.String()
}

// DecodeForm decodes a PHP-style bracketed form, as Bitrix24 posts events,
// into a tree: every value is either a string or a map[string]any of the same
// kind. "data[PARAMS][DIALOG_ID]=chat1777" becomes
// {"data":{"PARAMS":{"DIALOG_ID":"chat1777"}}}.
//
// Unlike PHP, which silently repairs or overwrites, it rejects with a
// *FieldError: malformed keys, a key given twice, a key that is both a value
// and a group (a=1&a[b]=2), nesting deeper than MaxFormDepth and more than
// MaxFormKeys pairs.
func DecodeForm(form url.Values) (map[string]any, error) {
	n := 0
	for _, vs := range form {
		n += len(vs)
	}
	if n > MaxFormKeys {
		return nil, &FieldError{Msg: fmt.Sprintf("form has %d keys, more than the limit of %d", n, MaxFormKeys)}
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	root, err := decodeKeys(form, keys)
	if err != nil {
		// again in order, so that the error reported for a bad form does
		// not depend on map order (a good form needs no sorting)
		sort.Strings(keys)
		return decodeKeys(form, keys)
	}
	return root, nil
}

// decodeKeys builds DecodeForm's tree from form's keys, in the given order.
func decodeKeys(form url.Values, keys []string) (map[string]any, error) {
	root := map[string]any{}
	var buf [MaxFormDepth + 1]string // one key's parts
	for _, key := range keys {
		vs := form[key]
		if len(vs) > 1 {
			return nil, &FieldError{Field: clip(key), Msg: fmt.Sprintf("given %d times", len(vs))}
		}
		parts, err := splitKeyInto(buf[:0], key)
		if err != nil {
			return nil, err
		}
		var v string
		if len(vs) == 1 {
			v = vs[0]
		}
		switch at := insert(root, parts, v); {
		case at < 0:
		case at < len(parts)-1:
			return nil, &FieldError{Field: clip(joinKey(parts[:at+1])), Msg: "is both a value and a group of keys"}
		default:
			return nil, &FieldError{Field: clip(key), Msg: "is both a value and a group of keys"}
		}
	}
	return root, nil
}

// insert sets the leaf at parts of the tree root to v. It returns -1, or
// the index of the part where the key runs into what the tree holds: a
// value where the key needs a group (an index before the last), or a group
// or a value already at the leaf (the last).
func insert(root map[string]any, parts []string, v string) int {
	node := root
	for i, p := range parts[:len(parts)-1] {
		switch child := node[p].(type) {
		case nil:
			m := map[string]any{}
			node[p] = m
			node = m
		case map[string]any:
			node = child
		default:
			return i
		}
	}
	last := parts[len(parts)-1]
	if _, taken := node[last]; taken {
		return len(parts) - 1
	}
	node[last] = v
	return -1
}

// EncodeForm flattens a tree into the PHP http_build_query wire form:
// {"data":{"PARAMS":{"DIALOG_ID":"chat1777"}}} becomes
// data[PARAMS][DIALOG_ID]=chat1777. Encode() on the result gives the body
// exactly as the portal sends it (brackets as %5B/%5D, spaces as "+").
//
// Values follow PHP: strings as they are, numbers in decimal, true as "1",
// false as "0"; nil and empty maps/slices vanish. Maps may be keyed by
// string or integer; slices become 0, 1, 2, … keys. json.Number and
// json.RawMessage are accepted, so decoded JSON can be flattened too.
func EncodeForm(tree map[string]any) url.Values {
	out := url.Values{}
	for k, v := range tree {
		encodeValue(out, k, v)
	}
	return out
}

func encodeValue(out url.Values, key string, v any) {
	switch x := v.(type) {
	case nil:
	case string:
		out.Set(key, x)
	case bool:
		if x {
			out.Set(key, "1")
		} else {
			out.Set(key, "0")
		}
	case json.Number:
		out.Set(key, x.String())
	case json.RawMessage:
		var decoded any
		d := json.NewDecoder(strings.NewReader(string(x)))
		d.UseNumber()
		if d.Decode(&decoded) == nil {
			encodeValue(out, key, decoded)
		}
	case map[string]any:
		for k, e := range x {
			encodeValue(out, key+"["+k+"]", e)
		}
	case map[string]string:
		for k, e := range x {
			out.Set(key+"["+k+"]", e)
		}
	case []any:
		for i, e := range x {
			encodeValue(out, key+"["+strconv.Itoa(i)+"]", e)
		}
	case []string:
		for i, e := range x {
			out.Set(key+"["+strconv.Itoa(i)+"]", e)
		}
	case fmt.Stringer:
		out.Set(key, x.String())
	default:
		encodeReflect(out, key, reflect.ValueOf(v))
	}
}

func encodeReflect(out url.Values, key string, rv reflect.Value) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		out.Set(key, strconv.FormatInt(rv.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		out.Set(key, strconv.FormatUint(rv.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		out.Set(key, strconv.FormatFloat(rv.Float(), 'f', -1, 64))
	case reflect.String:
		out.Set(key, rv.String())
	case reflect.Bool:
		encodeValue(out, key, rv.Bool())
	case reflect.Pointer, reflect.Interface:
		if !rv.IsNil() {
			encodeValue(out, key, rv.Elem().Interface())
		}
	case reflect.Map:
		iter := rv.MapRange()
		for iter.Next() {
			encodeValue(out, key+"["+fmt.Sprint(iter.Key().Interface())+"]", iter.Value().Interface())
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			encodeValue(out, key+"["+strconv.Itoa(i)+"]", rv.Index(i).Interface())
		}
	default:
		out.Set(key, fmt.Sprint(rv.Interface()))
	}
}

// AppendEncodedForm appends EncodeForm(tree).Encode() to dst: the body a
// portal sends, built straight from the tree (the load tool's fake portal
// builds one per event). Trees holding values other than strings, bools,
// json.Number, nil and maps and slices of those take EncodeForm's way, as
// do trees in which two paths flatten to one key (EncodeForm keeps either).
func AppendEncodedForm(dst []byte, tree map[string]any) []byte {
	pairs, ok := flatTree(nil, "", tree, true)
	if ok {
		slices.SortFunc(pairs, func(a, b formPair) int { return strings.Compare(a.key, b.key) })
		for i := 1; i < len(pairs); i++ {
			if pairs[i-1].key == pairs[i].key {
				ok = false
				break
			}
		}
	}
	if !ok {
		return append(dst, EncodeForm(tree).Encode()...)
	}
	for i, pr := range pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = AppendQueryEscape(dst, pr.key)
		dst = append(dst, '=')
		dst = AppendQueryEscape(dst, pr.value)
	}
	return dst
}

// flatTree appends the form pairs of v under key (top: v is the root, its
// keys stand alone), as encodeValue sets them; false for a value it leaves
// to encodeValue.
func flatTree(pairs []formPair, key string, v any, top bool) ([]formPair, bool) {
	sub := func(k string) string {
		if top {
			return k
		}
		return key + "[" + k + "]"
	}
	switch x := v.(type) {
	case nil:
	case string:
		pairs = append(pairs, formPair{key, x})
	case bool:
		if x {
			pairs = append(pairs, formPair{key, "1"})
		} else {
			pairs = append(pairs, formPair{key, "0"})
		}
	case json.Number:
		pairs = append(pairs, formPair{key, x.String()})
	case map[string]any:
		for k, e := range x {
			var ok bool
			if pairs, ok = flatTree(pairs, sub(k), e, false); !ok {
				return pairs, false
			}
		}
	case map[string]string:
		for k, e := range x {
			pairs = append(pairs, formPair{sub(k), e})
		}
	case []any:
		if top {
			return pairs, false
		}
		for i, e := range x {
			var ok bool
			if pairs, ok = flatTree(pairs, key+"["+strconv.Itoa(i)+"]", e, false); !ok {
				return pairs, false
			}
		}
	case []string:
		if top {
			return pairs, false
		}
		for i, e := range x {
			pairs = append(pairs, formPair{key + "[" + strconv.Itoa(i) + "]", e})
		}
	default:
		return pairs, false
	}
	return pairs, true
}
