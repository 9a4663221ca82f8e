package server

import (
	"net/url"
	"reflect"
	"testing"
)

func TestParseFormSameAsParseQuery(t *testing.T) {
	for _, body := range []string{
		"", "a=1", "a=1&b=2&a=3", "a", "a=", "=x", "&&a=1&&", "a+b=c+d", "k%5Bx%5D=v%20w", "a=%zz", "a=%4", "a%=1",
		"a=1;b=2", "x=%E2%80%A8", "x=%ff%FE", "data%5BPARAMS%5D%5BMESSAGE%5D=anna%40example.com&event=ONIMBOTMESSAGEADD",
	} {
		got, gotErr := parseForm(body)
		want, wantErr := url.ParseQuery(body)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, %v; want %v, %v", body, got, gotErr, want, wantErr)
		}
	}
}

// FuzzParseForm compares parseForm with url.ParseQuery on any body.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"a=1&b=%20", "k%5B1%5D=v+w", "a=%g1", "x;y", "&=&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, gotErr := parseForm(body)
		want, wantErr := url.ParseQuery(body)
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%q: error %v, want %v", body, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %v, want %v", body, got, want)
		}
	})
}

func BenchmarkParseForm(b *testing.B) {
	body := portalMessageBody()
	for _, bc := range []struct {
		name  string
		parse func(string) (url.Values, error)
	}{{"parseForm", parseForm}, {"url.ParseQuery", url.ParseQuery}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := bc.parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
