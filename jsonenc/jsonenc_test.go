package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "\b\f\n\r\t\x00\x01\x1f\x7f",
		"Привет, мир", "emoji 😀", "\u2028\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate", "a\u00a0b",
	} {
		if got, want := String(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	}
}

func TestTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 12, 2, 5, 14, 0, 0, time.UTC),
		time.Date(2026, 12, 2, 5, 14, 0, 123456789, time.FixedZone("MSK", 3*3600)),
		time.Date(2026, 12, 2, 5, 14, 0, 120000000, time.FixedZone("odd", -(5*3600+30*60+17))),
		{},
	} {
		got, ok := Time(nil, tm)
		if want := marshal(t, tm); !ok || !bytes.Equal(got, want) {
			t.Errorf("%v: got %s (%v), want %s", tm, got, ok, want)
		}
	}
	for _, tm := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 24*3600))} {
		if _, err := json.Marshal(tm); err == nil {
			t.Fatalf("%v: encoding/json accepts it", tm)
		}
		if _, ok := Time(nil, tm); ok {
			t.Errorf("%v: accepted", tm)
		}
	}
}

func TestIntBoolKey(t *testing.T) {
	for _, n := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64} {
		if got, want := Int(nil, n), marshal(t, n); !bytes.Equal(got, want) {
			t.Errorf("%d: %s", n, got)
		}
	}
	if string(Bool(nil, true)) != "true" || string(Bool(nil, false)) != "false" {
		t.Error("bool")
	}
	b := append([]byte(nil), '{')
	b = Key(b, "a")
	b = Int(b, 1)
	b = Key(b, "b")
	b = append(b, '}')
	if string(b) != `{"a":1,"b":}` {
		t.Errorf("keys: %s", b)
	}
}

func TestFields(t *testing.T) {
	type s struct {
		A      string `json:"a"`
		B      int    `json:"b,omitempty"`
		C      bool   `json:",omitzero"`
		D      string `json:"-"`
		F      []int
		Ignore string `json:"x,string"`
	}
	want := []string{"a string", "b,omitempty int", "C,omitzero bool", "F []int", "x,string string"}
	if got := Fields(reflect.TypeOf(s{})); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	if !SameFields(reflect.TypeOf(s{}), want...) || SameFields(reflect.TypeOf(s{}), want[:4]...) {
		t.Error("SameFields")
	}
}

// FuzzString compares String with encoding/json on any bytes.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "<a href=\"x\">&</a>", "\x00\x7f\xff", "\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := String(nil, s), marshal(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
