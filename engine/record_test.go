package engine

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func recordDialogs() map[string]Dialog {
	at := time.Date(2026, 11, 25, 10, 30, 15, 123456789, time.UTC)
	return map[string]Dialog{
		"empty": {},
		"new":   {Key: "api:1"},
		"full": {
			Key: "b24:portal.bitrix24.ru:chat12", Scenario: "support", Version: "3f2a9c", State: "ask_email",
			Status: Active, Fields: map[string]string{"name": "Анна", "email": "anna@example.com", "z": ""},
			Retries: 2, Client: "Анна-Мария", Line: 7, LeadID: 123456, IdleDone: true,
			IdleAt: at.Add(10 * time.Minute), Started: at, LastIn: at.Add(time.Second), Updated: at.Add(2 * time.Second),
			Rev: 1 << 40, Recent: []string{"m1", "", "m3 with spaces"},
			Channel: Channel{Member: "bac1cd5c", Domain: "portal.bitrix24.ru", Dialog: "chat12", Chat: 12, Bot: 1011, Playground: true, V2: true},
		},
		"negative numbers": {Key: "api:n", Retries: -1, Line: -7, LeadID: -1, Rev: -3},
		"reminded":         {Key: "api:r", Status: Active, Reminded: 2, RemindFrom: at.Add(5 * time.Minute), Language: "en"},
		"handed off":       {Key: "api:h", Status: HandedOff, Updated: time.Unix(1, 0).UTC()},
		"far times":        {Key: "api:t", IdleAt: time.Date(1500, 1, 1, 0, 0, 0, 1, time.UTC), Started: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), LastIn: time.Unix(0, 0).UTC()},
		"long text":        {Key: "api:l", Client: strings.Repeat("я", 5000), Fields: map[string]string{"about": strings.Repeat("x\x00\n", 1000)}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, d := range recordDialogs() {
		t.Run(name, func(t *testing.T) {
			rec := d.AppendRecord(nil)
			var got Dialog
			if err := got.DecodeRecord(rec); err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			// JSON is the reference: a binary record must read back exactly
			// as the JSON record of the same dialog does.
			js, err := d.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var want Dialog
			if err := want.DecodeRecord(js); err != nil {
				t.Fatalf("DecodeRecord(JSON): %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("binary record reads back as\n%+v\nJSON record as\n%+v", got, want)
			}
			if again := got.AppendRecord(nil); !bytes.Equal(again, rec) {
				t.Errorf("re-encoding differs:\n%x\n%x", again, rec)
			}
		})
	}
}

func TestRecordDecodeReplaces(t *testing.T) {
	d := Dialog{Key: "api:old", Fields: map[string]string{"stale": "1"}, Recent: []string{"x"}}
	fresh := Dialog{Key: "api:new"}
	for _, rec := range [][]byte{fresh.AppendRecord(nil), []byte(`{"k":"api:new"}`)} {
		got := d.Clone()
		if err := got.DecodeRecord(rec); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, fresh) {
			t.Errorf("DecodeRecord(%q) left %+v, want %+v", rec, got, fresh)
		}
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	full := recordDialogs()["full"]
	rec := full.AppendRecord(nil)
	tests := []struct {
		name string
		rec  []byte
		want string
	}{
		{"nothing", nil, "unknown format (first byte 0x0)"},
		{"unknown version", []byte{0x02, 0, 0}, "unknown format (first byte 0x2)"},
		{"broken JSON", []byte(`{"k":`), "decode dialog record: unexpected end of JSON input"},
		{"stray bytes", append(append([]byte(nil), rec...), 0), "1 stray bytes at the end"},
		{"length beyond the end", []byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0x0f}, "record ends early"},
	}
	// Every truncation of a valid record is an error, never a panic or a
	// partly filled dialog.
	for n := 1; n < len(rec); n++ {
		tests = append(tests, struct {
			name string
			rec  []byte
			want string
		}{"truncated", rec[:n], "record ends early"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Dialog{Key: "api:keep"}
			err := d.DecodeRecord(tt.rec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeRecord(%x) = %v, want an error containing %q", tt.rec, err, tt.want)
			}
			if d.Key != "api:keep" {
				t.Errorf("a failed decode changed the dialog: %+v", d)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, d := range recordDialogs() {
		f.Add(d.AppendRecord(nil))
		js, _ := json.Marshal(d)
		f.Add(js)
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var d Dialog
		if err := d.DecodeRecord(rec); err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes the same.
		var again Dialog
		if err := again.DecodeRecord(d.AppendRecord(nil)); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(d), normalize(again)) {
			t.Fatalf("round trip changed the dialog:\n%+v\n%+v", d, again)
		}
	})
}

// normalize maps what the binary form cannot tell apart to one value: empty
// collections and nil, and times in another zone.
func normalize(d Dialog) Dialog {
	if len(d.Fields) == 0 {
		d.Fields = nil
	}
	if len(d.Recent) == 0 {
		d.Recent = nil
	}
	for _, t := range []*time.Time{&d.IdleAt, &d.Started, &d.LastIn, &d.Updated} {
		if !t.IsZero() {
			*t = t.UTC()
		}
	}
	return d
}

func BenchmarkRecord(b *testing.B) {
	d := recordDialogs()["full"]
	js, _ := d.MarshalBinary()
	bin := d.AppendRecord(nil)
	b.Run("encode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = d.MarshalBinary()
		}
	})
	b.Run("encode/binary", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = d.AppendRecord(buf[:0])
		}
	})
	b.Run("decode/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var x Dialog
			_ = x.DecodeRecord(js)
		}
	})
	b.Run("decode/binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var x Dialog
			_ = x.DecodeRecord(bin)
		}
	})
}

