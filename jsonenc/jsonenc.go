// Package jsonenc appends JSON values to a byte slice with exactly the
// bytes encoding/json's Marshal produces for them (HTML characters escaped,
// invalid UTF-8 replaced, U+2028 and U+2029 escaped), without reflection:
// the building blocks of the hand-written encoders of the hot answers
// (engine.AppendActions, the server's POST /v1/events answer). Each user
// has a fuzz target comparing its output with encoding/json's.
package jsonenc

import (
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// safe[b] is whether ASCII byte b is written as itself in a string
// (encoding/json's htmlSafeSet: not a control character, quote, backslash,
// <, > or &).
var safe = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return s
}()

// String appends s as a JSON string.
func String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters and <, >, &
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Int appends n.
func Int(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// Bool appends true or false.
func Bool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

// Time appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted); false when MarshalJSON would fail (a year outside
// 0–9999, a zone offset of 24 hours or more), dst then unspecified.
func Time(dst []byte, t time.Time) ([]byte, bool) {
	dst = append(dst, '"')
	dst, err := t.AppendText(dst)
	if err != nil {
		return dst, false
	}
	return append(dst, '"'), true
}

// Key appends a quoted key and its colon, with a comma before it unless it
// is the object's first (dst ends with '{').
func Key(dst []byte, key string) []byte {
	if len(dst) > 0 && dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// Fields lists the JSON keys of struct type t as encoding/json writes them
// (the tag's name, or the field's name; "-" and unexported fields left
// out), each with ",omitempty" or ",omitzero" when the tag has it. A
// hand-written encoder compares its own list with it once, at start, and
// falls back to encoding/json if the struct has changed since it was
// written.
func Fields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		for _, o := range strings.Split(opts, ",") {
			if o == "omitempty" || o == "omitzero" || o == "string" {
				name += "," + o
			}
		}
		out = append(out, name+" "+f.Type.String())
	}
	return out
}

// SameFields reports whether t's Fields are want.
func SameFields(t reflect.Type, want ...string) bool {
	got := Fields(t)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
