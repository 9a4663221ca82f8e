package scenarios

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

func isLetter(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// Version returns the version hash of a file's content.
func Version(src []byte) string {
	h := sha256.Sum256(src)
	return hex.EncodeToString(h[:6])
}

// Parse loads one scenario from src: it decodes the file into a
// definition, checks the definition and, when no check found an error,
// compiles it. file names it in problems; the scenario name defaults to the
// file name without its extension. It returns the scenario (nil when there
// are errors) and every problem found, warnings included.
func Parse(file string, src []byte) (*Scenario, Problems) {
	if len(src) > MaxFileSize {
		return nil, Problems{{File: file, Pos: Pos{1, 1}, Err: ErrTooLarge, Msg: fmt.Sprintf("the file is %d bytes; scenario files are limited to 1 MiB", len(src)), Hint: "split it into several files"}}
	}
	root, p := parseYAML(file, src)
	if p != nil {
		return nil, Problems{p}
	}
	if p := notScenario(file, root, topKeys, "scenario"); p != nil {
		return nil, Problems{p}
	}
	p, limit := aliasBomb(file, root)
	if p != nil {
		return nil, Problems{p}
	}
	d := &decoder{file: file, maxNodes: limit, src: splitLines(string(src))}
	def := &scenarioDef{File: file, Version: Version(src)}
	d.decodeScenario(root, def)
	if d.bombed {
		d.problems.Sort()
		return nil, d.problems
	}
	var t []Transition
	if tableSize(def) <= maxTransitions {
		t = table(def) // built once, for the checks and for compile
	}
	ps := append(d.problems, compileConds(def)...)
	ps = append(ps, check(def, t)...)
	ps.Sort()
	if ps.HasErrors() {
		return nil, ps
	}
	sc := compile(def, t, ps)
	sc.Source = src
	return sc, ps
}

// parseYAML parses one YAML document into its root mapping node.
func parseYAML(file string, src []byte) (*yaml.Node, *Problem) {
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file is empty", Hint: "a scenario needs at least start: and states:"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file has only comments", Hint: "a scenario needs at least start: and states:"}
		}
		return nil, syntaxProblem(file, src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Problem{File: file, Pos: posOf(&extra), Err: ErrSyntax, Msg: "a second YAML document (after ---) in one file", Hint: "put each scenario in a file of its own"}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxProblem(file, src, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file is empty", Hint: "a scenario needs at least start: and states:"}
	}
	if root := doc.Content[0]; root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Value == "" {
		// only "---" or "..." markers: yaml.v3 places the empty value after them
		return nil, &Problem{File: file, Pos: Pos{1, 1}, Err: ErrMissing, Msg: "the file has no keys", Hint: "a scenario needs at least start: and states:"}
	}
	return doc.Content[0], nil
}

// notScenario refuses a file that is not a map of keys, or a map that has
// none of the keys the file should have — an env file or a manifest of
// another tool left in the folder. The problem never quotes the file's
// content, which may hold secrets: it names at most its first keys.
func notScenario(file string, root *yaml.Node, known []string, what string) *Problem {
	hint := fmt.Sprintf("a %s file is a map of keys (%s); move other files out of the scenario folder", what, strings.Join(known, ", "))
	if root.Kind != yaml.MappingNode {
		kind := "a text"
		switch {
		case root.Kind == yaml.SequenceNode:
			kind = "a list"
		case root.Kind == yaml.AliasNode:
			kind = "an alias"
		case root.Tag == "!!int" || root.Tag == "!!float":
			kind = "a number"
		case root.Tag == "!!bool":
			kind = "true or false"
		}
		return &Problem{File: file, Pos: posOf(root), Err: ErrNotScenario, Hint: hint,
			Msg: fmt.Sprintf("this is not a %s file: it holds %s, not a map of keys", what, kind)}
	}
	var keys []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		if contains(known, k) || suggest(k, known) != "" {
			return nil
		}
		if len(keys) < 3 && validName(k) {
			keys = append(keys, k)
		}
	}
	if len(root.Content) == 0 {
		return nil
	}
	named := ""
	if len(keys) > 0 {
		named = " (" + strings.Join(keys, ", ")
		if len(root.Content)/2 > len(keys) {
			named += ", …"
		}
		named += ")"
	}
	return &Problem{File: file, Pos: posOf(root), Err: ErrNotScenario, Hint: hint,
		Msg: fmt.Sprintf("this is not a %s file: none of its keys%s is a key of a %s", what, named, what)}
}

// LoadFile reads and parses one scenario file.
func LoadFile(path string) (*Scenario, Problems) {
	src, err := ReadFile(path)
	if err != nil {
		return nil, Problems{readProblem(path, err, "scenario")}
	}
	return Parse(path, src)
}
