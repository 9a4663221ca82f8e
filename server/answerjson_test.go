package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/jsonenc"
)

// encodeReflect is what c.JSON writes for v: encoding/json's Encoder with
// its default HTML escaping, and a newline.
func encodeReflect(v any) ([]byte, error) {
	var b bytes.Buffer
	err := json.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

// TestAnswerEncoderFields fails when an answer type's fields change: the
// hand-written encoders (answerjson.go) must learn the new field and the
// lists in answerFieldsKnown be updated; until then every answer goes
// through encoding/json.
func TestAnswerEncoderFields(t *testing.T) {
	if !answerFieldsKnown {
		t.Errorf("the answer types changed: EventResponse %q, DialogView %q, LookupView %q, bitrixEventAnswer %q — teach answerjson.go the new fields",
			jsonenc.Fields(typeOf[EventResponse]()), jsonenc.Fields(typeOf[DialogView]()), jsonenc.Fields(typeOf[LookupView]()), jsonenc.Fields(typeOf[bitrixEventAnswer]()))
	}
}

func TestEventAnswerSameBytes(t *testing.T) {
	msk := time.FixedZone("MSK", 3*3600)
	t0 := time.Date(2026, 12, 2, 5, 30, 0, 123000000, time.UTC)
	cases := map[string]dialogs.Outcome{
		"empty": {},
		"support thanks": {Result: engine.Result{Outcome: engine.Applied, Dialog: engine.Dialog{
			Key: "api:load-1", Scenario: "support", Version: "abc123", State: "thanks", Status: engine.Finished,
			Fields: map[string]string{"name": "Anna", "email": "anna@example.com"}, Line: 1, Started: t0, LastIn: t0.In(msk), Updated: t0.Add(time.Second), Rev: 4},
			Actions: []engine.Action{engine.Say{Text: "Thank you, Anna! We will write to <anna@example.com> & co."}, engine.CRM{Entity: "lead", Fields: map[string]string{"name": "Anna"}}, engine.Finish{}}}},
		"duplicate with reason and lookup": {Duplicate: true, Result: engine.Result{Outcome: engine.Ignored, Reason: "seen \u2028 before", Dialog: engine.Dialog{
			Key: "api:x", Retries: 2, Language: "ru", Rev: 9, Held: make([]engine.Held, 3),
			Call: &engine.PendingCall{Endpoint: "orders", Method: "GET", Path: "/o?a=1&b=2", Attempts: 2, Since: t0}}}},
		"empty actions": {Result: engine.Result{Actions: []engine.Action{}, Dialog: engine.Dialog{Key: "api:y", Fields: map[string]string{}}}},
	}
	for name, out := range cases {
		got, ok := appendEventAnswer(nil, &out)
		want, err := encodeReflect(responseOf(out))
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%s (%v):\n got %s\nwant %s", name, ok, got, want)
		}
	}
	// a time encoding/json refuses: the fast path gives up, and c.JSON
	// fails as it did before
	bad := dialogs.Outcome{Result: engine.Result{Dialog: engine.Dialog{Key: "k", Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	if _, ok := appendEventAnswer(nil, &bad); ok {
		t.Error("year 10000 accepted")
	}
	for _, a := range []bitrixEventAnswer{{OK: true, Outcome: "applied", Calls: 3}, {OK: true, Outcome: "ignored", Reason: "<why> & how"}} {
		got, _ := appendBitrixEventAnswer(nil, &a)
		// the answer used to be a map: the same bytes
		m := map[string]any{"ok": a.OK, "outcome": a.Outcome, "calls": a.Calls}
		if a.Reason != "" {
			m["reason"] = a.Reason
		}
		want, _ := encodeReflect(m)
		if !bytes.Equal(got, want) {
			t.Errorf("bitrix answer:\n got %s\nwant %s", got, want)
		}
	}
}

func TestEventAnswerAllocations(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 5, 30, 0, 0, time.UTC)
	out := dialogs.Outcome{Result: engine.Result{Outcome: engine.Applied, Dialog: engine.Dialog{
		Key: "api:load-1", Scenario: "support", Version: "abc123", State: "ask_email", Status: engine.Active,
		Fields: map[string]string{"name": "Anna"}, Line: 1, Started: t0, LastIn: t0, Updated: t0, Rev: 3},
		Actions: []engine.Action{engine.Say{Text: "Anna, what is your email?"}}}}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { _, _ = appendEventAnswer(buf[:0], &out) }); n != 0 {
		t.Errorf("%v allocations per answer, want 0", n)
	}
}

// answerFuzz turns fuzz bytes into choices, numbers and strings.
type answerFuzz struct{ b []byte }

func (f *answerFuzz) n(max int) int {
	if len(f.b) == 0 {
		return 0
	}
	v := int(f.b[0]) % max
	f.b = f.b[1:]
	return v
}

func (f *answerFuzz) str() string {
	n := min(f.n(10), len(f.b))
	s := string(f.b[:n])
	f.b = f.b[n:]
	return s
}

func (f *answerFuzz) i64() int64 {
	if len(f.b) < 8 {
		return int64(f.n(5) - 2)
	}
	v := int64(binary.LittleEndian.Uint64(f.b))
	f.b = f.b[8:]
	return v
}

func (f *answerFuzz) time() time.Time {
	switch f.n(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, f.i64()).UTC()
	case 2:
		// any instant in any zone, including years and offsets
		// encoding/json refuses
		return time.Unix(f.i64()%(400*365*86400*100), f.i64()%1e9).In(time.FixedZone("z", int(f.i64()%(30*3600))))
	default:
		return time.Date(2026, 12, 2, f.n(24), f.n(60), f.n(60), int(f.i64()%1e9), time.UTC)
	}
}

