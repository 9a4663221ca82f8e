package scenarios

import "fmt"

// Set is a group of scenarios loaded together, as a server serves them.
type Set struct {
	ByName  map[string]*Scenario
	ByLine  map[int]*Scenario
	Default *Scenario
	List    []*Scenario // in file order
}

// Lookup picks the scenario for an Open Line: the one that lists it, else the default.
func (s *Set) Lookup(line int) *Scenario {
	if sc, ok := s.ByLine[line]; ok {
		return sc
	}
	return s.Default
}

// NewSet combines scenarios, earlier ones winning conflicts: a later scenario
// with a taken name, a second default, or a taken line is left out with an error.
func NewSet(list []*Scenario) (*Set, Problems) {
	set := &Set{ByName: map[string]*Scenario{}, ByLine: map[int]*Scenario{}}
	var ps Problems
	for _, sc := range list {
		bad := false
		if other, ok := set.ByName[sc.Name]; ok {
			hint := fmt.Sprintf("change name: in one of the two files; every scenario needs its own, e.g. name: %s_2", sc.Name)
			if !sc.def.Name.Set {
				hint = "the name comes from the file name here: add name: with a name of its own"
			}
			ps = append(ps, &Problem{File: sc.File, Pos: sc.nameOrTop(), Path: "name", Err: ErrDuplicateName,
				Msg:  fmt.Sprintf("scenario name %q is already used by %s", sc.Name, other.File),
				Hint: hint})
			bad = true
		}
		if sc.Default() && set.Default != nil {
			ps = append(ps, &Problem{File: sc.File, Pos: sc.top(), Path: "lines", Err: ErrTwoDefaults,
				Msg:  fmt.Sprintf("this scenario has no lines: and so is the default, but %s is the default already", set.Default.File),
				Hint: "add lines: [ID, …] to one of them; only one scenario may serve all other lines"})
			bad = true
		}
		for i, l := range sc.Lines {
			if other, ok := set.ByLine[l]; ok {
				pos := sc.def.Lines.At
				if i < len(sc.def.Lines.V) {
					pos = sc.def.Lines.V[i].At
				}
				ps = append(ps, &Problem{File: sc.File, Pos: pos, Path: "lines", Err: ErrLineTaken,
					Msg:  fmt.Sprintf("line %d is already served by scenario %q (%s)", l, other.Name, other.File),
					Hint: "a line is served by one scenario: remove it from one of the files"})
				bad = true
			}
		}
		if bad {
			continue
		}
		set.ByName[sc.Name] = sc
		for _, l := range sc.Lines {
			set.ByLine[l] = sc
		}
		if sc.Default() {
			set.Default = sc
		}
		set.List = append(set.List, sc)
	}
	return set, ps
}

func (s *Scenario) nameOrTop() Pos {
	if s.def.Name.Set {
		return s.def.Name.At
	}
	return s.top()
}

// top is the position of the scenario's first key, where a missing
// top-level key would be added.
func (s *Scenario) top() Pos {
	if s.def.At != (Pos{}) {
		return s.def.At
	}
	return Pos{1, 1}
}
