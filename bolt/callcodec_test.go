package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

func TestCallCodecFields(t *testing.T) {
	if !callFieldsKnown {
		t.Fatal("engine.Call's fields changed: teach appendCall and decodeCallFast the new ones, then update callFieldsKnown")
	}
}

// sameAsJSON checks encodeCall against json.Marshal and decodeCall of the
// result against json.Unmarshal, and returns the encoded bytes.
func sameAsJSON(t testing.TB, c engine.Call) []byte {
	t.Helper()
	want, wantErr := json.Marshal(c)
	got, err := encodeCall(&c)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("encodeCall error %v, json.Marshal error %v", err, wantErr)
	}
	if wantErr != nil {
		return nil
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeCall:\n got %s\nwant %s", got, want)
	}
	sameDecode(t, want)
	return want
}

// sameDecode checks decodeCall against json.Unmarshal on v.
func sameDecode(t testing.TB, v []byte) {
	t.Helper()
	var want, got engine.Call
	wantErr := json.Unmarshal(v, &want)
	err := decodeCall(v, &got)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeCall(%s) error %v, json.Unmarshal error %v", v, err, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeCall(%s):\n got %#v\nwant %#v", v, got, want)
	}
}

func TestCallCodec(t *testing.T) {
	created := time.Date(2026, 12, 2, 18, 30, 0, 123456789, time.UTC)
	moscow := time.FixedZone("MSK", 3*3600)
	full := engine.Call{ID: 42, Dialog: "b24:a1b2:chat7", Seq: 3, Portal: "a1b2", Method: "imbot.message.add",
		Params: []byte(`{"DIALOG_ID":"chat7","MESSAGE":"Hello"}`), Created: created, Attempts: 2,
		NextAt: created.Add(time.Second), Error: "QUERY_LIMIT_EXCEEDED", Parked: true}
	tests := []struct {
		name string
		call engine.Call
		fast bool // decoded without encoding/json
	}{
		{"zero", engine.Call{}, true},
		{"a queued call", engine.Call{ID: 1, Dialog: "b24:a1b2:chat7", Seq: 1, Portal: "a1b2", Method: "imbot.message.add", Params: []byte(`{}`), Created: created}, true},
		{"every field", full, true},
		{"no params", engine.Call{ID: 2, Method: "imopenlines.bot.session.finish", Created: created}, true},
		{"empty params", engine.Call{ID: 3, Params: []byte{}, Created: created}, true},
		{"binary params", engine.Call{ID: 4, Params: []byte{0, 0xff, '"', '\\', 0x80}, Created: created}, true},
		{"another zone", engine.Call{ID: 5, Created: created.In(moscow), NextAt: created.In(moscow)}, true},
		{"negative seq and attempts", engine.Call{Seq: -7, Attempts: -1}, true},
		{"largest id", engine.Call{ID: 1<<64 - 1, Seq: -1 << 63}, true},
		{"escapes in the error", engine.Call{ID: 6, Error: "portal said \"no\"\n<b>&</b>\u2028"}, false},
		{"invalid UTF-8 in the dialog", engine.Call{ID: 7, Dialog: "b24:\xff"}, false},
		{"non-ASCII text", engine.Call{ID: 8, Error: "портал недоступен ☎"}, true},
		{"a year past 9999", engine.Call{ID: 9, Created: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := sameAsJSON(t, tt.call)
			if v == nil {
				if _, err := encodeCall(&tt.call); err == nil {
					t.Fatal("encodeCall encoded a call json.Marshal refuses")
				}
				return
			}
			var c engine.Call
			if fast := decodeCallFast(v, &c); fast != tt.fast {
				t.Errorf("decodeCallFast(%s) = %v, want %v", v, fast, tt.fast)
			}
		})
	}
}

// TestCallDecodeOther feeds decodeCall JSON that appendCall does not write:
// each must decode (or fail) exactly as with json.Unmarshal.
func TestCallDecodeOther(t *testing.T) {
	base := `{"id":1,"dialog":"d","seq":2,"method":"m","params":"e30=","created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z"}`
	inputs := []string{
		base,
		` ` + base,
		base + ` `,
		base + `x`,
		base[:len(base)-1],
		`{"seq":2,"id":1}`,
		`{"id":1,"id":2}`,
		`{"id":01}`,
		`{"id":-1}`,
		`{"id":1.5}`,
		`{"id":18446744073709551616}`,
		`{"id":1,"dialog":"d","seq":2,"portal":"","method":"m","params":null,"created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":null,"created":"2026-12-02T18:30:00Z","attempts":0,"next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":"e30","created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":"!!!!","created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":null,"created":null,"next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":null,"created":"2026-12-02 18:30:00","next_at":"0001-01-01T00:00:00Z"}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":null,"created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z","parked":false}`,
		`{"id":1,"dialog":"d","seq":2,"method":"m","params":null,"created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z","error":"x","parked":true}`,
		`{"id":1,"dialog":"d\u0041","seq":2}`,
		`{"id":1,"dialog":"a	b"}`,
		`{"id":1,"attempts":9223372036854775807}`,
		`{"id":1,"unknown":true}`,
		`{"ID":1,"Dialog":"d"}`,
		`null`,
		`[]`,
		``,
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) { sameDecode(t, []byte(in)) })
	}
}

