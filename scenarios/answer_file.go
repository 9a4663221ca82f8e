package scenarios

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/answers"
)

// This file is the scenario side of `type: file` and `type: rating`: the
// keys accept: and max_size: of a file ask, and their load-time checks.

// accept decodes accept: a kind (image, video, audio) or a file extension,
// or a list of them.
func (d *decoder) accept(v *yaml.Node, p string) val[[]string] {
	n := len(d.problems)
	var out []string
	one := func(item *yaml.Node, ip string) {
		s, ok := d.text(item, ip)
		if !ok {
			return
		}
		if why := answers.CheckAccept(s); why != "" {
			hint := "name kinds (image, video, audio) or extensions without the dot, e.g. accept: [image, pdf]"
			if rest, ok := strings.CutPrefix(s, "."); ok {
				hint = "write " + rest + ", not " + s
			} else if low := strings.ToLower(s); low != s && answers.CheckAccept(low) == "" {
				hint = "write " + low + ", in lower case"
			}
			d.errorf(item, ip, ErrValue, hint, "accept: %q: %s", s, why)
			return
		}
		out = append(out, s)
	}
	if v.Kind == yaml.SequenceNode {
		if len(v.Content) == 0 {
			d.errorf(v, p, ErrValue, "list kinds or extensions, e.g. accept: [image, pdf], or remove accept: to take every file", "accept: [] takes no file")
		}
		d.sequence(v, p, func(_ int, item *yaml.Node, ip string) { one(item, ip) })
	} else {
		one(v, p)
	}
	return mark(d, v, n, out)
}

// maxSize decodes max_size: bytes, or a number with KB, MB or GB.
func (d *decoder) maxSize(v *yaml.Node, p string) val[int64] {
	n := len(d.problems)
	s, ok := d.text(v, p)
	var size int64
	if ok {
		var err error
		if size, err = answers.ParseSize(s); err != nil {
			d.errorf(v, p, ErrValue, "write e.g. max_size: 10MB (KB, MB and GB count 1024; at most 100MB)", "max_size: %v", err)
		}
	}
	return mark(d, v, n, size)
}

// fileAsk checks the companions of a file or rating ask: accept: and
// max_size: only with type: file, no validate: on either.
func (s *stateCheck) fileAsk(typ string) {
	st := s.st
	if st.Type.Bad {
		return
	}
	for _, k := range []struct {
		key string
		set bool
		at  Pos
	}{{"accept", st.Accept.Set, st.Accept.At}, {"max_size", st.MaxSize.Set, st.MaxSize.At}} {
		if k.set && typ != answers.File {
			s.errorf(k.at, s.key(k.key), ErrValue, "add type: file, or remove "+k.key+":", "%s: only applies to an ask of type: file", k.key)
		}
	}
	if st.Validate.Set {
		switch typ {
		case answers.File:
			s.errorf(st.Validate.At, s.key("validate"), ErrValue, "check a file with accept: [image, pdf] and max_size: 10MB instead", "validate: does not apply to type: file")
		case answers.Rating:
			s.errorf(st.Validate.At, s.key("validate"), ErrValue, "remove validate:; branch on the rating with next: [{if: …, goto: …}]", "validate: does not apply to type: rating: every answer is 1 to 5")
		}
	}
}

// The parts of a type: file answer a template may show besides its name:
// {{photo.url}} (the link, where the platform gives a lasting one) and
// {{photo.id}} (the file's id on the portal).
var fileParts = []string{"url", "id"}

// fileFieldName reports whether s is FIELD.PART: the check says which
// parts there are (fileParts) and that FIELD is a file.
func fileFieldName(s string) bool {
	base, part, ok := strings.Cut(s, ".")
	return ok && fieldName(base) && fieldName(part)
}

// FilePart is the field a type: file answer keeps one of its parts in:
// FilePart("photo", "url") is "photo.url".
func FilePart(field, part string) string { return field + "." + part }

// fileField reports whether a state of the scenario saves field as the
// answer of a type: file ask.
func (c *checker) fileField(field string) bool {
	for _, st := range c.def.States.V {
		if st.Save.V == field && st.Type.V == answers.File {
			return true
		}
	}
	return false
}

// answerLabel names the valid answers of st on its diagram's answer
// arrow: "answer", or what a file or rating question takes ("file image,
// pdf ≤ 10 MB", "rating 1–5").
func answerLabel(st *State) string {
	if st == nil {
		return "answer"
	}
	switch st.Type {
	case answers.File:
		label := "file"
		if len(st.Accept) > 0 {
			label += " " + strings.Join(st.Accept, ", ")
		}
		if st.MaxSize > 0 {
			label += " ≤ " + answers.FormatSize(st.MaxSize)
		}
		return label
	case answers.Rating:
		return "rating 1–5"
	}
	return "answer"
}
