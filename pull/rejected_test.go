package pull_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/pull"
)

// TestRejects: rejected events are kept per bot with their reason, the
// latest Keep of them, an event seen again once; List reads every bot's.
func TestRejects(t *testing.T) {
	ctx := context.Background()
	kv := memstore.New()
	r := pull.Rejects{KV: kv, Keep: 3, Keys: []string{"bot:1", "bot:2"}}
	at := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	rec := func(key string, id int64) {
		t.Helper()
		err := r.Record(ctx, pull.Rejection{Key: key, Offset: 1000, Time: at,
			Reason: &bitrix24.V2Rejection{EventID: id, Type: bitrix24.EventV2MessageAdd, Field: "data.message.id", Msg: "is not a number"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []int64{1001, 1002, 1002, 1003, 1004} {
		rec("bot:1", id)
	}
	rec("bot:2", 7)
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range list {
		got = append(got, fmt.Sprintf("%s/%d", ev.Key, ev.EventID))
	}
	if fmt.Sprint(got) != "[bot:1/1002 bot:1/1003 bot:1/1004 bot:2/7]" {
		t.Fatalf("kept %v, want the latest 3 of bot:1 (1002 once) and bot:2's", got)
	}
	ev := list[0]
	want := "imbot.v2 event 1002 ONIMBOTV2MESSAGEADD: data.message.id: is not a number"
	if ev.Reason != want || ev.Field != "data.message.id" || ev.Type != bitrix24.EventV2MessageAdd || ev.Offset != 1000 || !ev.Time.Equal(at) {
		t.Fatalf("kept %+v, want the reason %q with its field, type, offset and time", ev, want)
	}
	if _, err := (pull.Rejects{KV: kv, Keys: []string{"bot:none"}}).List(ctx); err != nil {
		t.Fatalf("a bot without rejections: %v", err)
	}
}
