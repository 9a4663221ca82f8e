package bitrix24

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestBatchBody: the batch request written by hand is byte for byte what
// json.Marshal of its map writes (the path every other call takes), with
// and without a token, for a cmd as Batch writes it.
func TestBatchBody(t *testing.T) {
	var cmd bytes.Buffer
	cmd.WriteByte('{')
	for i, line := range []string{
		"imbot.message.add?DIALOG_ID=chat1&MESSAGE=a+%26+b",
		"imopenlines.bot.session.finish?CHAT_ID=7",
		"x?<script>&\u2028",
	} {
		writeCmdEntry(&cmd, i == 0, i, line)
	}
	cmd.WriteByte('}')
	for _, tc := range []struct {
		name   string
		tokens bool
		tok    string
	}{
		{"webhook", false, ""},
		{"oauth", true, "a98b40e1"},
		{"oauth, a token to escape", true, `t<"&>`},
		{"oauth without a token", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := paramsObject(map[string]any{"halt": 0, "cmd": json.RawMessage(cmd.Bytes())})
			if err != nil {
				t.Fatal(err)
			}
			want, err := mapBody(body)(tc.tokens, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			got, err := batchBody(cmd.Bytes())(tc.tokens, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("batch body\n got %s\nwant %s", got, want)
			}
		})
	}
}

// BenchmarkBatchBody: the body of a batch of MaxBatch message calls (~300
// bytes each), written by hand and through the map every other call takes.
//
//	go test ./bitrix24 -run '^$' -bench BatchBody -benchmem -count 3
func BenchmarkBatchBody(b *testing.B) {
	var cmd bytes.Buffer
	cmd.WriteByte('{')
	for i := range MaxBatch {
		writeCmdEntry(&cmd, i == 0, i, "imbot.message.add?BOT_ID=1011&CLIENT_ID=olbot-key&DIALOG_ID=chat1777&KEYBOARD=%7B%22BOT_ID%22%3A1011%2C%22BUTTONS%22%3A%5B%7B%22ACTION%22%3A%22SEND%22%2C%22ACTION_VALUE%22%3A%22Yes%22%2C%22DISPLAY%22%3A%22LINE%22%2C%22TEXT%22%3A%22Yes%22%7D%5D%7D&MESSAGE=Thank+you%2C+Anna%21+We+will+write+to+anna%40example.com")
	}
	cmd.WriteByte('}')
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := batchBody(cmd.Bytes())(true, "a98b40e1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			body, err := paramsObject(map[string]any{"halt": 0, "cmd": json.RawMessage(cmd.Bytes())})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := mapBody(body)(true, "a98b40e1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
