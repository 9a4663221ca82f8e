package loadtest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// jsonAnswer is what the tool checks of a POST /v1/events answer.
type jsonAnswer struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Dialog  struct {
		Key    string `json:"key"`
		State  string `json:"state"`
		Status string `json:"status"`
	} `json:"dialog"`
}

// decodeJSONAnswer reads the checked fields of an answer. The tool shares
// the CPU with the server, so its own work per answer counts against the
// server's figures: the server's usual answer (plain strings, the checked
// keys spelt as the server spells them) is read in one pass over the bytes
// (scanAnswer); anything else goes through encoding/json, which decides.
func decodeJSONAnswer(body []byte) (jsonAnswer, error) {
	if a, ok := scanAnswer(body); ok {
		return a, nil
	}
	var a jsonAnswer
	err := json.Unmarshal(body, &a)
	return a, err
}

// scanAnswer is decodeJSONAnswer's one pass. ok is false for anything it
// does not read the way encoding/json would: an escape in a checked string
// or in a key, a checked key in other letter case, a checked field that is
// not a string (or, dialog, an object), a value it cannot skip, bytes after
// the object. FuzzScanAnswer holds it to encoding/json.
func scanAnswer(body []byte) (a jsonAnswer, ok bool) {
	s := answerScanner{b: body}
	ok = s.object(func(key []byte) bool {
		switch string(key) {
		case "outcome":
			return s.str(&a.Outcome)
		case "reason":
			return s.str(&a.Reason)
		case "dialog":
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "key":
					return s.str(&a.Dialog.Key)
				case "state":
					return s.str(&a.Dialog.State)
				case "status":
					return s.str(&a.Dialog.Status)
				}
				return !foldsTo(key, "key", "state", "status") && s.skip(0)
			})
		}
		return !foldsTo(key, "outcome", "reason", "dialog") && s.skip(0)
	})
	s.space()
	return a, ok && s.i == len(s.b)
}

// foldsTo reports whether key matches one of names the way encoding/json
// matches field names (without regard to case).
func foldsTo(key []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// answerScanner walks JSON bytes; every method returns false for what it
// does not take, and the caller gives up.
type answerScanner struct {
	b []byte
	i int
}

// maxSkipDepth bounds the nesting skip follows (encoding/json's own limit
// is 10,000; an answer nests a few levels).
const maxSkipDepth = 64

func (s *answerScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *answerScanner) byte(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads an object, calling member for each key with the scanner
// before the key's value.
func (s *answerScanner) object(member func(key []byte) bool) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	for {
		key, ok := s.span()
		if !ok || !s.byte(':') || !member(key) {
			return false
		}
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// str reads a string of valid UTF-8 without escapes or control characters
// into *dst (encoding/json would unescape, or replace invalid bytes).
func (s *answerScanner) str(dst *string) bool {
	b, ok := s.span()
	if ok {
		*dst = string(b)
	}
	return ok
}

// span is str's bytes, not copied.
func (s *answerScanner) span() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	for j := s.i; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			b := s.b[s.i:j]
			if !utf8.Valid(b) {
				return nil, false
			}
			s.i = j + 1
			return b, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// skip passes over one value of any kind.
func (s *answerScanner) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		return s.skipString()
	case '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case '[':
		s.i++
		if s.byte(']') {
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if s.byte(']') {
				return true
			}
			if !s.byte(',') {
				return false
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// skipString passes over a string, escapes and all (a valid escape only).
func (s *answerScanner) skipString() bool {
	s.i++ // the quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 6
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *answerScanner) literal(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// number passes over a number in JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *answerScanner) number() bool {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
