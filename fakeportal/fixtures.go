package fakeportal

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/olbot/olbot/bitrix24"
)

// The documented bodies the fake speaks with: event bodies, method answers
// and error bodies of both bot platforms, transcribed from the official
// documentation (bitrix24/b24restdocs). Each file names its doc path and
// docs commit; testdata/docs/README.md says how they are named.
//
//go:embed testdata/docs/*.json
var docsFS embed.FS

// Fixture is one documented body.
type Fixture struct {
	Name     string `json:"-"`      // file name without .json: v1.event.onappinstall
	Doc      string `json:"doc"`    // the doc page it comes from, in b24restdocs
	Commit   string `json:"commit"` // the docs commit it was transcribed from
	Block    *int   `json:"block"`  // which code block of the page (0-based); nil when built
	Verified bool   `json:"verified"`
	// Source says where the shape of an unverified fixture comes from: the
	// docs show no example of it.
	Source string `json:"source"`
	Note   string `json:"note"`
	Kind   string `json:"kind"`   // event, data (a v2 event's data), answer or error
	Method string `json:"method"` // the method an answer or error belongs to
	Status int    `json:"status"` // HTTP status of an answer or error
	Body   json.RawMessage
}

// Fixtures returns every documented body, sorted by name.
func Fixtures() ([]Fixture, error) {
	entries, err := docsFS.ReadDir("testdata/docs")
	if err != nil {
		return nil, err
	}
	var out []Fixture
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		f, err := LoadFixture(name)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LoadFixture reads one documented body by name (v1.event.onappinstall).
func LoadFixture(name string) (Fixture, error) {
	b, err := docsFS.ReadFile(path.Join("testdata/docs", name+".json"))
	if err != nil {
		return Fixture{}, fmt.Errorf("fixture %s: %w", name, err)
	}
	var f struct {
		Fixture
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return Fixture{}, fmt.Errorf("fixture %s: %w", name, err)
	}
	if f.Doc == "" || f.Commit == "" || f.Kind == "" || len(f.Body) == 0 {
		return Fixture{}, fmt.Errorf("fixture %s: doc, commit, kind and body are required", name)
	}
	if !f.Verified && f.Source == "" {
		return Fixture{}, fmt.Errorf("fixture %s: an unverified fixture must say where its shape comes from (source)", name)
	}
	f.Fixture.Name, f.Fixture.Body = name, f.Body
	return f.Fixture, nil
}

// Tree decodes the body into maps, keeping numbers as json.Number.
func (f Fixture) Tree() (map[string]any, error) {
	d := json.NewDecoder(strings.NewReader(string(f.Body)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("fixture %s: %w", f.Name, err)
	}
	return m, nil
}

// Form is the body of an event fixture as the portal posts it: PHP
// http_build_query of the documented JSON (numbers in decimal, true "1").
func (f Fixture) Form() (url.Values, error) {
	m, err := f.Tree()
	if err != nil {
		return nil, err
	}
	return bitrix24.EncodeForm(m), nil
}

// mustTree is Tree for the fixtures the fake builds its events from: they
// are embedded and checked by the contract test, so a failure is a bug.
// Each fixture is decoded once and every caller gets its own copy, which it
// may change: decoding the documented JSON for every event was half of the
// load tool's CPU in the Bitrix24 mode (BENCHMARKS.md, "Per-event cost").
func mustTree(name string) map[string]any {
	if m, ok := trees.Load(name); ok {
		return copyTree(m.(map[string]any))
	}
	f, err := LoadFixture(name)
	if err != nil {
		panic(err)
	}
	m, err := f.Tree()
	if err != nil {
		panic(err)
	}
	trees.Store(name, m)
	return copyTree(m)
}

// trees holds the decoded fixtures of mustTree by name; they are never
// changed, only copied.
var trees sync.Map

// copyTree copies a decoded JSON tree deeply: its maps and slices are
// new, its strings, json.Numbers, booleans and nils shared (immutable).
// It is for trees as Tree decodes them; cloneTree (v2.go) round-trips
// through JSON instead, for trees the fake has filled with Go values
// (ints, typed slices), at many times the cost.
func copyTree(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyTree(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}

// group returns the map under the keys path of m, or panics: the fake only
// walks fixtures whose shape the contract test pins.
func group(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			panic(fmt.Sprintf("fakeportal: fixture has no group %q", k))
		}
		m = next
	}
	return m
}
