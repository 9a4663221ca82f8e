package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// testKVInvalid puts what engine.CheckKV refuses: ErrInvalid naming the
// field, nothing written; Get finds nothing and Delete is a no-op.
func testKVInvalid(t *testing.T, h *harness) {
	long := strings.Repeat("k", engine.MaxKVKeyLen+1)
	tests := []struct {
		name, ns, key, field string
	}{
		{"empty namespace", "", "k", "namespace"},
		{"namespace too long", strings.Repeat("n", engine.MaxNamespaceLen+1), "k", "namespace"},
		{"namespace not UTF-8", "ns\xff", "k", "namespace"},
		{"namespace with NUL", "ns\x00", "k", "namespace"},
		{"empty key", "ns", "", "key"},
		{"key too long", "ns", long, "key"},
		{"key not UTF-8", "ns", "k\xc3", "key"},
		{"key with NUL", "ns", "k\x00", "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.s.Put(h.ctx, tc.ns, tc.key, []byte("v"))
			var ie *engine.InvalidError
			if !errors.Is(err, engine.ErrInvalid) || !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("Put err=%v, want ErrInvalid naming %s", err, tc.field)
			}
			if _, err := h.s.Get(h.ctx, tc.ns, tc.key); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("Get err=%v, want ErrNotFound", err)
			}
			if err := h.s.Delete(h.ctx, tc.ns, tc.key); err != nil {
				t.Fatalf("Delete err=%v, want nil", err)
			}
		})
	}
	// The valid neighbours of the refused ids were not written either.
	for _, k := range [][2]string{{"ns", "k"}, {"ns", long[:engine.MaxKVKeyLen]}, {"n", "k"}} {
		if _, err := h.s.Get(h.ctx, k[0], k[1]); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("Get(%q, %q) err=%v after refused puts, want ErrNotFound", k[0], clipKey(k[1]), err)
		}
	}
	// Ids of exactly the maximum lengths are stored.
	ns, key := strings.Repeat("n", engine.MaxNamespaceLen), long[:engine.MaxKVKeyLen]
	if err := h.s.Put(h.ctx, ns, key, []byte("max")); err != nil {
		t.Fatalf("Put at the limits: %v", err)
	}
	if v, err := h.s.Get(h.ctx, ns, key); err != nil || string(v) != "max" {
		t.Fatalf("Get at the limits = %q, %v; want max", v, err)
	}
}

// testClaimOwner claims for owners engine.CheckOwner refuses: ErrInvalid,
// nothing leased.
func testClaimOwner(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"))
	for name, owner := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("o", engine.MaxOwnerLen+1),
		"not UTF-8": "o\xff",
		"with NUL":  "o\x00",
	} {
		t.Run(name, func(t *testing.T) {
			calls, err := h.s.Claim(h.ctx, owner, 10, t0, time.Hour)
			var ie *engine.InvalidError
			if !errors.Is(err, engine.ErrInvalid) || !errors.As(err, &ie) || ie.Field != "owner" || len(calls) != 0 {
				t.Fatalf("Claim = %d calls, err=%v; want ErrInvalid naming owner", len(calls), err)
			}
		})
	}
	// nothing was leased: another owner gets the call at once
	h.wantClaim(strings.Repeat("o", engine.MaxOwnerLen), 10, t0, time.Hour, "a1")
}
