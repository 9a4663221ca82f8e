package bitrix24

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// twoStepEvent is what DecodeEventBody must equal: the body's tree
// (url.ParseQuery, DecodeForm), then ParseEventTree; without Data, which
// DecodeEventBody leaves out.
func twoStepEvent(body string) (*Event, bool) {
	tree, ok := twoStep(body)
	if !ok {
		return nil, false
	}
	ev, err := ParseEventTree(tree)
	if err != nil {
		return nil, false
	}
	ev.Data = nil
	return ev, true
}

// edit is the documented message event (testdata/message_event.txt) with
// some keys set (a value) or removed (no value).
func edit(tb testing.TB, kv ...string) string {
	tb.Helper()
	form := loadPairs(tb, "message_event.txt")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			form.Del(kv[i])
			continue
		}
		form.Set(kv[i], kv[i+1])
	}
	return form.Encode()
}

// TestDecodeEventBody: the one pass gives the two steps' Event for the
// posts it takes, refuses every post they refuse, and leaves to them the
// shapes it does not take (want "left").
func TestDecodeEventBody(t *testing.T) {
	const del = "\x00"
	for _, tc := range []struct {
		name, body string
		want       string // "same": decoded, equal to the two steps; "refused": both refuse; "left": only the two steps decode it
	}{
		{"documented message event", edit(t), "same"},
		{"lower-case event name", edit(t, "event", "onimbotmessageadd"), "same"},
		{"join", edit(t, "event", "ONIMBOTJOINCHAT"), "same"},
		{"message update", edit(t, "event", "ONIMBOTMESSAGEUPDATE"), "same"},
		{"message delete", edit(t, "event", "ONIMBOTMESSAGEDELETE"), "same"},
		{"system message, FROM_USER_ID 0", edit(t, "data[PARAMS][FROM_USER_ID]", "0"), "same"},
		{"ts with a fraction", edit(t, "ts", "1796327751.250"), "same"},
		{"no user", edit(t, "data[USER][ID]", del, "data[USER][NAME]", del, "data[USER][FIRST_NAME]", del, "data[USER][LAST_NAME]", del,
			"data[USER][WORK_POSITION]", del, "data[USER][GENDER]", del, "data[USER][IS_BOT]", del, "data[USER][IS_CONNECTOR]", del,
			"data[USER][IS_NETWORK]", del, "data[USER][IS_EXTRANET]", del), "same"},
		{"user with unknown keys only", edit(t, "data[USER][MOOD]", "fine"), "same"},
		{"bot token from its AUTH copy", edit(t, "data[BOT][1011][access_token]", del, "data[BOT][1011][AUTH][access_token]", "from-copy"), "same"},
		{"two bots", edit(t, "data[BOT][12][BOT_CODE]", "other", "data[BOT][12][access_token]", "t12"), "same"},
		{"unknown keys skipped", edit(t, "x[y][z]", "1", "data[PARAMS][NEW_FIELD][a]", "b", "auth[other][x]", "y"), "same"},
		{"bot id mismatch", edit(t, "data[BOT][1011][BOT_ID]", "7"), "refused"},
		{"bad number", edit(t, "data[PARAMS][CHAT_ID]", "abc"), "refused"},
		{"negative number", edit(t, "data[PARAMS][MESSAGE_ID]", "-1"), "refused"},
		{"bad bool", edit(t, "data[PARAMS][SYSTEM]", "maybe"), "refused"},
		{"bad ts", edit(t, "ts", "yesterday"), "refused"},
		{"bad bot key", edit(t, "data[BOT][x][BOT_CODE]", "a"), "refused"},
		{"missing dialog id", edit(t, "data[PARAMS][DIALOG_ID]", del), "refused"},
		{"missing event", edit(t, "event", del), "refused"},
		{"known field as a group", edit(t, "data[PARAMS][MESSAGE][x]", "1"), "refused"},
		{"event as a group", edit(t, "event[x]", "1"), "refused"},
		{"given twice", edit(t) + "&data%5BPARAMS%5D%5BDIALOG_ID%5D=chat2", "refused"},
		{"unread key given twice", edit(t, "data[PARAMS][CHAT_COLOR]", "BROWN") + "&data%5BPARAMS%5D%5BCHAT_COLOR%5D=RED", "refused"},
		{"unknown key given twice", edit(t) + "&x=1&x=2", "refused"},
		{"value and group", edit(t, "data[PARAMS][CHAT_COLOR]", "BROWN", "data[PARAMS][CHAT_COLOR][x]", "1"), "refused"},
		{"group and value, far apart in order", edit(t, "x", "1", "x[a]", "2", "x0", "3"), "refused"},
		{"bad escape", edit(t) + "&a=%zz", "refused"},
		{"data as a value", "event=ONIMBOTMESSAGEADD&data=1", "refused"},
		{"files", edit(t, "data[PARAMS][FILES][5][id]", "5"), "left"},
		{"command event", edit(t, "event", "ONIMCOMMANDADD", "data[COMMAND][3][COMMAND]", "help"), "left"},
		{"uninstall", edit(t, "event", "ONAPPUNINSTALL", "data[CLEAN]", "1"), "left"},
		{"a v2 event", edit(t, "event", "ONIMBOTV2MESSAGEADD"), "left"},
		{"empty data group", "event=ONIMBOTMESSAGEDELETE&data=", "left"},
		{"one bot under two keys", edit(t, "data[BOT][01011][BOT_CODE]", "again"), "left"},
		{"semicolon", edit(t) + "&x=a;b", "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DecodeEventBody(tc.body)
			want, wantOK := twoStepEvent(tc.body)
			var verdict string
			switch {
			case ok && wantOK:
				verdict = "same"
			case !ok && !wantOK:
				verdict = "refused"
			case !ok && wantOK:
				verdict = "left"
			default:
				t.Fatalf("the one pass decoded a post the two steps refuse: %+v", got)
			}
			if verdict != tc.want {
				t.Fatalf("%s, want %s", verdict, tc.want)
			}
			if ok && !reflect.DeepEqual(got, want) {
				t.Fatalf("events differ:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// FuzzDecodeEventBody compares the one pass with the two steps on any
// body: the same Event where it decodes, a refusal wherever they refuse.
func FuzzDecodeEventBody(f *testing.F) {
	f.Add(edit(f))
	f.Add(edit(f, "event", "ONIMBOTJOINCHAT", "data[BOT][1011][AUTH][scope]", "imbot"))
	for _, s := range []string{
		"event=ONIMBOTJOINCHAT&data[PARAMS][DIALOG_ID]=chat1&data[USER][ID]=1",
		"event=ONIMBOTMESSAGEADD&data[PARAMS][DIALOG_ID]=1&data[BOT][7][BOT_ID]=7&data[BOT][7][AUTH][user_id]=7",
		"event=ONIMBOTMESSAGEDELETE&data[PARAMS][DIALOG_ID]=1&a=1&a[b]=2",
		"event=ONIMBOTMESSAGEADD&data[PARAMS][DIALOG_ID]=1&ts=1.5&event_handler_id=9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, ok := DecodeEventBody(body)
		if !ok {
			return // left to the two steps, which decode or refuse it
		}
		want, wantOK := twoStepEvent(body)
		if !wantOK {
			t.Fatalf("%q: the one pass decoded a post the two steps refuse", body)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: events differ:\n got %+v\nwant %+v", body, got, want)
		}
		if got.fromNobody() != want.fromNobody() {
			t.Fatalf("%q: fromNobody differs", body)
		}
	})
}

// TestDecodeEventBodyTakesTheDocumentedPost: the documented message post
// goes the one-pass way (it is the route's common case), and its fields
// come through.
func TestDecodeEventBodyTakesTheDocumentedPost(t *testing.T) {
	ev, ok := DecodeEventBody(edit(t))
	if !ok {
		t.Fatal("DecodeEventBody left the documented message event to the two steps")
	}
	form, _ := url.ParseQuery(edit(t))
	if ev.Params.DialogID != form.Get("data[PARAMS][DIALOG_ID]") || ev.Params.Message != form.Get("data[PARAMS][MESSAGE]") ||
		ev.Auth.ApplicationToken != form.Get("auth[application_token]") || len(ev.Bots) != 1 || ev.Data != nil {
		t.Fatalf("decoded %+v", ev)
	}
	if !strings.HasPrefix(ev.Name, "ONIMBOT") {
		t.Fatalf("name %q", ev.Name)
	}
}
