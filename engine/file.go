package engine

import (
	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/scenarios"
)

// This file is how a `type: file` ask takes the client's file: the file
// is the answer, saved as its name with its id and link beside it; a file
// too large or of a kind the state does not accept is a bad answer.

// takesFile reports whether the dialog's current state is a file ask.
func (s *stepper) takesFile() bool {
	st := s.sc.States[s.d.State]
	return st != nil && st.Ask != nil && st.Type == answers.File
}

// fileAnswer answers the current file ask with the event's file. A file
// event without the file's details (a channel that says only that there
// is one) is taken with what is known: no name, so the answer is "file".
func (s *stepper) fileAnswer() error {
	st := s.sc.States[s.d.State]
	f := answers.ClientFile{Size: -1}
	if s.ev.File != nil {
		f = *s.ev.File
	}
	max := st.MaxSize
	if max == 0 {
		max = answers.DefaultMaxFileSize
	}
	if why := answers.FileProblem(f, st.Accept, max); why != "" {
		s.r.Reason = "a file the state does not take: " + why
		return s.bad(st)
	}
	d := &s.d
	if d.Fields == nil {
		d.Fields = make(map[string]string, 4)
	}
	// the parts are always written, so that {{photo.url}} of a file
	// without a lasting link renders empty rather than as missing
	d.Fields[scenarios.FilePart(st.Save, "id")] = f.ID
	d.Fields[scenarios.FilePart(st.Save, "url")] = f.URL
	name := f.Name
	if name == "" {
		name = "file"
	}
	return s.accept(st, name)
}
