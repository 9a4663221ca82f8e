package scenarios

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/olbot/olbot/schema"
)

// TestSchemaKeys checks that the editor schemas in schema/ list exactly the
// keys the loader accepts (keys.go), level by level. A key added on one side
// only fails here with the difference.
func TestSchemaKeys(t *testing.T) {
	const (
		items  = "[]" // the items of an array
		values = "{}" // the values of a map, e.g. the states by name
	)
	tests := []struct {
		file string
		doc  []byte
		path []string
		name string // the Go variable
		keys []string
	}{
		{"scenario.schema.json", schema.Scenario, nil, "topKeys", topKeys},
		{"scenario.schema.json", schema.Scenario, []string{"settings"}, "settingsKeys", settingsKeys},
		{"scenario.schema.json", schema.Scenario, []string{"commands", items}, "routeKeys", routeKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values}, "stateKeys", stateKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "menu", items}, "menuKeys", menuKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "on", items}, "routeKeys", routeKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "transfer"}, "stateTransferKeys", stateTransferKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "remind"}, "remindKeys", remindKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "say"}, "messageKeys", messageKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "ask"}, "messageKeys", messageKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "crm"}, "crmKeys", crmKeys},
		{"scenario.schema.json", schema.Scenario, []string{"states", values, "crm", "lead"}, "crmLeadKeys", crmLeadKeys},

		{"tests.schema.json", schema.Tests, nil, "testFileKeys", testFileKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items}, "testKeys", testKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items}, "stepKeys", stepKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "start"}, "startKeys", startKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "bot"}, "botKeys", botKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "user"}, "userKeys", userKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "user", "file"}, "fileStepKeys", fileStepKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "expect"}, "expectKeys", expectKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "expect", "transfer"}, "transferKeys", transferKeys},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "idle"}, "(none)", nil},
		{"tests.schema.json", schema.Tests, []string{"tests", items, "steps", items, "close"}, "(none)", nil},
	}
	for _, tc := range tests {
		where := strings.Join(tc.path, ".")
		if where == "" {
			where = "top level"
		}
		t.Run(tc.file+"/"+where, func(t *testing.T) {
			var root map[string]any
			if err := json.Unmarshal(tc.doc, &root); err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			w := schemaWalker{root: root}
			node, err := w.at(tc.path)
			if err != nil {
				t.Fatalf("%s: %s: %v", tc.file, where, err)
			}
			props, err := w.find(node, "properties")
			if err != nil {
				t.Fatalf("%s: %s: %v", tc.file, where, err)
			}
			if props["additionalProperties"] != false {
				t.Errorf("%s: %s: additionalProperties=%v, want false (the loader rejects unknown keys)",
					tc.file, where, props["additionalProperties"])
			}
			var got []string
			for k := range props["properties"].(map[string]any) {
				got = append(got, k)
			}
			onlySchema, onlyGo := keyDiff(got, tc.keys)
			if len(onlySchema) > 0 || len(onlyGo) > 0 {
				t.Errorf("%s: %s: keys differ from %s in keys.go\n"+
					"  in the schema only: %v\n"+
					"  in keys.go only:    %v",
					tc.file, where, tc.name, onlySchema, onlyGo)
			}
		})
	}
}

// keyDiff returns the sorted keys only in a and only in b.
func keyDiff(a, b []string) (onlyA, onlyB []string) {
	for _, k := range a {
		if !slices.Contains(b, k) {
			onlyA = append(onlyA, k)
		}
	}
	for _, k := range b {
		if !slices.Contains(a, k) {
			onlyB = append(onlyB, k)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// schemaWalker follows property paths through a JSON Schema, resolving local
// $refs and looking into oneOf/anyOf/allOf alternatives (e.g. `bot` is a
// string or an object: the object alternative holds the keys).
type schemaWalker struct {
	root map[string]any
}

// at returns the schema at path: property names, "[]" for array items and
// "{}" for map values.
func (w schemaWalker) at(path []string) (map[string]any, error) {
	n := w.root
	for i, seg := range path {
		var err error
		switch seg {
		case "[]":
			n, err = w.child(n, "items")
		case "{}":
			n, err = w.child(n, "additionalProperties")
		default:
			var props map[string]any
			if props, err = w.find(n, "properties"); err == nil {
				p, ok := props["properties"].(map[string]any)[seg].(map[string]any)
				if !ok {
					err = fmt.Errorf("no property %q", seg)
				}
				n = p
			}
		}
		if err != nil {
			return nil, fmt.Errorf("at %s: %w", strings.Join(path[:i+1], "."), err)
		}
	}
	return n, nil
}

// child returns the schema under keyword kw (items, additionalProperties).
func (w schemaWalker) child(n map[string]any, kw string) (map[string]any, error) {
	n, err := w.find(n, kw)
	if err != nil {
		return nil, err
	}
	c, ok := n[kw].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s is not a schema", kw)
	}
	return c, nil
}

// find returns n, or the schema n refers to, or the first of its
// alternatives, that has the keyword kw.
func (w schemaWalker) find(n map[string]any, kw string) (map[string]any, error) {
	for range 32 { // $ref chains
		if _, ok := n[kw]; ok {
			return n, nil
		}
		for _, comb := range []string{"oneOf", "anyOf", "allOf"} {
			alts, _ := n[comb].([]any)
			for _, a := range alts {
				if am, ok := a.(map[string]any); ok {
					if found, err := w.find(am, kw); err == nil {
						return found, nil
					}
				}
			}
		}
		ref, ok := n["$ref"].(string)
		if !ok {
			return nil, fmt.Errorf("no %q here", kw)
		}
		target, err := w.resolve(ref)
		if err != nil {
			return nil, err
		}
		n = target
	}
	return nil, fmt.Errorf("$ref chain too long")
}

// resolve follows a local JSON pointer such as "#/definitions/state".
func (w schemaWalker) resolve(ref string) (map[string]any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only local references are supported", ref)
	}
	var n any = w.root
	for _, part := range strings.Split(ptr, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := n.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if n, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	m, ok := n.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not a schema", ref)
	}
	return m, nil
}