func (f *answerFuzz) outcome() dialogs.Outcome {
	var out dialogs.Outcome
	d := &out.Dialog
	d.Key, d.Scenario, d.Version, d.State = f.str(), f.str(), f.str(), f.str()
	d.Status = engine.Status(f.str())
	if k := f.n(4); k > 0 {
		d.Fields = map[string]string{}
		for range k - 1 {
			d.Fields[f.str()] = f.str()
		}
	}
	d.Retries, d.Line, d.Rev = int(f.i64()), int(f.i64()), f.i64()
	d.Language = f.str()
	d.Started, d.LastIn, d.Updated = f.time(), f.time(), f.time()
	if f.n(3) == 0 {
		d.Call = &engine.PendingCall{Endpoint: f.str(), Method: f.str(), Path: f.str(), Attempts: int(f.i64()), Since: f.time()}
	}
	d.Held = make([]engine.Held, f.n(3))
	out.Outcome = engine.Outcome(f.str())
	out.Reason = f.str()
	out.Duplicate = f.n(2) == 1
	switch f.n(3) {
	case 0: // nil actions
	case 1:
		out.Actions = []engine.Action{}
	default:
		for range f.n(4) {
			switch f.n(4) {
			case 0:
				out.Actions = append(out.Actions, engine.Say{Text: f.str(), Buttons: []string{f.str()}})
			case 1:
				out.Actions = append(out.Actions, engine.CRM{Entity: f.str(), Fields: map[string]string{f.str(): f.str()}})
			case 2:
				out.Actions = append(out.Actions, engine.Greet{Text: f.str()})
			default:
				out.Actions = append(out.Actions, engine.Finish{})
			}
		}
	}
	return out
}

// FuzzEventAnswerEncode compares the hand-written answer of POST
// /v1/events (and of a chat event) with what c.JSON writes through
// encoding/json, on random answers: the same bytes whenever the fast path
// answers, and it gives up only where encoding/json fails too.
func FuzzEventAnswerEncode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x05api:1\x07support\x03v01\x06thanks\x08finished\x02\x02\x04name\x04Anna\x01\x02\x03\x04\x05\x06\x07\x08\x03\x03\x03"))
	f.Add([]byte("\x03<a>\x02&\x01\xff\x00\x00\x02\xe2\x80\xa8\x01\x02\x01\x02\x03\x04\x05\x06\x07\x08\x09\x02\x02\x02\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &answerFuzz{b: data}
		out := in.outcome()
		got, ok := appendEventAnswer(nil, &out)
		want, err := encodeReflect(responseOf(out))
		if !ok {
			if err == nil {
				t.Fatalf("gave up on %#v, which encoding/json encodes: %s", out, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("encoded %#v, which encoding/json refuses (%v): %s", out, err, got)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", out, got, want)
		}
		a := bitrixEventAnswer{OK: in.n(2) == 1, Calls: int(in.i64()), Outcome: in.str(), Reason: in.str()}
		got, _ = appendBitrixEventAnswer(nil, &a)
		if want, _ := encodeReflect(a); !bytes.Equal(got, want) {
			t.Fatalf("%#v:\n got %s\nwant %s", a, got, want)
		}
	})
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// BenchmarkEventAnswer is the answer of a support step (the email
// accepted: thank-you, CRM fields, finish) built by hand and through
// encoding/json as c.JSON did.
func BenchmarkEventAnswer(b *testing.B) {
	t0 := time.Date(2026, 12, 2, 5, 30, 0, 0, time.UTC)
	out := dialogs.Outcome{Result: engine.Result{Outcome: engine.Applied, Dialog: engine.Dialog{
		Key: "api:load-1", Scenario: "support", Version: "3f9a1c2b7d", State: "thanks", Status: engine.Finished,
		Fields: map[string]string{"name": "Anna", "email": "anna@example.com"}, Line: 1, Started: t0, LastIn: t0, Updated: t0, Rev: 4},
		Actions: []engine.Action{engine.Say{Text: "Thank you, Anna! We will write to anna@example.com."},
			engine.CRM{Entity: "lead", Fields: map[string]string{"name": "Anna", "email": "anna@example.com"}}, engine.Finish{}}}}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for range b.N {
			buf, _ = appendEventAnswer(buf[:0], &out)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var w bytes.Buffer
		for range b.N {
			w.Reset()
			_ = json.NewEncoder(&w).Encode(responseOf(out))
		}
	})
}
