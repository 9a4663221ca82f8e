package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The longest ids a store accepts, in bytes. Every id is also valid UTF-8
// without NUL bytes, so that every store (PostgreSQL's text type included)
// keeps it exactly. Callers that build ids from outside input (the HTTP
// layer: a portal's DIALOG_ID, a client's dialog id) check them against
// these limits first, so that bad input is answered as such and never
// reaches the store.
const (
	MaxKeyLen       = 1024 // Dialog.Key (and Call.Dialog): "b24:<member_id>:<DIALOG_ID>", "api:<id>"
	MaxPortalLen    = 255  // Call.Portal: a portal's member_id or domain
	MaxMethodLen    = 255  // Call.Method: a REST method name
	MaxNamespaceLen = 64   // a KV namespace
	MaxKVKeyLen     = 1024 // a KV key
	MaxOwnerLen     = 255  // the owner of outbox leases (Claim, Release)
)

// InvalidError is a store input that can never be stored: it names the
// field and says why. errors.Is(err, ErrInvalid) is true for it.
type InvalidError struct {
	Field  string // e.g. "Dialog.Key", "Calls[1].Method", "namespace"
	Reason string // e.g. "is 1100 bytes, the limit is 1024"
}

func (e *InvalidError) Error() string { return "invalid " + e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// idProblem says what is wrong with one id, or "" when nothing is: empty
// (when required), over limit bytes, not UTF-8 text, or holding a NUL
// byte. Fine ids cost no allocation: every commit checks several.
func idProblem(s string, limit int, required bool) string {
	switch {
	case s == "" && required:
		return "is empty"
	case len(s) > limit:
		return fmt.Sprintf("is %d bytes, the limit is %d", len(s), limit)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}

// checkID is idProblem as an *InvalidError naming field.
func checkID(field, s string, limit int, required bool) error {
	if why := idProblem(s, limit, required); why != "" {
		return &InvalidError{Field: field, Reason: why}
	}
	return nil
}

// CheckKey returns an *InvalidError when key cannot be a dialog key.
func CheckKey(key string) error { return checkID("Dialog.Key", key, MaxKeyLen, true) }

// CheckOwner returns an *InvalidError when owner cannot own outbox leases.
func CheckOwner(owner string) error { return checkID("owner", owner, MaxOwnerLen, true) }

// CheckKV returns an *InvalidError when ns/key cannot be stored in a KV.
func CheckKV(ns, key string) error {
	if err := checkID("namespace", ns, MaxNamespaceLen, true); err != nil {
		return err
	}
	return checkID("key", key, MaxKVKeyLen, true)
}

// CheckCommit is the validation every store runs first in Commit: it
// returns an *InvalidError (errors.Is ErrInvalid) for a commit that can
// never be stored, naming the field. The dialog key and the calls' ids
// must pass the limits above, Dialog.Rev must be PrevRev+1 with PrevRev >=
// 0, a call's Dialog is empty or the commit's key, and its Params are
// empty or JSON; a Cursor's Key passes CheckKV's key rules and its
// Value and Fence are not negative. The record's other text (fields,
// meta) is stored as given.
func CheckCommit(c Commit) error {
	if err := CheckKey(c.Dialog.Key); err != nil {
		return err
	}
	switch {
	case c.PrevRev < 0:
		return invalid("PrevRev", "is negative (%d)", c.PrevRev)
	case c.Dialog.Rev != c.PrevRev+1:
		return invalid("Dialog.Rev", "is %d, want PrevRev+1 = %d", c.Dialog.Rev, c.PrevRev+1)
	}
	if cur := c.Cursor; cur != nil {
		if err := checkID("Cursor.Key", cur.Key, MaxKVKeyLen, true); err != nil {
			return err
		}
		switch {
		case cur.Value < 0:
			return invalid("Cursor.Value", "is negative (%d)", cur.Value)
		case cur.Fence < 0:
			return invalid("Cursor.Fence", "is negative (%d)", cur.Fence)
		}
	}
	for i := range c.Calls {
		call := &c.Calls[i]
		if call.Dialog != "" && call.Dialog != c.Dialog.Key {
			return invalid(callField(i, "Dialog"), "names dialog %s, not the commit's", clip(call.Dialog))
		}
		if why := idProblem(call.Method, MaxMethodLen, true); why != "" {
			return &InvalidError{Field: callField(i, "Method"), Reason: why}
		}
		if why := idProblem(call.Portal, MaxPortalLen, false); why != "" {
			return &InvalidError{Field: callField(i, "Portal"), Reason: why}
		}
		if len(call.Params) > 0 && !json.Valid(call.Params) {
			return invalid(callField(i, "Params"), "are not JSON")
		}
	}
	return nil
}

// callField names a field of the commit's i-th call, as in "Calls[1].Method".
func callField(i int, name string) string { return "Calls[" + strconv.Itoa(i) + "]." + name }

// clip quotes s for an error message, cut to a readable length.
func clip(s string) string {
	const n = 40
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return strconv.Quote(s)
}

// ParseCursor reads a cursor value kept as decimal text (bolt and memory
// keep cursors in the key-value space, engine.NSCursor); a value that is
// not a non-negative number is an error naming key.
func ParseCursor(key string, v []byte) (int64, error) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("cursor %s: stored value %q is not a position", clip(key), v)
	}
	return n, nil
}
