package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func decode(t *testing.T, name string, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	return doc
}

func TestTopLevel(t *testing.T) {
	tests := []struct {
		name     string
		doc      []byte
		required []string
	}{
		{"scenario.schema.json", Scenario, []string{"start", "states"}},
		{"tests.schema.json", Tests, []string{"scenario", "tests"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := decode(t, tc.name, tc.doc)
			if got, want := doc["$schema"], "http://json-schema.org/draft-07/schema#"; got != want {
				t.Errorf("$schema=%v, want %q", got, want)
			}
			if got := doc["type"]; got != "object" {
				t.Errorf("type=%v, want object", got)
			}
			if got := doc["additionalProperties"]; got != false {
				t.Errorf("additionalProperties=%v, want false", got)
			}
			for _, k := range []string{"title", "description"} {
				if s, _ := doc[k].(string); s == "" {
					t.Errorf("%s is missing", k)
				}
			}
			if _, ok := doc["properties"].(map[string]any); !ok {
				t.Fatalf("properties is missing")
			}
			if _, ok := doc["definitions"].(map[string]any); !ok {
				t.Fatalf("definitions is missing")
			}
			var req []string
			for _, r := range doc["required"].([]any) {
				req = append(req, r.(string))
			}
			if !slices.Equal(req, tc.required) {
				t.Errorf("required=%v, want %v", req, tc.required)
			}
		})
	}
}

// TestEveryKey checks what editors rely on: every property has a tooltip
// (directly or through its $ref), every $ref resolves, and every object that
// lists properties rejects keys it does not list.
func TestEveryKey(t *testing.T) {
	for name, b := range map[string][]byte{"scenario.schema.json": Scenario, "tests.schema.json": Tests} {
		t.Run(name, func(t *testing.T) {
			doc := decode(t, name, b)
			defs, _ := doc["definitions"].(map[string]any)
			ref := func(path string, n map[string]any) map[string]any {
				r, ok := n["$ref"].(string)
				if !ok {
					return nil
				}
				d, ok := defs[strings.TrimPrefix(r, "#/definitions/")].(map[string]any)
				if !strings.HasPrefix(r, "#/definitions/") || !ok {
					t.Errorf("%s: $ref %q does not resolve", path, r)
					return nil
				}
				return d
			}
			var walk func(path string, v any)
			walk = func(path string, v any) {
				switch v := v.(type) {
				case []any:
					for i, e := range v {
						walk(fmt.Sprintf("%s/%d", path, i), e)
					}
				case map[string]any:
					ref(path, v)
					if props, ok := v["properties"].(map[string]any); ok {
						if v["additionalProperties"] != false {
							t.Errorf("%s: additionalProperties=%v, want false", path, v["additionalProperties"])
						}
						for k, p := range props {
							pm, _ := p.(map[string]any)
							desc, _ := pm["description"].(string)
							if d := ref(path+"."+k, pm); desc == "" && d != nil {
								desc, _ = d["description"].(string)
							}
							if desc == "" {
								t.Errorf("%s.%s has no description", path, k)
							}
						}
					}
					for k, e := range v {
						if k == "properties" {
							for pk, pv := range e.(map[string]any) {
								walk(path+"."+pk, pv)
							}
							continue
						}
						walk(path+"/"+k, e)
					}
				}
			}
			walk("$", doc)
		})
	}
}
