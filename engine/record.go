package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// recordV1 starts a binary record. A JSON record (what MarshalBinary
// writes, and what the embedded store wrote before the binary form) starts
// with '{', so DecodeRecord tells the two apart by the first byte.
const recordV1 = 0x01

var errShortRecord = errors.New("record ends early")

// AppendRecord appends the dialog's compact binary record to b: a version
// byte, then every field in declaration order, strings and collections
// length-prefixed, numbers and times (nanoseconds and Unix seconds) as
// varints. It is the embedded store's format: encoding and decoding it
// costs a fraction of JSON, and the store's single writer decodes the
// previous record of every commit. Empty maps and slices read back as nil,
// as they do through JSON.
func (d *Dialog) AppendRecord(b []byte) []byte {
	b = append(b, recordV1)
	b = appendString(b, d.Key)
	b = appendString(b, d.Scenario)
	b = appendString(b, d.Version)
	b = appendString(b, d.State)
	b = appendString(b, string(d.Status))
	b = appendMap(b, d.Fields)
	b = binary.AppendVarint(b, int64(d.Retries))
	b = appendString(b, d.Client)
	b = binary.AppendVarint(b, int64(d.Line))
	b = binary.AppendVarint(b, int64(d.LeadID))
	if d.IdleDone {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, t := range []time.Time{d.IdleAt, d.Started, d.LastIn, d.Updated} {
		b = appendTime(b, t)
	}
	b = binary.AppendVarint(b, d.Rev)
	b = binary.AppendUvarint(b, uint64(len(d.Recent)))
	for _, id := range d.Recent {
		b = appendString(b, id)
	}
	b = appendChannel(b, d.Channel)
	return appendOptional(b, d)
}

// Tags of the optional fields that may follow the channel: each is written
// only when set, so records of dialogs that do not use them, and records
// written before they existed, end with the channel.
const (
	tagLanguage       = 1 // followed by the string
	tagLanguageChosen = 2 // no value
	tagReminded       = 3 // followed by the count as a varint
	tagRemindFrom     = 4 // followed by the time
	tagEnded          = 5 // followed by the time
	// tagLookup: a call in flight, its sequence and the input held during
	// it, followed by their JSON as a string (rare and small: a dialog
	// waits on a call for seconds).
	tagLookup = 16
)

// lookupPart is what tagLookup carries.
type lookupPart struct {
	Call *PendingCall `json:"call,omitempty"`
	Seq  int64        `json:"cs,omitempty"`
	Held []Held       `json:"held,omitempty"`
}

func appendOptional(b []byte, d *Dialog) []byte {
	if d.Language != "" {
		b = append(b, tagLanguage)
		b = appendString(b, d.Language)
	}
	if d.LanguageChosen {
		b = append(b, tagLanguageChosen)
	}
	if d.Reminded != 0 {
		b = append(b, tagReminded)
		b = binary.AppendVarint(b, int64(d.Reminded))
	}
	if !d.RemindFrom.IsZero() {
		b = append(b, tagRemindFrom)
		b = appendTime(b, d.RemindFrom)
	}
	if !d.Ended.IsZero() {
		b = append(b, tagEnded)
		b = appendTime(b, d.Ended)
	}
	if d.Call != nil || d.CallSeq != 0 || len(d.Held) > 0 {
		j, _ := json.Marshal(lookupPart{d.Call, d.CallSeq, d.Held}) // plain data: cannot fail
		b = append(b, tagLookup)
		b = appendString(b, string(j))
	}
	return b
}

// optional reads the optional fields after the channel. It stops at a
// byte that is no tag, which the decoder then reports as stray.
func (r *recordReader) optional(out *Dialog) {
	for len(r.b) > 0 && r.err == nil {
		switch r.b[0] {
		case tagLanguage:
			r.b = r.b[1:]
			out.Language = r.string()
		case tagLanguageChosen:
			r.b = r.b[1:]
			out.LanguageChosen = true
		case tagReminded:
			r.b = r.b[1:]
			out.Reminded = int(r.varint())
		case tagRemindFrom:
			r.b = r.b[1:]
			out.RemindFrom = r.time()
		case tagEnded:
			r.b = r.b[1:]
			out.Ended = r.time()
		case tagLookup:
			r.b = r.b[1:]
			var p lookupPart
			if s := r.string(); r.err == nil {
				if err := json.Unmarshal([]byte(s), &p); err != nil {
					r.err = fmt.Errorf("call in flight: %w", err)
					return
				}
			}
			out.Call, out.CallSeq = p.Call, p.Seq
			if len(p.Held) > 0 {
				out.Held = p.Held
			}
		default:
			return
		}
	}
}

// appendChannel writes the channel as the sorted string pairs appendMap
// would write for it (the form older versions wrote for Dialog.Meta),
// without building the map.
func appendChannel(b []byte, c Channel) []byte {
	n := 0
	for _, set := range [...]bool{c.Bot != 0, c.Chat != 0, c.Dialog != "", c.Domain != "", c.Member != "", c.Playground, c.V2} {
		if set {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	var num [20]byte
	for _, p := range [...]struct {
		k string
		v int
	}{{"bot", c.Bot}, {"chat", c.Chat}} {
		if p.v != 0 {
			b = appendString(b, p.k)
			d := strconv.AppendInt(num[:0], int64(p.v), 10)
			b = binary.AppendUvarint(b, uint64(len(d)))
			b = append(b, d...)
		}
	}
	for _, p := range [...]struct{ k, v string }{{"dialog", c.Dialog}, {"domain", c.Domain}, {"member", c.Member}} {
		if p.v != "" {
			b = appendString(b, p.k)
			b = appendString(b, p.v)
		}
	}
	if c.Playground {
		b = appendString(b, "playground")
		b = appendString(b, "true")
	}
	if c.V2 {
		b = appendString(b, "v2")
		b = appendString(b, "true")
	}
	return b
}

// DecodeRecord replaces d with the record in b, written by AppendRecord or,
// from older stores, by MarshalBinary (JSON).
func (d *Dialog) DecodeRecord(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var out Dialog
		if err := out.UnmarshalBinary(b); err != nil {
			return err
		}
		*d = out
		return nil
	}
	if len(b) == 0 || b[0] != recordV1 {
		return fmt.Errorf("decode dialog record: unknown format (first byte %#x)", firstByte(b))
	}
	r := recordReader{b: b[1:]}
	var out Dialog
	out.Key = r.string()
	out.Scenario = r.string()
	out.Version = r.string()
	out.State = r.string()
	out.Status = Status(r.string())
	out.Fields = r.stringMap()
	out.Retries = int(r.varint())
	out.Client = r.string()
	out.Line = int(r.varint())
	out.LeadID = int(r.varint())
	out.IdleDone = r.byte() == 1
	out.IdleAt = r.time()
	out.Started = r.time()
	out.LastIn = r.time()
	out.Updated = r.time()
	out.Rev = r.varint()
	if n := r.count(); n > 0 {
		out.Recent = make([]string, n)
		for i := range out.Recent {
			out.Recent[i] = r.string()
		}
	}
	var chErr error
	for range r.count() {
		k, v := r.string(), r.string()
		if err := out.Channel.set(k, v); err != nil && chErr == nil && r.err == nil {
			chErr = err
		}
	}
	r.optional(&out)
	switch {
	case r.err != nil:
		return fmt.Errorf("decode dialog record: %w", r.err)
	case len(r.b) != 0:
		return fmt.Errorf("decode dialog record: %d stray bytes at the end", len(r.b))
	case chErr != nil:
		return fmt.Errorf("decode dialog record %q: %w", out.Key, chErr)
	}
	*d = out
	return nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendMap writes the pairs sorted by key, so one dialog has one encoding.
func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	if len(m) == 0 {
		return b
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m[k])
	}
	return b
}

// appendTime writes the nanoseconds plus one (0: no time) and, for a time,
// the Unix seconds: the whole range of time.Time, not only UnixNano's
// 1678–2262.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(t.Nanosecond())+1)
	return binary.AppendVarint(b, t.Unix())
}

// recordReader reads AppendRecord's fields; the first error sticks and
// every later read returns a zero value.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) fail() {
	if r.err == nil {
		r.err = errShortRecord
	}
	r.b = nil
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length, refusing one longer than the bytes left (every
// counted item takes at least one byte), so a damaged record cannot make
// the reader allocate without bound.
func (r *recordReader) count() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)-n) {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *recordReader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *recordReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *recordReader) time() time.Time {
	ns, n := binary.Uvarint(r.b)
	if n <= 0 || ns > 1e9 {
		r.fail()
		return time.Time{}
	}
	r.b = r.b[n:]
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(r.varint(), int64(ns-1)).UTC()
}

func (r *recordReader) stringMap() map[string]string {
	n := r.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.string()
		m[k] = r.string()
	}
	return m
}
