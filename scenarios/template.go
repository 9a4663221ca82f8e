package scenarios

import (
	"strings"
	"unicode"
)

// ClientField is the template name of the client's first name from the channel.
const ClientField = "client"

// Template is a text with {{field}} placeholders, parsed once at load time.
type Template struct {
	Raw    string
	parts  []tplPart
	Fields []string // field names used, in order, without duplicates
	pos    Pos

	fieldOff []int // byte offset in Raw of each field's first {{, as Fields
	fieldPos []Pos // position in the file of each field's first {{, as Fields

	tr []translation // every language's text, for a text map; nil for a plain text
}

type tplPart struct {
	lit   string
	field string // "" for a literal part
}

// parseTemplate splits s into literal and field parts. It returns a message
// and the byte offset of the problem for a malformed placeholder.
func parseTemplate(s string) (*Template, string, int) {
	t := &Template{Raw: s}
	var seen map[string]bool // fields so far, once there are many
	rest, off := s, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, tplPart{lit: rest})
			}
			return t, "", 0
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, "a {{ without its closing }}", off + i
		}
		name := strings.TrimSpace(rest[i+2 : i+2+j])
		if !fieldName(name) && !fileFieldName(name) {
			return nil, "{{" + rest[i+2:i+2+j] + "}} is not a field name (letters, digits and _)", off + i
		}
		if i > 0 {
			t.parts = append(t.parts, tplPart{lit: rest[:i]})
		}
		t.parts = append(t.parts, tplPart{field: name})
		if seen == nil && len(t.Fields) >= 16 {
			seen = make(map[string]bool, 2*len(t.Fields))
			for _, f := range t.Fields {
				seen[f] = true
			}
		}
		if seen[name] || seen == nil && contains(t.Fields, name) {
			// already listed
		} else {
			t.Fields = append(t.Fields, name)
			t.fieldOff = append(t.fieldOff, off+i)
			if seen != nil {
				seen[name] = true
			}
		}
		off += i + 2 + j + 2
		rest = rest[i+2+j+2:]
	}
}

func fieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// Render substitutes fields in one pass: inserted values are never parsed
// again, so a client who types {{x}} sees it literally. lookup returns a
// field's value; escape is applied to every inserted value (client text must
// not add BB-codes). missing is called for each field with no value. An empty
// {{client}} also removes the comma or space before it.
func (t *Template) Render(lookup func(string) (string, bool), escape func(string) string, missing func(string)) string {
	if len(t.Fields) == 0 {
		return t.Raw
	}
	var b strings.Builder
	b.Grow(len(t.Raw) + 16)
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := lookup(p.field)
		if !ok && p.field != ClientField && missing != nil {
			missing(p.field)
		}
		if v == "" {
			if p.field == ClientField {
				s := b.String()
				trimmed := strings.TrimRight(s, " ")
				trimmed = strings.TrimSuffix(trimmed, ",")
				trimmed = strings.TrimRight(trimmed, " ")
				if len(trimmed) != len(s) {
					b.Reset()
					b.WriteString(trimmed)
				}
			}
			continue
		}
		if escape != nil {
			v = escape(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// String returns the template source.
func (t *Template) String() string { return t.Raw }
