package server

import (
	"errors"
	"testing"
)

// eventBodies are bodies of POST /v1/events: the usual ones, and the ones
// the fast decoder must hand to encoding/json.
var eventBodies = []string{
	`{"dialog":"chat-42","type":"start","client":"Анна","line":1}`,
	`{"dialog":"chat-42","type":"message","text":"Привет, мне нужна доставка","id":"m-1"}`,
	` { "dialog" : "c" , "type" : "button" , "button" : 2 , "language" : "ru" } `,
	`{"dialog":"c","type":"message","text":"\u041f\u0440\u0438\u0432\u0435\u0442 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t"}`,
	`{"dialog":"c","scenario":"support","line":-3,"button":0}`,
	`{}`,
	`{"dialog":"c","dialog":"d"}`,
	`{"dialog":"c","Dialog":"d"}`,
	`{"Dialog":"c"}`,
	`{"dialog":"c","extra":1}`,
	`{"dialog":null,"type":"start"}`,
	`{"dialog":"c","line":1.5}`,
	`{"dialog":"c","line":1e2}`,
	`{"dialog":"c","line":"1"}`,
	`{"dialog":1}`,
	`{"dialog":"c","line":99999999999999999999}`,
	`{"dialog":"c","line":01}`,
	`{"dialog":"c","text":"\ud800"}`,
	`{"dialog":"c","text":"` + "\xff" + `"}`,
	`{"dialog":"c","text":"a` + "\n" + `b"}`,
	`{"dialog":"c"} {"dialog":"d"}`,
	`{"dialog":"c"}}`,
	`{"dialog":"c",}`,
	`[{"dialog":"c"}]`,
	``,
	`{"dialog":"c","text":"\x"}`,
	`{"dialog":"c","text":"\u12"}`,
	`{"dialog":"c","line":-}`,
	`{"dialog":"c","line":-0}`,
}

// sameDecode checks one body: where the fast decoder accepts, encoding/json
// accepts with the same values; and the route's decoder (fast, else
// strict) gives encoding/json's answer, refusal and field included.
func sameDecode(t *testing.T, body []byte) {
	t.Helper()
	var want EventRequest
	wantErr := decodeJSONBody(body, &want)
	var fast EventRequest
	if decodeEventFast(body, &fast) {
		if wantErr != nil {
			t.Fatalf("%q: the fast decoder accepts %+v, encoding/json refuses: %v", body, fast, wantErr)
		}
		if fast != want {
			t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, want)
		}
	}
	got, gotErr := decodeEventBody(body)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json %v", body, gotErr, wantErr)
	}
	var ge, we *Error
	if errors.As(gotErr, &ge) && errors.As(wantErr, &we) && ge.Field != we.Field {
		t.Fatalf("%q: field %q, encoding/json %q", body, ge.Field, we.Field)
	}
	if gotErr == nil && got != want {
		t.Fatalf("%q: %+v, encoding/json %+v", body, got, want)
	}
}

func TestEventDecodeMatchesEncodingJSON(t *testing.T) {
	fastOK := 0
	for _, b := range eventBodies {
		t.Run("", func(t *testing.T) { sameDecode(t, []byte(b)) })
		var r EventRequest
		if decodeEventFast([]byte(b), &r) {
			fastOK++
		}
	}
	// the usual bodies take the fast path: the first six above, and -0
	if fastOK != 7 {
		t.Errorf("the fast decoder took %d of the bodies, want 7", fastOK)
	}
}

func TestEventDecodeRefusals(t *testing.T) {
	for _, tc := range []struct{ body, field string }{
		{`{"dialog":"c","extra":1}`, "extra"},
		{`{"dialog":"c","line":"1"}`, "line"},
		{`{"dialog":"c","dialog":"d"}`, "dialog"},
		{`{"dialog":"c","line":1.5}`, "line"},
	} {
		_, err := decodeEventBody([]byte(tc.body))
		var e *Error
		if !errors.As(err, &e) || e.Code != EInvalid || e.Field != tc.field {
			t.Errorf("%s: %v, want a 400 naming %q", tc.body, err, tc.field)
		}
	}
}

func FuzzEventRequestDecode(f *testing.F) {
	for _, b := range eventBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameDecode(t, body) })
}

func BenchmarkEventDecode(b *testing.B) {
	body := []byte(`{"dialog":"load-3f2a9c1e-1234","line":1,"type":"message","text":"Иван Петров","client":"Иван","id":"load-3f2a9c1e-1234-2"}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEventBody(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json_strict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r EventRequest
			if err := decodeJSONBody(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
