package bolt

import (
	"encoding/binary"
	"math"
	"time"
)

// Bucket names. The layout:
//
//	dialogs  key → Dialog.AppendRecord (older files: JSON, still read)
//	seqs     key → last Seq given to the dialog's calls (uint64)
//	outbox   id → JSON engine.Call; the bucket sequence gives ids
//	queue    dialogPrefix(key)+seq → id, the pending (unparked) calls: the
//	         first entry of a dialog is its head
//	parked   dialogPrefix(key)+seq → id, the parked calls
//	ready    timeKey(NextAt)+id → "", exactly the head of every dialog that
//	         has pending calls, ordered by due time: Claim reads it in order
//	idle     timeKey(IdleAt)+key → "", the dialogs with an idle event
//	         ahead (IdleAt set), ordered by IdleAt: Idle reads it in order
//	ended    endedKey(space, EndedAt, key) → "", the dialogs that finished
//	         or were handed off, per key space by EndedAt: Ended reads it
//	kv       len(ns)+ns+key → value: small records of other packages (portal installs)
//	meta     "schema" → schemaVersion
var (
	bucketDialogs = []byte("dialogs")
	bucketSeqs    = []byte("seqs")
	bucketOutbox  = []byte("outbox")
	bucketQueue   = []byte("queue")
	bucketParked  = []byte("parked")
	bucketReady   = []byte("ready")
	bucketIdle    = []byte("idle")
	bucketMeta    = []byte("meta")
	bucketKV      = []byte("kv")
	bucketEnded   = []byte("ended")

	allBuckets = [][]byte{bucketDialogs, bucketSeqs, bucketOutbox, bucketQueue, bucketParked, bucketReady, bucketIdle, bucketMeta, bucketKV, bucketEnded}

	keySchema = []byte("schema")
)

// schemaVersion is written into new files and checked on open.
const schemaVersion = "1"

// u64 encodes n big-endian, so that byte order is numeric order.
func u64(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}

// dialogPrefix is the length-prefixed key that starts a dialog's entries in
// queue and parked. The length prefix keeps one dialog's entries apart from
// those of any other key, whatever bytes the keys hold.
func dialogPrefix(key string) []byte {
	b := make([]byte, 0, 2+len(key)+8)
	b = binary.BigEndian.AppendUint16(b, uint16(len(key)))
	return append(b, key...)
}

// seqKey is the queue/parked key of a dialog's call.
func seqKey(key string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(dialogPrefix(key), uint64(seq))
}

// timeKey encodes t so that byte order is time order: the zero time first,
// then Unix nanoseconds with the sign bit flipped (clamped to 1678…2262).
func timeKey(t time.Time) []byte {
	var n uint64
	switch {
	case t.IsZero():
		n = 0
	case t.Before(minTime):
		n = 1
	case t.After(maxTime):
		n = math.MaxUint64
	default:
		n = uint64(t.UnixNano()) ^ (1 << 63)
		n = max(n, 1)
	}
	return u64(n)
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// readyKey orders heads by due time, then id.
func readyKey(next time.Time, id uint64) []byte {
	return binary.BigEndian.AppendUint64(timeKey(next), id)
}

// idleKey orders dialogs by IdleAt, then key.
func idleKey(idleAt time.Time, key string) []byte {
	return append(timeKey(idleAt), key...)
}

// endedKey orders the ended dialogs of one key space by EndedAt, then key.
func endedKey(space string, at time.Time, key string) []byte {
	return append(append(dialogPrefix(space), timeKey(at)...), key...)
}
