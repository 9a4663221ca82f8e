package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole store file to w while the
// store keeps serving: one read transaction (bbolt's Tx.WriteTo), so the
// copy holds exactly the writes committed before it began. size is called
// with the copy's length before the first byte is written (an HTTP answer
// sets Content-Length from it). Writes go on meanwhile; only a write that
// must grow the file waits for the copy to end, as for any long read.
func (s *Store) Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	if err := s.catchUp(); err != nil { // the copy holds every commit that returned before it
		return 0, fmt.Errorf("back up store %s: %w", s.path, err)
	}
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err == nil && s.log != nil {
		// the copy keeps the log's id: the live log goes on under a new one
		err = s.renewLogID()
	}
	if err != nil {
		return n, fmt.Errorf("back up store %s: %w", s.path, err)
	}
	return n, nil
}

// ctxWriter stops a copy when ctx ends (the client went away).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Verify opens the store file at path read-only and runs bbolt's
// consistency check over every page, and checks that it is an olbot store
// of the schema this version reads. A backup passes it before it replaces
// anything.
func Verify(path string) error {
	if err := checkLength(path); err != nil {
		return err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var problems []error
		for err := range tx.Check() { // drained to the end: Check's goroutine sends them all
			if len(problems) < 10 {
				problems = append(problems, err)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s: %w: %w", path, ErrCorrupt, errors.Join(problems...))
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil || string(meta.Get(keySchema)) != schemaVersion {
			return fmt.Errorf("%s: %w: not an olbot store of schema %s", path, ErrCorrupt, schemaVersion)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%s: %w: bucket %s is missing", path, ErrCorrupt, name)
			}
		}
		return nil
	})
}

// checkLength refuses a file shorter than its newest meta page says it is
// (a cut-off copy): bbolt maps the whole length the meta page names, and
// reading past the end of the file is a fault no recover catches. The
// meta page (bbolt's layout): a 16-byte page header, then magic, version,
// page size, flags (4 bytes each), the root bucket (16), the freelist page
// (8), the high-water page id (8) and the transaction id (8).
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// meta reads the meta page at off: its page size and the file length
	// it needs, and its transaction id; ok is false for no meta page.
	meta := func(off int64) (pageSize, end, txid uint64, ok bool) {
		head := make([]byte, 72)
		if _, err := f.ReadAt(head, off); err != nil || binary.LittleEndian.Uint32(head[16:20]) != 0xED0CDAED {
			return 0, 0, 0, false
		}
		pageSize = uint64(binary.LittleEndian.Uint32(head[24:28]))
		return pageSize, binary.LittleEndian.Uint64(head[56:64]) * pageSize, binary.LittleEndian.Uint64(head[64:72]), true
	}
	pageSize, end, txid, found := meta(0)
	if found {
		if _, end1, txid1, ok := meta(int64(pageSize)); ok && txid1 > txid {
			end = end1
		}
	}
	switch {
	case !found:
		return fmt.Errorf("%s: %w: no bbolt meta page", path, ErrCorrupt)
	case uint64(st.Size()) < end:
		return fmt.Errorf("%s: %w: %d bytes, its meta page needs %d (a cut-off copy)", path, ErrCorrupt, st.Size(), end)
	}
	return nil
}
