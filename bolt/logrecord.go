package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/olbot/olbot/engine"
)

// The commit log's file format (see log.go for how it is used):
//
//	header   logMagic (8 bytes), then the log's id (8 bytes, random)
//	record   length of payload (uint32 LE), CRC-32C of payload (uint32 LE),
//	         payload
//	payload  seq (uvarint), the dialog key (uvarint length, bytes), PrevRev
//	         (varint), the dialog record (uvarint length, Dialog.AppendRecord
//	         bytes), flags (1 byte: 1 = a cursor follows), the cursor key
//	         (uvarint length, bytes) and value (varint) when flagged, then
//	         the number of calls (uvarint) and each call as JSON (uvarint
//	         length, bytes), as the outbox bucket stores them.
//	done     a record of delivered calls (Store.Done) instead of a step: seq,
//	         an empty key, PrevRev 0, an empty record, flags 2, then the
//	         number of calls (uvarint) and each call's id (uvarint). Only a
//	         log whose header says OLBOTLG2 holds them; an OLBOTLG1 log (an
//	         older olbot's) is read as before.
//
// A record is whole or it is not there: a torn write shows as a short
// record or a CRC that does not match, and the log ends before it. Seqs
// only grow (a failed append uses its seqs up, so gaps are possible); a
// record whose seq is not above the one before it is old data behind the
// end of the log (the log is reused from its start after a checkpoint, and
// an append that failed can leave records that a shorter one did not
// overwrite), and the log ends there too.
const (
	logMagic      = "OLBOTLG2"
	logMagicV1    = "OLBOTLG1" // before done records: read, and written over an emptied log
	logHeaderSize = 16
	logFrameSize  = 8 // length + CRC
	// maxLogPayload bounds one record: a commit is far smaller (a dialog
	// record is bounded by engine's limits), so a larger length is damage.
	maxLogPayload = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errLogRecord is a payload that does not decode.
var errLogRecord = errors.New("commit log record does not decode")

// logEntry is one committed step as the log holds it.
type logEntry struct {
	seq     uint64
	key     string
	prevRev int64
	rec     []byte // Dialog.AppendRecord
	cursor  *engine.Cursor
	calls   [][]byte // JSON engine.Call, ID/Seq/Dialog not yet assigned
	done    []uint64 // a done record: the ids of the calls delivered
}

// The flags byte of a record.
const (
	flagCursor = 1 // a step with a cursor
	flagDone   = 2 // a done record
)

// appendLogRecord appends e as a framed record to b.
func appendLogRecord(b []byte, e *logEntry) []byte {
	start := len(b)
	b = append(b, make([]byte, logFrameSize)...)
	b = binary.AppendUvarint(b, e.seq)
	b = appendBytes(b, []byte(e.key))
	b = binary.AppendVarint(b, e.prevRev)
	b = appendBytes(b, e.rec)
	switch {
	case len(e.done) > 0:
		b = append(b, flagDone)
		b = binary.AppendUvarint(b, uint64(len(e.done)))
		for _, id := range e.done {
			b = binary.AppendUvarint(b, id)
		}
	case e.cursor != nil:
		b = append(b, flagCursor)
		b = appendBytes(b, []byte(e.cursor.Key))
		b = binary.AppendVarint(b, e.cursor.Value)
	default:
		b = append(b, 0)
	}
	if len(e.done) == 0 {
		b = binary.AppendUvarint(b, uint64(len(e.calls)))
		for _, c := range e.calls {
			b = appendBytes(b, c)
		}
	}
	payload := b[start+logFrameSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// readLogRecord reads the record at the start of b: the entry and the
// record's whole length. ok is false when b holds no whole, intact record
// there (the end of the log, a torn write, or damage).
func readLogRecord(b []byte) (e logEntry, n int, ok bool) {
	if len(b) < logFrameSize {
		return logEntry{}, 0, false
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 || size > maxLogPayload || uint64(size) > uint64(len(b)-logFrameSize) {
		return logEntry{}, 0, false
	}
	payload := b[logFrameSize : logFrameSize+int(size)]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return logEntry{}, 0, false
	}
	e, err := decodeLogPayload(payload)
	if err != nil {
		return logEntry{}, 0, false
	}
	return e, logFrameSize + int(size), true
}

// decodeLogPayload decodes a record's payload. Every length is checked
// against the bytes left, so no input allocates more than its own size.
func decodeLogPayload(p []byte) (logEntry, error) {
	d := logDecoder{b: p}
	var e logEntry
	e.seq = d.uvarint()
	e.key = string(d.bytes())
	e.prevRev = d.varint()
	e.rec = d.bytes()
	switch d.byte() {
	case 0:
	case flagCursor:
		e.cursor = &engine.Cursor{Key: string(d.bytes()), Value: d.varint()}
	case flagDone:
		// a done record has nothing of a step, and at least one id
		if e.key != "" || e.prevRev != 0 || len(e.rec) != 0 {
			d.fail()
		}
		n := d.uvarint()
		if n == 0 || n > uint64(len(d.b)) { // each id takes at least a byte
			d.fail()
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			e.done = append(e.done, d.uvarint())
		}
		if d.err == nil && len(d.b) != 0 {
			d.fail()
		}
		if d.err != nil {
			return logEntry{}, d.err
		}
		return e, nil
	default:
		d.fail()
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each call takes at least its length byte
		d.fail()
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		e.calls = append(e.calls, d.bytes())
	}
	if e.key == "" {
		d.fail() // a step always has its dialog
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return logEntry{}, d.err
	}
	return e, nil
}

type logDecoder struct {
	b       []byte
	err     error
	scratch [binary.MaxVarintLen64]byte
}

func (d *logDecoder) fail() {
	if d.err == nil {
		d.err = errLogRecord
	}
	d.b = nil
}

// uvarint and varint take only the shortest encoding of a number, so that
// a record has one encoding.
func (d *logDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != len(binary.AppendUvarint(d.scratch[:0], v)) {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *logDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n != len(binary.AppendVarint(d.scratch[:0], v)) {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *logDecoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *logDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// scanLog reads the records of a log's body (the bytes after its header)
// in order, up to the first that is not whole and intact or whose seq is
// not above the one before it. It returns them and how many bytes they take.
func scanLog(body []byte) (entries []logEntry, n int) {
	for {
		e, size, ok := readLogRecord(body[n:])
		if !ok || (len(entries) > 0 && e.seq <= entries[len(entries)-1].seq) {
			return entries, n
		}
		entries = append(entries, e)
		n += size
	}
}

// commit rebuilds the engine.Commit the entry holds (calls decoded, the
// dialog record decoded).
func (e *logEntry) commit() (engine.Commit, error) {
	c := engine.Commit{PrevRev: e.prevRev, Cursor: e.cursor}
	if err := c.Dialog.DecodeRecord(e.rec); err != nil {
		return engine.Commit{}, fmt.Errorf("log record %d: dialog %q: %w", e.seq, e.key, err)
	}
	if c.Dialog.Key != e.key {
		return engine.Commit{}, fmt.Errorf("log record %d: %w: key %q holds the record of %q", e.seq, errLogRecord, e.key, c.Dialog.Key)
	}
	for i, raw := range e.calls {
		var call engine.Call
		if err := decodeCall(raw, &call); err != nil {
			return engine.Commit{}, fmt.Errorf("log record %d: call %d: %w", e.seq, i, err)
		}
		c.Calls = append(c.Calls, call)
	}
	return c, nil
}
