package bitrix24

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// twoStep is what DecodeFormBody must equal: url.ParseQuery, then
// DecodeForm; ok false when either refuses.
func twoStep(body string) (map[string]any, bool) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return nil, false
	}
	tree, err := DecodeForm(form)
	return tree, err == nil
}

// TestDecodeFormBody: the one pass gives the two-step tree for every body
// the two steps accept, and refuses every body they refuse.
func TestDecodeFormBody(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"documented message event", loadPairs(t, "message_event.txt").Encode(), true},
		{"empty", "", true},
		{"plain", "a=1&b=2", true},
		{"escaped brackets", "data%5BPARAMS%5D%5BMESSAGE%5D=anna%40example.com&event=ONIMBOTMESSAGEADD", true},
		{"plus and spaces", "a+b=c+d&x=%20y", true},
		{"empty pairs", "&&a=1&&", true},
		{"no value", "a", true},
		{"empty value", "a=", true},
		{"raw brackets", "data[PARAMS][X]=1&data[PARAMS][Y]=2", true},
		{"utf-8", "x=%E2%80%A8%D0%B0", true},
		{"invalid utf-8 bytes", "x=%ff%FE", true},
		{"empty key", "=x", false},
		{"bad escape", "a=%zz", false},
		{"short escape", "a=%4", false},
		{"bad key escape", "a%=1", false},
		{"semicolon", "a=1;b=2", false},
		{"given twice", "a=1&b=2&a=3", false},
		{"value and group", "a=1&a[b]=2", false},
		{"group and value", "a[b]=2&a=1", false},
		{"unbalanced", "a[b=1", false},
		{"empty brackets", "a[]=1", false},
		{"too deep", "a" + strings.Repeat("[x]", MaxFormDepth) + "=1", false},
		{"too many keys", strings.TrimSuffix(strings.Repeat("k=1&", MaxFormKeys+1), "&"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DecodeFormBody(tc.body)
			want, wantOK := twoStep(tc.body)
			if ok != tc.ok || wantOK != tc.ok {
				t.Fatalf("DecodeFormBody ok = %v, two steps ok = %v; want %v", ok, wantOK, tc.ok)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("tree differs:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestDecodeFormBodyLeavesManySeparators: a body of more than MaxFormKeys
// separators but few pairs is left to the two steps, which accept it; the
// handler then takes that path (server's readForm).
func TestDecodeFormBodyLeavesManySeparators(t *testing.T) {
	body := "a=1" + strings.Repeat("&", MaxFormKeys+5) + "b=2"
	if _, ok := DecodeFormBody(body); ok {
		t.Fatal("DecodeFormBody took a body of more separators than MaxFormKeys")
	}
	if tree, ok := twoStep(body); !ok || tree["a"] != "1" || tree["b"] != "2" {
		t.Fatalf("two steps = %v, %v; want a=1, b=2", tree, ok)
	}
}

// FuzzDecodeFormBody compares the one pass with url.ParseQuery and
// DecodeForm on any body: the same tree when it decodes, a refusal only
// where the two steps refuse too (or the body has more separators than
// MaxFormKeys, which it leaves to them).
func FuzzDecodeFormBody(f *testing.F) {
	f.Add(loadPairs(f, "message_event.txt").Encode())
	for _, s := range []string{"a=1&b=%20", "k%5B1%5D=v+w", "a=%g1", "x;y", "&=&", "a[b]=1&a=2", "a=1&a=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := DecodeFormBody(body)
		want, wantOK := twoStep(body)
		switch {
		case ok && !wantOK:
			t.Fatalf("%q: one pass accepted a body the two steps refuse", body)
		case !ok && wantOK && strings.Count(body, "&")+1 <= MaxFormKeys:
			t.Fatalf("%q: one pass refused a body the two steps accept", body)
		case ok && !reflect.DeepEqual(got, want):
			t.Fatalf("%q: tree differs:\n got %v\nwant %v", body, got, want)
		}
	})
}
