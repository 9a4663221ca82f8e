package server

import (
	"net/url"
	"strings"
)

// parseForm is url.ParseQuery for a request body, with the same result:
// the values of the usual bodies (no ';', every %-escape valid) are
// unescaped into one buffer and shared out of a single string, instead of
// one allocation per escaped key and value (a portal event has about a
// hundred keys, every one of them escaped: data%5BPARAMS%5D%5BMESSAGE%5D).
// Anything else goes through url.ParseQuery, which decides the error;
// FuzzParseForm compares the two.
func parseForm(body string) (url.Values, error) {
	if strings.IndexByte(body, ';') >= 0 {
		return url.ParseQuery(body)
	}
	// the unescaped text is never longer than the body
	buf := make([]byte, 0, len(body))
	type span struct{ k0, k1, v0, v1 int }
	spans := make([]span, 0, strings.Count(body, "&")+1)
	rest := body
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		var sp span
		var ok bool
		sp.k0 = len(buf)
		if buf, ok = unescapeQuery(buf, key); !ok {
			return url.ParseQuery(body)
		}
		sp.k1, sp.v0 = len(buf), len(buf)
		if buf, ok = unescapeQuery(buf, value); !ok {
			return url.ParseQuery(body)
		}
		sp.v1 = len(buf)
		spans = append(spans, sp)
	}
	text := string(buf)
	form := make(url.Values, len(spans))
	// every key's values are a slice of one array (a key given once, as
	// the portal's keys are, is one element: an allocation per key saved);
	// a key given again gets its own array from append, as capacity is cut
	vals := make([]string, len(spans))
	for i, sp := range spans {
		k := text[sp.k0:sp.k1]
		vals[i] = text[sp.v0:sp.v1]
		if old, ok := form[k]; ok {
			form[k] = append(old, vals[i])
		} else {
			form[k] = vals[i : i+1 : i+1]
		}
	}
	return form, nil
}

// unescapeQuery appends s unescaped as url.QueryUnescape does ('+' is a
// space, %XX a byte); false on a bad escape.
func unescapeQuery(dst []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return dst, false
			}
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
