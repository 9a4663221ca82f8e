package fakeportal

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// CanonicalParams renders a call's params as canonical JSON, so that tests
// can compare what reached the portal with what they expect however it was
// sent: keys sorted, scalars as strings (numbers as written, booleans as
// PHP's http_build_query sends them, 1 and 0), form groups keyed 0..n-1 as
// lists, strings holding a JSON object or array decoded, and auth and
// CLIENT_ID left out. A call sent by itself arrives as JSON (CHAT_ID 7101,
// KEYBOARD a list) and one inside a batch as a PHP form (CHAT_ID "7101",
// KEYBOARD[0][TEXT]…): both read the same.
func CanonicalParams(params map[string]any) string {
	m := make(map[string]any, len(params))
	for k, v := range params {
		if k != "auth" && k != "CLIENT_ID" {
			m[k] = canonicalValue(v)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func canonicalValue(v any) any {
	switch x := v.(type) {
	case nil:
		return ""
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case string:
		if t := strings.TrimSpace(x); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			dec := json.NewDecoder(strings.NewReader(t))
			dec.UseNumber()
			var out any
			if dec.Decode(&out) == nil {
				return canonicalValue(out)
			}
		}
		return x
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonicalValue(e)
		}
		return out
	case map[string]any:
		list := make([]any, len(x))
		isList := len(x) > 0
		for k, e := range x {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) || strconv.Itoa(i) != k {
				isList = false
				break
			}
			list[i] = canonicalValue(e)
		}
		if isList {
			return list
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = canonicalValue(e)
		}
		return out
	}
	return fmt.Sprint(v)
}