// FuzzCallCodec compares the codec with encoding/json: encoding random
// calls, decoding what it encoded, and decoding random bytes.
func FuzzCallCodec(f *testing.F) {
	f.Add(uint64(1), "b24:a1b2:chat7", int64(1), "a1b2", "imbot.message.add", []byte(`{"MESSAGE":"Hi"}`), int64(1764700000123456789), 0, int64(0), "", false, 0,
		[]byte(`{"id":1,"dialog":"d","seq":2,"method":"m","params":"e30=","created":"2026-12-02T18:30:00Z","next_at":"0001-01-01T00:00:00Z"}`))
	f.Add(uint64(0), "", int64(-3), "", "", []byte(nil), int64(0), -2, int64(-62135596800000000), "a \"quoted\" <error>", true, 3*3600, []byte(`{}`))
	f.Fuzz(func(t *testing.T, id uint64, dialog string, seq int64, portal, method string, params []byte, created int64, attempts int, next int64, errText string, parked bool, offset int, raw []byte) {
		zone := time.FixedZone("", offset%(24*3600))
		c := engine.Call{ID: id, Dialog: dialog, Seq: seq, Portal: portal, Method: method, Params: params,
			Created: time.Unix(0, created).In(zone), Attempts: attempts, NextAt: time.Unix(0, next).UTC(), Error: errText, Parked: parked}
		sameAsJSON(t, c)
		sameDecode(t, raw)
	})
}

// benchCall is a call as a form event's step stores it: a reply with
// buttons (outbox.calls' params for imbot.message.add).
var benchCall = engine.Call{ID: 81234, Dialog: "b24:0e8a63a4b0a1b2c3:chat1777", Seq: 5, Portal: "0e8a63a4b0a1b2c3", Method: "imbot.message.add",
	Params:  []byte(`{"BOT_ID":39,"DIALOG_ID":"chat1777","KEYBOARD":[{"TEXT":"Leave a request","COMMAND":"olbot","COMMAND_PARAMS":"1","DISPLAY":"LINE","BLOCK":"Y"},{"TEXT":"Talk to an operator","COMMAND":"olbot","COMMAND_PARAMS":"2","DISPLAY":"LINE","BLOCK":"Y"}],"MESSAGE":"Hello! How can we help?"}`),
	Created: time.Date(2026, 12, 2, 18, 30, 0, 123456789, time.UTC)}

// BenchmarkCallCodec compares the hand-written call codec with
// encoding/json on benchCall.
//
//	go test -run '^$' -bench CallCodec -benchmem ./bolt/
func BenchmarkCallCodec(b *testing.B) {
	v, _ := json.Marshal(benchCall)
	b.Run("encode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeCall(&benchCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&benchCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c engine.Call
			if err := decodeCall(v, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var c engine.Call
			if err := json.Unmarshal(v, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOutboxCycle is a portal step's whole way through the store:
// each op commits a step with two calls (a dialog of the writer's own),
// claims what is due and records it as delivered, at 32 writers. The
// codec=encoding-json runs turn the hand-written codec off, for a same-run
// ratio.
//
//	go test -run '^$' -bench OutboxCycle -benchtime 20000x -count 3 ./bolt/
func BenchmarkOutboxCycle(b *testing.B) {
	for _, hand := range []bool{true, false} {
		name := "codec=hand"
		if !hand {
			name = "codec=encoding-json"
		}
		b.Run(name, func(b *testing.B) {
			defer func(known bool) { callFieldsKnown = known }(callFieldsKnown)
			callFieldsKnown = hand
			s := mustOpen(b, filepath.Join(b.TempDir(), "olbot.db"), Options{})
			b.Cleanup(func() { s.Close() })
			b.SetParallelism((32 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			ctx := b.Context()
			var writers atomic.Int64
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := writers.Add(1)
				owner := fmt.Sprintf("bench%d", w)
				d := engine.Dialog{Key: fmt.Sprintf("b24:0e8a63a4b0a1b2c3:chat%d", w), Scenario: "support", Version: "v1", State: "ask_email",
					Status: engine.Active, Fields: map[string]string{"name": "Anna"}, Started: time.Now(), Updated: time.Now()}
				call := benchCall
				call.ID, call.Dialog, call.Seq = 0, "", 0 // the store's to assign
				cs := []engine.Call{call, call}
				for prev := int64(0); pb.Next(); prev++ {
					d.Rev = prev + 1
					if err := s.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: cs}); err != nil {
						b.Error(err)
						return
					}
					claimed, err := s.Claim(ctx, owner, 2, time.Now(), time.Minute)
					if err != nil {
						b.Error(err)
						return
					}
					for _, c := range claimed {
						if err := s.Done(ctx, c.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
							b.Error(err)
							return
						}
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
