package bolt

// The stored form of an outbox call, in the B-tree and in the commit log,
// is engine.Call as encoding/json writes it (params base64, times RFC 3339):
// files written before this codec and after it are the same bytes. Every
// form event stores, claims and deletes about two calls, and encoding/json's
// reflection was a tenth of the server's CPU on that route, so the calls are
// encoded by hand (appendCall: byte for byte Marshal's output) and decoded
// by hand when they are in exactly that form (decodeCallFast). Anything
// else (an escape in a string, a field out of order, a record written by
// hand) goes through encoding/json as before, which also gives the errors;
// FuzzCallCodec compares both ways with encoding/json.

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/jsonenc"
)

// callFieldsKnown is whether engine.Call still has the fields the codec
// was written for; when it changes, every call goes through encoding/json
// (TestCallCodecFields fails until the codec is taught the new fields).
var callFieldsKnown = jsonenc.SameFields(reflect.TypeFor[engine.Call](),
	"id uint64", "dialog string", "seq int64", "portal,omitempty string", "method string",
	"params []uint8", "created time.Time", "attempts,omitempty int", "next_at,omitempty time.Time",
	"error,omitempty string", "parked,omitempty bool")

// encodeCall is json.Marshal(c).
func encodeCall(c *engine.Call) ([]byte, error) {
	if callFieldsKnown {
		if b, ok := appendCall(make([]byte, 0, 160+len(c.Dialog)+len(c.Method)+len(c.Error)+base64.StdEncoding.EncodedLen(len(c.Params))), c); ok {
			return b, nil
		}
	}
	return json.Marshal(c)
}

// decodeCall is json.Unmarshal(v, c) into a zero c.
func decodeCall(v []byte, c *engine.Call) error {
	if callFieldsKnown && decodeCallFast(v, c) {
		return nil
	}
	*c = engine.Call{}
	return json.Unmarshal(v, c)
}

// appendCall appends c as encoding/json writes it; false when Marshal
// would fail (a time outside years 0–9999), dst then unspecified.
func appendCall(dst []byte, c *engine.Call) ([]byte, bool) {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, c.ID, 10)
	dst = append(dst, `,"dialog":`...)
	dst = jsonenc.String(dst, c.Dialog)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, c.Seq, 10)
	if c.Portal != "" {
		dst = append(dst, `,"portal":`...)
		dst = jsonenc.String(dst, c.Portal)
	}
	dst = append(dst, `,"method":`...)
	dst = jsonenc.String(dst, c.Method)
	dst = append(dst, `,"params":`...)
	if c.Params == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, c.Params)
		dst = append(dst, '"')
	}
	var ok bool
	dst = append(dst, `,"created":`...)
	if dst, ok = jsonenc.Time(dst, c.Created); !ok {
		return dst, false
	}
	if c.Attempts != 0 {
		dst = append(dst, `,"attempts":`...)
		dst = strconv.AppendInt(dst, int64(c.Attempts), 10)
	}
	// omitempty does not leave out a struct: next_at is always written
	dst = append(dst, `,"next_at":`...)
	if dst, ok = jsonenc.Time(dst, c.NextAt); !ok {
		return dst, false
	}
	if c.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = jsonenc.String(dst, c.Error)
	}
	if c.Parked {
		dst = append(dst, `,"parked":true`...)
	}
	return append(dst, '}'), true
}

// decodeCallFast decodes v into c when v is in appendCall's form, without
// escapes in its strings, and reports whether it did; on false c is in an
// unspecified state.
func decodeCallFast(v []byte, c *engine.Call) bool {
	*c = engine.Call{}
	p := callParser{b: v}
	if !p.lit(`{"id":`) || !p.uint(&c.ID) || !p.lit(`,"dialog":`) || !p.str(&c.Dialog) ||
		!p.lit(`,"seq":`) || !p.int(&c.Seq) {
		return false
	}
	if p.lit(`,"portal":`) && (!p.str(&c.Portal) || c.Portal == "") {
		return false
	}
	if !p.lit(`,"method":`) || !p.str(&c.Method) || !p.lit(`,"params":`) || !p.params(&c.Params) ||
		!p.lit(`,"created":`) || !p.time(&c.Created) {
		return false
	}
	if p.lit(`,"attempts":`) {
		var n int64
		if !p.int(&n) || n == 0 || int64(int(n)) != n {
			return false
		}
		c.Attempts = int(n)
	}
	if !p.lit(`,"next_at":`) || !p.time(&c.NextAt) {
		return false
	}
	if p.lit(`,"error":`) && (!p.str(&c.Error) || c.Error == "") {
		return false
	}
	if p.lit(`,"parked":true`) {
		c.Parked = true
	}
	return p.lit("}") && p.i == len(p.b)
}

// callParser reads appendCall's output from b at i.
type callParser struct {
	b []byte
	i int
}

// lit consumes s if b continues with it.
func (p *callParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// digits consumes an optional minus and a JSON integer (no leading zero),
// returning its bytes.
func (p *callParser) digits(signed bool) ([]byte, bool) {
	start := p.i
	if signed && p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	d := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == d || (p.b[d] == '0' && p.i-d > 1) {
		return nil, false
	}
	return p.b[start:p.i], true
}

func (p *callParser) uint(dst *uint64) bool {
	b, ok := p.digits(false)
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	*dst = n
	return err == nil
}

func (p *callParser) int(dst *int64) bool {
	b, ok := p.digits(true)
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	*dst = n
	return err == nil
}

// raw consumes a quoted string without escapes or control characters and
// returns what is between the quotes.
func (p *callParser) raw() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	for i := start; i < len(p.b); i++ {
		switch b := p.b[i]; {
		case b == '"':
			p.i = i + 1
			return p.b[start:i], true
		case b == '\\' || b < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str is raw as a string, valid UTF-8 only (encoding/json replaces an
// invalid byte; the slow path does that).
func (p *callParser) str(dst *string) bool {
	b, ok := p.raw()
	if !ok || !utf8.Valid(b) {
		return false
	}
	*dst = string(b)
	return true
}

// params is null or the base64 of the params.
func (p *callParser) params(dst *[]byte) bool {
	if p.lit("null") {
		*dst = nil
		return true
	}
	b, ok := p.raw()
	if !ok {
		return false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return false
	}
	*dst = out[:n]
	return true
}

func (p *callParser) time(dst *time.Time) bool {
	b, ok := p.raw()
	return ok && dst.UnmarshalText(b) == nil
}
