package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/olbot/olbot/engine"
)

func testKV(t *testing.T, h *harness) {
	kv := h.s
	if _, err := kv.Get(h.ctx, "portal", "m1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Get missing: err=%v, want ErrNotFound", err)
	}
	steps := []struct {
		ns, key, val string
	}{
		{"portal", "m1", "one"},
		{"portal", "m2", "two"},
		{"other", "m1", "three"}, // same key, other namespace
		{"portal", "m1", "uno"},  // overwrite
	}
	for _, st := range steps {
		if err := kv.Put(h.ctx, st.ns, st.key, []byte(st.val)); err != nil {
			t.Fatalf("Put %s/%s: %v", st.ns, st.key, err)
		}
	}
	// a namespace that is a prefix of another must not collide with it
	if err := kv.Put(h.ctx, "port", "alm1", []byte("prefix")); err != nil {
		t.Fatal(err)
	}
	want := map[[2]string]string{{"portal", "m1"}: "uno", {"portal", "m2"}: "two", {"other", "m1"}: "three", {"port", "alm1"}: "prefix"}
	check := func() {
		t.Helper()
		for k, v := range want {
			got, err := kv.Get(h.ctx, k[0], k[1])
			if err != nil || string(got) != v {
				t.Fatalf("Get %s/%s = %q, %v; want %q", k[0], k[1], got, err, v)
			}
		}
	}
	check()
	if err := kv.Delete(h.ctx, "portal", "m2"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(h.ctx, "portal", "never"); err != nil {
		t.Fatalf("Delete missing: %v, want nil", err)
	}
	delete(want, [2]string{"portal", "m2"})
	if _, err := kv.Get(h.ctx, "portal", "m2"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Get deleted: err=%v, want ErrNotFound", err)
	}
	check()
	if h.o.Reopen != nil {
		h.reopen()
		kv = h.s
		check()
	}
}

func testScanDialogs(t *testing.T, h *harness) {
	sc := h.s
	var want []string
	for i := 0; i < 5; i++ {
		key := fmt.Sprintf("scan:%d", i)
		h.start(key)
		want = append(want, key)
	}
	var got []string
	if err := sc.ScanDialogs(h.ctx, func(d engine.Dialog) error { got = append(got, d.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scanned %v, want %v (key order)", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := sc.ScanDialogs(h.ctx, func(engine.Dialog) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("stopping scan: n=%d err=%v, want 1 and the callback's error", n, err)
	}
}