// TestRecordChannelOfOlderVersions reads the channel as older versions
// wrote it, a map of strings (Dialog.Meta), in the binary record and in the
// JSON records of older files; a pair that does not parse is an error
// naming it, never a silent zero.
func TestRecordChannelOfOlderVersions(t *testing.T) {
	older := func(pairs map[string]string) []byte { // AppendRecord of a dialog with only Key and Meta
		b := []byte{recordV1}
		b = appendString(b, "b24:m1:chat12")
		for range 4 {
			b = appendString(b, "")
		}
		b = appendMap(b, nil)
		b = append(b, 0, 0, 0, 0, 0) // retries, client, line, lead, idle done
		b = append(b, 0, 0, 0, 0)    // four zero times
		b = append(b, 0, 0)          // rev, no recent ids
		return appendMap(b, pairs)
	}
	portal := map[string]string{"member": "m1", "dialog": "chat12", "chat": "12", "domain": "p.bitrix24.ru", "bot": "1011"}
	want := Channel{Member: "m1", Domain: "p.bitrix24.ru", Dialog: "chat12", Chat: 12, Bot: 1011}
	tests := []struct {
		name    string
		rec     []byte
		want    Channel
		wantErr string
	}{
		{"binary record", older(portal), want, ""},
		{"JSON record", []byte(`{"k":"b24:m1:chat12","m":{"member":"m1","dialog":"chat12","chat":"12","domain":"p.bitrix24.ru","bot":"1011"}}`), want, ""},
		{"playground, JSON", []byte(`{"k":"pg:s1","m":{"playground":"true"}}`), Channel{Playground: true}, ""},
		{"playground, binary", older(map[string]string{"playground": "true"}), Channel{Playground: true}, ""},
		{"chat not a number", older(map[string]string{"chat": "twelve"}), Channel{}, `channel chat "twelve"`},
		{"bot not a number, JSON", []byte(`{"k":"x","m":{"bot":"b"}}`), Channel{}, `channel bot "b"`},
		{"unknown pair", older(map[string]string{"chat_id": "1"}), Channel{}, `channel: unknown key "chat_id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Dialog
			err := d.DecodeRecord(tt.rec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DecodeRecord = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Channel != tt.want {
				t.Fatalf("channel = %+v, want %+v", d.Channel, tt.want)
			}
			// written again, it is the same pairs older versions read
			var again Dialog
			if err := again.DecodeRecord(d.AppendRecord(nil)); err != nil || again.Channel != tt.want {
				t.Fatalf("re-encoded: %+v, %v", again.Channel, err)
			}
		})
	}
}

// TestChannelJSON: the JSON record's channel reads back the same whatever
// its values hold (quotes, backslashes, HTML, other scripts, controls).
func TestChannelJSON(t *testing.T) {
	for _, v := range []string{"p.bitrix24.ru", `a"b\c`, "<b>&", "портал.рф", "tab\there", ""} {
		d := Dialog{Key: "b24:m:chat1", Channel: Channel{Member: "m", Domain: v, Dialog: "chat1", Chat: 1, Bot: 7, Playground: v == ""}}
		js, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Dialog
		if err := got.DecodeRecord(js); err != nil || got.Channel != d.Channel {
			t.Fatalf("domain %q: %s read back as %+v, %v", v, js, got.Channel, err)
		}
	}
}
