package scenarios

import (
	"encoding/json"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"
)

// TestCall is a call's answer a conversation test declares (calls:): the
// test never reaches the network.
type TestCall struct {
	Pos      Pos
	Endpoint string // call:
	Path     string // path:, as the call renders it (fields URL-escaped)
	Status   int    // default 200
	Body     []byte // json: as JSON, or body: as written
	Error    string // error: the call fails without an answer (e.g. a timeout)
}

var testCallKeys = []string{"call", "path", "status", "json", "body", "error"}

// testCalls decodes a test's calls:.
func (d *decoder) testCalls(v *yaml.Node, p string) []TestCall {
	var out []TestCall
	d.sequence(v, p, func(i int, item *yaml.Node, ip string) {
		c := TestCall{Pos: posOf(item), Status: http.StatusOK}
		var hasCall, hasJSON, hasBody bool
		ok := d.mapping(item, ip, testCallKeys, func(key string, k, v *yaml.Node, p string) {
			switch key {
			case "call":
				hasCall = true
				c.Endpoint, _ = d.name(v, p, "endpoint")
			case "path":
				c.Path, _ = d.text(v, p)
			case "status":
				if n, ok := d.integer(v, p, 100); ok {
					if n > 599 {
						d.errorf(v, p, ErrValue, "write an HTTP status such as 200 or 404", "status %d is not an HTTP status", n)
					}
					c.Status = n
				}
			case "json":
				hasJSON = true
				var x any
				if err := v.Decode(&x); err != nil {
					d.errorf(v, p, ErrValue, "write the answer as YAML, e.g. json: {status: shipped}", "json: %v", err)
					return
				}
				b, err := json.Marshal(jsonable(x))
				if err != nil {
					d.errorf(v, p, ErrValue, "write the answer with text keys", "json: %v", err)
					return
				}
				c.Body = b
			case "body":
				hasBody = true
				s, _ := d.text(v, p)
				c.Body = []byte(s)
			case "error":
				c.Error, _ = d.text(v, p)
			}
		})
		if !ok {
			return
		}
		if !hasCall {
			d.missing(item, ip, []string{"call"}, true, "add call: ENDPOINT, the endpoint the answer is for", "an answer needs call:")
			return
		}
		if hasJSON && hasBody {
			d.errorf(item, ip, ErrValue, "keep json: (an answer in JSON) or body: (any text, e.g. not JSON)", "json: and body: in one answer")
		}
		out = append(out, c)
	})
	return out
}

// jsonable turns what yaml.v3 decodes (maps with any keys) into values
// encoding/json takes.
func jsonable(x any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonable(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonable(e)
		}
		return v
	}
	return x
}
