package server

// A decoder for the body of POST /v1/events without reflection, for the
// bodies clients actually send: a flat object of the known keys, spelled
// exactly, with string and integer values. Anything else — an unknown or
// differently cased key, a duplicate, null, a float, an escape it does not
// handle, invalid UTF-8, trailing data — makes it give up, and the body
// goes through decodeJSON (encoding/json, strict), which accepts or refuses
// it with the field-naming error. So the fast path never decides a refusal,
// and where it accepts, FuzzEventRequestDecode checks that encoding/json
// accepts the same body with the same values. A body with a client's file
// ("file": {…}, a nested object) always takes the strict path: it is rare,
// and its checks (FileRequest.check) name the file's own fields.

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeEventFast decodes body into req and reports whether it could; on
// false, req is in an unspecified state and the caller decodes again.
func decodeEventFast(body []byte, req *EventRequest) bool {
	p := eventParser{b: body}
	p.space()
	if !p.byte('{') {
		return false
	}
	var seen uint16
	p.space()
	if p.byte('}') {
		return p.end()
	}
	for {
		p.space()
		key, ok := p.plainKey()
		if !ok {
			return false
		}
		p.space()
		if !p.byte(':') {
			return false
		}
		p.space()
		var bit uint16
		switch string(key) { // no allocation: the compiler compares the bytes
		case "dialog":
			bit, ok = 1<<0, p.str(&req.Dialog)
		case "line":
			bit, ok = 1<<1, p.int(&req.Line)
		case "scenario":
			bit, ok = 1<<2, p.str(&req.Scenario)
		case "type":
			bit, ok = 1<<3, p.str(&req.Type)
		case "text":
			bit, ok = 1<<4, p.str(&req.Text)
		case "button":
			bit, ok = 1<<5, p.int(&req.Button)
		case "client":
			bit, ok = 1<<6, p.str(&req.Client)
		case "id":
			bit, ok = 1<<7, p.str(&req.ID)
		case "language":
			bit, ok = 1<<8, p.str(&req.Language)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		p.space()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			return p.end()
		}
		return false
	}
}

type eventParser struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (p *eventParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *eventParser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end accepts only whitespace after the object.
func (p *eventParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// plainKey reads a key of ASCII letters and underscores without escapes.
func (p *eventParser) plainKey() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			k := p.b[start:p.i]
			p.i++
			return k, true
		case c >= 'a' && c <= 'z', c == '_':
			p.i++
		default:
			return nil, false
		}
	}
	return nil, false
}

// str reads a string value: valid UTF-8 without control characters, with
// the escapes \" \\ \/ \b \f \n \r \t and \uXXXX (surrogate pairs joined; a
// lone surrogate gives up: encoding/json would replace it).
func (p *eventParser) str(dst *string) bool {
	if !p.byte('"') {
		return false
	}
	start := p.i
	// the common case: no escapes, one allocation for the string
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			if !utf8.Valid(s) {
				return false
			}
			*dst = string(s)
			p.i++
			return true
		case c == '\\':
			return p.escaped(dst, start)
		case c < 0x20:
			return false
		default:
			p.i++
		}
	}
	return false
}

// escaped finishes a string that has an escape at p.i.
func (p *eventParser) escaped(dst *string, start int) bool {
	out := make([]byte, 0, p.i-start+16)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			if !utf8.Valid(out) {
				return false
			}
			*dst = string(out)
			p.i++
			return true
		case c < 0x20:
			return false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return false
			}
			if utf16.IsSurrogate(r) {
				if !p.byte('\\') || !p.byte('u') {
					return false
				}
				r2, ok := p.hex4()
				if !ok {
					return false
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return false
		}
	}
	return false
}

func (p *eventParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	var r rune
	for _, c := range p.b[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.i += 4
	return r, true
}

// int reads an integer value: an optional minus and up to 18 digits without
// leading zeros (within int64, as encoding/json requires of an int field).
func (p *eventParser) int(dst *int) bool {
	start := p.i
	p.byte('-')
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	n := p.i - digits
	if n == 0 || n > 18 || (n > 1 && p.b[digits] == '0') {
		return false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r', ',', '}':
		default:
			return false // a fraction, an exponent or garbage: encoding/json decides
		}
	}
	v, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	if err != nil {
		return false
	}
	*dst = int(v)
	return true
}
